//! Persistent snapshots through the core API: bytes out, bytes in, a new
//! sandbox in the same state; and the file's checks. The Python suite runs
//! the same on every backend (tests/test_persistent_snapshots.py).
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

use std::sync::Arc;

use hyperlight_js_core::backend::{self, BackendChoice, Descriptor};
use hyperlight_js_core::{Error, HostFunction, LoadedJSSandbox, ProtoJSSandbox, SandboxBuilder, Script, Snapshot};

const COUNTER: &str = r#"import { twice } from "math";
let n = 0;
function handler(e) { n++; return [n, twice(e)] }"#;

fn kinds() -> Vec<&'static Descriptor> {
    [backend::find("wasm").unwrap(), backend::find("in-process").unwrap()]
        .into_iter()
        .filter(|kind| match kind.availability() {
            Ok(()) => true,
            Err(reason) => {
                eprintln!("skipped {}: {reason}", kind.name);
                false
            }
        })
        .collect()
}

fn proto(kind: &'static Descriptor, function: &str) -> ProtoJSSandbox {
    let mut proto = SandboxBuilder::new().with_backend(BackendChoice::Named(kind)).build().unwrap();
    let twice: HostFunction = Arc::new(|args: &str| {
        let n: i64 = args.trim_matches(|c| c == '[' || c == ']').parse().unwrap_or(0);
        Ok((2 * n).to_string())
    });
    proto.register("math", function, twice).unwrap();
    proto
}

fn counter(kind: &'static Descriptor) -> LoadedJSSandbox {
    let mut sandbox = proto(kind, "twice").load_runtime().unwrap();
    sandbox.add_handler("h", Script::from_content(COUNTER, None).unwrap()).unwrap();
    sandbox.get_loaded_sandbox().unwrap()
}

#[test]
fn a_saved_snapshot_starts_a_sandbox_in_the_same_state() {
    for kind in kinds() {
        let mut loaded = counter(kind);
        let calls = if kind.name == "wasm" {
            loaded.handle_event("h", "1", None).unwrap();
            1
        } else {
            0
        };
        let bytes = loaded.snapshot().unwrap().to_bytes().unwrap();
        let snapshot = Snapshot::from_bytes(&bytes).unwrap();
        let mut again = proto(kind, "twice").load_snapshot(&snapshot).unwrap();
        assert_eq!(again.handle_event("h", "5", None).unwrap(), format!("[{},10]", calls + 1), "{}", kind.name);
    }
}

#[test]
fn files_that_do_not_fit_are_refused() {
    for kind in kinds() {
        let bytes = counter(kind).snapshot().unwrap().to_bytes().unwrap();
        let mut corrupt = bytes.clone();
        let middle = corrupt.len() / 2;
        corrupt[middle] ^= 1;
        assert!(matches!(Snapshot::from_bytes(&corrupt), Err(Error::Snapshot(m)) if m.contains("digest")));
        assert!(matches!(Snapshot::from_bytes(&bytes[..bytes.len() - 1]), Err(Error::Snapshot(_))));
        let snapshot = Snapshot::from_bytes(&bytes).unwrap();
        let other = proto(kind, "thrice");
        assert!(matches!(other.load_snapshot(&snapshot), Err(Error::Snapshot(m)) if m.contains("math.thrice")));
    }
}
