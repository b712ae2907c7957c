//! Events in, results out: JSON both ways, and the typed failures of a call
//! that leave the sandbox usable.

use std::sync::{Arc, Mutex};

use hyperlight_js_core::sandbox::CallOptions;
use hyperlight_js_core::{Error, Payload};

use super::case::{case, Case};
use crate::common::{backends::builder, guest_message, load, loaded};

pub const CASES: &[Case] = &[
    case!(events_and_results_round_trip_as_json),
    case!(failures_of_a_call_are_typed_and_do_not_poison),
    case!(a_thrown_error_keeps_its_name_and_stack),
    case!(console_and_print_reach_the_print_function),
    case!(a_uint8array_result_is_bytes_or_the_json_stringify_text),
    case!(upstreams_builtin_hmac_and_bytes_from),
];

fn events_and_results_round_trip_as_json(backend: &str) {
    let mut s = loaded(backend, &[("h", "function handler(e) { return { sum: e.a + e.b, text: e.s.toUpperCase() } }")]);
    assert_eq!(s.handle_event("h", r#"{"a":1,"b":2,"s":"héllo ✓"}"#, None).unwrap(), r#"{"sum":3,"text":"HÉLLO ✓"}"#);
    assert_eq!(s.handle_event("h", r#"{"a":1,"b":2,"s":""}"#, Some(false)).unwrap(), r#"{"sum":3,"text":""}"#);
}

const PICKY: &str = "function handler(e) { if (e.kind === 'undef') return undefined; if (e.kind === 'big') return 1n; \
     if (e.kind === 'cycle') { const a = {}; a.a = a; return a } if (e.kind === 'text') throw 'plain'; \
     throw new TypeError('nope') }";

fn failures_of_a_call_are_typed_and_do_not_poison(backend: &str) {
    let mut s = loaded(backend, &[("h", PICKY)]);
    assert!(matches!(s.handle_event("h", "{not json", None), Err(Error::InvalidEvent(_))));
    assert!(matches!(s.handle_event("missing", "{}", None), Err(Error::HandlerNotFound(_))));
    assert!(matches!(s.handle_event("", "{}", None), Err(Error::InvalidArgument(_))));
    for kind in ["undef", "big", "cycle"] {
        let r = s.handle_event("h", &format!(r#"{{"kind":"{kind}"}}"#), None);
        assert!(matches!(r, Err(Error::ResultNotSerializable(_))), "{kind}: {r:?}");
    }
    assert_eq!(guest_message(s.handle_event("h", r#"{"kind":"text"}"#, None)), "Uncaught plain");
    assert!(!s.poisoned());
    assert!(matches!(s.handle_event("h", r#"{"kind":"undef"}"#, None), Err(Error::ResultNotSerializable(_))));
}

fn a_thrown_error_keeps_its_name_and_stack(backend: &str) {
    let mut s = loaded(backend, &[("h", PICKY)]);
    match s.handle_event("h", r#"{"kind":"throw"}"#, None) {
        Err(Error::Guest(f)) => {
            assert_eq!(f.message, "TypeError: nope");
            assert!(f.stack.unwrap_or_default().contains("handler"));
            assert!(f.host_cause.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert!(!s.poisoned());
}

fn console_and_print_reach_the_print_function(backend: &str) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let proto = builder(backend)
        .with_host_print_fn(Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_owned())))
        .build()
        .unwrap();
    let source = "function handler() { console.log('hi', 1, {a: [1]}); print('p'); return 0 }";
    load(proto, &[("h", source)]).unwrap().handle_event("h", "{}", None).unwrap();
    // console.log ends its line with "\n", as upstream's; print adds nothing.
    assert_eq!(*lines.lock().unwrap(), ["hi 1 {\"a\":[1]}\n", "p"]);
}

/// A handler's `Uint8Array` result: its bytes through `call_payload`, and
/// through the JSON API what `JSON.stringify` writes for it, which is what
/// upstream's `handle_event` returns (upstream: src/hyperlight-js/tests/handlers.rs
/// returns handler values through JSON.stringify).
fn a_uint8array_result_is_bytes_or_the_json_stringify_text(backend: &str) {
    let mut s = loaded(
        backend,
        &[
            ("bytes", "function handler(e) { return new Uint8Array([9, 0, 255, 9]).subarray(1, e.end) }"),
            ("later", "async function handler() { return new Uint8Array([7]) }"),
            ("nested", "function handler() { return [new Uint8Array([1])] }"),
        ],
    );
    let options = CallOptions::default();
    assert_eq!(s.call_payload("bytes", r#"{"end":3}"#, &options).unwrap(), Payload::Bytes(vec![0, 255]));
    assert_eq!(s.call_payload("bytes", r#"{"end":1}"#, &options).unwrap(), Payload::Bytes(vec![]));
    assert_eq!(s.call_payload("later", "{}", &options).unwrap(), Payload::Bytes(vec![7]));
    assert_eq!(s.call_payload("nested", "{}", &options).unwrap(), Payload::Json(r#"[{"0":1}]"#.into()));
    assert_eq!(s.handle_event("bytes", r#"{"end":3}"#, None).unwrap(), r#"{"0":0,"1":255}"#);
    assert_eq!(s.handle_event("bytes", r#"{"end":1}"#, None).unwrap(), "{}");
}

/// upstream: src/hyperlight-js/tests/builtin_crypto.rs — the same key, data
/// and expected signatures (upstream's assertion), through `require`, and the
/// `String.bytesFrom` inputs it decodes.
fn upstreams_builtin_hmac_and_bytes_from(backend: &str) {
    let source = r#"function handler(e) {
        var hmac = require('crypto').createHmac('sha256', e.key).update(e.data);
        return [hmac.digest('base64url'), hmac.digest('base64'), hmac.digest('hex'),
                String.bytesFrom("SGVsbG8gV29ybGQhIQo=", "base64url"),
                String.bytesFrom("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "base64url")];
    }"#;
    let event = r#"{"key":"TULWi2fOzLr9GcJeArpS4o135bEGmFhdUjpBSxUeJxXtIlx6qh","data":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJUZXN0U3ViamVjdCIsIm5hbWUiOiJUZXN0IFVzZXIiLCJpYXQiOjE3MTg4OTE5MTksIm5iZiI6MTcxODg5MTkxOSwiZXhwIjoxODc2NjU4MzQ2fQ"}"#;
    let mut s = loaded(backend, &[("h", source)]);
    assert_eq!(
        s.handle_event("h", event, None).unwrap(),
        r#"["uRMcKIrmGTb0LDN0IxDF0kyS8zy2E5RZwV_L66XGHg8","uRMcKIrmGTb0LDN0IxDF0kyS8zy2E5RZwV/L66XGHg8=","b9131c288ae61936f42c33742310c5d24c92f33cb6139459c15fcbeba5c61e0f","Hello World!!\n","{\"alg\":\"HS256\",\"typ\":\"JWT\"}"]"#
    );
}
