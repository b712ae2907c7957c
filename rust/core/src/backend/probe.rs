//! Whether a backend really runs here: by trying it.
//!
//! A device or a compiled guest being present proves little: a nested or
//! paravirtualised KVM can open `/dev/kvm` and create VMs whose guests then
//! die during their first instructions. So the probe does what a user's
//! sandbox does, through the backend's own `load`: loads a handler, takes a
//! snapshot, calls it, restores — and reports the backend's own error when
//! any step fails. It runs once per process and backend (a VM start costs
//! tens of milliseconds), on its own thread, under a time limit, so a guest
//! that never answers cannot hang the caller.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::registry::{Descriptor, Unavailable};
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::payload::Payload;
use crate::script::Script;
use crate::spec::{GuestConfig, LoadSpec};

const TIME_LIMIT: Duration = Duration::from_secs(30);
const EVENT: &str = r#"{"probe":true}"#;
/// The probe's thread: room for the engine's stack floor and host code.
const PROBE_THREAD_STACK: usize = 8 * 1024 * 1024;

pub(super) fn probe(backend: &'static Descriptor) -> Result<(), Unavailable> {
    let engine = match backend.engine {
        Ok(engine) => engine,
        Err(why) => return Err(Unavailable::NotCompiledIn(why.into())),
    };
    (engine.preconditions)()?;
    let interrupt = InterruptHandle::new();
    let (answer, answered) = mpsc::channel();
    let guest_interrupt = interrupt.clone();
    std::thread::Builder::new()
        .name(format!("hyperlight-js-probe-{}", backend.name))
        .stack_size(PROBE_THREAD_STACK)
        .spawn(move || {
            let _ = answer.send(start_and_call(backend, &guest_interrupt));
        })
        .map_err(|e| Unavailable::DoesNotStart(format!("cannot start the probe thread: {e}")))?;
    match answered.recv_timeout(TIME_LIMIT) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(Unavailable::DoesNotStart(format!(
            "the probe of {} ended without an answer (a panic)",
            backend.sandbox_noun
        ))),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            interrupt.kill();
            Err(Unavailable::DoesNotStart(format!(
                "{} did not answer within {} s",
                backend.sandbox_noun,
                TIME_LIMIT.as_secs()
            )))
        }
    }
}

fn start_and_call(backend: &'static Descriptor, interrupt: &InterruptHandle) -> Result<(), Unavailable> {
    let noun = backend.sandbox_noun;
    let engine = backend.engine.map_err(|why| Unavailable::NotCompiledIn(why.into()))?;
    let script = Script::from_content("function handler(event) { return event }", None)
        .map_err(|e| Unavailable::DoesNotStart(e.to_string()))?;
    let spec = Arc::new(LoadSpec {
        // The smallest sandbox: the probe asks whether one starts, not how big.
        guest: GuestConfig { heap_size: engine.floors.heap, stack_size: engine.floors.scratch, print: None },
        host_modules: BTreeMap::new(),
        handlers: BTreeMap::from([("probe".to_owned(), script)]),
        imported_sources: Default::default(),
    });
    let mut sandbox = as_one_call(interrupt, || (engine.load)(spec, interrupt)).map_err(|e| match e {
        // Already in the backend's (or the hypervisor's) own words.
        Error::BackendUnavailable { reason, .. } => Unavailable::DoesNotStart(reason),
        other => Unavailable::DoesNotStart(format!("{noun} does not start: {other}")),
    })?;
    let failed = |step: &str, e: Error| Unavailable::DoesNotStart(format!("{noun} started but {step}: {e}"));
    let snapshot = sandbox.snapshot().map_err(|e| failed("cannot take a snapshot", e))?;
    match as_one_call(interrupt, || sandbox.call("probe", EVENT, Collection::Never)) {
        Ok(Payload::Json(answer)) if answer == EVENT => {}
        Ok(answer) => {
            let answer = answer.into_json();
            return Err(Unavailable::DoesNotStart(format!("{noun} started but answered {answer:.100} to {EVENT}")));
        }
        Err(e) => return Err(failed("failed its first call", e)),
    }
    sandbox.restore(&snapshot).map_err(|e| failed("cannot restore a snapshot", e))
}

/// Runs guest code as one call on the interrupt state, as the lifecycle
/// does, so the time limit's `kill()` reaches it.
fn as_one_call<T>(interrupt: &InterruptHandle, body: impl FnOnce() -> Result<T>) -> Result<T> {
    interrupt.state.begin();
    let outcome = body();
    if interrupt.state.end() {
        return Err(Error::Cancelled { monitor: None, by_signal: false });
    }
    outcome
}
