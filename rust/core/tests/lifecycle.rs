//! The sandbox lifecycle through the core API, on the in-process engine:
//! calls, snapshots and restores, host functions, limits, and poisoning.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyperlight_js_core::backend::{self, BackendChoice};
use hyperlight_js_core::{Error, HostCallError, LoadedJSSandbox, SandboxBuilder, Script};

/// These tests exercise the core's lifecycle and monitors on the engine that
/// every build has (the default, `auto`, needs an isolated backend).
fn in_process() -> SandboxBuilder {
    SandboxBuilder::new().with_backend(BackendChoice::Named(backend::find("in-process").unwrap()))
}
fn loaded(handler: &str) -> LoadedJSSandbox {
    let mut sandbox = in_process().build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("h", Script::from_content(handler, None).unwrap()).unwrap();
    sandbox.get_loaded_sandbox().unwrap()
}

#[test]
fn exported_and_plain_handlers_both_run() {
    let mut a = loaded("function handler(e) { return { sum: e.a + e.b } }");
    assert_eq!(a.handle_event("h", r#"{"a":1,"b":2}"#, None).unwrap(), r#"{"sum":3}"#);
    let mut b = loaded("export function handler(e) { return e.s.toUpperCase() }");
    assert_eq!(b.handle_event("h", r#"{"s":"héllo ✓"}"#, Some(false)).unwrap(), r#""HÉLLO ✓""#);
}

#[test]
fn promises_are_awaited() {
    let mut s = loaded("async function handler(e) { await null; return await Promise.resolve(e.n * 2) }");
    assert_eq!(s.handle_event("h", r#"{"n":21}"#, None).unwrap(), "42");
    let mut never = loaded("function handler() { return new Promise(() => {}) }");
    assert!(matches!(never.handle_event("h", "{}", None), Err(Error::Guest(_))));
}

#[test]
fn bad_input_and_bad_results_are_typed_and_do_not_poison() {
    let mut s = loaded("function handler(e) { if (e.kind === 'undef') return undefined; if (e.kind === 'big') return 1n; if (e.kind === 'cycle') { const a = {}; a.a = a; return a } throw new TypeError('nope') }");
    common::assert_typed_failures(&mut s);
    assert!(!s.poisoned());
}

#[test]
fn a_snapshot_from_before_unload_restores_its_own_handlers() {
    common::assert_restore_across_reload(in_process());
}

#[test]
fn kill_poisons_and_restore_recovers_without_later_globals() {
    let mut s =
        loaded("let n = 0; function handler(e) { if (e.spin) { while (true) {} } globalThis.leak = 1; return ++n }");
    let snapshot = s.snapshot().unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "1");
    let handle = s.interrupt_handle();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
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
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "1");
}

#[test]
fn snapshots_belong_to_their_sandbox() {
    let mut a = loaded("function handler() { return 1 }");
    let mut b = loaded("function handler() { return 2 }");
    let snap = a.snapshot().unwrap();
    assert!(matches!(b.restore(&snap), Err(Error::Snapshot(_))));
    a.handle_event("h", "{}", None).unwrap();
    assert!(matches!(a.snapshot(), Err(Error::Snapshot(_))), "in-process cannot snapshot after a call");
}

#[test]
fn host_functions_take_json_and_their_errors_can_be_caught() {
    let mut proto = in_process().build().unwrap();
    common::register_add(&mut proto);
    proto.register("math", "fail", Arc::new(|_: &str| Err(HostCallError::new("host says no")))).unwrap();
    let mut sandbox = proto.load_runtime().unwrap();
    sandbox
        .add_handler(
            "h",
            Script::from_content(
                "import * as m from 'math'; function handler(e) { let caught; try { m.fail() } catch (x) { caught = x.message } if (e.rethrow) m.fail(); return [m.add(e.a, 2), caught] }",
                None,
            )
            .unwrap(),
        )
        .unwrap();
    let mut s = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(s.handle_event("h", r#"{"a":40}"#, None).unwrap(), r#"[42,"host says no"]"#);
    match s.handle_event("h", r#"{"a":1,"rethrow":true}"#, None) {
        Err(Error::Guest(f)) => assert!(f.message.contains("host says no")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn console_reaches_the_print_function() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let proto = in_process()
        .with_host_print_fn(Arc::new(move |line: &str| sink.lock().unwrap().push(line.to_owned())))
        .build()
        .unwrap();
    let mut sandbox = proto.load_runtime().unwrap();
    sandbox
        .add_handler(
            "h",
            Script::from_content("function handler(e) { console.log('hi', 1, {a: [1]}); print('p'); return 0 }", None)
                .unwrap(),
        )
        .unwrap();
    sandbox.get_loaded_sandbox().unwrap().handle_event("h", "{}", None).unwrap();
    assert_eq!(*lines.lock().unwrap(), vec![r#"hi 1 {"a":[1]}"#.to_owned(), "p".to_owned()]);
}

#[test]
fn limits_are_errors_not_crashes() {
    let proto = in_process().with_guest_heap_size(8 << 20).unwrap().build().unwrap();
    let mut sandbox = proto.load_runtime().unwrap();
    sandbox
        .add_handler(
            "grow",
            Script::from_content(
                "function handler() { let s = []; while (true) s.push('x'.repeat(1000) + s.length) }",
                None,
            )
            .unwrap(),
        )
        .unwrap();
    sandbox
        .add_handler(
            "recurse",
            Script::from_content("function handler() { const f = n => f(n + 1) + 1; return f(0) }", None).unwrap(),
        )
        .unwrap();
    let mut s = sandbox.get_loaded_sandbox().unwrap();
    let snap = s.snapshot().unwrap();
    match s.handle_event("recurse", "{}", None) {
        Err(Error::Guest(f)) => assert!(f.message.contains("stack"), "{}", f.message),
        other => panic!("{other:?}"),
    }
    assert!(!s.poisoned());
    assert!(matches!(s.handle_event("grow", "{}", None), Err(Error::OutOfMemory { .. })));
    assert!(s.poisoned());
    s.restore(&snap).unwrap();
    assert!(in_process().with_guest_heap_size(0).is_err());
}

#[test]
fn relative_imports_stay_inside_the_root() {
    let dir = std::env::temp_dir().join(format!("hljs-import-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("secret.js"), "export const s = 'secret'").unwrap();
    std::fs::write(dir.join("app/lib.js"), "export const two = 2").unwrap();
    std::fs::write(dir.join("app/ok.js"), "import { two } from './lib.js'; function handler() { return two }").unwrap();
    std::fs::write(dir.join("app/bad.js"), "import { s } from '../secret.js'; function handler() { return s }")
        .unwrap();
    let mut sandbox = in_process().build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("ok", Script::from_file(&dir.join("app/ok.js"), None).unwrap()).unwrap();
    assert_eq!(sandbox.get_loaded_sandbox().unwrap().handle_event("ok", "{}", None).unwrap(), "2");
    sandbox.add_handler("bad", Script::from_file(&dir.join("app/bad.js"), None).unwrap()).unwrap();
    match sandbox.get_loaded_sandbox() {
        Err(Error::Load(m)) => assert!(
            m.contains("no such file in the directory imports may come from") && !m.contains(dir.to_str().unwrap()),
            "{m}"
        ),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("escaped the root"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_panic_inside_the_call_path_is_contained_and_poisons() {
    let mut proto = in_process().build().unwrap();
    proto
        .register(
            "host",
            "boom",
            Arc::new(|_: &str| -> Result<String, HostCallError> { panic!("a bug in a host function") }),
        )
        .unwrap();
    let mut sandbox = proto.load_runtime().unwrap();
    sandbox
        .add_handler(
            "h",
            Script::from_content(
                "import { boom } from 'host'; function handler(e) { if (e.boom) boom(); return 1 }",
                None,
            )
            .unwrap(),
        )
        .unwrap();
    let mut s = sandbox.get_loaded_sandbox().unwrap();
    let snap = s.snapshot().unwrap();
    match s.handle_event("h", r#"{"boom":true}"#, None) {
        Err(Error::Internal(message)) => assert!(message.contains("a bug in a host function"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(s.poisoned());
    s.restore(&snap).unwrap();
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "1");
}

#[test]
fn an_event_too_big_for_the_heap_is_an_invalid_event() {
    let proto = in_process().with_guest_heap_size(4 << 20).unwrap().build().unwrap();
    let mut sandbox = proto.load_runtime().unwrap();
    sandbox.add_handler("h", Script::from_content("function handler(e) { return e.length }", None).unwrap()).unwrap();
    let mut s = sandbox.get_loaded_sandbox().unwrap();
    let event = format!("[{}]", vec!["\"xxxxxxxxxxxxxxxx\""; 400_000].join(","));
    match s.handle_event("h", &event, None) {
        Err(Error::InvalidEvent(message)) => assert!(message.contains("does not fit"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(!s.poisoned());
    assert_eq!(s.handle_event("h", "[1,2]", None).unwrap(), "2");
}
