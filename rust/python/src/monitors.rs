//! Monitors as Python objects, and the race of one call.
//!
//! The two built-in monitors are the core's. A monitor written in Python is
//! represented here by a [`MonitorSignal`]: the Python package runs the
//! monitor's awaitable on its own asyncio loop and calls `fire()` when it
//! completes. The tokio side only waits on the signal, so no runtime worker
//! ever waits for the GIL and the kill path stays GIL-free.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyperlight_js_core::monitor::{self, ExecutionMonitor, MonitorList};
use hyperlight_js_core::MonitorError;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyList, PyTuple};
use tokio::sync::Notify;

/// Seconds as a number or a `datetime.timedelta`.
fn duration(what: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let seconds: f64 = if value.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!("{what} must be seconds or a datetime.timedelta, not bool")));
    } else if let Ok(seconds) = value.extract::<f64>() {
        seconds
    } else if value.hasattr("total_seconds")? {
        value.call_method0("total_seconds")?.extract()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be seconds (a number) or a datetime.timedelta, not {}",
            value.get_type().name()?
        )));
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a finite number of seconds greater than zero, got {seconds}"
        )));
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

#[pyclass(frozen, module = "hyperlight_js._native")]
pub struct WallClockMonitor(monitor::WallClockMonitor);

#[pymethods]
impl WallClockMonitor {
    #[new]
    fn new(timeout: &Bound<'_, PyAny>) -> PyResult<Self> {
        let limit = duration("wall-clock timeout", timeout)?;
        Ok(Self(monitor::WallClockMonitor::new(limit).map_err(|e| PyValueError::new_err(e.to_string()))?))
    }

    #[getter]
    fn name(&self) -> &str {
        self.0.name()
    }

    #[getter]
    fn timeout(&self) -> f64 {
        self.0.timeout().as_secs_f64()
    }

    fn __repr__(&self) -> String {
        format!("WallClockMonitor(timeout={})", self.timeout())
    }
}

#[pyclass(frozen, module = "hyperlight_js._native")]
pub struct CpuTimeMonitor(monitor::CpuTimeMonitor);

#[pymethods]
impl CpuTimeMonitor {
    #[new]
    fn new(budget: &Bound<'_, PyAny>) -> PyResult<Self> {
        let limit = duration("CPU-time budget", budget)?;
        Ok(Self(monitor::CpuTimeMonitor::new(limit).map_err(|e| PyValueError::new_err(e.to_string()))?))
    }

    #[getter]
    fn name(&self) -> &str {
        self.0.name()
    }

    #[getter]
    fn budget(&self) -> f64 {
        self.0.budget().as_secs_f64()
    }

    fn __repr__(&self) -> String {
        format!("CpuTimeMonitor(budget={})", self.budget())
    }
}

/// Completion of one Python monitor's awaitable, for one call.
#[pyclass(frozen, module = "hyperlight_js._native")]
pub struct MonitorSignal {
    name: String,
    fired: Arc<Notify>,
}

#[pymethods]
impl MonitorSignal {
    #[new]
    fn new(name: String) -> PyResult<Self> {
        if name.is_empty() {
            return Err(PyValueError::new_err("a monitor's name must be a non-empty string"));
        }
        Ok(Self { name, fired: Arc::new(Notify::new()) })
    }

    /// Marks the monitor as completed: the call it watches is terminated.
    fn fire(&self) {
        // notify_one keeps a permit if the race is not waiting yet.
        self.fired.notify_one();
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }
}

struct SignalMonitor {
    name: String,
    fired: Arc<Notify>,
}

impl ExecutionMonitor for SignalMonitor {
    fn get_monitor(&self) -> Result<impl Future<Output = ()> + Send + 'static, MonitorError> {
        let fired = self.fired.clone();
        Ok(async move { fired.notified().await })
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// Starts the Python monitors of a call: the package's `StartedMonitors`,
/// handed over once at init. Called with the list of monitors that are not
/// native; the object it returns has `signals` (one `MonitorSignal` each,
/// raced here) and `close(error)`, called once the call is over.
static START_PYTHON: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub(crate) fn register(py: Python<'_>, start_python: Py<PyAny>) -> PyResult<()> {
    START_PYTHON
        .set(py, start_python)
        .map_err(|_| PyRuntimeError::new_err("hyperlight_js._native is already initialised"))
}

/// The monitors of one call, sorted in one walk of the spec: the native
/// ones go straight into the race, so the common case never leaves Rust;
/// the Python ones are started by the package and stand in the race as
/// signals.
pub(crate) struct Race<'py> {
    pub(crate) list: MonitorList,
    python: Option<Bound<'py, PyAny>>,
}

impl<'py> Race<'py> {
    /// Builds the race from one monitor or a (nested) tuple or list of
    /// monitors; every tuple must hold at least one.
    pub(crate) fn start(spec: &Bound<'py, PyAny>) -> PyResult<Self> {
        let mut list = MonitorList::new();
        let mut python = Vec::new();
        collect(spec, &mut list, &mut python)?;
        if python.is_empty() {
            return Ok(Self { list, python: None });
        }
        let py = spec.py();
        let start = START_PYTHON.get(py).ok_or_else(|| {
            PyRuntimeError::new_err("hyperlight_js._native was used before the hyperlight_js package initialised it")
        })?;
        let started = start.bind(py).call1((PyList::new(py, python)?,))?;
        let mut race = Self { list, python: Some(started.clone()) };
        // From here on the Python monitors run: any failure settles them.
        let add = |list: &mut MonitorList| -> PyResult<()> {
            for signal in started.getattr("signals")?.try_iter()? {
                let signal = signal?;
                let signal = signal.cast::<MonitorSignal>()?.get();
                list.push(SignalMonitor { name: signal.name.clone(), fired: signal.fired.clone() });
            }
            Ok(())
        };
        match add(&mut race.list) {
            Ok(()) => Ok(race),
            Err(err) => race.settle(Err(err)),
        }
    }

    /// Ends the call's Python monitors. A Python monitor that won by
    /// raising replaces the `ExecutionCancelled` with one whose cause is
    /// what it raised.
    pub(crate) fn settle<T>(self, result: PyResult<T>) -> PyResult<T> {
        let Some(started) = self.python else { return result };
        let py = started.py();
        let error = result.as_ref().err().map(|e| e.value(py).clone());
        let replaced = started.call_method1("close", (error,))?;
        if replaced.is_none() {
            result
        } else {
            Err(PyErr::from_value(replaced))
        }
    }
}

/// Settles the race of a call that had a monitor.
pub(crate) fn settle<T>(race: Option<Race<'_>>, result: PyResult<T>) -> PyResult<T> {
    match race {
        Some(race) => race.settle(result),
        None => result,
    }
}

fn empty() -> PyErr {
    PyValueError::new_err("a monitor tuple must contain at least one monitor")
}

fn collect<'py>(item: &Bound<'py, PyAny>, list: &mut MonitorList, python: &mut Vec<Bound<'py, PyAny>>) -> PyResult<()> {
    if let Ok(m) = item.cast::<WallClockMonitor>() {
        list.push(m.get().0.clone());
    } else if let Ok(m) = item.cast::<CpuTimeMonitor>() {
        list.push(m.get().0.clone());
    } else if let Ok(s) = item.cast::<MonitorSignal>() {
        let s = s.get();
        list.push(SignalMonitor { name: s.name.clone(), fired: s.fired.clone() });
    } else if let Ok(tuple) = item.cast::<PyTuple>() {
        if tuple.is_empty() {
            return Err(empty());
        }
        for member in tuple.iter() {
            collect(&member, list, python)?;
        }
    } else if let Ok(items) = item.cast::<PyList>() {
        if items.is_empty() {
            return Err(empty());
        }
        for member in items.iter() {
            collect(&member, list, python)?;
        }
    } else {
        // The package checks that it is an ExecutionMonitor.
        python.push(item.clone());
    }
    Ok(())
}

#[pyfunction]
pub fn monitor_terminations() -> BTreeMap<String, u64> {
    monitor::metrics::monitor_terminations()
}

/// The lifecycle gauges and counters: `(name, value, is a gauge)`.
#[pyfunction]
pub fn lifecycle_metrics() -> Vec<(&'static str, u64, bool)> {
    hyperlight_js_core::sandbox::metrics::lifecycle_metrics()
}

#[pyfunction]
pub fn monitor_thread_count() -> Option<usize> {
    monitor::monitor_thread_count()
}

/// The OS API behind `CpuTimeMonitor` here; raises if there is none.
#[pyfunction]
pub fn cpu_clock_support() -> PyResult<String> {
    monitor::cpu_clock_support().map_err(pyo3::exceptions::PyOSError::new_err)
}
