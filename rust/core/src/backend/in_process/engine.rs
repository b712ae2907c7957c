//! One QuickJS runtime and context with the handlers evaluated in it.

use std::collections::HashMap;
use std::sync::Arc;

use rquickjs::function::Rest;
use rquickjs::promise::PromiseState;
use rquickjs::{qjs, Context, Ctx, Exception, Function, Module, Object, Persistent, Runtime, Value};

use super::builtins_bytecode;
use super::heap::{GuestHeap, HeapStats};
use super::host_module::HostBindings;
use super::loader::{ModuleLoader, ModuleResolver};
use super::random;
use super::sizes::MIN_SCRATCH_SIZE;
use super::values::{display, thrown};
use crate::backend::builtins;
use crate::backend::handler::{module_name, with_handler_export, HANDLER_BINDING};
use crate::backend::host_errors::HostErrors;
use crate::backend::outcome::{self, Ending, Heap, Thrown};
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::payload::Payload;
use crate::spec::LoadSpec;
use crate::stack::engine_stack;

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
    /// Heap in use after the last collection: the baseline of
    /// [`Collection::WhenGrown`].
    collected_at: usize,
    interrupt: InterruptHandle,
}

/// What the engine needs to read how a run of guest code ended.
struct Runs<'a> {
    errors: &'a HostErrors,
    heap: &'a HeapStats,
    heap_limit: usize,
}

impl Runs<'_> {
    /// What the guest threw, for an rquickjs failure that is a JavaScript
    /// exception; anything else is ours.
    fn thrown(&self, ctx: &Ctx<'_>, error: rquickjs::Error) -> Result<Thrown> {
        match error {
            rquickjs::Error::Exception => Ok(thrown(ctx, self.errors)),
            other => Err(Error::Internal(other.to_string())),
        }
    }

    /// The error for a failed step outside a handler call or load.
    fn fail(&self, ctx: &Ctx<'_>, error: rquickjs::Error) -> Error {
        match self.thrown(ctx, error) {
            Ok(thrown) => outcome::threw(thrown, self.heap()),
            Err(internal) => internal,
        }
    }

    /// What the heap limit saw since the last look.
    fn heap(&self) -> Heap {
        Heap { limit: self.heap_limit, refused: self.heap.take_refused() }
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
        let mut courtesy = crate::make_way::Courtesy::new();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            if state.should_stop() {
                return true;
            }
            courtesy.check();
            false
        })));
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
            ModuleLoader {
                host_modules: spec.host_modules.keys().cloned().collect(),
                sources: spec.imported_sources.clone(),
            },
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
            collected_at: 0,
            interrupt: interrupt.clone(),
        };
        let heap_limit = spec.guest.heap_size;
        // The built-ins are our code: they run with their own stack
        // allowance, not the handlers' scratch size (which may be 16 KiB);
        // what the thread really has left still caps it.
        engine.runtime.set_max_stack_size(engine_stack(builtins::SETUP_STACK.max(stack_limit), MIN_SCRATCH_SIZE)?);
        let installed = engine.context.with(|ctx| -> Result<()> {
            random::reseed(&ctx)?;
            let runs = Runs { errors: &errors, heap: &heap, heap_limit };
            let _ = ctx.store_userdata(HostBindings { spec: spec.clone(), errors: errors.clone() });
            install_console(&ctx, &spec).map_err(|e| runs.fail(&ctx, e))?;
            builtins_bytecode::evaluate(&ctx).map_err(|e| runs.fail(&ctx, e))
        });
        engine.runtime.set_max_stack_size(stack_limit);
        installed?;
        let handlers = engine.context.with(|ctx| -> Result<_> {
            let runs = Runs { errors: &errors, heap: &heap, heap_limit };
            let mut handlers = HashMap::new();
            for (name, script) in &spec.handlers {
                let module = module_name(name, script);
                let function = match load_handler(&ctx, &module, &script.source, interrupt) {
                    Ok(function) => {
                        // Loaded, but perhaps only after catching the heap limit's error.
                        outcome::load_result(name, &module, Ending::Returned(String::new()), runs.heap())?;
                        function
                    }
                    Err(Loaded::Threw(e)) => {
                        let ending = Ending::Threw(runs.thrown(&ctx, e)?);
                        return Err(outcome::load_error(name, &module, ending, runs.heap()));
                    }
                    Err(Loaded::NotAFunction) => {
                        return Err(outcome::load_error(name, &module, Ending::NotAFunction, runs.heap()));
                    }
                };
                handlers.insert(name.clone(), Persistent::save(&ctx, function));
            }
            Ok(handlers)
        });
        engine.handlers = Handlers(handlers?);
        // What loading left is the handlers' state, not garbage to look for.
        engine.collected_at = heap.used();
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

    pub(super) fn call(
        &mut self,
        handler: &str,
        event_json: &str,
        collection: Collection,
        requested_stack: usize,
    ) -> Result<Payload> {
        self.fit_stack(requested_stack)?;
        let persistent =
            self.handlers.0.get(handler).ok_or_else(|| Error::HandlerNotFound(handler.to_owned()))?.clone();
        self.heap.take_refused();
        let runs = Runs { errors: &self.errors, heap: &self.heap, heap_limit: self.heap_limit };
        let interrupt = &self.interrupt;
        let collected_at = &mut self.collected_at;
        let result = self.context.with(|ctx| -> Result<Payload> {
            let after = After { collection, collected_at };
            let ending = run_handler(&ctx, &persistent, event_json, after, interrupt, &runs)?;
            outcome::call_result(ending, runs.heap())
        });
        self.errors.clear();
        result
    }
}

/// What a call does with the cycle collector once it has its result.
struct After<'a> {
    collection: Collection,
    /// The heap's size after the last collection, updated here.
    collected_at: &'a mut usize,
}

/// Runs one handler call to its [`Ending`]; only a failure that is not the
/// guest's (an rquickjs error that is no JavaScript exception) is an `Err`.
fn run_handler<'js>(
    ctx: &Ctx<'js>,
    handler: &Persistent<Function<'static>>,
    event_json: &str,
    after: After<'_>,
    interrupt: &InterruptHandle,
    runs: &Runs<'_>,
) -> Result<Ending> {
    let thrown = |e| runs.thrown(ctx, e);
    // Nothing has run before the call, so a failure there leaves the engine as it was.
    let event = match ctx.json_parse(event_json) {
        Ok(event) => event,
        Err(e) => return Ok(Ending::BadEvent(thrown(e)?)),
    };
    let ran = handler.clone().restore(ctx).and_then(|function| {
        let returned: Value = function.call((event,))?;
        let value = settle(ctx, returned, interrupt)?;
        drain_jobs(ctx, interrupt)?;
        Ok(value)
    });
    let value = match ran {
        Ok(value) => value,
        Err(e) => return Ok(Ending::Threw(thrown(e)?)),
    };
    let ending = match returned_bytes(&value) {
        // A Uint8Array result is its bytes, not JSON (docs/api.md).
        Some(Some(bytes)) => Ending::ReturnedBytes(bytes),
        Some(None) => {
            let detached = Exception::throw_type(ctx, "the handler returned a detached or out-of-bounds Uint8Array");
            return Ok(Ending::NotSerializable(thrown(detached)?));
        }
        None => match ctx.json_stringify(value) {
            Ok(Some(text)) => Ending::Returned(text.to_string().map_err(|e| Error::Internal(e.to_string()))?),
            Ok(None) => return Ok(Ending::ReturnedUndefined),
            Err(e) => return Ok(Ending::NotSerializable(thrown(e)?)),
        },
    };
    let used = runs.heap.used();
    if !after.collection.collects(used, *after.collected_at) {
        // A collection during the call (QuickJS's own trigger) may have
        // left the heap smaller than the baseline: growth counts from there.
        *after.collected_at = (*after.collected_at).min(used);
    } else {
        ctx.run_gc();
        *after.collected_at = runs.heap.used();
        // Finalizers the collection queued belong to this call.
        if let Err(e) = drain_jobs(ctx, interrupt) {
            return Ok(Ending::Threw(thrown(e)?));
        }
    }
    Ok(ending)
}

/// For a `Uint8Array`, its bytes (`None` inside when it is detached or out
/// of bounds); `None` for any other value.
fn returned_bytes(value: &Value<'_>) -> Option<Option<Vec<u8>>> {
    let array = value.as_object()?.as_typed_array::<u8>()?;
    // SAFETY: the slice is copied before any JavaScript runs again.
    Some(unsafe { array.as_bytes() }.map(<[u8]>::to_vec))
}

/// Why a handler's module did not give a handler.
enum Loaded {
    /// Evaluating it failed (the exception is pending on the context).
    Threw(rquickjs::Error),
    NotAFunction,
}

fn load_handler<'js>(
    ctx: &Ctx<'js>,
    module: &str,
    source: &str,
    interrupt: &InterruptHandle,
) -> std::result::Result<Function<'js>, Loaded> {
    let evaluated = Module::declare(ctx.clone(), module, with_handler_export(source)).and_then(|declared| {
        let (module, promise) = declared.eval()?;
        // Top-level await: drive the module's evaluation to its end.
        settle(ctx, promise.into_value(), interrupt)?;
        module.get::<_, Value>(HANDLER_BINDING)
    });
    evaluated.map_err(Loaded::Threw)?.into_function().ok_or(Loaded::NotAFunction)
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
                    return Err(rquickjs::Exception::throw_type(ctx, outcome::NEVER_SETTLES));
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

/// The native part of the built-in environment (the rest is
/// `builtins.js`): `console.log`, which ends its line with a newline as
/// upstream's does, and the global `print`, which writes its text as it is.
fn install_console<'js>(ctx: &Ctx<'js>, spec: &LoadSpec) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    let console = Object::new(ctx.clone())?;
    let print = spec.guest.print.clone();
    let log = Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<Value<'js>>| {
        if let Some(print) = &print {
            let mut line = args.0.into_iter().map(|v| display(&ctx, v)).collect::<Vec<_>>().join(" ");
            line.push('\n');
            print(&line);
        }
    })?;
    let print = spec.guest.print.clone();
    // A lone surrogate must arrive as U+FFFD, not fail the call: `display`
    // converts lossily (builtins.js hands it String(text)).
    let raw_print = Function::new(ctx.clone(), move |ctx: Ctx<'js>, text: Value<'js>| {
        if let Some(print) = &print {
            print(&display(&ctx, text));
        }
    })?;
    for level in ["log", "info", "warn", "error", "debug"] {
        console.set(level, log.clone())?;
    }
    globals.set("console", console)?;
    globals.set("print", raw_print)?;
    Ok(())
}
