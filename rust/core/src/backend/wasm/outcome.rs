//! The wasm guest's status and output record, decoded into the terms every
//! backend reports in (`backend::outcome`).

use super::abi::{Output, Status};
use crate::backend::host_errors::HostErrors;
use crate::backend::outcome::{self, Ending, Heap, Thrown};
use crate::error::{Error, Result};
use crate::payload::Payload;

/// Everything known when a guest call returned.
pub(super) struct Finished {
    pub status: Status,
    pub output: Output,
    /// What the heap limit saw during the call.
    pub heap: Heap,
}

impl Finished {
    /// How the run ended; a status only a broken guest or host gives is an
    /// internal error.
    fn ending(self, errors: &HostErrors) -> Result<Ending> {
        let thrown = |output: Output| Thrown {
            host_failure: output.host_error.and_then(|id| errors.take(id)),
            name: output.name,
            message: output.message,
            stack: output.stack.filter(|s| !s.is_empty()),
            is_error: output.is_error,
            display: output.text,
        };
        Ok(match self.status {
            Status::Ok => Ending::Returned(self.output.text.unwrap_or_default()),
            Status::OkBytes => Ending::ReturnedBytes(self.output.bytes.unwrap_or_default()),
            Status::Thrown => Ending::Threw(thrown(self.output)),
            Status::BadEvent => Ending::BadEvent(thrown(self.output)),
            Status::NotSerializable => Ending::NotSerializable(thrown(self.output)),
            Status::ResultUndefined => Ending::ReturnedUndefined,
            Status::OutOfMemory => Ending::OutOfMemory,
            Status::NotAFunction => Ending::NotAFunction,
            Status::BadArgument => return Err(Error::Internal("the wasm guest refused the call (BadArgument)".into())),
        })
    }
}

/// The result of `hl_call`.
pub(super) fn call(finished: Finished, errors: &HostErrors) -> Result<Payload> {
    if finished.status == Status::NotAFunction {
        return Err(Error::Internal("the wasm guest refused the call (NotAFunction)".into()));
    }
    let heap = finished.heap;
    outcome::call_result(finished.ending(errors)?, heap)
}

/// The result of `hl_load` for the handler `name` (module `module`).
pub(super) fn load(name: &str, module: &str, finished: Finished, errors: &HostErrors) -> Result<()> {
    let heap = finished.heap;
    outcome::load_result(name, module, finished.ending(errors)?, heap)
}
