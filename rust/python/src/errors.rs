//! Core errors as the Python exceptions of `hyperlight_js.errors`.
//!
//! The classes are defined in Python (so they carry typed attributes and
//! docs) and handed over once, when the package initialises this module
//! (`init`): raising never imports anything, and this module does not
//! depend on the package that depends on it. This side only picks the class
//! and fills in the fields.

use hyperlight_js_core::{Error, HostCause};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

macro_rules! error_classes {
    ($($class:ident),+ $(,)?) => {
        /// The exception classes, read once from the errors module.
        #[allow(non_snake_case)]
        struct Classes {
            $($class: Py<PyType>,)+
        }

        impl Classes {
            fn read(module: &Bound<'_, PyAny>) -> PyResult<Self> {
                Ok(Self { $($class: module.getattr(stringify!($class))?.cast_into::<PyType>()?.unbind(),)+ })
            }
        }
    };
}

error_classes!(
    GuestError,
    HandlerLoadError,
    HandlerNotFoundError,
    InvalidEventError,
    ResultNotSerializableError,
    ExecutionCancelled,
    SandboxPoisonedError,
    SandboxBusyError,
    SandboxConsumedError,
    GuestOutOfMemoryError,
    MonitorStartError,
    SnapshotError,
    BackendUnavailableError,
    HypervisorUnavailableError,
    InternalError,
);

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// Takes the exception classes from `module` (`hyperlight_js.errors`).
pub(crate) fn register(py: Python<'_>, module: &Bound<'_, PyAny>) -> PyResult<()> {
    CLASSES
        .set(py, Classes::read(module)?)
        .map_err(|_| PyRuntimeError::new_err("hyperlight_js._native is already initialised"))
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get(py).ok_or_else(|| {
        PyRuntimeError::new_err("hyperlight_js._native was used before the hyperlight_js package initialised it")
    })
}

fn instance(
    py: Python<'_>,
    class: impl FnOnce(&Classes) -> &Py<PyType>,
    message: String,
    extra: &[(&str, Py<PyAny>)],
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let class = class(classes(py)?).bind(py);
        if extra.is_empty() {
            return Ok(PyErr::from_value(class.call1((message,))?));
        }
        let kwargs = PyDict::new(py);
        for (key, value) in extra {
            kwargs.set_item(key, value)?;
        }
        Ok(PyErr::from_value(class.call((message,), Some(&kwargs))?))
    };
    build().unwrap_or_else(|e| e)
}

/// Raised when a consumed stage of the lifecycle is used again.
pub(crate) fn consumed(py: Python<'_>, what: &str, by: &str) -> PyErr {
    instance(
        py,
        |c| &c.SandboxConsumedError,
        format!("this {what} was consumed by {by}() and cannot be used again"),
        &[],
    )
}

pub(crate) fn to_py(py: Python<'_>, error: Error) -> PyErr {
    let message = error.to_string();
    match error {
        Error::InvalidArgument(_) => PyValueError::new_err(message),
        Error::HandlerNotFound(_) => instance(py, |c| &c.HandlerNotFoundError, message, &[]),
        Error::InvalidEvent(_) => instance(py, |c| &c.InvalidEventError, message, &[]),
        Error::ResultNotSerializable(_) => instance(py, |c| &c.ResultNotSerializableError, message, &[]),
        Error::Guest(failure) => {
            let stack = failure.stack.into_pyobject(py).map(|s| s.into_any().unbind()).unwrap_or_else(|_| py.None());
            let err = instance(py, |c| &c.GuestError, message, &[("stack", stack)]);
            if let Some(HostCause(cause)) = failure.host_cause {
                if let Ok(cause) = cause.downcast::<PyErr>() {
                    err.set_cause(py, Some(*cause));
                }
            }
            err
        }
        Error::Cancelled { monitor, .. } => {
            let monitor = monitor.into_pyobject(py).map(|m| m.into_any().unbind()).unwrap_or_else(|_| py.None());
            instance(py, |c| &c.ExecutionCancelled, message, &[("monitor", monitor)])
        }
        Error::Poisoned => instance(py, |c| &c.SandboxPoisonedError, message, &[]),
        Error::Busy => instance(py, |c| &c.SandboxBusyError, message, &[]),
        Error::OutOfMemory { .. } => instance(py, |c| &c.GuestOutOfMemoryError, message, &[]),
        Error::MonitorStart(_) => instance(py, |c| &c.MonitorStartError, message, &[]),
        Error::Snapshot(_) => instance(py, |c| &c.SnapshotError, message, &[]),
        Error::BackendUnavailable { needs_hypervisor: true, .. } => {
            instance(py, |c| &c.HypervisorUnavailableError, message, &[])
        }
        Error::BackendUnavailable { .. } => instance(py, |c| &c.BackendUnavailableError, message, &[]),
        Error::Load(_) => instance(py, |c| &c.HandlerLoadError, message, &[]),
        Error::Internal(_) => instance(py, |c| &c.InternalError, message, &[]),
    }
}
