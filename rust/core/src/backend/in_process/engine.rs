//! One QuickJS runtime and context with the handlers evaluated in it.

use std::collections::HashMap;
use std::sync::Arc;

use rquickjs::function::Rest;
use rquickjs::promise::PromiseState;
use rquickjs::{qjs, Context, Ctx, Function, Module, Object, Persistent, Runtime, Value};

use super::heap::{GuestHeap, HeapStats};
use super::host_module::{HostBindings, HostErrors};
use super::loader::{ModuleLoader, ModuleResolver};
use super::sizes::MIN_SCRATCH_SIZE;
use super::values::{display, pending_exception};
use crate::error::{Error, GuestFailure, Result};
use crate::interrupt::InterruptHandle;
use crate::spec::LoadSpec;
use crate::stack::engine_stack;

/// Appended to every handler script so the handler is reachable whether or
/// not the script exports it. A second export name for the same binding is
/// valid next to `export function handler`, and being last it leaves line
/// numbers in stack traces untouched.
const HANDLER_EXPORT: &str = "\n;export { handler as __hyperlight_handler };\n";
const HANDLER_BINDING: &str = "__hyperlight_handler";

/// The handler functions, kept alive outside the context.
struct Handlers(HashMap<String, Persistent<Function<'static>>>);

// SAFETY: with rquickjs's `parallel` feature the runtime may move between
// threads. These handles belong to that runtime, are only used inside
// `Context::with` (which holds the runtime's lock) and move with it as one
// `Engine`, which is never shared.
unsafe impl Send for Handlers {}

pub(super) struct Engine {
    // Field order matters: persistent handles must go before the context,
    // and the context before the runtime.
    handlers: Handlers,
    context: Context,
    runtime: Runtime,
    errors: Arc<HostErrors>,
    heap: Arc<HeapStats>,
    heap_limit: usize,
    stack_limit: usize,
    interrupt: InterruptHandle,
}

/// What the engine needs to describe a failure.
struct Failures<'a> {
    errors: &'a HostErrors,
    heap: &'a HeapStats,
    heap_limit: usize,
}

impl Failures<'_> {
    fn describe(&self, ctx: &Ctx<'_>, error: rquickjs::Error) -> Error {
        match error {
            rquickjs::Error::Exception => {
                let failure = pending_exception(ctx, self.errors, self.heap_limit);
                if self.heap.take_refused() {
                    Error::OutOfMemory { limit: self.heap_limit }
                } else {
                    failure
                }
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl Engine {
    pub(super) fn build(spec: Arc<LoadSpec>, interrupt: &InterruptHandle) -> Result<Self> {
        // Creating the context and running top-level code use the stack too:
        // a thread without room for them gets the refusal a call would.
        let stack_limit = engine_stack(spec.guest.stack_size, MIN_SCRATCH_SIZE).map_err(|e| match e {
            Error::Guest(failure) => Error::Load(format!("the handlers cannot be loaded here: {}", failure.message)),
            other => other,
        })?;
        let heap = Arc::new(HeapStats::default());
        let runtime = Runtime::new_with_alloc(GuestHeap::new(spec.guest.heap_size, heap.clone()))
            .map_err(|e| Error::Internal(format!("cannot create a QuickJS runtime: {e}")))?;
        runtime.set_max_stack_size(stack_limit);
        let state = interrupt.state.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || state.should_stop())));
        let mut roots = HashMap::new();
        for (name, script) in &spec.handlers {
            if let Some(root) = &script.root {
                roots.insert(module_name(name, script), root.clone());
            }
        }
        runtime.set_loader(
            ModuleResolver {
                host_modules: spec.host_modules.keys().cloned().collect(),
                roots,
                sources: spec.imported_sources.clone(),
                budget: spec.guest.heap_size,
            },
            ModuleLoader { sources: spec.imported_sources.clone() },
        );
        let context =
            Context::full(&runtime).map_err(|e| Error::Internal(format!("cannot create a QuickJS context: {e}")))?;
        let errors = Arc::new(HostErrors::default());
        let mut engine = Engine {
            handlers: Handlers(HashMap::new()),
            context,
            runtime,
            errors: errors.clone(),
            heap: heap.clone(),
            heap_limit: spec.guest.heap_size,
            stack_limit,
            interrupt: interrupt.clone(),
        };
        let heap_limit = spec.guest.heap_size;
        let handlers = engine.context.with(|ctx| -> Result<_> {
            let failures = Failures { errors: &errors, heap: &heap, heap_limit };
            let fail = |e| failures.describe(&ctx, e);
            let _ = ctx.store_userdata(HostBindings { spec: spec.clone(), errors: errors.clone() });
            install_console(&ctx, &spec).map_err(fail)?;
            let mut handlers = HashMap::new();
            for (name, script) in &spec.handlers {
                let function = load_handler(&ctx, &module_name(name, script), &script.source, &interrupt, &failures)
                    .map_err(|e| match e {
                        Error::Guest(failure) => Error::Load(format!(
                            "handler {name:?} failed to load: {}{}",
                            failure.message,
                            failure.stack.map(|s| format!("\n{s}")).unwrap_or_default()
                        )),
                        other => other,
                    })?;
                handlers.insert(name.clone(), Persistent::save(&ctx, function));
            }
            Ok(handlers)
        });
        engine.handlers = Handlers(handlers?);
        Ok(engine)
    }

    /// Keeps QuickJS's recursion limit inside the real stack of the thread
    /// it is about to run on (with room kept below it, see `stack.rs`), or
    /// refuses the run, before anything is entered, when too little is left.
    fn fit_stack(&mut self, requested: usize) -> Result<()> {
        let limit = engine_stack(requested, MIN_SCRATCH_SIZE)?;
        if limit != self.stack_limit {
            self.runtime.set_max_stack_size(limit);
            self.stack_limit = limit;
        }
        Ok(())
    }

    pub(super) fn call(&mut self, handler: &str, event_json: &str, gc: bool, requested_stack: usize) -> Result<String> {
        self.fit_stack(requested_stack)?;
        let persistent =
            self.handlers.0.get(handler).ok_or_else(|| Error::HandlerNotFound(handler.to_owned()))?.clone();
        self.heap.take_refused();
        let failures = Failures { errors: &self.errors, heap: &self.heap, heap_limit: self.heap_limit };
        let interrupt = &self.interrupt;
        let result = self.context.with(|ctx| -> Result<String> {
            let fail = |e| failures.describe(&ctx, e);
            let function = persistent.restore(&ctx).map_err(fail)?;
            // Nothing has run yet, so a failure here leaves the engine as it was.
            let event = ctx.json_parse(event_json).map_err(|e| match fail(e) {
                Error::Guest(failure) => {
                    Error::InvalidEvent(format!("the event is not valid JSON: {}", failure.message))
                }
                Error::OutOfMemory { limit } => Error::InvalidEvent(format!(
                    "the event does not fit in the guest heap ({limit} bytes); raise it with with_guest_heap_size()"
                )),
                other => other,
            })?;
            let returned: Value = function.call((event,)).map_err(fail)?;
            let value = settle(&ctx, returned, interrupt).map_err(fail)?;
            drain_jobs(&ctx, interrupt).map_err(fail)?;
            let json = match ctx.json_stringify(value) {
                Ok(Some(text)) => text.to_string().map_err(fail)?,
                Ok(None) => {
                    return Err(Error::ResultNotSerializable(
                        "the handler returned undefined (or a function or symbol), which JSON cannot hold".into(),
                    ))
                }
                Err(e) => {
                    return Err(match fail(e) {
                        Error::Guest(GuestFailure { message, .. }) => Error::ResultNotSerializable(message),
                        other => other,
                    })
                }
            };
            if gc {
                ctx.run_gc();
                // Finalizers the collection queued belong to this call.
                drain_jobs(&ctx, interrupt).map_err(fail)?;
            }
            // Hitting the heap limit is an error even when the guest caught
            // it (QuickJS makes it a catchable exception, and a promise chain
            // turns it into a silent rejection).
            if failures.heap.take_refused() {
                return Err(Error::OutOfMemory { limit: failures.heap_limit });
            }
            Ok(json)
        });
        self.errors.clear();
        result
    }
}

fn module_name(handler: &str, script: &crate::Script) -> String {
    match &script.path {
        Some(path) => path.to_string_lossy().into_owned(),
        None => format!("handler:{handler}"),
    }
}

fn load_handler<'js>(
    ctx: &Ctx<'js>,
    name: &str,
    source: &str,
    interrupt: &InterruptHandle,
    failures: &Failures<'_>,
) -> Result<Function<'js>, Error> {
    let fail = |e| failures.describe(ctx, e);
    let mut text = String::with_capacity(source.len() + HANDLER_EXPORT.len());
    text.push_str(source);
    text.push_str(HANDLER_EXPORT);
    let declared = Module::declare(ctx.clone(), name, text).map_err(fail)?;
    let (module, promise) = declared.eval().map_err(fail)?;
    // Top-level await: drive the module's evaluation to its end.
    settle(ctx, promise.into_value(), interrupt).map_err(fail)?;
    let handler: Value = module.get(HANDLER_BINDING).map_err(fail)?;
    handler
        .into_function()
        .ok_or_else(|| Error::Load(format!("handler script {name:?} defines `handler`, but it is not a function")))
}

/// Waits for a promise by running the job queue; a plain value is returned as is.
fn settle<'js>(ctx: &Ctx<'js>, value: Value<'js>, interrupt: &InterruptHandle) -> rquickjs::Result<Value<'js>> {
    let Some(promise) = value.as_promise().cloned() else {
        return Ok(value);
    };
    loop {
        match promise.state() {
            PromiseState::Pending => {
                if interrupt.state.should_stop() {
                    return Err(rquickjs::Exception::throw_internal(ctx, "interrupted"));
                }
                if !run_job(ctx)? {
                    return Err(rquickjs::Exception::throw_type(
                        ctx,
                        "the handler returned a promise that can never settle (nothing is left to run)",
                    ));
                }
            }
            PromiseState::Resolved | PromiseState::Rejected => {
                return promise.result::<Value>().unwrap_or_else(|| Ok(Value::new_undefined(ctx.clone())));
            }
        }
    }
}

/// Runs microtasks the handler queued but did not wait for, so they cannot
/// leak into the next call.
fn drain_jobs(ctx: &Ctx<'_>, interrupt: &InterruptHandle) -> rquickjs::Result<()> {
    while run_job(ctx)? {
        if interrupt.state.should_stop() {
            return Err(rquickjs::Exception::throw_internal(ctx, "interrupted"));
        }
    }
    Ok(())
}

/// Runs one pending job; `false` if there was none. rquickjs's own version
/// swallows a failing job, but a job only fails on an uncatchable error (an
/// interrupt) or when the heap is exhausted — a throwing callback rejects its
/// promise instead — and both must reach the caller.
fn run_job(ctx: &Ctx<'_>) -> rquickjs::Result<bool> {
    let mut job_ctx = std::mem::MaybeUninit::<*mut qjs::JSContext>::uninit();
    // SAFETY: called inside Context::with (the runtime is locked); with a
    // single context per runtime the failing job's exception is left
    // pending on `ctx`, where the caller's error handling picks it up.
    match unsafe { qjs::JS_ExecutePendingJob(qjs::JS_GetRuntime(ctx.as_raw().as_ptr()), job_ctx.as_mut_ptr()) } {
        0 => Ok(false),
        n if n > 0 => Ok(true),
        _ => Err(rquickjs::Error::Exception),
    }
}

fn install_console<'js>(ctx: &Ctx<'js>, spec: &LoadSpec) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    let console = Object::new(ctx.clone())?;
    let print = spec.guest.print.clone();
    let log = Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<Value<'js>>| {
        if let Some(print) = &print {
            let line = args.0.into_iter().map(|v| display(&ctx, v)).collect::<Vec<_>>().join(" ");
            print(&line);
        }
    })?;
    for level in ["log", "info", "warn", "error", "debug"] {
        console.set(level, log.clone())?;
    }
    globals.set("console", console)?;
    globals.set("print", log)?;
    Ok(())
}
