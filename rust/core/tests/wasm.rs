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

/// Skips (or, where wasm is required, fails) a check that needs the backend.
fn wasm_runs_here() -> bool {
    match common::backends::availability("wasm") {
        Ok(()) => true,
        Err(reason) => {
            assert!(!common::backends::required("wasm"), "the wasm backend is required but cannot run here: {reason}");
            eprintln!("skipped: the wasm backend cannot run here: {reason}");
            false
        }
    }
}

/// A scratch size no other check in this binary uses: the first sandbox
/// built with it starts QuickJS cold and leaves the start image, the later
/// ones start from that image (backend/wasm/start_image.rs).
fn unique_scratch(offset: usize) -> usize {
    300_000 + offset
}

const PROBES: &[(&str, &str)] = &[
    (
        "builtins",
        "import { createHmac } from 'crypto'; import { print } from 'io';
         function handler() {
           return [typeof require, typeof String.bytesFrom, typeof createHmac, typeof print,
                   typeof require('console').log].join(' ');
         }",
    ),
    ("random", "function handler() { return Math.random() }"),
    ("origin", "function handler() { return performance.timeOrigin }"),
    ("since", "function handler() { return performance.now() }"),
    ("log", "function handler(e) { console.log(e); return 0 }"),
    ("grow", "function handler(n) { const a = []; for (let i = 0; i < n; i++) a.push({ i }); return a.length }"),
];

fn number(text: String) -> f64 {
    text.parse().unwrap()
}

#[test]
fn a_guest_started_from_the_start_image_is_like_a_cold_one() {
    if !wasm_runs_here() {
        return;
    }
    let scratch = unique_scratch(1);
    let build = || common::backends::builder("wasm").with_guest_scratch_size(scratch).unwrap();
    let mut cold = common::loaded_from(build(), PROBES);
    std::thread::sleep(Duration::from_millis(30));
    let mut warm = common::loaded_from(build(), PROBES);
    let expected = "\"function function function function function\"";
    assert_eq!(cold.handle_event("builtins", "null", None).unwrap(), expected);
    assert_eq!(warm.handle_event("builtins", "null", None).unwrap(), expected);
    // Math.random gets its own seed in each sandbox.
    let draws = |s: &mut hyperlight_js_core::LoadedJSSandbox| {
        (0..4).map(|_| s.handle_event("random", "null", None).unwrap()).collect::<Vec<_>>()
    };
    assert_ne!(draws(&mut cold), draws(&mut warm));
    // performance counts from each sandbox's own start, not the image's.
    let cold_origin = number(cold.handle_event("origin", "null", None).unwrap());
    let warm_origin = number(warm.handle_event("origin", "null", None).unwrap());
    assert!(warm_origin >= cold_origin + 30.0, "{cold_origin} then {warm_origin}");
    let since = number(warm.handle_event("since", "null", None).unwrap());
    assert!(since >= 0.0, "{since}");
}

#[test]
fn the_heap_limit_holds_in_a_guest_started_from_the_start_image() {
    if !wasm_runs_here() {
        return;
    }
    let scratch = unique_scratch(2);
    let build = || common::backends::builder("wasm").with_guest_scratch_size(scratch).unwrap();
    // The first start leaves the image, with the default heap...
    drop(common::loaded_from(build(), PROBES));
    // ...which a sandbox with a small heap starts from, and is held to.
    let mut small = common::loaded_from(build().with_guest_heap_size(4 << 20).unwrap(), PROBES);
    assert_eq!(small.handle_event("grow", "1000", None).unwrap(), "1000");
    let grown = small.handle_event("grow", "10000000", None);
    assert!(matches!(grown, Err(Error::OutOfMemory { .. })), "{grown:?}");
    // A sandbox with a big heap from the same image is not.
    let mut big = common::loaded_from(build().with_guest_heap_size(64 << 20).unwrap(), PROBES);
    assert_eq!(big.handle_event("grow", "200000", None).unwrap(), "200000");
}

#[test]
fn the_print_function_is_honoured_with_and_without_the_start_image() {
    if !wasm_runs_here() {
        return;
    }
    let scratch = unique_scratch(3);
    let build = || common::backends::builder("wasm").with_guest_scratch_size(scratch).unwrap();
    let printing = || {
        let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let builder =
            build().with_host_print_fn(Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_owned())));
        (builder, lines)
    };
    // Without a print function first (its image has printing off), then
    // with one (another image), then each again from its image.
    for round in ["cold", "from the image"] {
        let mut silent = common::loaded_from(build(), PROBES);
        assert_eq!(silent.handle_event("log", "\"dropped\"", None).unwrap(), "0");
        let (builder, lines) = printing();
        let mut loud = common::loaded_from(builder, PROBES);
        assert_eq!(loud.handle_event("log", &format!("\"{round}\""), None).unwrap(), "0");
        assert_eq!(*lines.lock().unwrap(), vec![format!("{round}\n")], "{round}");
    }
}

#[test]
fn snapshots_and_reloads_work_in_a_guest_started_from_the_start_image() {
    if !wasm_runs_here() {
        return;
    }
    let scratch = unique_scratch(4);
    let build = || common::backends::builder("wasm").with_guest_scratch_size(scratch).unwrap();
    drop(common::loaded_from(build(), PROBES));
    let counter = [("count", "let n = 0; function handler() { n += 1; return n }")];
    let mut s = common::loaded_from(build(), &counter);
    let snapshot = s.snapshot().unwrap();
    assert_eq!(s.handle_event("count", "null", None).unwrap(), "1");
    assert_eq!(s.handle_event("count", "null", None).unwrap(), "2");
    s.restore(&snapshot).unwrap();
    assert_eq!(s.handle_event("count", "null", None).unwrap(), "1");
    // Reloaded (a new guest, from the image again) with another handler,
    // then back to the snapshot of the first load, handlers included.
    let mut unloaded = s.unload();
    let other = "function handler() { return 'other' }";
    unloaded.add_handler("other", hyperlight_js_core::Script::from_content(other, None).unwrap()).unwrap();
    let mut reloaded = unloaded.get_loaded_sandbox().unwrap();
    assert_eq!(reloaded.handle_event("other", "null", None).unwrap(), "\"other\"");
    reloaded.restore(&snapshot).unwrap();
    assert_eq!(reloaded.handle_event("count", "null", None).unwrap(), "1");
}

#[test]
fn sandboxes_started_on_many_threads_at_once_share_the_start_image_safely() {
    if !wasm_runs_here() {
        return;
    }
    let scratch = unique_scratch(5);
    let threads: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(move || {
                (0..4)
                    .map(|_| {
                        let builder = common::backends::builder("wasm").with_guest_scratch_size(scratch).unwrap();
                        let mut s = common::loaded_from(builder, PROBES);
                        let builtins = s.handle_event("builtins", "null", None).unwrap();
                        assert_eq!(builtins, "\"function function function function function\"");
                        s.handle_event("random", "null", None).unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut draws: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let all = draws.len();
    draws.sort();
    draws.dedup();
    assert_eq!(draws.len(), all, "two sandboxes drew the same first Math.random()");
}
