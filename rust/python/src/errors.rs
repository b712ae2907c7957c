//! Core errors as the Python exceptions of `hyperlight_js.errors`.
//!
//! The classes are defined in Python (so they carry typed attributes and
//! docs); this side only picks the class and fills in the fields.

use hyperlight_js_core::{Error, HostCause};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

const ERRORS_MODULE: &str = "hyperlight_js.errors";

fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import(ERRORS_MODULE)?.getattr(name)
}

fn instance(py: Python<'_>, name: &str, message: String, extra: &[(&str, Py<PyAny>)]) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let kwargs = PyDict::new(py);
        for (key, value) in extra {
            kwargs.set_item(key, value)?;
        }
        Ok(PyErr::from_value(class(py, name)?.call((message,), Some(&kwargs))?))
    };
    build().unwrap_or_else(|e| e)
}

/// Raised when a consumed stage of the lifecycle is used again.
pub(crate) fn consumed(py: Python<'_>, what: &str, by: &str) -> PyErr {
    instance(py, "SandboxConsumedError", format!("this {what} was consumed by {by}() and cannot be used again"), &[])
}

pub(crate) fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::InvalidArgument(_) => PyValueError::new_err(message),
        Error::HandlerNotFound(_) => instance(py, "HandlerNotFoundError", message, &[]),
        Error::InvalidEvent(_) => instance(py, "InvalidEventError", message, &[]),
        Error::ResultNotSerializable(_) => instance(py, "ResultNotSerializableError", message, &[]),
        Error::Guest(failure) => {
            let stack = failure.stack.into_pyobject(py).map(|s| s.into_any().unbind()).unwrap_or_else(|_| py.None());
            let err = instance(py, "GuestError", message, &[("stack", stack)]);
            if let Some(HostCause(cause)) = failure.host_cause {
                if let Ok(cause) = cause.downcast::<PyErr>() {
                    err.set_cause(py, Some(*cause));
                }
            }
            err
        }
        Error::Cancelled { monitor, .. } => {
            let monitor = monitor.into_pyobject(py).map(|m| m.into_any().unbind()).unwrap_or_else(|_| py.None());
            instance(py, "ExecutionCancelled", message, &[("monitor", monitor)])
        }
        Error::Poisoned => instance(py, "SandboxPoisonedError", message, &[]),
        Error::Busy => instance(py, "SandboxBusyError", message, &[]),
        Error::OutOfMemory { .. } => instance(py, "GuestOutOfMemoryError", message, &[]),
        Error::MonitorStart(_) => instance(py, "MonitorStartError", message, &[]),
        Error::Snapshot(_) => instance(py, "SnapshotError", message, &[]),
        Error::BackendUnavailable { needs_hypervisor: true, .. } => {
            instance(py, "HypervisorUnavailableError", message, &[])
        }
        Error::BackendUnavailable { .. } => instance(py, "BackendUnavailableError", message, &[]),
        Error::Load(_) => instance(py, "HandlerLoadError", message, &[]),
        Error::Internal(_) => instance(py, "InternalError", message, &[]),
    }
}
