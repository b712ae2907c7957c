//! What only the in-process backend does: its snapshot is the load itself
//! (restore loads the handlers again into a new engine), so it can only
//! snapshot a sandbox no call has run in yet. Every other behaviour is in
//! the conformance suite (tests/conformance.rs), which runs it here too.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

mod common;

use hyperlight_js_core::Error;

#[test]
fn only_a_freshly_loaded_sandbox_can_be_snapshotted() {
    let mut s = common::loaded("in-process", &[("h", "let n = 0; function handler() { return ++n }")]);
    let fresh = s.snapshot().unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "1");
    match s.snapshot() {
        Err(Error::Snapshot(m)) => assert!(m.contains("freshly loaded"), "{m}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| "a snapshot")),
    }
    assert!(!s.poisoned());
    s.restore(&fresh).unwrap();
    s.snapshot().unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "1");
}
