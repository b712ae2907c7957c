//! The micro-VM backend end to end: every check runs against a real
//! Hyperlight VM where one starts, and is reported as skipped, with the
//! probe's own error, where none does. libtest cannot skip at run time, so
//! this file is its own harness (`harness = false`); its last line is
//! "N passed, N failed, N skipped".
//!
//! Where no VM starts, what *can* be checked still is: asking for the
//! backend fails with that same error, and `auto` does not pick it.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyperlight_js_core::backend::{self, BackendChoice};
use hyperlight_js_core::monitor::{CpuTimeMonitor, WallClockMonitor, Watchers};
use hyperlight_js_core::{Error, HostCallError, HostCause, LoadedJSSandbox, ProtoJSSandbox, SandboxBuilder, Script};

fn builder() -> SandboxBuilder {
    SandboxBuilder::new().with_backend(BackendChoice::Named(backend::find("hyperlight").unwrap()))
}

fn load(proto: ProtoJSSandbox, handlers: &[(&str, &str)]) -> Result<LoadedJSSandbox, Error> {
    let mut sandbox = proto.load_runtime()?;
    for (name, source) in handlers {
        sandbox.add_handler(name, Script::from_content(*source, None)?)?;
    }
    sandbox.get_loaded_sandbox()
}

fn loaded(source: &str) -> LoadedJSSandbox {
    load(builder().build().unwrap(), &[("h", source)]).unwrap()
}

fn guest_message(result: Result<String, Error>) -> String {
    match result {
        Err(Error::Guest(f)) => f.message,
        other => panic!("expected a guest error, got {other:?}"),
    }
}

fn round_trip_and_backend_name() {
    let mut s = loaded("export function handler(e) { return { sum: e.a + e.b, text: e.s.toUpperCase() } }");
    assert_eq!(s.backend_name(), "hyperlight");
    assert_eq!(s.handle_event("h", r#"{"a":1,"b":2,"s":"héllo ✓"}"#, None).unwrap(), r#"{"sum":3,"text":"HÉLLO ✓"}"#);
    assert_eq!(s.handle_event("h", r#"{"a":1,"b":2,"s":""}"#, Some(false)).unwrap(), r#"{"sum":3,"text":""}"#);
    let mut plain = loaded("async function handler(e) { await null; return e.n * 2 }");
    assert_eq!(plain.handle_event("h", r#"{"n":21}"#, None).unwrap(), "42");
}

fn failures_are_typed_and_do_not_poison() {
    let mut s = loaded(
        "function handler(e) { if (e.kind === 'undef') return undefined; if (e.kind === 'big') return 1n; \
         if (e.kind === 'cycle') { const a = {}; a.a = a; return a } if (e.kind === 'never') return new Promise(() => {}); \
         if (e.kind === 'text') throw 'plain'; throw new TypeError('nope') }",
    );
    common::assert_typed_failures(&mut s);
    assert_eq!(guest_message(s.handle_event("h", r#"{"kind":"text"}"#, None)), "Uncaught plain");
    assert!(guest_message(s.handle_event("h", r#"{"kind":"never"}"#, None)).contains("never settle"));
    assert!(!s.poisoned());
}

fn host_functions_take_json_and_keep_their_cause() {
    let mut proto = builder().build().unwrap();
    common::register_add(&mut proto);
    proto.register("math", "echo", Arc::new(|args: &str| Ok(args.to_owned()))).unwrap();
    proto
        .register(
            "math",
            "fail",
            Arc::new(|_: &str| {
                Err(HostCallError { message: "host says no".into(), cause: Some(HostCause(Box::new(42_u32))) })
            }),
        )
        .unwrap();
    let mut s = load(
        proto,
        &[(
            "h",
            "import * as m from 'math'; function handler(e) { let caught; try { m.fail() } catch (x) { caught = x.message } \
             if (e.rethrow) m.fail(); return [m.add(e.a, 2), caught.endsWith('host says no'), m.echo(new Uint8Array([1, 2]), 'x')] }",
        )],
    )
    .unwrap();
    assert_eq!(s.handle_event("h", r#"{"a":40}"#, None).unwrap(), r#"[42,true,[{"0":1,"1":2},"x"]]"#);
    match s.handle_event("h", r#"{"a":1,"rethrow":true}"#, None) {
        Err(Error::Guest(f)) => {
            assert_eq!(f.message, "HostError: host says no");
            assert_eq!(f.host_cause.unwrap().0.downcast_ref::<u32>(), Some(&42));
        }
        other => panic!("{other:?}"),
    }
}

fn console_reaches_the_print_function() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let proto = builder()
        .with_host_print_fn(Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_owned())))
        .build()
        .unwrap();
    let mut s = load(proto, &[("h", "function handler() { console.log('hi', 1); print('p'); return 0 }")]).unwrap();
    s.handle_event("h", "{}", None).unwrap();
    assert_eq!(*lines.lock().unwrap(), vec!["hi 1".to_owned(), "p".to_owned()]);
}

fn imports_stay_inside_the_allowed_directory() {
    let dir = std::env::temp_dir().join(format!("hljs-hyperlight-{}", std::process::id()));
    let inner = dir.join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(dir.join("secret.js"), "export const secret = 1;").unwrap();
    std::fs::write(inner.join("lib.js"), "export const answer = 42;").unwrap();
    std::fs::write(inner.join("ok.js"), "import { answer } from './lib.js'; function handler() { return answer }")
        .unwrap();
    std::fs::write(
        inner.join("escape.js"),
        "import { secret } from '../secret.js'; function handler() { return secret }",
    )
    .unwrap();
    let from = |file: &str| Script::from_file(&inner.join(file), None).unwrap();

    let mut sandbox = builder().build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("ok", from("ok.js")).unwrap();
    let mut s = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(s.handle_event("ok", "{}", None).unwrap(), "42");

    for (file, source) in
        [("escape.js", None), ("bare", Some("import x from 'lodash'; function handler() { return x }"))]
    {
        let mut sandbox = builder().build().unwrap().load_runtime().unwrap();
        let script = match source {
            None => from(file),
            Some(text) => Script::from_content(text, Some(&inner)).unwrap(),
        };
        sandbox.add_handler("h", script).unwrap();
        assert!(matches!(sandbox.get_loaded_sandbox(), Err(Error::Load(_))), "{file} must not load");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn monitors_and_kill_end_a_spinning_guest() {
    let mut s = loaded("let n = 0; function handler(e) { if (e.spin) { while (true) {} } return ++n }");
    let snapshot = s.snapshot().unwrap();
    let started = Instant::now();
    let r = s.handle_event_with_monitor(
        "h",
        r#"{"spin":true}"#,
        &WallClockMonitor::new(Duration::from_millis(100)).unwrap(),
        None,
    );
    assert!(matches!(&r, Err(Error::Cancelled { monitor: Some(m), .. }) if m == "wall-clock"), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(s.poisoned());
    assert!(matches!(s.handle_event("h", "{}", None), Err(Error::Poisoned)));
    s.restore(&snapshot).unwrap();

    let pair = (
        WallClockMonitor::new(Duration::from_secs(10)).unwrap(),
        CpuTimeMonitor::new(Duration::from_millis(100)).unwrap(),
    );
    let r = s.handle_event_with_monitor("h", r#"{"spin":true}"#, &pair, None);
    assert!(matches!(&r, Err(Error::Cancelled { monitor: Some(m), .. }) if m == "cpu-time"), "{r:?}");
    s.restore(&snapshot).unwrap();

    let handle = s.interrupt_handle();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        handle.kill()
    });
    let r = s.handle_event("h", r#"{"spin":true}"#, None);
    assert!(killer.join().unwrap());
    assert!(matches!(r, Err(Error::Cancelled { monitor: None, .. })), "{r:?}");
    s.restore(&snapshot).unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "1");
}

fn snapshots_are_whole_vm_and_exact_at_any_point() {
    let mut s =
        loaded("let n = 0; function handler() { globalThis.seen = (globalThis.seen || 0) + 1; return [++n, seen] }");
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "[1,1]");
    let after_one = s.snapshot().unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "[2,2]");
    s.restore(&after_one).unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "[2,2]");
    let mut other = loaded("function handler() { return 0 }");
    assert!(matches!(other.restore(&after_one), Err(Error::Snapshot(_))));
}

fn a_snapshot_from_before_unload_restores_its_own_handlers() {
    common::assert_restore_across_reload(builder());
}

fn hostile_top_level_code_is_stopped_while_loading() {
    let mut sandbox = builder().build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("h", Script::from_content("while (true) {} function handler() {}", None).unwrap()).unwrap();
    let limit = WallClockMonitor::new(Duration::from_millis(200)).unwrap();
    let started = Instant::now();
    let r = sandbox.get_loaded_sandbox_watched(Watchers { monitor: Some(&limit), interrupt_on_sigint: None });
    assert!(matches!(&r, Err(Error::Cancelled { monitor: Some(m), .. }) if m == "wall-clock"), "{:?}", r.err());
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut broken = builder().build().unwrap().load_runtime().unwrap();
    broken.add_handler("h", Script::from_content("throw new Error('at load')", None).unwrap()).unwrap();
    assert!(matches!(broken.get_loaded_sandbox(), Err(Error::Load(m)) if m.contains("at load")));
}

fn heap_exhaustion_is_reported_and_poisons() {
    let proto = builder().with_guest_heap_size(8 << 20).unwrap().build().unwrap();
    let mut s =
        load(proto, &[("grow", "function handler() { let s = []; while (true) s.push('x'.repeat(1000) + s.length) }")])
            .unwrap();
    let snapshot = s.snapshot().unwrap();
    let r = s.handle_event("grow", "{}", None);
    assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
    assert!(s.poisoned());
    s.restore(&snapshot).unwrap();
}

fn auto_picks_the_micro_vm() {
    let proto = SandboxBuilder::new().with_backend(BackendChoice::Auto).build().unwrap();
    let s = load(proto, &[("h", "function handler() { return 1 }")]).unwrap();
    assert_eq!(s.backend_name(), "hyperlight");
}

/// Runs only where no VM starts: the refusal carries the probe's error.
fn refused_with_the_probe_error(reason: &str) {
    let r = load(builder().build().unwrap(), &[("h", "function handler() { return 1 }")]);
    match r {
        Err(Error::BackendUnavailable { backend: "hyperlight", needs_hypervisor: true, reason: given }) => {
            assert_eq!(given, reason)
        }
        other => panic!("expected BackendUnavailable, got {:?}", other.map(|s| s.backend_name())),
    }
    if let Ok(s) = load(
        SandboxBuilder::new().with_backend(BackendChoice::Auto).build().unwrap(),
        &[("h", "function handler() { return 1 }")],
    ) {
        assert_ne!(s.backend_name(), "hyperlight");
    }
}

type Check = (&'static str, fn());

const CHECKS: &[Check] = &[
    ("round_trip_and_backend_name", round_trip_and_backend_name),
    ("failures_are_typed_and_do_not_poison", failures_are_typed_and_do_not_poison),
    ("host_functions_take_json_and_keep_their_cause", host_functions_take_json_and_keep_their_cause),
    ("console_reaches_the_print_function", console_reaches_the_print_function),
    ("imports_stay_inside_the_allowed_directory", imports_stay_inside_the_allowed_directory),
    ("monitors_and_kill_end_a_spinning_guest", monitors_and_kill_end_a_spinning_guest),
    ("snapshots_are_whole_vm_and_exact_at_any_point", snapshots_are_whole_vm_and_exact_at_any_point),
    (
        "a_snapshot_from_before_unload_restores_its_own_handlers",
        a_snapshot_from_before_unload_restores_its_own_handlers,
    ),
    ("hostile_top_level_code_is_stopped_while_loading", hostile_top_level_code_is_stopped_while_loading),
    ("heap_exhaustion_is_reported_and_poisons", heap_exhaustion_is_reported_and_poisons),
    ("auto_picks_the_micro_vm", auto_picks_the_micro_vm),
];

fn run(name: &str, check: impl FnOnce()) -> bool {
    let ok = catch_unwind(AssertUnwindSafe(check)).is_ok();
    println!("test hyperlight::{name} ... {}", if ok { "ok" } else { "FAILED" });
    ok
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    match backend::find("hyperlight").unwrap().availability() {
        Ok(()) => {
            for (name, check) in CHECKS.iter().filter(|(n, _)| wanted(n)) {
                if run(name, check) {
                    passed += 1
                } else {
                    failed += 1
                }
            }
        }
        Err(reason) => {
            if wanted("refused_with_the_probe_error") {
                if run("refused_with_the_probe_error", || refused_with_the_probe_error(&reason.to_string())) {
                    passed += 1
                } else {
                    failed += 1
                }
            }
            for (name, _) in CHECKS.iter().filter(|(n, _)| wanted(n)) {
                println!("test hyperlight::{name} ... skipped: the hyperlight backend cannot run here: {reason}");
                skipped += 1;
            }
        }
    }
    println!("\nhyperlight: {passed} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        std::process::exit(1);
    }
}
