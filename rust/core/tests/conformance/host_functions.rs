//! Host functions: registered by module and name, called with JSON, their
//! failures thrown into the guest with the host's cause kept.

use std::sync::Arc;

use hyperlight_js_core::{json_host_function, Error, HostArgs, HostCallError, HostCause, Payload};

use super::case::{case, Case};
use crate::common::{backends::builder, load, register_add};

pub const CASES: &[Case] = &[
    case!(host_functions_take_json_and_keep_their_cause),
    case!(a_panicking_host_function_is_contained_and_poisons),
    case!(host_function_names_need_not_be_identifiers),
    case!(refused_names_are_invalid_arguments),
    case!(uint8array_arguments_and_byte_results_cross_as_bytes),
    case!(no_json_value_is_taken_for_binary, not_on: [(
        "hyperlight",
        "upstream's runtime marks binary arguments with {\"__bin__\": n} objects, so one the guest writes is read as \
         binary when the call also has a Uint8Array (hyperlight/host_functions.rs)"
    )]),
];

fn host_functions_take_json_and_keep_their_cause(backend: &str) {
    let mut proto = builder(backend).build().unwrap();
    register_add(&mut proto);
    proto.register("math", "echo", json_host_function(|args: &str| Ok(args.to_owned()))).unwrap();
    proto
        .register(
            "math",
            "fail",
            json_host_function(|_: &str| {
                Err(HostCallError { message: "host says no".into(), cause: Some(HostCause(Box::new(42_u32))) })
            }),
        )
        .unwrap();
    let source = "import * as m from 'math'; function handler(e) { let caught; try { m.fail() } catch (x) { caught = x.message } \
                  if (e.rethrow) m.fail(); return [m.add(e.a, 2), caught.endsWith('host says no'), m.echo(new Uint8Array([1, 2]), 'x')] }";
    let mut s = load(proto, &[("h", source)]).unwrap();
    assert_eq!(s.handle_event("h", r#"{"a":40}"#, None).unwrap(), r#"[42,true,[null,"x"]]"#);
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
            json_host_function(|_: &str| -> Result<String, HostCallError> { panic!("a bug in a host function") }),
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

/// upstream: src/hyperlight-js/tests/host_functions.rs (`"no-op"`,
/// `"scoped/add/😊"` called as `host["scoped/add/😊"](10, 32)`).
fn host_function_names_need_not_be_identifiers(backend: &str) {
    let mut proto = builder(backend).build().unwrap();
    for name in ["no-op", "scoped/add/😊", "with space", "1st"] {
        let reply = format!("{name:?}");
        proto.register("host", name, json_host_function(move |_: &str| Ok(reply.clone()))).unwrap();
    }
    let source = "import * as host from 'host'; import { 'no-op' as noop } from 'host'; \
                  function handler() { return [Object.keys(host).sort(), host['scoped/add/😊'](), host['with space'](), host['1st'](), noop()] }";
    let mut s = load(proto, &[("h", source)]).unwrap();
    assert_eq!(
        s.handle_event("h", "{}", None).unwrap(),
        r#"[["1st","no-op","scoped/add/😊","with space"],"scoped/add/😊","with space","1st","no-op"]"#
    );
}

/// upstream: src/js-host-api/tests/host-functions.test.js (empty module
/// and function names throw); NUL cannot name a QuickJS export.
fn refused_names_are_invalid_arguments(backend: &str) {
    let mut proto = builder(backend).build().unwrap();
    for (module, name) in [("m", ""), ("", "f"), ("m", "a\0b"), ("m\0", "f"), ("./m", "f"), ("a/b", "f")] {
        match proto.register(module, name, json_host_function(|_: &str| Ok("1".into()))) {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("{module:?}.{name:?}: {other:?}"),
        }
    }
    proto.register("m", "f", json_host_function(|_: &str| Ok("1".into()))).unwrap();
    assert!(matches!(
        proto.register("m", "f", json_host_function(|_: &str| Ok("2".into()))),
        Err(Error::InvalidArgument(_))
    ));
}

/// upstream: src/js-host-api/tests/host-functions.test.js ("Binary data
/// support"): a `Uint8Array` argument arrives as bytes, bytes returned are
/// a `Uint8Array`. Here only whole arguments are binary: the JSON holds
/// `null` for them, and a nested one is what `JSON.stringify` writes.
fn uint8array_arguments_and_byte_results_cross_as_bytes(backend: &str) {
    let mut proto = builder(backend).build().unwrap();
    proto
        .register(
            "bin",
            "describe",
            Arc::new(|args: HostArgs<'_>| {
                let positions: Vec<String> =
                    args.bytes.iter().map(|(i, data)| format!("[{i},{}]", data.len())).collect();
                Ok(Payload::Json(format!("{{\"json\":{},\"bytes\":[{}]}}", args.json, positions.join(","))))
            }),
        )
        .unwrap();
    proto
        .register(
            "bin",
            "reverse",
            Arc::new(|args: HostArgs<'_>| {
                let mut data = args.bytes.first().map(|(_, data)| data.clone()).unwrap_or_default();
                data.reverse();
                Ok(Payload::Bytes(data))
            }),
        )
        .unwrap();
    let source = "import * as bin from 'bin'; function handler() { \
                  const big = new Uint8Array(1 << 20).map((_, i) => i % 251); \
                  const out = bin.reverse(big); \
                  const view = new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4); \
                  return [bin.describe(1, new Uint8Array([]), {a: new Uint8Array([7])}, view), \
                          out instanceof Uint8Array, out.length, out[0], out[out.length - 1], Array.from(bin.reverse(view)), \
                          bin.reverse().length] }";
    let mut s = load(proto, &[("h", source)]).unwrap();
    let last = ((1 << 20) - 1) % 251;
    assert_eq!(
        s.handle_event("h", "{}", None).unwrap(),
        format!(
            r#"[{{"json":[1,null,{{"a":{{"0":7}}}},null],"bytes":[[1,0],[3,3]]}},true,1048576,{last},0,[3,2,1],0]"#
        )
    );
}

/// Binary data travels beside the JSON, so no JSON value a guest writes
/// can be taken for it, whatever its shape.
fn no_json_value_is_taken_for_binary(backend: &str) {
    let mut proto = builder(backend).build().unwrap();
    proto
        .register(
            "bin",
            "echo",
            Arc::new(|args: HostArgs<'_>| Ok(Payload::Json(format!("[{},{}]", args.json, args.bytes.len())))),
        )
        .unwrap();
    let source = "import * as bin from 'bin'; \
                  function handler() { return bin.echo({__bin__: 0}, new Uint8Array([1]), [{__bin__: 1}], null) }";
    let mut s = load(proto, &[("h", source)]).unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), r#"[[{"__bin__":0},null,[{"__bin__":1}],null],1]"#);
}
