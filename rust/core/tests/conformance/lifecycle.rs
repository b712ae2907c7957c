//! Building, loading and unloading a sandbox, and what a load accepts.

use std::time::{Duration, Instant};

use hyperlight_js_core::monitor::{WallClockMonitor, Watchers};
use hyperlight_js_core::{Error, Script};

use super::case::{case, Case};
use crate::common::{backends::builder, guest_message, loaded};

pub const CASES: &[Case] = &[
    case!(exported_and_plain_handlers_both_run),
    case!(promises_are_awaited_and_one_that_never_settles_is_an_error),
    case!(a_sandbox_unloads_and_loads_again_with_other_handlers),
    case!(imports_stay_inside_the_directory_of_the_script),
    case!(hostile_top_level_code_is_stopped_while_loading),
    case!(a_script_that_throws_while_loading_is_a_load_error),
];

fn exported_and_plain_handlers_both_run(backend: &str) {
    let mut s = loaded(
        backend,
        &[
            ("plain", "function handler(e) { return { sum: e.a + e.b } }"),
            ("exported", "export function handler(e) { return e.s.toUpperCase() }"),
        ],
    );
    assert_eq!(s.backend_name(), backend);
    assert_eq!(s.handle_event("plain", r#"{"a":1,"b":2}"#, None).unwrap(), r#"{"sum":3}"#);
    assert_eq!(s.handle_event("exported", r#"{"s":"héllo ✓"}"#, Some(false)).unwrap(), r#""HÉLLO ✓""#);
}

fn promises_are_awaited_and_one_that_never_settles_is_an_error(backend: &str) {
    let mut s = loaded(
        backend,
        &[
            ("h", "async function handler(e) { await null; return await Promise.resolve(e.n * 2) }"),
            ("never", "function handler() { return new Promise(() => {}) }"),
        ],
    );
    assert_eq!(s.handle_event("h", r#"{"n":21}"#, None).unwrap(), "42");
    assert!(guest_message(s.handle_event("never", "{}", None)).contains("never settle"));
    assert!(!s.poisoned());
}

fn a_sandbox_unloads_and_loads_again_with_other_handlers(backend: &str) {
    let mut sandbox = builder(backend).build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("a", Script::from_content("function handler() { return 'a' }", None).unwrap()).unwrap();
    let mut s = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(s.handle_event("a", "{}", None).unwrap(), r#""a""#);
    let mut sandbox = s.unload();
    sandbox.add_handler("b", Script::from_content("function handler() { return 'b' }", None).unwrap()).unwrap();
    assert_eq!(sandbox.handler_names().collect::<Vec<_>>(), ["b"]);
    let mut s = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(s.handle_event("b", "{}", None).unwrap(), r#""b""#);
    assert!(matches!(s.handle_event("a", "{}", None), Err(Error::HandlerNotFound(_))));
}

/// A script's relative imports resolve inside its own directory; one
/// reaching out of it, or a bare package name, fails the load without
/// telling the guest where the host keeps its files.
fn imports_stay_inside_the_directory_of_the_script(backend: &str) {
    let dir = std::env::temp_dir().join(format!("hljs-conformance-imports-{backend}-{}", std::process::id()));
    let inner = dir.join("app");
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(dir.join("secret.js"), "export const s = 'secret'").unwrap();
    std::fs::write(inner.join("lib.js"), "export const two = 2").unwrap();
    std::fs::write(inner.join("ok.js"), "import { two } from './lib.js'; function handler() { return two }").unwrap();
    std::fs::write(inner.join("bad.js"), "import { s } from '../secret.js'; function handler() { return s }").unwrap();
    let mut sandbox = builder(backend).build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("ok", Script::from_file(&inner.join("ok.js"), None).unwrap()).unwrap();
    assert_eq!(sandbox.get_loaded_sandbox().unwrap().handle_event("ok", "{}", None).unwrap(), "2");
    let escapes = [
        (
            Script::from_file(&inner.join("bad.js"), None).unwrap(),
            "no such file in the directory imports may come from",
        ),
        (
            Script::from_content("import x from 'lodash'; function handler() { return x }", Some(&inner)).unwrap(),
            "only host modules and relative paths can be imported",
        ),
    ];
    for (script, why) in escapes {
        let mut sandbox = builder(backend).build().unwrap().load_runtime().unwrap();
        sandbox.add_handler("h", script).unwrap();
        match sandbox.get_loaded_sandbox() {
            Err(Error::Load(m)) => assert!(m.contains(why) && !m.contains(dir.to_str().unwrap()), "{m}"),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("an import escaped the script's directory"),
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

fn hostile_top_level_code_is_stopped_while_loading(backend: &str) {
    let mut sandbox = builder(backend).build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("h", Script::from_content("while (true) {} function handler() {}", None).unwrap()).unwrap();
    let limit = WallClockMonitor::new(Duration::from_millis(200)).unwrap();
    let started = Instant::now();
    let r = sandbox.get_loaded_sandbox_watched(Watchers { monitor: Some(&limit), interrupt_on_sigint: None });
    assert!(matches!(&r, Err(Error::Cancelled { monitor: Some(m), .. }) if m == "wall-clock"), "{:?}", r.err());
    assert!(started.elapsed() < Duration::from_secs(5));
}

fn a_script_that_throws_while_loading_is_a_load_error(backend: &str) {
    let mut sandbox = builder(backend).build().unwrap().load_runtime().unwrap();
    sandbox
        .add_handler("h", Script::from_content("throw new Error('at load'); function handler() {}", None).unwrap())
        .unwrap();
    let r = sandbox.get_loaded_sandbox();
    assert!(matches!(&r, Err(Error::Load(m)) if m.contains("at load")), "{:?}", r.err());
}
