//! What only the wasm backend needs checked: wasmtime's epoch interruption
//! is one counter per engine, and every wasm sandbox in the process shares
//! the engine, so a kill must be aimed at one sandbox and leave the others
//! running, kill after kill. Every other behaviour is in the conformance
//! suite (tests/conformance.rs), which runs it on wasm too.
#![cfg(all(feature = "wasm", any(target_os = "linux", windows)))]
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyperlight_js_core::Error;

#[test]
fn kill_after_kill_reaches_only_its_own_sandbox() {
    if let Err(reason) = common::backends::availability("wasm") {
        assert!(!common::backends::required("wasm"), "the wasm backend is required but cannot run here: {reason}");
        eprintln!("skipped: the wasm backend cannot run here: {reason}");
        return;
    }
    let mut victim = common::loaded("wasm", &[("spin", "function handler() { while (true) {} }")]);
    let snapshot = victim.snapshot().unwrap();
    let mut worker = common::loaded(
        "wasm",
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
