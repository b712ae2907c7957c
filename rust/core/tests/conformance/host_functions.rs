//! Host functions: registered by module and name, called with JSON, their
//! failures thrown into the guest with the host's cause kept.

use std::sync::Arc;

use hyperlight_js_core::{Error, HostCallError, HostCause};

use super::case::{case, Case};
use crate::common::{backends::builder, load, register_add};

pub const CASES: &[Case] =
    &[case!(host_functions_take_json_and_keep_their_cause), case!(a_panicking_host_function_is_contained_and_poisons)];

fn host_functions_take_json_and_keep_their_cause(backend: &str) {
    let mut proto = builder(backend).build().unwrap();
    register_add(&mut proto);
    proto.register("math", "echo", Arc::new(|args: &str| Ok(args.to_owned()))).unwrap();
    proto
        .register(
            "math",
            "fail",
            Arc::new(|_: &str| {
                Err(HostCallError { message: "host says no".into(), cause: Some(HostCause(Box::new(42_u32))) })
            }),
        )
        .unwrap();
    let source = "import * as m from 'math'; function handler(e) { let caught; try { m.fail() } catch (x) { caught = x.message } \
                  if (e.rethrow) m.fail(); return [m.add(e.a, 2), caught.endsWith('host says no'), m.echo(new Uint8Array([1, 2]), 'x')] }";
    let mut s = load(proto, &[("h", source)]).unwrap();
    assert_eq!(s.handle_event("h", r#"{"a":40}"#, None).unwrap(), r#"[42,true,[{"0":1,"1":2},"x"]]"#);
    match s.handle_event("h", r#"{"a":1,"rethrow":true}"#, None) {
        Err(Error::Guest(f)) => {
            assert_eq!(f.message, "HostError: host says no");
            assert_eq!(f.host_cause.unwrap().0.downcast_ref::<u32>(), Some(&42));
        }
        other => panic!("{other:?}"),
    }
    assert!(!s.poisoned());
}

/// A panic in a host function is a bug on the host's side: it must not
/// unwind through the engine, and nobody can vouch for the guest after it.
fn a_panicking_host_function_is_contained_and_poisons(backend: &str) {
    let mut proto = builder(backend).build().unwrap();
    proto
        .register(
            "host",
            "boom",
            Arc::new(|_: &str| -> Result<String, HostCallError> { panic!("a bug in a host function") }),
        )
        .unwrap();
    let mut s =
        load(proto, &[("h", "import { boom } from 'host'; function handler(e) { if (e.boom) boom(); return 1 }")])
            .unwrap();
    let snap = s.snapshot().unwrap();
    match s.handle_event("h", r#"{"boom":true}"#, None) {
        Err(Error::Internal(message)) => assert!(message.contains("a bug in a host function"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(s.poisoned());
    s.restore(&snap).unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "1");
}
