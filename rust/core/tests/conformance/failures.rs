//! Failures that end a call, and poisoning: which leave the sandbox usable,
//! which poison it, and how restore() brings it back.

use std::time::{Duration, Instant};

use hyperlight_js_core::Error;

use super::case::{case, Case};
use crate::common::{backends::builder, loaded, loaded_from};

pub const CASES: &[Case] = &[
    case!(a_kill_poisons_and_restore_recovers_without_later_globals),
    case!(every_kind_of_deep_recursion_is_a_catchable_error),
];

fn a_kill_poisons_and_restore_recovers_without_later_globals(backend: &str) {
    let mut s = loaded(
        backend,
        &[(
            "h",
            "let n = 0; function handler(e) { if (e.spin) { while (true) {} } const seen = typeof leak; globalThis.leak = 1; return [++n, seen] }",
        )],
    );
    let snapshot = s.snapshot().unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), r#"[1,"undefined"]"#);
    let handle = s.interrupt_handle();
    let killer = std::thread::spawn(move || {
        while !handle.is_running() {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(20));
        handle.kill()
    });
    let started = Instant::now();
    let r = s.handle_event("h", r#"{"spin":true}"#, None);
    assert!(killer.join().unwrap());
    assert!(matches!(r, Err(Error::Cancelled { monitor: None, by_signal: false })), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(s.poisoned());
    assert!(matches!(s.handle_event("h", "{}", None), Err(Error::Poisoned)));
    assert!(matches!(s.snapshot(), Err(Error::Poisoned)));
    s.restore(&snapshot).unwrap();
    assert!(!s.poisoned());
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), r#"[1,"undefined"]"#, "state from after the snapshot");
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), r#"[2,"number"]"#);
}

/// Recursion in JavaScript and in the engine's own C (JSON, the parser, the
/// regexp compiler, flat()) ends in a RangeError the handler could catch,
/// never in a crash, and does not poison.
fn every_kind_of_deep_recursion_is_a_catchable_error(backend: &str) {
    let cases = [
        "function handler() { const f = n => f(n + 1) + 1; return f(0) }",
        "function handler() { let a = []; for (let i = 0; i < 200000; i++) a = [a]; return JSON.stringify(a).length }",
        "function handler() { return JSON.parse('['.repeat(200000) + ']'.repeat(200000)) }",
        "function handler() { return eval('('.repeat(100000) + '1' + ')'.repeat(100000)) }",
        "function handler() { return new RegExp('(?:'.repeat(50000) + 'a' + ')'.repeat(50000)).test('a') }",
        "function handler() { let a = []; for (let i = 0; i < 200000; i++) a = [a]; return a.flat(Infinity).length }",
    ];
    let handlers: Vec<(String, &str)> = cases.iter().enumerate().map(|(i, s)| (format!("h{i}"), *s)).collect();
    let handlers: Vec<(&str, &str)> = handlers.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let mut s = loaded_from(builder(backend).with_guest_heap_size(64 << 20).unwrap(), &handlers);
    for (name, source) in handlers {
        match s.handle_event(name, "{}", None) {
            Err(Error::Guest(failure)) => assert!(failure.message.contains("stack"), "{source}: {}", failure.message),
            other => panic!("{source}: {other:?}"),
        }
        assert!(!s.poisoned(), "{source}");
    }
}
