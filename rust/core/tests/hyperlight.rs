//! What only the micro-VM backend needs checked: `auto` prefers it where a
//! VM starts, and refuses it, with the probe's own error, where none does;
//! and its snapshots (hyperlight-js's in-memory VM snapshots) cannot be
//! saved to a file. Every other behaviour is in the conformance suite
//! (tests/conformance.rs), which runs it on this backend where a VM starts.
//!
//! Which checks apply is known only at run time, so this file is its own
//! harness (libtest-mimic): the others show as ignored, with the reason.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

mod common;

use hyperlight_js_core::Error;
use libtest_mimic::{Arguments, Completion, Trial};

const ONE: &[(&str, &str)] = &[("h", "function handler() { return 1 }")];

fn auto_picks_the_micro_vm() {
    let s = common::loaded_from(common::backends::builder("auto"), ONE);
    assert_eq!(s.backend_name(), "hyperlight");
}

fn a_snapshot_cannot_be_saved_to_a_file() {
    let mut s = common::loaded("hyperlight", ONE);
    match s.snapshot().unwrap().to_bytes() {
        Err(Error::Snapshot(m)) => assert!(m.contains("cannot be saved"), "{m}"),
        other => panic!("expected a refusal, got {:?}", other.map(|bytes| bytes.len())),
    }
    assert_eq!(s.handle_event("h", "{}", None).unwrap(), "1");
}

/// Where no VM starts: asking for the backend fails with the probe's
/// error, and `auto` picks another backend (or none).
fn refused_with_the_probe_error(reason: &str) {
    let r = common::load(common::backends::builder("hyperlight").build().unwrap(), ONE);
    match r {
        Err(Error::BackendUnavailable { backend: "hyperlight", needs_hypervisor: true, reason: given }) => {
            assert_eq!(given, reason)
        }
        other => panic!("expected BackendUnavailable, got {:?}", other.map(|s| s.backend_name())),
    }
    if let Ok(s) = common::load(common::backends::builder("auto").build().unwrap(), ONE) {
        assert_ne!(s.backend_name(), "hyperlight");
    }
}

fn main() {
    let args = Arguments::from_args();
    let availability = common::backends::availability("hyperlight");
    let where_a_vm_runs = |name: &str, check: fn()| {
        let availability = availability.clone();
        Trial::ignorable_test(format!("hyperlight::{name}"), move || match availability {
            Ok(()) => {
                check();
                Ok(Completion::Completed)
            }
            Err(reason) => Ok(Completion::ignored_with(reason)),
        })
    };
    let refused = {
        let availability = availability.clone();
        Trial::ignorable_test("hyperlight::refused_with_the_probe_error", move || match availability {
            Ok(()) => Ok(Completion::ignored_with("a micro-VM starts here")),
            Err(reason) => {
                refused_with_the_probe_error(&reason);
                Ok(Completion::Completed)
            }
        })
    };
    let trials = vec![
        where_a_vm_runs("auto_picks_the_micro_vm", auto_picks_the_micro_vm),
        where_a_vm_runs("a_snapshot_cannot_be_saved_to_a_file", a_snapshot_cannot_be_saved_to_a_file),
        refused,
    ];
    libtest_mimic::run(&args, trials).exit();
}
