//! Python callables as host functions and print sinks. They run on the
//! guest's thread, which holds no GIL while the guest runs, so each call
//! attaches to the interpreter for just as long as the callable needs.

use std::sync::{Arc, Mutex, OnceLock};

use hyperlight_js_core::{HostArgs, HostCallError, HostCause, HostFunction, InterruptHandle, Payload, PrintFn};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

/// A host function raised something that is not an `Exception`
/// (`KeyboardInterrupt` after a Ctrl-C in a blocking host call, `SystemExit`):
/// the host wants out, and the guest must not be able to catch that. The
/// call is killed and the exception re-raised once the call has returned.
#[derive(Default)]
pub(crate) struct HostEscape {
    raised: Mutex<Option<PyErr>>,
    interrupt: OnceLock<InterruptHandle>,
}

impl HostEscape {
    /// The sandbox's handle, known once the runtime is loaded.
    pub(crate) fn bind(&self, interrupt: InterruptHandle) {
        let _ = self.interrupt.set(interrupt);
    }

    fn escape(&self, err: PyErr) {
        *self.raised.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
        if let Some(interrupt) = self.interrupt.get() {
            interrupt.kill();
        }
    }

    pub(crate) fn take(&self) -> Option<PyErr> {
        self.raised.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// `adapter` takes the JSON array of arguments and returns JSON text; the
/// Python package builds it around the user's function. A call with
/// `Uint8Array` arguments passes them too (see [`call_adapter`]); a `bytes`
/// answer is a `Uint8Array` for the guest.
pub(crate) fn host_function(adapter: Py<PyAny>, escape: Arc<HostEscape>) -> HostFunction {
    Arc::new(move |args: HostArgs<'_>| {
        Python::attach(|py| match call_adapter(py, &adapter, args) {
            Ok(value) => Ok(value),
            Err(err) => {
                let message = format!("{}: {}", type_name(py, &err), err.value(py));
                if !err.is_instance_of::<PyException>(py) {
                    escape.escape(err.clone_ref(py));
                }
                Err(HostCallError { message, cause: Some(HostCause(Box::new(err))) })
            }
        })
    })
}

/// `adapter(args_json)`, or `adapter(args_json, ((position, bytes), ...))`
/// when some arguments are binary; `str` back is JSON, `bytes` is binary.
fn call_adapter(py: Python<'_>, adapter: &Py<PyAny>, args: HostArgs<'_>) -> PyResult<Payload> {
    let result = if args.bytes.is_empty() {
        adapter.call1(py, (args.json,))?
    } else {
        let binary: Vec<(usize, Bound<'_, PyBytes>)> =
            args.bytes.iter().map(|(position, data)| (*position, PyBytes::new(py, data))).collect();
        adapter.call1(py, (args.json, PyTuple::new(py, binary)?))?
    };
    let result = result.bind(py);
    if let Ok(data) = result.cast::<PyBytes>() {
        return Ok(Payload::Bytes(data.as_bytes().to_vec()));
    }
    Ok(Payload::Json(result.extract::<String>()?))
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
