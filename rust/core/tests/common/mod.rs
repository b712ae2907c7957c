//! Host functions that tests of more than one backend register.

use std::sync::Arc;

use hyperlight_js_core::{Error, LoadedJSSandbox, ProtoJSSandbox};

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
