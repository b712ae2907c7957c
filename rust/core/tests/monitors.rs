//! Monitors on their own, without a sandbox (so on no backend): what a
//! monitor accepts. How monitors end a call is in the conformance suite
//! (tests/conformance/monitors.rs), on every backend.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

use std::time::Duration;

use hyperlight_js_core::monitor::{CpuTimeMonitor, WallClockMonitor};

#[test]
fn limits_must_be_positive() {
    assert!(WallClockMonitor::new(Duration::ZERO).is_err());
    assert!(CpuTimeMonitor::new(Duration::ZERO).is_err());
}
