//! Python callables as host functions and print sinks. They run on the
//! guest's thread, which holds no GIL while the guest runs, so each call
//! attaches to the interpreter for just as long as the callable needs.
//!
//! An async host function's adapter returns a `concurrent.futures.Future`
//! (its coroutine already scheduled on an asyncio loop) instead of JSON
//! text. The guest's thread then waits in the core's
//! [`InterruptHandle::wait_for_host`] with the GIL released: the future's
//! done-callback completes the wait, and a kill of the call (monitor,
//! `kill()`, Ctrl-C) ends it without Python's help. Only then is the GIL
//! taken again, to read the result or to cancel the future (which cancels
//! the coroutine on its loop).

use std::sync::{Arc, Mutex, OnceLock};

use hyperlight_js_core::{
    HostArgs, HostCallError, HostCause, HostFunction, HostWait, HostWaitEnd, InterruptHandle, Payload, PrintFn,
};
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

/// What the guest is told when its call ends while a host coroutine was
/// still running; the call itself is reported as cancelled.
const CANCELLED_WHILE_AWAITING: &str =
    "ExecutionCancelled: the call was ended while the host function was awaited (the coroutine was cancelled)";

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

    /// Waits, without the GIL, for `wait` or a kill of the sandbox's call.
    /// Before the runtime is loaded (a snapshot's load) there is no handle
    /// to kill the call with, so the wait is for the result alone.
    fn wait_for_host(&self, py: Python<'_>, wait: &Arc<HostWait>) -> HostWaitEnd {
        match self.interrupt.get() {
            Some(interrupt) => py.detach(|| interrupt.wait_for_host(wait)),
            None => {
                py.detach(|| wait.wait());
                HostWaitEnd::Completed
            }
        }
    }
}

/// The done-callback of an async host function's future: wakes the guest's
/// thread. It takes no lock the waiting thread holds while it needs the GIL.
#[pyclass(frozen, module = "hyperlight_js._native")]
struct HostCompletion(Arc<HostWait>);

#[pymethods]
impl HostCompletion {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        self.0.complete();
    }
}

/// `adapter` takes the JSON array of arguments and returns JSON text; the
/// Python package builds it around the user's function. A call with
/// `Uint8Array` arguments passes them too (see [`call_adapter`]); a `bytes`
/// answer is a `Uint8Array` for the guest.
pub(crate) fn host_function(adapter: Py<PyAny>, escape: Arc<HostEscape>) -> HostFunction {
    Arc::new(move |args: HostArgs<'_>| {
        Python::attach(|py| {
            let returned = match call_adapter(py, &adapter, args) {
                Ok(returned) => returned.into_bound(py),
                Err(err) => return Err(failed(py, err, &escape)),
            };
            match payload(&returned) {
                Some(Ok(value)) => Ok(value),
                Some(Err(err)) => Err(failed(py, err, &escape)),
                None => awaited(py, &returned, &escape),
            }
        })
    })
}

/// `adapter(args_json)`, or `adapter(args_json, ((position, bytes), ...))`
/// when some arguments are binary.
fn call_adapter(py: Python<'_>, adapter: &Py<PyAny>, args: HostArgs<'_>) -> PyResult<Py<PyAny>> {
    if args.bytes.is_empty() {
        return adapter.call1(py, (args.json,));
    }
    let binary: Vec<(usize, Bound<'_, PyBytes>)> =
        args.bytes.iter().map(|(position, data)| (*position, PyBytes::new(py, data))).collect();
    adapter.call1(py, (args.json, PyTuple::new(py, binary)?))
}

/// What an adapter answered, if it is an answer: `str` is JSON, `bytes` is
/// binary; anything else is an async host function's future (`None`).
fn payload(answer: &Bound<'_, PyAny>) -> Option<PyResult<Payload>> {
    if let Ok(data) = answer.cast::<PyBytes>() {
        return Some(Ok(Payload::Bytes(data.as_bytes().to_vec())));
    }
    if answer.is_instance_of::<PyString>() {
        return Some(answer.extract::<String>().map(Payload::Json));
    }
    None
}

/// The result of the pending `future` an async host function's adapter
/// returned, or a cancelled future if the call is killed first.
fn awaited(py: Python<'_>, future: &Bound<'_, PyAny>, escape: &HostEscape) -> Result<Payload, HostCallError> {
    let wait = HostWait::new();
    let completion = Py::new(py, HostCompletion(wait.clone())).map_err(|e| failed(py, e, escape))?;
    // Runs the callback at once if the future is already done. It is Python
    // code, where a Ctrl-C's KeyboardInterrupt may be raised: the coroutine
    // is running already, so it is cancelled before the call ends.
    if let Err(err) = future.call_method1("add_done_callback", (completion,)) {
        let error = failed(py, err, escape);
        cancel(py, future, escape);
        return Err(error);
    }
    match escape.wait_for_host(py, &wait) {
        HostWaitEnd::Completed => {
            let result = future.call_method0("result").map_err(|e| failed(py, e, escape))?;
            match payload(&result) {
                Some(Ok(value)) => Ok(value),
                Some(Err(err)) => Err(failed(py, err, escape)),
                None => Err(failed(
                    py,
                    PyTypeError::new_err("an async host function's future gave neither str nor bytes"),
                    escape,
                )),
            }
        }
        HostWaitEnd::Killed => {
            // Schedules the coroutine's cancellation on its loop; the call's
            // killed state reports it as cancelled whatever the guest does
            // with this error.
            cancel(py, future, escape);
            Err(HostCallError { message: CANCELLED_WHILE_AWAITING.into(), cause: None })
        }
    }
}

/// Cancels `future`. After a Ctrl-C on the main thread, Python's pending
/// `KeyboardInterrupt` would be raised by the first Python code that runs:
/// inside `cancel()`, it could land after the future is marked cancelled
/// but before its callback has passed the cancellation on to the
/// coroutine's loop, leaving the coroutine running, and a second `cancel()`
/// finds the future cancelled already. So pending signal handlers run
/// first, here; what they raise is kept to be re-raised once the call is
/// over (as for a host function that raised it). A Ctrl-C arriving during
/// `cancel()` itself is caught the same way, and the cancel tried again.
/// (The race seen in tests was elsewhere, in `_schedule`, which says so.)
fn cancel(py: Python<'_>, future: &Bound<'_, PyAny>, escape: &HostEscape) {
    if let Err(err) = py.check_signals() {
        if err.is_instance_of::<PyException>(py) {
            err.write_unraisable(py, Some(future));
        } else {
            escape.escape(err);
        }
    }
    for _ in 0..3 {
        match future.call_method0("cancel") {
            Ok(_) => return,
            Err(err) if !err.is_instance_of::<PyException>(py) => escape.escape(err),
            Err(err) => return err.write_unraisable(py, Some(future)),
        }
    }
}

/// A host function's Python exception as the guest's error, with the
/// exception kept as its cause; one that is not an `Exception` ends the call.
fn failed(py: Python<'_>, err: PyErr, escape: &HostEscape) -> HostCallError {
    let message = format!("{}: {}", type_name(py, &err), err.value(py));
    if !err.is_instance_of::<PyException>(py) {
        escape.escape(err.clone_ref(py));
    }
    HostCallError { message, cause: Some(HostCause(Box::new(err))) }
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
