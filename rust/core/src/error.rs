//! One error type for the whole core. The PyO3 crate maps each variant to
//! one Python exception class, so a variant exists only where a user would
//! want to catch that case on its own.

use std::any::Any;
use std::fmt;

/// The core's result type: [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something a host function raised, carried through the guest untouched so
/// the binding can hand it back as the `__cause__` of the guest error.
pub struct HostCause(pub Box<dyn Any + Send>);

impl fmt::Debug for HostCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostCause(..)")
    }
}

/// What a host function returns when it fails: the message the guest sees
/// as a JavaScript `Error`, and an opaque cause for the host.
#[derive(Debug)]
pub struct HostCallError {
    /// The message of the `Error` the guest sees thrown.
    pub message: String,
    /// What the host raised, returned to the host if the guest does not catch it.
    pub cause: Option<HostCause>,
}

impl HostCallError {
    /// A failure with this message and no host-side cause.
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), cause: None }
    }
}

/// An uncaught JavaScript exception, as far as the host can describe it.
#[derive(Debug)]
pub struct GuestFailure {
    /// `name: message` of the thrown value (or its string form).
    pub message: String,
    /// The JavaScript stack, when the thrown value was an `Error`.
    pub stack: Option<String>,
    /// Set when the exception was thrown by a failing host function and not
    /// caught by the handler.
    pub host_cause: Option<HostCause>,
}

/// A monitor could not start, so the handler was never run (fail closed).
#[derive(Debug, thiserror::Error)]
#[error("monitor {monitor:?} failed to start: {reason}")]
pub struct MonitorError {
    /// The monitor's name.
    pub monitor: String,
    /// Why it could not start.
    pub reason: String,
}

/// Every way a call into the core can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller passed a value the API cannot use (maps to `ValueError`).
    #[error("{0}")]
    InvalidArgument(String),
    /// No handler is loaded under the name given to `handle_event`.
    #[error("no handler named {0:?} is loaded")]
    HandlerNotFound(String),
    /// The event is not valid JSON, or too large for the guest to receive.
    #[error("{0}")]
    InvalidEvent(String),
    /// The handler threw, and did not catch, a JavaScript exception.
    #[error("{}", .0.message)]
    Guest(GuestFailure),
    /// The handler finished but its result has no JSON form.
    #[error("handler result cannot be returned as JSON: {0}")]
    ResultNotSerializable(String),
    /// The handler was terminated before it finished.
    #[error("{}", cancelled_message(.monitor.as_deref(), *.by_signal))]
    Cancelled {
        /// The monitor that fired; `None` for a direct kill or a signal.
        monitor: Option<String>,
        /// The kill came from the process's interrupt signal (Ctrl-C).
        by_signal: bool,
    },
    /// An earlier call was cut short; only restoring a snapshot clears this.
    #[error("the sandbox is poisoned by an interrupted call; restore() a snapshot before calling it again")]
    Poisoned,
    /// The sandbox is already inside a call.
    #[error("the sandbox is already running a call (concurrent calls, or a host function calling back into its own sandbox, are refused)")]
    Busy,
    /// The guest ran out of its heap; the sandbox is poisoned.
    #[error("the guest exceeded its heap limit of {limit} bytes")]
    OutOfMemory {
        /// The heap limit the guest ran into, in bytes.
        limit: usize,
    },
    /// A monitor could not start, so the handler never ran.
    #[error(transparent)]
    MonitorStart(#[from] MonitorError),
    /// A snapshot could not be taken, restored, written or read back.
    #[error("{0}")]
    Snapshot(String),
    /// The requested backend cannot run here (not compiled in, no usable
    /// hypervisor, ...). Isolation is never silently downgraded.
    #[error("the {backend} backend cannot run here: {reason}")]
    BackendUnavailable {
        /// The backend's registered name.
        backend: &'static str,
        /// The backend is a micro-VM: what is missing is a working hypervisor.
        needs_hypervisor: bool,
        /// Why it cannot run, in the words of its availability check.
        reason: String,
    },
    /// A script could not be found, read or compiled.
    #[error("{0}")]
    Load(String),
    /// A bug on our side, contained: the sandbox is poisoned.
    #[error("internal error (the sandbox is poisoned): {0}")]
    Internal(String),
}

fn cancelled_message(monitor: Option<&str>, by_signal: bool) -> String {
    match (monitor, by_signal) {
        (Some(m), _) => format!("handler execution was cancelled by the {m:?} monitor"),
        (None, true) => "handler execution was cancelled by an interrupt signal (Ctrl-C)".into(),
        (None, false) => "handler execution was cancelled through the interrupt handle".into(),
    }
}

impl Error {
    /// Whether this failure leaves the engine in a state nobody can vouch
    /// for: a call cut short part-way, or an engine that ran out of memory.
    pub fn poisons(&self) -> bool {
        matches!(self, Error::Cancelled { .. } | Error::OutOfMemory { .. } | Error::Internal(_))
    }
}
