//! What a guest call's status and output mean to the host: the same errors,
//! with the same rules, as the in-process engine reports
//! (`in_process/engine.rs`), so a caller cannot tell the backends apart by
//! their failures.

use super::abi::{Output, Status};
use super::state::HostErrors;
use crate::error::{Error, GuestFailure, Result};

/// Everything known when a guest call returned.
pub(super) struct Finished {
    pub status: Status,
    pub output: Output,
    /// The heap limit refused memory during the call.
    pub refused: bool,
    pub heap_limit: usize,
}

impl Finished {
    /// Ran out of heap: the limiter refused memory, or QuickJS said so.
    fn out_of_memory(&self) -> bool {
        self.refused || self.output.out_of_memory
    }

    fn guest_failure(self, errors: &mut HostErrors) -> GuestFailure {
        let host_cause = self.output.host_error.and_then(|id| errors.take(id));
        GuestFailure { message: self.output.text, stack: self.output.stack.filter(|s| !s.is_empty()), host_cause }
    }
}

/// The result of `hl_call`.
pub(super) fn call(finished: Finished, errors: &mut HostErrors) -> Result<String> {
    let limit = finished.heap_limit;
    // Hitting the heap limit is an error even when the guest caught it
    // (QuickJS makes it a catchable exception, and a promise chain turns it
    // into a silent rejection). A bad event never ran the handler, though.
    if finished.status != Status::BadEvent && finished.out_of_memory() {
        return Err(Error::OutOfMemory { limit });
    }
    match finished.status {
        Status::Ok => Ok(finished.output.text),
        Status::Thrown => Err(Error::Guest(finished.guest_failure(errors))),
        Status::BadEvent if finished.out_of_memory() => Err(Error::InvalidEvent(format!(
            "the event does not fit in the guest heap ({limit} bytes); raise it with with_guest_heap_size()"
        ))),
        Status::BadEvent => {
            Err(Error::InvalidEvent(format!("the event is not valid JSON: {}", finished.guest_failure(errors).message)))
        }
        Status::NotSerializable => Err(Error::ResultNotSerializable(finished.guest_failure(errors).message)),
        Status::ResultUndefined => Err(Error::ResultNotSerializable(
            "the handler returned undefined (or a function or symbol), which JSON cannot hold".into(),
        )),
        Status::OutOfMemory => Err(Error::OutOfMemory { limit }),
        Status::NotAFunction | Status::BadArgument => {
            Err(Error::Internal(format!("the wasm guest refused the call ({:?})", finished.status)))
        }
    }
}

/// The result of `hl_load` for the handler `name` (module `module`).
pub(super) fn load(name: &str, module: &str, finished: Finished, errors: &mut HostErrors) -> Result<()> {
    if finished.out_of_memory() {
        return Err(Error::OutOfMemory { limit: finished.heap_limit });
    }
    match finished.status {
        Status::Ok => Ok(()),
        Status::Thrown => {
            let failure = finished.guest_failure(errors);
            Err(Error::Load(format!(
                "handler {name:?} failed to load: {}{}",
                failure.message,
                failure.stack.map(|s| format!("\n{s}")).unwrap_or_default()
            )))
        }
        Status::NotAFunction => {
            Err(Error::Load(format!("handler script {module:?} defines `handler`, but it is not a function")))
        }
        Status::OutOfMemory => Err(Error::OutOfMemory { limit: finished.heap_limit }),
        other => Err(Error::Internal(format!("the wasm guest could not load handler {name:?} ({other:?})"))),
    }
}
