//! Heap and scratch sizes: refused when a backend cannot honour them, and
//! enforced as typed errors (never a crash) when a guest reaches them.

use hyperlight_js_core::{Error, SandboxBuilder};

use super::case::{case, Case};
use crate::common::{backends::builder, loaded_from};

pub const CASES: &[Case] = &[
    case!(zero_sizes_are_refused),
    case!(sizes_below_the_floor_are_refused_and_the_floor_named_is_enough),
    case!(the_heap_limit_is_enforced_and_poisons),
    case!(heap_exhaustion_by_many_small_objects_is_reported_and_poisons),
    case!(an_event_too_big_for_the_heap_is_an_invalid_event),
];

fn zero_sizes_are_refused(backend: &str) {
    assert!(matches!(builder(backend).with_guest_heap_size(0), Err(Error::InvalidArgument(_))));
    assert!(matches!(builder(backend).with_guest_scratch_size(0), Err(Error::InvalidArgument(_))));
}

/// The minimum a refusal names, in bytes.
fn floor_named(refused: Result<hyperlight_js_core::ProtoJSSandbox, Error>) -> usize {
    match refused {
        Err(Error::InvalidArgument(m)) => {
            let after = m.split("the minimum is ").nth(1).unwrap_or_else(|| panic!("no minimum named: {m}"));
            after.split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("no number of bytes: {m}"))
        }
        Err(other) => panic!("expected InvalidArgument, got {other:?}"),
        Ok(_) => panic!("a 1-byte size was accepted"),
    }
}

fn sizes_below_the_floor_are_refused_and_the_floor_named_is_enough(backend: &str) {
    // The handler each backend's floor was measured with (its `sizes.rs`).
    let handler = [("h", "function handler(e) { return e + 1 }")];
    let heap = floor_named(builder(backend).with_guest_heap_size(1).unwrap().build());
    let scratch = floor_named(builder(backend).with_guest_scratch_size(1).unwrap().build());
    assert!(matches!(builder(backend).with_guest_heap_size(heap - 1).unwrap().build(), Err(Error::InvalidArgument(_))));
    let at_floor = |b: SandboxBuilder| loaded_from(b, &handler).handle_event("h", "7", None).unwrap();
    let expected = "8";
    assert_eq!(at_floor(builder(backend).with_guest_heap_size(heap).unwrap()), expected);
    assert_eq!(at_floor(builder(backend).with_guest_scratch_size(scratch).unwrap()), expected);
}

fn the_heap_limit_is_enforced_and_poisons(backend: &str) {
    let mut s = loaded_from(
        builder(backend).with_guest_heap_size(8 << 20).unwrap(),
        &[("h", "function handler(e) { return new Uint8Array(e).length }")],
    );
    let snapshot = s.snapshot().unwrap();
    assert_eq!(s.handle_event("h", "4194304", None).unwrap(), "4194304");
    assert!(matches!(s.handle_event("h", "16777216", None), Err(Error::OutOfMemory { .. })));
    assert!(s.poisoned());
    s.restore(&snapshot).unwrap();
    assert_eq!(s.handle_event("h", "1024", None).unwrap(), "1024");
}

fn heap_exhaustion_by_many_small_objects_is_reported_and_poisons(backend: &str) {
    let mut s = loaded_from(
        builder(backend).with_guest_heap_size(8 << 20).unwrap(),
        &[
            ("grow", "function handler() { let s = []; while (true) s.push('x'.repeat(1000) + s.length) }"),
            ("h", "function handler() { return 1 }"),
        ],
    );
    let snapshot = s.snapshot().unwrap();
    let r = s.handle_event("grow", "{}", None);
    assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
    assert!(s.poisoned());
    s.restore(&snapshot).unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "1");
}

fn an_event_too_big_for_the_heap_is_an_invalid_event(backend: &str) {
    let mut s = loaded_from(
        builder(backend).with_guest_heap_size(4 << 20).unwrap(),
        &[("h", "function handler(e) { return e.length }")],
    );
    let event = format!("[{}]", vec!["\"xxxxxxxxxxxxxxxx\""; 400_000].join(","));
    match s.handle_event("h", &event, None) {
        Err(Error::InvalidEvent(message)) => assert!(message.contains("does not fit"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(!s.poisoned());
    assert_eq!(s.handle_event("h", "[1,2]", None).unwrap(), "2");
}
