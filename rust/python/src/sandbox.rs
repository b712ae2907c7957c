//! The lifecycle classes. Each wraps its core object in a mutex holding an
//! `Option`: `None` once the object was consumed by the next stage, and a
//! held lock means a call is running, which is how a concurrent call (or a
//! host function calling back into its own sandbox) gets a clear error
//! instead of a deadlock.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use hyperlight_js_core as core;
use hyperlight_js_core::monitor::Watchers;
use hyperlight_js_core::sandbox::CallOptions;
use hyperlight_js_core::{Error, Payload};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};

use crate::errors::{consumed, to_py};
use crate::host::{host_function, HostEscape};
use crate::monitors::{settle, Race};
use crate::payload::payload_to_py;

/// Locks a stage without blocking: a held lock means a call is running.
fn lock<'a, T>(py: Python<'_>, cell: &'a Mutex<Option<T>>) -> PyResult<MutexGuard<'a, Option<T>>> {
    match cell.try_lock() {
        Ok(guard) => Ok(guard),
        Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => Err(to_py(py, Error::Busy)),
    }
}

fn live<'a, T>(py: Python<'_>, guard: &'a mut MutexGuard<'_, Option<T>>, what: &str, by: &str) -> PyResult<&'a mut T> {
    guard.as_mut().ok_or_else(|| consumed(py, what, by))
}

/// With `sigint`, the Ctrl-C mark is taken before Python's pending signals
/// are checked, so a Ctrl-C just before the call either raises here or
/// interrupts the guest (see `core::sigint::Mark`).
fn watchers<'a>(py: Python<'_>, race: Option<&'a Race<'_>>, sigint: bool) -> PyResult<Watchers<'a>> {
    let mark = if sigint { core::sigint::mark().ok() } else { None };
    if mark.is_some() {
        py.check_signals()?;
    }
    Ok(Watchers { monitor: race.map(|r| &r.list as &dyn core::monitor::MonitorSet), interrupt_on_sigint: mark })
}

/// The Python exception for a failed call. A host function that raised
/// `KeyboardInterrupt` or `SystemExit` gets it re-raised; a call ended by
/// Ctrl-C lets Python's own SIGINT handler speak (normally
/// `KeyboardInterrupt`).
fn failure<T>(py: Python<'_>, escape: &HostEscape, error: Error) -> PyResult<T> {
    if let Some(raised) = escape.take() {
        return Err(raised);
    }
    if let Error::Cancelled { by_signal: true, .. } = error {
        py.check_signals()?;
    }
    Err(to_py(py, error))
}

#[pyclass(frozen, module = "hyperlight_js._native")]
pub struct Script(core::Script);

#[pymethods]
impl Script {
    /// A handler given as source text. `base_dir` allows relative imports
    /// from (and only from) that directory.
    #[staticmethod]
    #[pyo3(signature = (source, base_dir=None))]
    fn from_content(py: Python<'_>, source: &str, base_dir: Option<PathBuf>) -> PyResult<Self> {
        core::Script::from_content(source, base_dir.as_deref()).map(Self).map_err(|e| to_py(py, e))
    }

    /// A handler read from a file now. Relative imports resolve next to it
    /// and may not leave `root` (default: the file's directory).
    #[staticmethod]
    #[pyo3(signature = (path, root=None))]
    fn from_file(py: Python<'_>, path: PathBuf, root: Option<PathBuf>) -> PyResult<Self> {
        core::Script::from_file(&path, root.as_deref()).map(Self).map_err(|e| to_py(py, e))
    }

    #[getter]
    fn source(&self) -> &str {
        self.0.source()
    }
}

/// A byte count as the core takes it: an `int` (not a `bool`) from 0 to
/// `usize::MAX`. Whether a size is acceptable is the core's rule.
fn byte_count(what: &str, value: &Bound<'_, PyAny>) -> PyResult<usize> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int number of bytes, not {}",
            value.get_type().name()?
        )));
    }
    value.extract::<usize>().map_err(|_| match value.lt(0) {
        Ok(true) => PyValueError::new_err(format!("{what} must be greater than zero, got {value}")),
        _ => PyValueError::new_err(format!("{what} must fit in {} bits, got {value}", usize::BITS)),
    })
}

/// The builder stage: the core's builder, so its defaults and its rules
/// for sizes and backend names are the only ones. Each setter checks its
/// value at once and leaves the builder unchanged when it refuses it.
#[pyclass(module = "hyperlight_js._native")]
pub struct SandboxBuilder(core::SandboxBuilder);

#[pymethods]
impl SandboxBuilder {
    #[new]
    fn new() -> Self {
        Self(core::SandboxBuilder::new())
    }

    fn with_backend(&mut self, py: Python<'_>, name: &str) -> PyResult<()> {
        let choice = name.parse().map_err(|e| to_py(py, e))?;
        self.0 = self.0.clone().with_backend(choice);
        Ok(())
    }

    fn with_guest_heap_size(&mut self, py: Python<'_>, size: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = byte_count("guest heap size", size)?;
        self.0 = self.0.clone().with_guest_heap_size(bytes).map_err(|e| to_py(py, e))?;
        Ok(())
    }

    fn with_cpu_time_stats(&mut self, enabled: bool) {
        self.0 = self.0.clone().with_cpu_time_stats(enabled);
    }

    fn with_guest_scratch_size(&mut self, py: Python<'_>, size: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = byte_count("guest scratch size", size)?;
        self.0 = self.0.clone().with_guest_scratch_size(bytes).map_err(|e| to_py(py, e))?;
        Ok(())
    }

    /// Resolves the backend and checks the sizes against it (GIL released:
    /// the first resolution in a process may probe the backends).
    #[pyo3(signature = (print_fn=None))]
    fn build(&self, py: Python<'_>, print_fn: Option<Py<PyAny>>) -> PyResult<ProtoJSSandbox> {
        let mut builder = self.0.clone();
        if let Some(sink) = print_fn {
            builder = builder.with_host_print_fn(crate::host::print_fn(sink));
        }
        let proto = py.detach(|| builder.build()).map_err(|e| to_py(py, e))?;
        Ok(ProtoJSSandbox { inner: Mutex::new(Some(proto)), escape: Arc::default() })
    }
}

#[pyclass(frozen, module = "hyperlight_js._native")]
pub struct ProtoJSSandbox {
    inner: Mutex<Option<core::ProtoJSSandbox>>,
    escape: Arc<HostEscape>,
}

#[pymethods]
impl ProtoJSSandbox {
    /// `adapter(args_json: str) -> str` becomes `module.name` in the guest.
    fn register(&self, py: Python<'_>, module: &str, name: &str, adapter: Py<PyAny>) -> PyResult<()> {
        let mut guard = lock(py, &self.inner)?;
        let proto = live(py, &mut guard, "ProtoJSSandbox", "load_runtime")?;
        proto.register(module, name, host_function(adapter, self.escape.clone())).map_err(|e| to_py(py, e))
    }

    /// A loaded sandbox in `snapshot`'s state, with this sandbox's host
    /// functions (the same names the snapshot's handlers were loaded with).
    /// Consumes this sandbox on success; on failure it stays usable.
    #[pyo3(signature = (snapshot, monitor=None, sigint=false))]
    fn load_snapshot(
        &self,
        py: Python<'_>,
        snapshot: &Snapshot,
        monitor: Option<&Bound<'_, PyAny>>,
        sigint: bool,
    ) -> PyResult<LoadedJSSandbox> {
        let race = monitor.map(Race::start).transpose()?;
        let load = || -> PyResult<LoadedJSSandbox> {
            // Before the lock: checking signals runs Python handlers.
            let watchers = watchers(py, race.as_ref(), sigint)?;
            let mut guard = lock(py, &self.inner)?;
            let proto = live(py, &mut guard, "ProtoJSSandbox", "load_runtime")?;
            let proto_ref: &core::ProtoJSSandbox = proto;
            let loaded = py.detach(|| proto_ref.load_snapshot_watched(&snapshot.0, watchers));
            let loaded = loaded.or_else(|e| failure(py, &self.escape, e))?;
            guard.take();
            self.escape.bind(loaded.interrupt_handle());
            Ok(LoadedJSSandbox::new(loaded, self.escape.clone()))
        };
        let loaded = load();
        settle(race, loaded)
    }

    fn load_runtime(&self, py: Python<'_>) -> PyResult<JSSandbox> {
        let mut guard = lock(py, &self.inner)?;
        let proto = guard.take().ok_or_else(|| consumed(py, "ProtoJSSandbox", "load_runtime"))?;
        let sandbox = proto.load_runtime().map_err(|e| to_py(py, e))?;
        self.escape.bind(sandbox.interrupt_handle());
        Ok(JSSandbox::new(sandbox, self.escape.clone()))
    }
}

#[pyclass(frozen, module = "hyperlight_js._native")]
pub struct JSSandbox {
    inner: Mutex<Option<core::JSSandbox>>,
    escape: Arc<HostEscape>,
}

impl JSSandbox {
    fn new(sandbox: core::JSSandbox, escape: Arc<HostEscape>) -> Self {
        Self { inner: Mutex::new(Some(sandbox)), escape }
    }
}

#[pymethods]
impl JSSandbox {
    fn add_handler(&self, py: Python<'_>, name: &str, script: &Script) -> PyResult<()> {
        let mut guard = lock(py, &self.inner)?;
        live(py, &mut guard, "JSSandbox", "get_loaded_sandbox")?
            .add_handler(name, script.0.clone())
            .map_err(|e| to_py(py, e))
    }

    fn remove_handler(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        let mut guard = lock(py, &self.inner)?;
        live(py, &mut guard, "JSSandbox", "get_loaded_sandbox")?.remove_handler(name).map_err(|e| to_py(py, e))
    }

    fn clear_handlers(&self, py: Python<'_>) -> PyResult<()> {
        let mut guard = lock(py, &self.inner)?;
        live(py, &mut guard, "JSSandbox", "get_loaded_sandbox")?.clear_handlers();
        Ok(())
    }

    /// Always `false` while it lives (the core's rule); a consumed one raises.
    #[getter]
    fn poisoned(&self, py: Python<'_>) -> PyResult<bool> {
        let mut guard = lock(py, &self.inner)?;
        Ok(live(py, &mut guard, "JSSandbox", "get_loaded_sandbox")?.poisoned())
    }

    fn handler_names(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let mut guard = lock(py, &self.inner)?;
        Ok(live(py, &mut guard, "JSSandbox", "get_loaded_sandbox")?.handler_names().map(str::to_owned).collect())
    }

    /// Evaluates the handlers (their top level runs, GIL released, raced
    /// against `monitor` if given). On failure this sandbox stays usable.
    #[pyo3(signature = (monitor=None, sigint=false))]
    fn get_loaded_sandbox(
        &self,
        py: Python<'_>,
        monitor: Option<&Bound<'_, PyAny>>,
        sigint: bool,
    ) -> PyResult<LoadedJSSandbox> {
        let race = monitor.map(Race::start).transpose()?;
        let load = || -> PyResult<LoadedJSSandbox> {
            // Before the lock: checking signals runs Python handlers.
            let watchers = watchers(py, race.as_ref(), sigint)?;
            let mut guard = lock(py, &self.inner)?;
            let sandbox = live(py, &mut guard, "JSSandbox", "get_loaded_sandbox")?;
            let sandbox_ref: &core::JSSandbox = sandbox;
            let loaded = py.detach(|| sandbox_ref.get_loaded_sandbox_watched(watchers));
            let loaded = loaded.or_else(|e| failure(py, &self.escape, e))?;
            guard.take();
            Ok(LoadedJSSandbox::new(loaded, self.escape.clone()))
        };
        let loaded = load();
        settle(race, loaded)
    }

    fn interrupt_handle(&self, py: Python<'_>) -> PyResult<InterruptHandle> {
        let mut guard = lock(py, &self.inner)?;
        Ok(InterruptHandle(live(py, &mut guard, "JSSandbox", "get_loaded_sandbox")?.interrupt_handle()))
    }
}

/// `(wall_clock, cpu_time, terminated_by)`, times in seconds: what
/// `hyperlight_js.ExecutionStats` is made from.
type CallStats = (f64, Option<f64>, Option<String>);

#[pyclass(frozen, module = "hyperlight_js._native")]
pub struct LoadedJSSandbox {
    inner: Mutex<Option<core::LoadedJSSandbox>>,
    // Readable while a call holds the lock.
    poisoned: Arc<AtomicBool>,
    interrupt: core::InterruptHandle,
    backend: &'static str,
    escape: Arc<HostEscape>,
}

impl LoadedJSSandbox {
    fn new(loaded: core::LoadedJSSandbox, escape: Arc<HostEscape>) -> Self {
        Self {
            escape,
            poisoned: loaded.poison_flag(),
            interrupt: loaded.interrupt_handle(),
            backend: loaded.backend_name(),
            inner: Mutex::new(Some(loaded)),
        }
    }
}

#[pymethods]
impl LoadedJSSandbox {
    /// Runs handler `name` on `event_json` with the GIL released.
    /// `monitor`: a native monitor or signal, or a (nested) tuple of them, raced.
    /// `sigint`: end the call on Ctrl-C (the caller is the main thread).
    /// `binary`: a `Uint8Array` result comes back as `bytes`, not as the
    /// JSON text `JSON.stringify` writes for it.
    #[pyo3(signature = (name, event_json, gc=None, monitor=None, sigint=false, binary=false))]
    #[allow(clippy::too_many_arguments, reason = "the Python signature, each argument named there")]
    fn call(
        &self,
        py: Python<'_>,
        name: &str,
        event_json: &Bound<'_, PyString>,
        gc: Option<bool>,
        monitor: Option<&Bound<'_, PyAny>>,
        sigint: bool,
        binary: bool,
    ) -> PyResult<Py<PyAny>> {
        let event_json = event_json
            .to_str()
            .map_err(|e| to_py(py, Error::InvalidEvent(format!("the event text cannot be encoded as UTF-8 ({e})"))))?;
        let race = monitor.map(Race::start).transpose()?;
        let call = || -> PyResult<Payload> {
            // Before the lock: checking signals runs Python handlers.
            let watchers = watchers(py, race.as_ref(), sigint)?;
            let mut guard = lock(py, &self.inner)?;
            let sandbox = live(py, &mut guard, "LoadedJSSandbox", "unload")?;
            let options =
                CallOptions { gc, monitor: watchers.monitor, interrupt_on_sigint: watchers.interrupt_on_sigint };
            let result = py.detach(|| sandbox.call_payload(name, event_json, &options));
            drop(guard);
            result.or_else(|e| failure(py, &self.escape, e))
        };
        let result = call();
        settle(race, result).map(|payload| payload_to_py(py, payload, binary))
    }

    fn snapshot(&self, py: Python<'_>) -> PyResult<Snapshot> {
        let mut guard = lock(py, &self.inner)?;
        let sandbox = live(py, &mut guard, "LoadedJSSandbox", "unload")?;
        sandbox.snapshot().map(Snapshot).map_err(|e| to_py(py, e))
    }

    fn restore(&self, py: Python<'_>, snapshot: &Snapshot) -> PyResult<()> {
        let mut guard = lock(py, &self.inner)?;
        let sandbox = live(py, &mut guard, "LoadedJSSandbox", "unload")?;
        py.detach(|| sandbox.restore(&snapshot.0)).map_err(|e| to_py(py, e))
    }

    #[getter]
    fn poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// `(wall_clock, cpu_time, terminated_by)` of the last call, times in
    /// seconds; `None` before any call and after one refused before it ran.
    fn last_call_stats(&self, py: Python<'_>) -> PyResult<Option<CallStats>> {
        let mut guard = lock(py, &self.inner)?;
        let sandbox = live(py, &mut guard, "LoadedJSSandbox", "unload")?;
        Ok(sandbox.last_call_stats().map(|stats| {
            (stats.wall_clock.as_secs_f64(), stats.cpu_time.map(|cpu| cpu.as_secs_f64()), stats.terminated_by.clone())
        }))
    }

    #[getter]
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn interrupt_handle(&self) -> InterruptHandle {
        InterruptHandle(self.interrupt.clone())
    }

    fn unload(&self, py: Python<'_>) -> PyResult<JSSandbox> {
        let mut guard = lock(py, &self.inner)?;
        let sandbox = guard.take().ok_or_else(|| consumed(py, "LoadedJSSandbox", "unload"))?;
        Ok(JSSandbox::new(sandbox.unload(), self.escape.clone()))
    }
}

#[pyclass(frozen, module = "hyperlight_js._native")]
pub struct Snapshot(core::Snapshot);

#[pymethods]
impl Snapshot {
    /// Writes a self-contained, digest-sealed file (GIL released).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.0.save(&path)).map_err(|e| to_py(py, e))
    }

    /// Reads and checks a file `save()` wrote (GIL released).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        py.detach(|| core::Snapshot::load(&path)).map(Self).map_err(|e| to_py(py, e))
    }

    #[getter]
    fn backend(&self) -> &'static str {
        self.0.backend_name()
    }

    #[getter]
    fn heap_size(&self) -> usize {
        self.0.heap_size()
    }

    #[getter]
    fn scratch_size(&self) -> usize {
        self.0.stack_size()
    }

    #[getter(from_file)]
    fn is_from_file(&self) -> bool {
        self.0.from_file()
    }
}

#[pyclass(frozen, module = "hyperlight_js._native")]
pub struct InterruptHandle(core::InterruptHandle);

#[pymethods]
impl InterruptHandle {
    /// Ends the running handler; `False` if none was running. Never blocks
    /// and never needs the GIL, so it is safe from any thread.
    fn kill(&self) -> bool {
        self.0.kill()
    }

    #[getter]
    fn running(&self) -> bool {
        self.0.is_running()
    }
}
