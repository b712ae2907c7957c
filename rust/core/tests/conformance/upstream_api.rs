//! Where our API meets hyperlight-js's own tests: what `unload()` gives
//! back, `JSSandbox::poisoned()`, empty handler names, and the per-call
//! stats of its `guest-call-stats` feature.

use std::time::Duration;

use hyperlight_js_core::monitor::WallClockMonitor;
use hyperlight_js_core::{Error, Script};

use super::case::{case, Case};
use crate::common::{backends::builder, cancelled_by, guest_message, loaded, loaded_from};

pub const CASES: &[Case] = &[
    case!(unload_gives_back_a_sandbox_with_no_handlers),
    case!(a_sandbox_unloaded_from_a_poisoned_one_is_not_poisoned),
    case!(an_empty_handler_name_is_an_invalid_argument_everywhere),
    case!(there_are_no_call_stats_before_a_call_or_after_a_refused_one),
    case!(every_call_that_ran_has_stats),
    case!(a_terminated_call_names_its_monitor_in_the_stats),
];

const COUNTER: &str = "let count = 0; function handler(e) { e.count = ++count; return e }";

/// upstream: src/hyperlight-js/src/sandbox/loaded_js_sandbox.rs
/// (`test_add_handler_unload_and_reuse_resets_state`): the unloaded sandbox
/// has no handlers, the same name can be added again, and the new load
/// starts from scratch with the new code (the old code is gone).
fn unload_gives_back_a_sandbox_with_no_handlers(backend: &str) {
    let mut sandbox = builder(backend).build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("handler", Script::from_content(COUNTER, None).unwrap()).unwrap();
    let mut loaded = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(loaded.handle_event("handler", "{}", None).unwrap(), r#"{"count":1}"#);
    assert_eq!(loaded.handle_event("handler", "{}", None).unwrap(), r#"{"count":2}"#);
    let mut sandbox = loaded.unload();
    assert_eq!(sandbox.handler_names().count(), 0);
    sandbox.add_handler("handler", Script::from_content(COUNTER, None).unwrap()).unwrap();
    let mut loaded = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(loaded.handle_event("handler", "{}", None).unwrap(), r#"{"count":1}"#);
    let mut sandbox = loaded.unload();
    sandbox.add_handler("handler", Script::from_content("function handler() { return 'new' }", None).unwrap()).unwrap();
    let mut loaded = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(loaded.handle_event("handler", "{}", None).unwrap(), r#""new""#);
}

/// upstream: src/hyperlight-js/src/sandbox/js_sandbox.rs (`poisoned()`:
/// its `unload()` restores the pre-handler snapshot, which clears the
/// poison). Ours holds no engine, so it is never poisoned.
fn a_sandbox_unloaded_from_a_poisoned_one_is_not_poisoned(backend: &str) {
    let mut loaded = loaded(backend, &[("spin", "function handler() { while (true) {} }")]);
    let limit = WallClockMonitor::new(Duration::from_millis(50)).unwrap();
    assert_eq!(
        cancelled_by(loaded.handle_event_with_monitor("spin", "{}", &limit, None)).as_deref(),
        Some("wall-clock")
    );
    assert!(loaded.poisoned());
    let mut sandbox = loaded.unload();
    assert!(!sandbox.poisoned());
    sandbox.add_handler("h", Script::from_content("function handler() { return 7 }", None).unwrap()).unwrap();
    let mut loaded = sandbox.get_loaded_sandbox().unwrap();
    assert!(!loaded.poisoned());
    assert_eq!(loaded.handle_event("h", "{}", None).unwrap(), "7");
}

/// upstream: src/hyperlight-js/src/sandbox/js_sandbox.rs and
/// loaded_js_sandbox.rs ("Handler name must not be empty" from
/// `add_handler`, `remove_handler`, `handle_event` and
/// `handle_event_with_monitor` alike).
fn an_empty_handler_name_is_an_invalid_argument_everywhere(backend: &str) {
    let mut sandbox = builder(backend).build().unwrap().load_runtime().unwrap();
    let script = Script::from_content("function handler() { return 1 }", None).unwrap();
    assert!(matches!(sandbox.add_handler("", script.clone()), Err(Error::InvalidArgument(_))));
    assert!(matches!(sandbox.remove_handler(""), Err(Error::InvalidArgument(_))));
    assert!(matches!(sandbox.remove_handler("missing"), Err(Error::HandlerNotFound(_))));
    sandbox.add_handler("h", script).unwrap();
    let mut loaded = sandbox.get_loaded_sandbox().unwrap();
    assert!(matches!(loaded.handle_event("", "{}", None), Err(Error::InvalidArgument(_))));
    let limit = WallClockMonitor::new(Duration::from_secs(5)).unwrap();
    assert!(matches!(loaded.handle_event_with_monitor("", "{}", &limit, None), Err(Error::InvalidArgument(_))));
    assert!(!loaded.poisoned());
}

fn there_are_no_call_stats_before_a_call_or_after_a_refused_one(backend: &str) {
    let mut loaded = loaded(backend, &[("h", "function handler() { return 1 }")]);
    assert!(loaded.last_call_stats().is_none());
    loaded.handle_event("h", "{}", None).unwrap();
    assert!(loaded.last_call_stats().is_some());
    assert!(matches!(loaded.handle_event("missing", "{}", None), Err(Error::HandlerNotFound(_))));
    assert!(loaded.last_call_stats().is_none(), "a refused call never ran, so it has no stats");
}

/// Unmonitored calls have their wall-clock time, and their CPU time when
/// the sandbox was built to measure it; a call that threw has stats too.
fn every_call_that_ran_has_stats(backend: &str) {
    // 50 ms of CPU: several ticks of a thread CPU clock that counts in
    // 15.6 ms steps (Windows), so the time read is never zero.
    const BUSY: &str = "function handler(e) { if (e.fail) throw new Error('no'); \
                        const end = Date.now() + 50; while (Date.now() < end) {} return true }";
    let mut plain = loaded(backend, &[("h", BUSY)]);
    plain.handle_event("h", "{}", None).unwrap();
    let stats = plain.last_call_stats().unwrap().clone();
    assert!(stats.wall_clock > Duration::ZERO);
    assert_eq!(stats.cpu_time, None, "unmonitored calls skip the CPU clock unless asked");
    assert_eq!(stats.terminated_by, None);

    let mut measured = loaded_from(builder(backend).with_cpu_time_stats(true), &[("h", BUSY)]);
    measured.handle_event("h", "{}", None).unwrap();
    let stats = measured.last_call_stats().unwrap().clone();
    let cpu = stats.cpu_time.expect("a CPU time");
    assert!(cpu > Duration::ZERO);
    // Both clocks start and stop around the same guest code; the CPU one
    // reads first and last, so it can only be a scheduler tick ahead.
    assert!(cpu <= stats.wall_clock + Duration::from_millis(20), "{stats:?}");
    assert!(guest_message(measured.handle_event("h", r#"{"fail":true}"#, None)).contains("no"));
    let stats = measured.last_call_stats().unwrap();
    assert!(stats.cpu_time.is_some() && stats.terminated_by.is_none());
}

fn a_terminated_call_names_its_monitor_in_the_stats(backend: &str) {
    let mut loaded = loaded(
        backend,
        &[("spin", "function handler() { while (true) {} }"), ("h", "function handler() { return 1 }")],
    );
    let limit = WallClockMonitor::new(Duration::from_millis(100)).unwrap();
    loaded.handle_event_with_monitor("h", "{}", &limit, None).unwrap();
    let stats = loaded.last_call_stats().unwrap();
    assert!(stats.cpu_time.is_some(), "monitored calls always measure CPU time");
    assert_eq!(stats.terminated_by, None);
    assert_eq!(
        cancelled_by(loaded.handle_event_with_monitor("spin", "{}", &limit, None)).as_deref(),
        Some("wall-clock")
    );
    let stats = loaded.last_call_stats().unwrap();
    assert_eq!(stats.terminated_by.as_deref(), Some("wall-clock"));
    assert!(stats.wall_clock >= Duration::from_millis(100), "{stats:?}");
    assert!(stats.cpu_time.is_some_and(|cpu| cpu > Duration::ZERO), "{stats:?}");
    assert!(matches!(loaded.handle_event("h", "{}", None), Err(Error::Poisoned)));
    assert!(loaded.last_call_stats().is_none());
}
