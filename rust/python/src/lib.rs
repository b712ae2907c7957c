//! `hyperlight_js._native`: the PyO3 face of `hyperlight-js-core`.
//!
//! Deliberately thin: conversions, exceptions, and releasing the GIL while a
//! guest runs. The ergonomics (builders, JSON conversion, Python monitors,
//! asyncio) live in the `hyperlight_js` Python package.

mod errors;
mod host;
mod monitors;
mod payload;
mod sandbox;

use pyo3::prelude::*;

/// Every backend, strongest isolation first: (name, rank, compiled into
/// this build, isolated from the host, None if it runs here or the reason
/// it cannot). Probing may start and discard a guest.
#[pyfunction]
fn backends(py: Python<'_>) -> Vec<(&'static str, u8, bool, bool, Option<String>)> {
    py.detach(|| {
        hyperlight_js_core::backend::registry()
            .iter()
            .map(|d| {
                (
                    d.name,
                    d.rank,
                    d.compiled_in(),
                    d.isolation.is_isolated(),
                    d.availability().err().map(|r| r.to_string()),
                )
            })
            .collect()
    })
}

/// Called once by the package as it is imported: the exception classes of
/// `hyperlight_js.errors`, and the callable that starts a call's Python
/// monitors (`hyperlight_js._bridge.StartedMonitors`).
#[pyfunction]
fn init(py: Python<'_>, errors: &Bound<'_, PyAny>, start_python_monitors: Py<PyAny>) -> PyResult<()> {
    errors::register(py, errors)?;
    monitors::register(py, start_python_monitors)
}

/// The backend a load with this choice would use (`"auto"` included).
#[pyfunction]
fn resolve_backend(py: Python<'_>, name: &str) -> PyResult<&'static str> {
    let choice: hyperlight_js_core::backend::BackendChoice = name.parse().map_err(|e| errors::to_py(py, e))?;
    py.detach(|| choice.resolve()).map(|d| d.name).map_err(|e| errors::to_py(py, e))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<sandbox::Script>()?;
    m.add_class::<sandbox::SandboxBuilder>()?;
    m.add_class::<sandbox::ProtoJSSandbox>()?;
    m.add_class::<sandbox::JSSandbox>()?;
    m.add_class::<sandbox::LoadedJSSandbox>()?;
    m.add_class::<sandbox::Snapshot>()?;
    m.add_class::<sandbox::InterruptHandle>()?;
    m.add_class::<monitors::WallClockMonitor>()?;
    m.add_class::<monitors::CpuTimeMonitor>()?;
    m.add_class::<monitors::MonitorSignal>()?;
    m.add_function(wrap_pyfunction!(monitors::monitor_terminations, m)?)?;
    m.add_function(wrap_pyfunction!(monitors::monitor_thread_count, m)?)?;
    m.add_function(wrap_pyfunction!(monitors::lifecycle_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(monitors::cpu_clock_support, m)?)?;
    m.add_function(wrap_pyfunction!(backends, m)?)?;
    m.add_function(wrap_pyfunction!(init, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_backend, m)?)?;
    m.add("MONITOR_THREADS_ENV", hyperlight_js_core::monitor::THREADS_ENV)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
