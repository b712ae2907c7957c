//! What tests of more than one backend share: which backends exist
//! ([`backends`]), sandboxes loaded from inline sources, and the shapes of
//! the failures they assert.

pub mod backends;

use std::sync::Arc;

use hyperlight_js_core::{Error, LoadedJSSandbox, ProtoJSSandbox, SandboxBuilder, Script};

/// Loads these `(name, source)` handlers into a sandbox built by `builder`.
pub fn load(proto: ProtoJSSandbox, handlers: &[(&str, &str)]) -> Result<LoadedJSSandbox, Error> {
    let mut sandbox = proto.load_runtime()?;
    for (name, source) in handlers {
        sandbox.add_handler(name, Script::from_content(*source, None)?)?;
    }
    sandbox.get_loaded_sandbox()
}

/// A sandbox of the named backend with these handlers and default sizes.
pub fn loaded(backend: &str, handlers: &[(&str, &str)]) -> LoadedJSSandbox {
    loaded_from(backends::builder(backend), handlers)
}

/// A sandbox from this builder with these handlers.
pub fn loaded_from(builder: SandboxBuilder, handlers: &[(&str, &str)]) -> LoadedJSSandbox {
    load(builder.build().unwrap(), handlers).unwrap()
}

/// `math.add(a, b)`: the sum of two numbers.
pub fn register_add(proto: &mut ProtoJSSandbox) {
    proto
        .register(
            "math",
            "add",
            Arc::new(|args: &str| {
                let v: Vec<f64> = args.trim_matches(['[', ']']).split(',').map(|x| x.parse().unwrap()).collect();
                Ok((v[0] + v[1]).to_string())
            }),
        )
        .unwrap();
}

/// The message of a JavaScript exception that ended a call.
pub fn guest_message(result: Result<String, Error>) -> String {
    match result {
        Err(Error::Guest(f)) => f.message,
        other => panic!("expected a guest error, got {other:?}"),
    }
}

/// The monitor that ended a call (`None`: the interrupt handle).
pub fn cancelled_by(result: Result<String, Error>) -> Option<String> {
    match result {
        Err(Error::Cancelled { monitor, .. }) => monitor,
        other => panic!("expected a cancellation, got {other:?}"),
    }
}

/// Checks the failures every backend reports the same way, on a sandbox
/// whose handler `h` returns `undefined`, a BigInt or a cycle for
/// `e.kind` = `undef`, `big`, `cycle`, and throws `TypeError('nope')` for
/// `throw`.
pub fn assert_typed_failures(s: &mut LoadedJSSandbox) {
    assert!(matches!(s.handle_event("h", "{not json", None), Err(Error::InvalidEvent(_))));
    assert!(matches!(s.handle_event("missing", "{}", None), Err(Error::HandlerNotFound(_))));
    for kind in ["undef", "big", "cycle"] {
        let r = s.handle_event("h", &format!(r#"{{"kind":"{kind}"}}"#), None);
        assert!(matches!(r, Err(Error::ResultNotSerializable(_))), "{kind}: {r:?}");
    }
    match s.handle_event("h", r#"{"kind":"throw"}"#, None) {
        Err(Error::Guest(f)) => {
            assert_eq!(f.message, "TypeError: nope");
            assert!(f.stack.unwrap_or_default().contains("handler"));
        }
        other => panic!("{other:?}"),
    }
}

/// A snapshot taken before `unload()` brings back exactly the handlers it
/// captured, with their code and state, into the reloaded sandbox (as
/// upstream's `test_snapshot_and_restore`): handlers added since are not
/// found, and nothing poisons. Two new handlers, so the second one has a
/// number the captured guest never gave out.
pub fn assert_restore_across_reload(builder: SandboxBuilder) {
    let counter = |tag: &str| {
        Script::from_content(format!("let n = 0; function handler() {{ n++; return ['{tag}', n] }}"), None).unwrap()
    };
    let mut sandbox = builder.build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("old", counter("old")).unwrap();
    let mut loaded = sandbox.get_loaded_sandbox().unwrap();
    let captured = loaded.snapshot().unwrap();
    assert_eq!(loaded.handle_event("old", "{}", None).unwrap(), r#"["old",1]"#);
    let mut sandbox = loaded.unload();
    sandbox.clear_handlers();
    sandbox.add_handler("new1", counter("new1")).unwrap();
    sandbox.add_handler("new2", counter("new2")).unwrap();
    let mut reloaded = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(reloaded.handle_event("new2", "{}", None).unwrap(), r#"["new2",1]"#);
    reloaded.restore(&captured).unwrap();
    assert_eq!(reloaded.handle_event("old", "{}", None).unwrap(), r#"["old",1]"#);
    for name in ["new1", "new2"] {
        let r = reloaded.handle_event(name, "{}", None);
        assert!(matches!(r, Err(Error::HandlerNotFound(_))), "{name}: {r:?}");
    }
    assert_eq!(reloaded.handle_event("old", "{}", None).unwrap(), r#"["old",2]"#);
    assert!(!reloaded.poisoned());
}
