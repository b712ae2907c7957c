//! The built-ins (`builtins.js`) compiled to QuickJS bytecode once per
//! process, so that a sandbox evaluates bytecode instead of parsing the
//! script again: parsing is most of what the built-ins cost a start
//! (about 1 ms of source against 0.15–0.2 ms of bytecode, measured on the
//! development VM).
//!
//! The bytecode is only ever what this process compiled, from the source
//! compiled into this build, with the QuickJS linked into it, and it never
//! leaves the process: QuickJS's bytecode reader trusts its input, so
//! nothing from outside (a file, a cache) may reach it. It keeps the debug
//! information and the function sources, so stack traces and
//! `Function.prototype.toString` read as they do from the source, and it is
//! compiled with the flags and file name `Ctx::eval` uses.
//!
//! rquickjs 0.14 writes and reads module bytecode only (`Module::write`,
//! `Module::load`); the built-ins are a global script (a module would be a
//! module record handlers could import by name), so the few calls are made
//! on QuickJS's own API.

use std::ffi::CString;
use std::sync::OnceLock;

use rquickjs::{qjs, Ctx, Value};

use crate::backend::builtins;

/// The file name `Ctx::eval` gives a script (so stack traces are unchanged).
const FILE_NAME: &std::ffi::CStr = c"eval_script";

static BYTECODE: OnceLock<Vec<u8>> = OnceLock::new();

/// Evaluates the built-ins in `ctx`: from this process's bytecode, compiled
/// here the first time. If it cannot be compiled (a heap too small to hold
/// the compiler's work, say), the source is evaluated, which fails the same
/// way it always did.
pub(super) fn evaluate(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let bytecode = match BYTECODE.get() {
        Some(bytecode) => bytecode,
        None => match compile(ctx) {
            Some(compiled) => BYTECODE.get_or_init(|| compiled),
            None => return ctx.eval::<(), _>(builtins::SOURCE),
        },
    };
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `bytecode` is what `JS_WriteObject` wrote in `compile`, in this
    // process, with this QuickJS (see the module docs); the reader checks its
    // bounds against the length given. The result is owned by `Value`.
    let function =
        unsafe { qjs::JS_ReadObject(raw, bytecode.as_ptr(), bytecode.len() as _, qjs::JS_READ_OBJ_BYTECODE as i32) };
    // SAFETY: a value of this context, handed over with its reference.
    let function = unsafe { Value::from_raw(ctx.clone(), function) };
    if function.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    // SAFETY: JS_EvalFunction takes the function's reference (so it is
    // duplicated for it, `function` still frees its own); the result is
    // owned by `Value`.
    let result =
        unsafe { Value::from_raw(ctx.clone(), qjs::JS_EvalFunction(raw, qjs::JS_DupValue(raw, function.as_raw()))) };
    if result.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    Ok(())
}

/// The built-ins' bytecode, compiled in `ctx` without running it; `None`
/// if QuickJS could not compile or write it (its exception cleared).
fn compile(ctx: &Ctx<'_>) -> Option<Vec<u8>> {
    let source = CString::new(builtins::SOURCE).ok()?;
    let raw = ctx.as_raw().as_ptr();
    let flags = qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_STRICT | qjs::JS_EVAL_FLAG_COMPILE_ONLY;
    // SAFETY: `source` is NUL-terminated and `len` excludes the NUL, as
    // JS_Eval requires; the result is owned by `Value`.
    let function = unsafe {
        Value::from_raw(
            ctx.clone(),
            qjs::JS_Eval(raw, source.as_ptr(), builtins::SOURCE.len() as _, FILE_NAME.as_ptr(), flags as i32),
        )
    };
    if function.is_exception() {
        drop(ctx.catch());
        return None;
    }
    let mut len = 0;
    // SAFETY: writes the compiled function into a buffer QuickJS allocates
    // in this context, `len` bytes long, freed below.
    let buffer = unsafe { qjs::JS_WriteObject(raw, &mut len, function.as_raw(), qjs::JS_WRITE_OBJ_BYTECODE as i32) };
    if buffer.is_null() {
        drop(ctx.catch());
        return None;
    }
    // SAFETY: `buffer` holds `len` bytes until it is freed right after.
    let bytecode = unsafe { std::slice::from_raw_parts(buffer, len as usize) }.to_vec();
    // SAFETY: allocated by JS_WriteObject with this context's allocator.
    unsafe { qjs::js_free(raw, buffer.cast()) };
    Some(bytecode)
}

#[cfg(test)]
mod tests {
    use rquickjs::{Context, Runtime};

    use super::*;

    #[test]
    fn bytecode_gives_the_same_built_ins_as_the_source() {
        let probe = "[typeof require, typeof String.bytesFrom, \
                     String(globalThis[Symbol.for('hyperlight-js.builtins')].crypto.createHmac), \
                     Object.keys(globalThis[Symbol.for('hyperlight-js.builtins')]).join()].join('|')";
        let run = |from_bytecode: bool| {
            let runtime = Runtime::new().expect("a runtime");
            let context = Context::full(&runtime).expect("a context");
            context.with(|ctx| {
                ctx.globals().set("print", rquickjs::Function::new(ctx.clone(), |_: String| ())).expect("print");
                let console = rquickjs::Object::new(ctx.clone()).expect("console");
                console.set("log", rquickjs::Function::new(ctx.clone(), |_: String| ())).expect("log");
                ctx.globals().set("console", console).expect("console");
                if from_bytecode {
                    evaluate(&ctx).expect("the built-ins run from bytecode");
                } else {
                    ctx.eval::<(), _>(builtins::SOURCE).expect("the built-ins run from source");
                }
                ctx.eval::<String, _>(probe).expect("the probe runs")
            })
        };
        let from_source = run(false);
        assert!(from_source.starts_with("function|function|function createHmac("), "{from_source}");
        assert_eq!(run(true), from_source);
        assert_eq!(run(true), from_source, "the second time, from the bytecode kept");
        assert!(BYTECODE.get().is_some());
    }
}
