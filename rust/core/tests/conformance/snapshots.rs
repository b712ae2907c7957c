//! Snapshots and restore: a sandbox's whole state to return to (handlers
//! included, also across unload), owned by the sandbox that took it; and
//! snapshots saved as bytes that start new sandboxes in another process.

use std::collections::HashSet;

use hyperlight_js_core::{json_host_function, Error, HostFunction, LoadedJSSandbox, ProtoJSSandbox, Script, Snapshot};

use super::case::{case, Case};
use crate::common::{backends::builder, load, loaded, loaded_from};

const ONLY_FRESH: &str =
    "its snapshot is the load itself, so it snapshots only a freshly loaded sandbox (tests/in_process.rs)";
const NO_FILES: &str = "hyperlight-js 0.4 gives no way to write a micro-VM snapshot out (tests/hyperlight.rs)";

pub const CASES: &[Case] = &[
    case!(a_snapshot_from_before_unload_restores_its_own_handlers),
    case!(a_snapshot_is_restored_only_into_its_own_sandbox),
    case!(snapshots_are_exact_at_any_point, not_on: [("in-process", ONLY_FRESH)]),
    case!(math_random_is_reseeded_on_every_restore),
    case!(restore_undoes_growth_without_leaking_heap),
    case!(a_saved_snapshot_starts_a_sandbox_in_the_same_state, not_on: [("hyperlight", NO_FILES)]),
    case!(a_saved_snapshot_keeps_what_calls_did, not_on: [("in-process", ONLY_FRESH), ("hyperlight", NO_FILES)]),
    case!(saved_snapshots_that_do_not_fit_are_refused, not_on: [("hyperlight", NO_FILES)]),
];

/// A snapshot taken before `unload()` brings back exactly the handlers it
/// captured, with their code and state, into the reloaded sandbox (as
/// upstream's `test_snapshot_and_restore`): handlers added since are not
/// found, and nothing poisons. Two new handlers, so the second one has a
/// number the captured guest never gave out.
fn a_snapshot_from_before_unload_restores_its_own_handlers(backend: &str) {
    let counter = |tag: &str| {
        Script::from_content(format!("let n = 0; function handler() {{ n++; return ['{tag}', n] }}"), None).unwrap()
    };
    let mut sandbox = builder(backend).build().unwrap().load_runtime().unwrap();
    sandbox.add_handler("old", counter("old")).unwrap();
    let mut loaded = sandbox.get_loaded_sandbox().unwrap();
    let captured = loaded.snapshot().unwrap();
    assert_eq!(loaded.handle_event("old", "{}", None).unwrap(), r#"["old",1]"#);
    let mut sandbox = loaded.unload();
    sandbox.add_handler("new1", counter("new1")).unwrap();
    sandbox.add_handler("new2", counter("new2")).unwrap();
    let mut reloaded = sandbox.get_loaded_sandbox().unwrap();
    assert_eq!(reloaded.handle_event("new2", "{}", None).unwrap(), r#"["new2",1]"#);
    reloaded.restore(&captured).unwrap();
    assert_eq!(reloaded.handle_event("old", "{}", None).unwrap(), r#"["old",1]"#);
    for name in ["new1", "new2"] {
        let r = reloaded.handle_event(name, "{}", None);
        assert!(matches!(r, Err(Error::HandlerNotFound(_))), "{name}: {r:?}");
    }
    assert_eq!(reloaded.handle_event("old", "{}", None).unwrap(), r#"["old",2]"#);
    assert!(!reloaded.poisoned());
}

fn a_snapshot_is_restored_only_into_its_own_sandbox(backend: &str) {
    let mut a = loaded(backend, &[("h", "function handler() { return 1 }")]);
    let mut b = loaded(backend, &[("h", "function handler() { return 2 }")]);
    let snap = a.snapshot().unwrap();
    assert!(matches!(b.restore(&snap), Err(Error::Snapshot(_))));
    assert_eq!(b.handle_event("h", "{}", None).unwrap(), "2");
    a.restore(&snap).unwrap();
    assert_eq!(a.handle_event("h", "{}", None).unwrap(), "1");
}

const COUNTER: &str = "let n = 0; function handler(e) { n++; if (e.mark) globalThis[e.mark] = n; \
                       return [n, globalThis.before ?? 0, globalThis.after ?? 0] }";

/// State from before the snapshot survives every restore, state from after
/// it never does, however often it is restored.
fn snapshots_are_exact_at_any_point(backend: &str) {
    let mut s = loaded(backend, &[("h", COUNTER)]);
    s.handle_event("h", r#"{"mark":"before"}"#, None).unwrap();
    let snapshot = s.snapshot().unwrap();
    assert_eq!(s.handle_event("h", r#"{"mark":"after"}"#, None).unwrap(), "[2,1,2]");
    for _ in 0..3 {
        s.restore(&snapshot).unwrap();
        assert_eq!(s.handle_event("h", "{}", None).unwrap(), "[2,1,0]");
    }
}

/// Math.random's state is part of the guest's state: without a new seed
/// every restore would replay the same numbers.
fn math_random_is_reseeded_on_every_restore(backend: &str) {
    let mut s = loaded(backend, &[("h", "function handler() { return [Math.random(), Math.random()] }")]);
    let snapshot = s.snapshot().unwrap();
    let mut seen = HashSet::new();
    for _ in 0..4 {
        assert!(seen.insert(s.handle_event("h", "{}", None).unwrap()));
        s.restore(&snapshot).unwrap();
    }
}

/// Growing the heap close to its limit and restoring, again and again,
/// never runs out: restore gives back everything grown since.
fn restore_undoes_growth_without_leaking_heap(backend: &str) {
    let grow = "const keep = []; function handler(e) { for (let i = 0; i < e; i++) keep.push('y'.repeat(1024) + i); return keep.length }";
    let mut s = loaded_from(builder(backend).with_guest_heap_size(24 << 20).unwrap(), &[("h", grow)]);
    let snapshot = s.snapshot().unwrap();
    for _ in 0..6 {
        assert_eq!(s.handle_event("h", "15000", Some(false)).unwrap(), "15000");
        s.restore(&snapshot).unwrap();
    }
}

const TWICE_COUNTER: &str = r#"import { twice } from "math";
let n = 0;
function handler(e) { n++; return [n, twice(e)] }"#;

/// A sandbox of `backend` with the host function `math.<function>` (it
/// doubles its argument), not yet loaded.
fn proto_with(backend: &str, function: &str) -> ProtoJSSandbox {
    let mut proto = builder(backend).build().unwrap();
    let twice: HostFunction = json_host_function(|args: &str| {
        let n: i64 = args.trim_matches(|c| c == '[' || c == ']').parse().unwrap_or(0);
        Ok((2 * n).to_string())
    });
    proto.register("math", function, twice).unwrap();
    proto
}

fn counter(backend: &str) -> LoadedJSSandbox {
    load(proto_with(backend, "twice"), &[("h", TWICE_COUNTER)]).unwrap()
}

fn saved_and_read_back(loaded: &mut LoadedJSSandbox) -> Snapshot {
    let bytes = loaded.snapshot().unwrap().to_bytes().unwrap();
    let snapshot = Snapshot::from_bytes(&bytes).unwrap();
    assert!(snapshot.from_file());
    snapshot
}

fn a_saved_snapshot_starts_a_sandbox_in_the_same_state(backend: &str) {
    let snapshot = saved_and_read_back(&mut counter(backend));
    assert_eq!(snapshot.backend_name(), backend);
    let mut again = proto_with(backend, "twice").load_snapshot(&snapshot).unwrap();
    assert_eq!(again.handle_event("h", "5", None).unwrap(), "[1,10]");
    let mut other = counter(backend);
    assert!(matches!(other.restore(&snapshot), Err(Error::Snapshot(_))), "a saved snapshot starts new sandboxes only");
}

fn a_saved_snapshot_keeps_what_calls_did(backend: &str) {
    let mut loaded = counter(backend);
    loaded.handle_event("h", "1", None).unwrap();
    let snapshot = saved_and_read_back(&mut loaded);
    let mut again = proto_with(backend, "twice").load_snapshot(&snapshot).unwrap();
    assert_eq!(again.handle_event("h", "5", None).unwrap(), "[2,10]");
}

fn saved_snapshots_that_do_not_fit_are_refused(backend: &str) {
    let bytes = counter(backend).snapshot().unwrap().to_bytes().unwrap();
    let mut corrupt = bytes.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 1;
    assert!(matches!(Snapshot::from_bytes(&corrupt), Err(Error::Snapshot(m)) if m.contains("digest")));
    assert!(matches!(Snapshot::from_bytes(&bytes[..bytes.len() - 1]), Err(Error::Snapshot(_))));
    let snapshot = Snapshot::from_bytes(&bytes).unwrap();
    let other = proto_with(backend, "thrice");
    assert!(matches!(other.load_snapshot(&snapshot), Err(Error::Snapshot(m)) if m.contains("math.thrice")));
}
