//! One error type for the whole core. The PyO3 crate maps each variant to
//! one Python exception class, so a variant exists only where a user would
//! want to catch that case on its own.

use std::any::Any;
use std::fmt;

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
    pub message: String,
    pub cause: Option<HostCause>,
}

impl HostCallError {
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
    pub monitor: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller passed a value the API cannot use (maps to `ValueError`).
    #[error("{0}")]
    InvalidArgument(String),
    #[error("no handler named {0:?} is loaded")]
    HandlerNotFound(String),
    #[error("{0}")]
    InvalidEvent(String),
    #[error("{}", .0.message)]
    Guest(GuestFailure),
    /// The handler finished but its result has no JSON form.
    #[error("handler result cannot be returned as JSON: {0}")]
    ResultNotSerializable(String),
    /// The handler was terminated before it finished.
    #[error("{}", cancelled_message(.monitor.as_deref(), *.by_signal))]
    Cancelled { monitor: Option<String>, by_signal: bool },
    #[error("the sandbox is poisoned by an interrupted call; restore() a snapshot before calling it again")]
    Poisoned,
    #[error("the sandbox is already running a call (concurrent calls, or a host function calling back into its own sandbox, are refused)")]
    Busy,
    #[error("the guest exceeded its heap limit of {limit} bytes")]
    OutOfMemory { limit: usize },
    #[error(transparent)]
    MonitorStart(#[from] MonitorError),
    #[error("{0}")]
    Snapshot(String),
    /// The requested backend cannot run here (not compiled in, no usable
    /// hypervisor, ...). Isolation is never silently downgraded.
    #[error("the {backend} backend cannot run here: {reason}")]
    BackendUnavailable {
        backend: &'static str,
        /// The backend is a micro-VM: what is missing is a working hypervisor.
        needs_hypervisor: bool,
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
