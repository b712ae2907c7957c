//! The wasm backend through the core API: exact snapshots, kills aimed at
//! one sandbox, the heap limit, recursion. Run with `--features wasm` (the
//! Python suite runs every test against this backend too); without the
//! guest compiler the tests say so and pass.
#![cfg(all(feature = "wasm", any(target_os = "linux", windows)))]
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

// Shared with the other backends' tests; not every helper is used here.
#[allow(dead_code)]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyperlight_js_core::backend::{self, BackendChoice};
use hyperlight_js_core::{Error, LoadedJSSandbox, SandboxBuilder, Script};

fn wasm_runs() -> bool {
    match backend::find("wasm").unwrap().availability() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("skipped: the wasm backend cannot run here: {reason}");
            false
        }
    }
}

fn loaded(heap: usize, handlers: &[(&str, &str)]) -> LoadedJSSandbox {
    let builder = SandboxBuilder::new().with_backend(BackendChoice::Named(backend::find("wasm").unwrap()));
    let mut sandbox = builder.with_guest_heap_size(heap).unwrap().build().unwrap().load_runtime().unwrap();
    for (name, source) in handlers {
        sandbox.add_handler(name, Script::from_content(*source, None).unwrap()).unwrap();
    }
    let loaded = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(loaded.backend_name(), "wasm");
    loaded
}

const COUNTER: &str = "let n = 0; function handler(e) { n++; if (e.mark) globalThis[e.mark] = n; \
                       return [n, globalThis.before ?? 0, globalThis.after ?? 0] }";

#[test]
fn snapshots_are_exact_at_any_time() {
    if !wasm_runs() {
        return;
    }
    let mut s = loaded(4 << 20, &[("h", COUNTER)]);
    s.handle_event("h", r#"{"mark":"before"}"#, None).unwrap();
    let snapshot = s.snapshot().unwrap();
    assert_eq!(s.handle_event("h", r#"{"mark":"after"}"#, None).unwrap(), "[2,1,2]");
    for _ in 0..3 {
        s.restore(&snapshot).unwrap();
        assert_eq!(s.handle_event("h", "{}", None).unwrap(), "[2,1,0]");
    }
}

#[test]
fn a_snapshot_from_before_unload_restores_its_own_handlers() {
    if !wasm_runs() {
        return;
    }
    common::assert_restore_across_reload(
        SandboxBuilder::new().with_backend(BackendChoice::Named(backend::find("wasm").unwrap())),
    );
}

/// Math.random's state is in the guest's memory: without a new seed every
/// restore would replay the same numbers.
#[test]
fn math_random_is_reseeded_on_every_restore() {
    if !wasm_runs() {
        return;
    }
    let mut s = loaded(4 << 20, &[("h", "function handler() { return [Math.random(), Math.random()] }")]);
    let snapshot = s.snapshot().unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        assert!(seen.insert(s.handle_event("h", "{}", None).unwrap()));
        s.restore(&snapshot).unwrap();
    }
}

#[test]
fn restore_undoes_growth_without_leaking_heap() {
    if !wasm_runs() {
        return;
    }
    let grow = "const keep = []; function handler(e) { for (let i = 0; i < e; i++) keep.push('y'.repeat(1024) + i); return keep.length }";
    let mut s = loaded(24 << 20, &[("h", grow)]);
    let snapshot = s.snapshot().unwrap();
    for _ in 0..6 {
        assert_eq!(s.handle_event("h", "15000", Some(false)).unwrap(), "15000");
        s.restore(&snapshot).unwrap();
    }
}

#[test]
fn the_heap_limit_is_enforced_and_poisons() {
    if !wasm_runs() {
        return;
    }
    let mut s = loaded(8 << 20, &[("h", "function handler(e) { return new Uint8Array(e).length }")]);
    let snapshot = s.snapshot().unwrap();
    assert_eq!(s.handle_event("h", "4194304", None).unwrap(), "4194304");
    assert!(matches!(s.handle_event("h", "16777216", None), Err(Error::OutOfMemory { .. })));
    assert!(s.poisoned());
    s.restore(&snapshot).unwrap();
    assert_eq!(s.handle_event("h", "1024", None).unwrap(), "1024");
}

#[test]
fn every_kind_of_deep_recursion_is_a_catchable_error() {
    if !wasm_runs() {
        return;
    }
    let cases = [
        "function handler() { const f = n => f(n + 1) + 1; return f(0) }",
        "function handler() { let a = []; for (let i = 0; i < 200000; i++) a = [a]; return JSON.stringify(a).length }",
        "function handler() { return JSON.parse('['.repeat(200000) + ']'.repeat(200000)) }",
        "function handler() { return eval('('.repeat(100000) + '1' + ')'.repeat(100000)) }",
        "function handler() { return new RegExp('(?:'.repeat(50000) + 'a' + ')'.repeat(50000)).test('a') }",
        "function handler() { let a = []; for (let i = 0; i < 200000; i++) a = [a]; return a.flat(Infinity).length }",
    ];
    for source in cases {
        let mut s = loaded(64 << 20, &[("h", source)]);
        match s.handle_event("h", "{}", None) {
            Err(Error::Guest(failure)) => assert!(failure.message.contains("stack"), "{source}: {}", failure.message),
            other => panic!("{source}: {other:?}"),
        }
        assert!(!s.poisoned(), "{source}");
    }
}

#[test]
fn a_kill_reaches_only_its_own_sandbox() {
    if !wasm_runs() {
        return;
    }
    let mut victim = loaded(4 << 20, &[("spin", "function handler() { while (true) {} }")]);
    let snapshot = victim.snapshot().unwrap();
    let mut worker = loaded(
        4 << 20,
        &[("h", "function handler(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + i) % 1000003; return s }")],
    );
    let done = Arc::new(AtomicBool::new(false));
    let handle = victim.interrupt_handle();
    let killer = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut kills = 0;
            while !done.load(Ordering::Relaxed) {
                let handle = handle.clone();
                let killing = std::thread::spawn(move || {
                    while !handle.is_running() {
                        std::thread::yield_now();
                    }
                    std::thread::sleep(Duration::from_millis(1));
                    let started = Instant::now();
                    assert!(handle.kill());
                    started
                });
                assert!(matches!(victim.handle_event("spin", "{}", None), Err(Error::Cancelled { .. })));
                let latency = killing.join().unwrap().elapsed();
                assert!(latency < Duration::from_millis(500), "{latency:?}");
                victim.restore(&snapshot).unwrap();
                kills += 1;
            }
            kills
        })
    };
    let n = 2_000_000u64;
    let expected = (0..n).fold(0, |s, i| (s + i) % 1_000_003);
    for _ in 0..3 {
        assert_eq!(worker.handle_event("h", &n.to_string(), None).unwrap(), expected.to_string());
    }
    done.store(true, Ordering::Relaxed);
    assert!(killer.join().unwrap() > 0);
}
