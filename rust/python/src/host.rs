//! Python callables as host functions and print sinks. They run on the
//! guest's thread, which holds no GIL while the guest runs, so each call
//! attaches to the interpreter for just as long as the callable needs.

use std::sync::Arc;

use hyperlight_js_core::{HostCallError, HostCause, HostFunction, PrintFn};
use pyo3::prelude::*;

/// `adapter` takes the JSON array of arguments and returns JSON text; the
/// Python package builds it around the user's function.
pub(crate) fn host_function(adapter: Py<PyAny>) -> HostFunction {
    Arc::new(move |args_json: &str| {
        Python::attach(|py| match adapter.call1(py, (args_json,)).and_then(|r| r.extract::<String>(py)) {
            Ok(json) => Ok(json),
            Err(err) => {
                let message = format!("{}: {}", type_name(py, &err), err.value(py));
                Err(HostCallError { message, cause: Some(HostCause(Box::new(err))) })
            }
        })
    })
}

fn type_name(py: Python<'_>, err: &PyErr) -> String {
    err.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into())
}

/// A print sink never fails the guest: its errors are reported the way
/// Python reports errors nobody can catch.
pub(crate) fn print_fn(sink: Py<PyAny>) -> PrintFn {
    Arc::new(move |line: &str| {
        Python::attach(|py| {
            if let Err(err) = sink.call1(py, (line,)) {
                err.write_unraisable(py, Some(sink.bind(py)));
            }
        })
    })
}
