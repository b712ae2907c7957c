//! Whether a micro-VM really runs on this machine.
//!
//! A hypervisor device being present proves little: a nested or
//! paravirtualised KVM can open `/dev/kvm` and create VMs whose guests then
//! die during their first instructions. So the probe does what a user's
//! sandbox does — builds a VM with this backend, loads a handler, calls it —
//! and reports the hypervisor's own error when any step fails. It runs once
//! per process (a VM start costs tens of milliseconds) and on its own
//! thread, under a time limit, so a guest that never answers cannot hang
//! the caller.

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use super::sizing::MIN_HEAP;
use super::Hyperlight;
use crate::backend::{Backend, LoadSpec};
use crate::error::Error;
use crate::interrupt::InterruptHandle;
use crate::monitor::{run_watched, Watchers};
use crate::Script;

const TIME_LIMIT: Duration = Duration::from_secs(30);
const EVENT: &str = r#"{"probe":true}"#;

/// `Ok` when a micro-VM starts and answers here, else why not. Cached.
pub(crate) fn availability() -> Result<(), String> {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    ANSWER.get_or_init(probe).clone()
}

fn probe() -> Result<(), String> {
    if !hyperlight_js::is_hypervisor_present() {
        return Err(format!("no usable hypervisor: {}", no_hypervisor_hint()));
    }
    let interrupt = InterruptHandle::new();
    let (answer, answered) = mpsc::channel();
    let guest_interrupt = interrupt.clone();
    std::thread::Builder::new()
        .name("hyperlight-js-probe".into())
        .spawn(move || {
            let _ = answer.send(start_and_call(&guest_interrupt));
        })
        .map_err(|e| format!("cannot start the micro-VM probe thread: {e}"))?;
    match answered.recv_timeout(TIME_LIMIT) {
        Ok(result) => result,
        Err(_) => {
            interrupt.kill();
            Err(format!("a micro-VM did not answer within {} s", TIME_LIMIT.as_secs()))
        }
    }
}

fn start_and_call(interrupt: &InterruptHandle) -> Result<(), String> {
    let script = Script::from_content("function handler(event) { return event }", None).map_err(|e| e.to_string())?;
    let spec = Arc::new(LoadSpec {
        // The smallest VM: the probe asks whether one starts, not how big.
        heap_size: MIN_HEAP,
        stack_size: 1,
        print: None,
        host_modules: BTreeMap::new(),
        handlers: BTreeMap::from([("probe".to_owned(), script)]),
        imported_sources: Default::default(),
    });
    let mut vm = run_watched(&interrupt.state, Watchers::default(), || Hyperlight::load(spec, interrupt)).map_err(
        |e| match e {
            // Already in the hypervisor's words.
            Error::BackendUnavailable { reason, .. } => reason,
            other => format!("a micro-VM does not start: {other}"),
        },
    )?;
    match run_watched(&interrupt.state, Watchers::default(), || vm.call("probe", EVENT, false)) {
        Ok(answer) if answer == EVENT => Ok(()),
        Ok(answer) => Err(format!("a micro-VM started but answered {answer:.100} to {EVENT}")),
        Err(e) => Err(format!("a micro-VM started but failed its first call: {e}")),
    }
}

fn no_hypervisor_hint() -> &'static str {
    if cfg!(windows) {
        "the Windows Hypervisor Platform is not enabled"
    } else {
        "neither /dev/kvm nor /dev/mshv can be opened"
    }
}
