//! The conformance suite: every behaviour a sandbox promises, checked once
//! per registered backend. A trial is named `<backend>::<area>::<test>`; on
//! a backend that is not compiled in or cannot run here it is reported as
//! ignored, with the backend's own reason, decided at run time (hence this
//! harness, libtest-mimic, instead of `#[test]`); unless the run requires
//! that backend (`HLJS_REQUIRE_BACKENDS`, as scripts/test.sh does for the
//! backends it builds), when they fail with that reason instead.
//!
//! A case that holds for every backend but one or two names them in
//! `not_on`, with why; their own rule is checked in their own test file
//! (`tests/<backend>.rs`). Per-backend files hold only what is specific to
//! one backend.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test, with its location")]

mod common;

mod conformance {
    pub mod case;
    pub mod failures;
    pub mod handlers;
    pub mod host_functions;
    pub mod lifecycle;
    pub mod monitors;
    pub mod sizes;
    pub mod snapshots;
    pub mod upstream_api;
}

use conformance::case::Case;
use conformance::*;
use libtest_mimic::{Arguments, Completion, Trial};

const AREAS: &[(&str, &[Case])] = &[
    ("lifecycle", lifecycle::CASES),
    ("handlers", handlers::CASES),
    ("failures", failures::CASES),
    ("monitors", monitors::CASES),
    ("snapshots", snapshots::CASES),
    ("host_functions", host_functions::CASES),
    ("sizes", sizes::CASES),
    ("upstream_api", upstream_api::CASES),
];

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for backend in common::backends::registered_backends() {
        for (area, cases) in AREAS {
            for case in cases.iter().filter(|case| case.applies_to(backend.name)) {
                let (name, run) = (backend.name, case.run);
                // Availability is asked when the trial runs (the registry
                // keeps the answer), so a filtered run probes only the
                // backends it checks.
                trials.push(Trial::ignorable_test(format!("{name}::{area}::{}", case.name), move || {
                    match backend.availability() {
                        Ok(()) => {
                            run(name);
                            Ok(Completion::Completed)
                        }
                        Err(reason) if common::backends::required(name) => Err(format!(
                            "the {name} backend is required (HLJS_REQUIRE_BACKENDS) but cannot run here: {reason}"
                        )
                        .into()),
                        Err(reason) => Ok(Completion::ignored_with(reason)),
                    }
                }));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
