//! Execution monitors and the kill path: a runaway handler is ended by the
//! first monitor to fire, or by the interrupt handle, on every backend.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyperlight_js_core::monitor::{metrics, CpuTimeMonitor, ExecutionMonitor, MonitorList, WallClockMonitor};
use hyperlight_js_core::{json_host_function, Error, HostCallError, LoadedJSSandbox, MonitorError};

use super::case::{case, Case};
use crate::common::{backends::builder, cancelled_by, load, loaded};

pub const CASES: &[Case] = &[
    case!(wall_clock_ends_a_tight_loop_and_counts_it),
    case!(cpu_time_ignores_sleeping_host_calls_but_wall_clock_does_not),
    case!(cpu_time_never_ends_a_call_before_its_budget),
    case!(the_earliest_limit_wins_in_a_tuple_or_a_list),
    case!(a_monitor_that_cannot_start_means_the_handler_never_runs),
    case!(custom_monitors_compose_with_built_in_ones),
    case!(parallel_sandboxes_are_each_monitored),
    case!(limits_too_far_away_to_represent_never_fire_and_never_panic),
    case!(a_monitor_ends_a_builtin_loop_over_a_huge_array_like),
    case!(a_kill_reaches_only_its_own_sandbox),
];

/// A sandbox with `host.sleep(ms)` and `host.effect()` (counted in
/// `side_effects`), and its handler `h`.
fn loaded_with_host(backend: &str, handler: &str, side_effects: Arc<AtomicUsize>) -> LoadedJSSandbox {
    let mut proto = builder(backend).build().unwrap();
    proto
        .register(
            "host",
            "sleep",
            json_host_function(|args: &str| {
                let ms: u64 = args.trim_matches(['[', ']']).parse().map_err(|_| HostCallError::new("bad ms"))?;
                std::thread::sleep(Duration::from_millis(ms));
                Ok("null".into())
            }),
        )
        .unwrap();
    proto
        .register(
            "host",
            "effect",
            json_host_function(move |_: &str| {
                side_effects.fetch_add(1, Ordering::SeqCst);
                Ok("null".into())
            }),
        )
        .unwrap();
    load(proto, &[("h", handler)]).unwrap()
}

const SPIN: &str = "import * as host from 'host'; function handler(e) { if (e.sleep) { host.sleep(e.sleep); return 'slept' } while (true) {} }";

fn spinning(backend: &str) -> LoadedJSSandbox {
    loaded_with_host(backend, SPIN, Default::default())
}

fn wall_clock_ends_a_tight_loop_and_counts_it(backend: &str) {
    let mut s = spinning(backend);
    let before = metrics::monitor_terminations().get("wall-clock").copied().unwrap_or(0);
    let started = Instant::now();
    let r = s.handle_event_with_monitor("h", "{}", &WallClockMonitor::new(Duration::from_millis(50)).unwrap(), None);
    assert_eq!(cancelled_by(r).as_deref(), Some("wall-clock"));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(s.poisoned());
    assert!(metrics::monitor_terminations()["wall-clock"] > before);
}

fn cpu_time_ignores_sleeping_host_calls_but_wall_clock_does_not(backend: &str) {
    let mut s = spinning(backend);
    let cpu = CpuTimeMonitor::new(Duration::from_millis(50)).unwrap();
    assert_eq!(s.handle_event_with_monitor("h", r#"{"sleep":300}"#, &cpu, None).unwrap(), r#""slept""#);
    let pair = (WallClockMonitor::new(Duration::from_millis(100)).unwrap(), cpu.clone());
    assert_eq!(
        cancelled_by(s.handle_event_with_monitor("h", r#"{"sleep":2000}"#, &pair, None)).as_deref(),
        Some("wall-clock")
    );
}

/// Windows charges thread CPU time in whole clock ticks (15.6 ms), so its
/// clock can read a tick ahead of the time used: the monitor must not take
/// that as the budget spent. The guest's CPU time can never exceed the wall
/// time it ran, so a call stopped before its budget in wall time was
/// stopped early.
fn cpu_time_never_ends_a_call_before_its_budget(backend: &str) {
    let mut s = spinning(backend);
    let snap = s.snapshot().unwrap();
    for budget in [5, 12, 20, 35].map(Duration::from_millis) {
        let started = Instant::now();
        let r = s.handle_event_with_monitor("h", "{}", &CpuTimeMonitor::new(budget).unwrap(), None);
        let ran = started.elapsed();
        assert_eq!(cancelled_by(r).as_deref(), Some("cpu-time"));
        assert!(ran >= budget, "a {budget:?} CPU budget ended the call after {ran:?}");
        assert!(ran < Duration::from_secs(5));
        s.restore(&snap).unwrap();
    }
}

fn the_earliest_limit_wins_in_a_tuple_or_a_list(backend: &str) {
    let mut s = spinning(backend);
    let snap = s.snapshot().unwrap();
    let pair = (
        WallClockMonitor::new(Duration::from_secs(10)).unwrap(),
        CpuTimeMonitor::new(Duration::from_millis(40)).unwrap(),
    );
    assert_eq!(cancelled_by(s.handle_event_with_monitor("h", "{}", &pair, None)).as_deref(), Some("cpu-time"));
    s.restore(&snap).unwrap();
    let mut list = MonitorList::new();
    list.push(CpuTimeMonitor::new(Duration::from_secs(10)).unwrap());
    list.push(WallClockMonitor::new(Duration::from_millis(30)).unwrap());
    assert_eq!(cancelled_by(s.handle_event_with_monitor("h", "{}", &list, None)).as_deref(), Some("wall-clock"));
}

struct FailsToStart;

impl ExecutionMonitor for FailsToStart {
    fn get_monitor(&self) -> Result<impl Future<Output = ()> + Send + 'static, MonitorError> {
        Err::<std::future::Pending<()>, _>(MonitorError { monitor: "broken".into(), reason: "no clock".into() })
    }

    fn name(&self) -> &str {
        "broken"
    }
}

fn a_monitor_that_cannot_start_means_the_handler_never_runs(backend: &str) {
    let effects = Arc::new(AtomicUsize::new(0));
    let mut s = loaded_with_host(
        backend,
        "import * as host from 'host'; function handler() { host.effect(); return 1 }",
        effects.clone(),
    );
    let set = (WallClockMonitor::new(Duration::from_secs(1)).unwrap(), FailsToStart);
    assert!(matches!(s.handle_event_with_monitor("h", "{}", &set, None), Err(Error::MonitorStart(_))));
    assert!(matches!(s.handle_event_with_monitor("h", "{}", &MonitorList::new(), None), Err(Error::MonitorStart(_))));
    assert_eq!(effects.load(Ordering::SeqCst), 0);
    assert!(!s.poisoned());
    assert_eq!(
        s.handle_event_with_monitor("h", "{}", &WallClockMonitor::new(Duration::from_secs(1)).unwrap(), None).unwrap(),
        "1"
    );
    assert_eq!(effects.load(Ordering::SeqCst), 1);
}

/// A custom monitor written against the public trait, using `monitor::sleep`.
struct AfterPolls(u32);

impl ExecutionMonitor for AfterPolls {
    fn get_monitor(&self) -> Result<impl Future<Output = ()> + Send + 'static, MonitorError> {
        let polls = self.0;
        Ok(async move {
            for _ in 0..polls {
                hyperlight_js_core::monitor::sleep(Duration::from_millis(5)).await;
            }
        })
    }

    fn name(&self) -> &str {
        "after-polls"
    }
}

fn custom_monitors_compose_with_built_in_ones(backend: &str) {
    let mut s = spinning(backend);
    let set = (
        WallClockMonitor::new(Duration::from_secs(5)).unwrap(),
        CpuTimeMonitor::new(Duration::from_secs(5)).unwrap(),
        AfterPolls(4),
    );
    assert_eq!(cancelled_by(s.handle_event_with_monitor("h", "{}", &set, None)).as_deref(), Some("after-polls"));
}

fn parallel_sandboxes_are_each_monitored(backend: &str) {
    let backend = backend.to_owned();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let backend = backend.clone();
            std::thread::spawn(move || {
                let mut s = spinning(&backend);
                let set = (
                    WallClockMonitor::new(Duration::from_millis(300)).unwrap(),
                    CpuTimeMonitor::new(Duration::from_millis(60)).unwrap(),
                );
                cancelled_by(s.handle_event_with_monitor("h", "{}", &set, None))
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().is_some());
    }
}

fn limits_too_far_away_to_represent_never_fire_and_never_panic(backend: &str) {
    let mut s = loaded(backend, &[("h", "function handler() { return 1 }")]);
    let huge = Duration::from_secs(u64::MAX / 2);
    let set = (WallClockMonitor::new(huge).unwrap(), CpuTimeMonitor::new(huge).unwrap());
    assert_eq!(s.handle_event_with_monitor("h", "{}", &set, None).unwrap(), "1");
    assert_eq!(s.handle_event_with_monitor("h", "{}", &WallClockMonitor::new(huge).unwrap(), None).unwrap(), "1");
}

/// Built-ins whose C loop the guest sizes (here 2^32-1 elements of an
/// array-like) poll the interrupt too (vendor/README.md); without that this
/// ran for minutes. Run on a thread so that a regression fails instead of hanging.
fn a_monitor_ends_a_builtin_loop_over_a_huge_array_like(backend: &str) {
    let handler = "function handler() { const a = []; a.length = 2 ** 32 - 1; a.reverse(); return 'reversed' }";
    let (done, outcome) = std::sync::mpsc::channel();
    let backend = backend.to_owned();
    std::thread::spawn(move || {
        let mut s = loaded(&backend, &[("h", handler)]);
        let started = Instant::now();
        let limit = WallClockMonitor::new(Duration::from_millis(200)).unwrap();
        let result = s.handle_event_with_monitor("h", "{}", &limit, None);
        let _ = done.send((result, started.elapsed()));
    });
    let (result, elapsed) = outcome.recv_timeout(Duration::from_secs(30)).expect("reverse() ignored the monitor");
    assert_eq!(cancelled_by(result).as_deref(), Some("wall-clock"));
    assert!(elapsed < Duration::from_secs(5), "ended after {elapsed:?}");
}

/// Killing one sandbox leaves another one's call, running at the same
/// time on another thread, to finish with the right answer.
fn a_kill_reaches_only_its_own_sandbox(backend: &str) {
    let mut victim = loaded(backend, &[("spin", "function handler() { while (true) {} }")]);
    let mut worker = loaded(
        backend,
        &[("h", "function handler(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + i) % 1000003; return s }")],
    );
    let handle = victim.interrupt_handle();
    let spinning = std::thread::spawn(move || victim.handle_event("spin", "{}", None));
    while !handle.is_running() {
        std::thread::yield_now();
    }
    let n = 1_000_000u64;
    let expected = (0..n).fold(0, |s, i| (s + i) % 1_000_003);
    let worker_handle = worker.interrupt_handle();
    let working = std::thread::spawn(move || worker.handle_event("h", &n.to_string(), None));
    while !worker_handle.is_running() && !working.is_finished() {
        std::thread::yield_now();
    }
    assert!(handle.kill());
    assert!(matches!(spinning.join().unwrap(), Err(Error::Cancelled { monitor: None, .. })));
    assert_eq!(working.join().unwrap().unwrap(), expected.to_string());
}
