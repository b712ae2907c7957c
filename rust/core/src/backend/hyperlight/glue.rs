//! The JavaScript that hyperlight-js actually registers in the micro-VM.
//!
//! hyperlight-js evaluates a handler script's top-level code when it
//! registers it, and a sandbox only gets an interrupt handle once every
//! handler is registered. Registering user scripts directly would therefore
//! run hostile top-level code (`while (true) {}`) where no monitor can stop
//! it. Instead hyperlight-js registers only this glue:
//!
//! - a runtime module (in memory, `hyperlight-js-python:runtime`) holding the
//!   table of loaded handlers and the code that calls them;
//! - one small `load` handler that `import()`s a user's handler module and
//!   files its `handler` in the table. The backend calls it once per handler
//!   right after the VM is loaded, as an ordinary (killable) call;
//! - per user handler, a wrapper handler that calls the table's entry.
//!
//! Every call returns a tagged envelope (see `outcome`): the glue catches what
//! the handler throws and turns its result into JSON itself, so failures come
//! back as data rather than as hyperlight-js's debug text.
//!
//! The runtime module keeps its own references to the built-ins it uses, so a
//! handler that replaces `JSON.stringify` or `Promise.prototype.then` only
//! changes what its own code sees.

use hyperlight_js::{JSSandbox, Script};

use super::files::{hex, HandlerModule, VIRTUAL_DIR};
use crate::error::{Error, Result};

const RUNTIME_NAMESPACE: &str = "hyperlight-js-python";
const RUNTIME_NAME: &str = "runtime";

/// The hyperlight-js handler that imports one user handler.
pub(super) const LOAD_HANDLER: &str = "load";

const RUNTIME_JS: &str = include_str!("../../../guest/hyperlight/runtime.js");

/// `import()` resolves against the importing module's directory, so the
/// loader lives in a module with an absolute (virtual) path.
const LOAD_JS: &str = include_str!("../../../guest/hyperlight/load.js");

/// The name hyperlight-js knows a user handler by (user names are arbitrary
/// text, and must not collide with the glue's own handler).
pub(super) fn handler_id(name: &str) -> String {
    format!("h{}", hex(name))
}

fn wrapper_js(id: &str) -> String {
    format!(
        "import {{ run }} from \"{RUNTIME_NAMESPACE}:{RUNTIME_NAME}\";\n\
         export function handler(event) {{ return run(\"{id}\", event); }}\n"
    )
}

/// Registers the glue for `handlers` (name → how its module is imported).
pub(super) fn install<'a>(
    sandbox: &mut JSSandbox,
    handlers: impl Iterator<Item = (&'a String, &'a HandlerModule)>,
) -> Result<()> {
    let fail = |e: hyperlight_js::HyperlightError| Error::Internal(format!("cannot register the guest glue: {e}"));
    sandbox.add_module_ns(RUNTIME_NAME, Script::from_content(RUNTIME_JS), RUNTIME_NAMESPACE).map_err(fail)?;
    sandbox.add_handler(LOAD_HANDLER, Script::from_content(LOAD_JS).with_virtual_base(VIRTUAL_DIR)).map_err(fail)?;
    for (name, module) in handlers {
        if let Some((namespace, module_name, source)) = &module.in_memory {
            sandbox
                .add_module_ns(module_name.as_str(), Script::from_content(source.as_str()), *namespace)
                .map_err(fail)?;
        }
        let id = handler_id(name);
        sandbox
            .add_handler(id.as_str(), Script::from_content(wrapper_js(&id)).with_virtual_base(VIRTUAL_DIR))
            .map_err(fail)?;
    }
    Ok(())
}

/// The event of the `load` call that imports one handler.
pub(super) fn load_request(name: &str, module: &HandlerModule) -> String {
    serde_json::json!({ "id": handler_id(name), "specifier": module.specifier }).to_string()
}

#[cfg(test)]
mod tests {
    use rquickjs::loader::{BuiltinLoader, BuiltinResolver};
    use rquickjs::promise::MaybePromise;
    use rquickjs::{CatchResultExt, Context, Function, Module, Runtime, Value};

    use super::super::files::HandlerModule;
    use super::super::outcome::{call_result, ending};
    use super::*;
    use crate::backend::host_errors::HostErrors;
    use crate::backend::outcome::Ending;
    use crate::payload::Payload;

    #[test]
    fn handler_ids_are_safe_in_paths_and_javascript_strings() {
        assert_eq!(handler_id("a\"/b"), "h61222f62");
        assert_ne!(handler_id("load"), LOAD_HANDLER);
        assert!(wrapper_js("h61").contains("run(\"h61\", event)"));
    }

    const EXPORT: &str = crate::backend::handler::HANDLER_EXPORT;

    /// The glue in a QuickJS context, wired as hyperlight-js wires it: handler
    /// modules are named `<virtual base>/<handler>.js`, the runtime is an
    /// in-memory `namespace:name` module, and a call is `handler(event)`,
    /// awaited, then `JSON.stringify`'d.
    struct Guest {
        context: Context,
        _runtime: Runtime,
    }

    impl Guest {
        fn new(user_modules: &[(&str, &str)]) -> Self {
            let runtime = Runtime::new().unwrap();
            let context = Context::full(&runtime).unwrap();
            let mut resolver = BuiltinResolver::default();
            let mut loader = BuiltinLoader::default();
            let mut add = |name: String, source: String| {
                resolver.add_module(name.clone());
                loader.add_module(name, source);
            };
            add(format!("{RUNTIME_NAMESPACE}:{RUNTIME_NAME}"), RUNTIME_JS.into());
            for (path, source) in user_modules {
                add((*path).into(), format!("{source}{EXPORT}"));
            }
            runtime.set_loader(resolver, loader);
            Self { context, _runtime: runtime }
        }

        /// Registers a handler module as hyperlight-js does, and calls it.
        fn call(&self, handler: &str, source: &str, event: &str) -> String {
            self.context.with(|ctx| {
                let name = format!("{VIRTUAL_DIR}/{handler}.js");
                let (module, promise) =
                    Module::declare(ctx.clone(), name, source).catch(&ctx).unwrap().eval().catch(&ctx).unwrap();
                promise.finish::<()>().catch(&ctx).unwrap();
                let function: Function = module.get("handler").unwrap();
                let event = ctx.json_parse(event).unwrap();
                let answer: MaybePromise = function.call((event,)).catch(&ctx).unwrap();
                let answer: Value = answer.finish().catch(&ctx).unwrap();
                ctx.json_stringify(answer).unwrap().unwrap().to_string().unwrap()
            })
        }

        fn load(&self, name: &str, specifier: &str) -> String {
            let module = HandlerModule { name: specifier.into(), specifier: specifier.into(), in_memory: None };
            self.call(LOAD_HANDLER, LOAD_JS, &load_request(name, &module))
        }

        fn run(&self, name: &str, event: &str) -> Result<String> {
            self.run_payload(name, event).map(Payload::into_json)
        }

        fn run_payload(&self, name: &str, event: &str) -> Result<Payload> {
            let id = handler_id(name);
            call_result(&self.call(&id, &wrapper_js(&id), event), &HostErrors::default(), 1)
        }
    }

    #[test]
    fn the_glue_loads_handlers_and_answers_in_envelopes() {
        let guest = Guest::new(&[
            (
                "/u/a.js",
                "let n = 0; function handler(e) { if (e.kind === 'undef') return undefined; if (e.kind === 'big') return 1n; \
                 if (e.kind === 'async') return Promise.resolve(e.v); if (e.kind === 'reject') return Promise.reject(new RangeError('later')); \
                 if (e.kind === 'text') throw 'plain'; if (e.kind === 'obj') throw { code: 7 }; \
                 if (e.kind === 'bytes') { Object.defineProperty(Uint8Array.prototype, Symbol.toStringTag, { value: 'x' }); return new Uint8Array([0, 255, 16]).subarray(1) } \
                 if (e.kind === 'nobytes') return new Uint8Array(0); if (e.kind === 'fake') return Object.create(Uint8Array.prototype); \
                 if (e.kind === 'throw') throw new TypeError('nope'); JSON.stringify = () => 'hijacked'; return { n: ++n } }",
            ),
            ("/u/not-a-function.js", "const handler = 1;"),
            ("/u/throws.js", "throw new Error('at load'); function handler() {}"),
        ]);
        assert_eq!(guest.load("a", "/u/a.js"), r#"["ok","null"]"#);
        assert_eq!(guest.run("a", "{}").unwrap(), r#"{"n":1}"#);
        assert_eq!(
            guest.run("a", "{}").unwrap(),
            r#"{"n":2}"#,
            "a handler replacing JSON.stringify does not reach the glue"
        );
        assert_eq!(guest.run("a", r#"{"kind":"async","v":[1]}"#).unwrap(), "[1]");
        assert_eq!(guest.run_payload("a", r#"{"kind":"bytes"}"#).unwrap(), Payload::Bytes(vec![255, 16]));
        assert_eq!(guest.run_payload("a", r#"{"kind":"nobytes"}"#).unwrap(), Payload::Bytes(vec![]));
        assert_eq!(guest.run_payload("a", r#"{"kind":"fake"}"#).unwrap(), Payload::Json("{}".into()));
        assert!(matches!(guest.run("a", r#"{"kind":"undef"}"#), Err(Error::ResultNotSerializable(_))));
        assert!(
            matches!(guest.run("a", r#"{"kind":"big"}"#), Err(Error::ResultNotSerializable(m)) if m.starts_with("TypeError"))
        );
        let message = |kind: &str| match guest.run("a", &format!(r#"{{"kind":"{kind}"}}"#)) {
            Err(Error::Guest(f)) => (f.message, f.stack.is_some()),
            other => panic!("{kind}: {other:?}"),
        };
        assert_eq!(message("throw"), ("TypeError: nope".into(), true));
        assert_eq!(message("reject"), ("RangeError: later".into(), true));
        assert_eq!(message("text"), ("Uncaught plain".into(), false));
        assert_eq!(message("obj"), (r#"Uncaught {"code":7}"#.into(), false));

        assert_eq!(guest.load("b", "/u/not-a-function.js"), r#"["notfunction"]"#);
        let failed = ending(&guest.load("c", "/u/throws.js"), &HostErrors::default()).unwrap();
        assert!(matches!(&failed, Ending::Threw(t) if t.message() == "Error: at load"));
        let missing = ending(&guest.load("d", "/u/missing.js"), &HostErrors::default()).unwrap();
        assert!(matches!(missing, Ending::Threw(_)));
    }
}
