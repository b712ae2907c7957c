//! Execution monitors: watchers that end a handler which runs too long.
//!
//! The design follows hyperlight-js. A monitor is split in two phases:
//! [`ExecutionMonitor::get_monitor`] runs synchronously on the thread that is
//! about to run the guest (so it can capture that thread's CPU clock), and the
//! future it returns runs on one shared tokio runtime. The future staying
//! pending means "all is well"; the future completing means "terminate".
//! Monitors never kill anything themselves: the orchestration owns the single
//! kill path, so there is exactly one place that decides, counts and logs a
//! termination.
//!
//! Several monitors are raced with OR semantics through the sealed
//! [`MonitorSet`]: a single monitor, a tuple of up to five, or a
//! [`MonitorList`] of any length (what the Python binding builds from a
//! Python tuple). If any of them fails to start, the handler does not run:
//! an unmonitored run is never the fallback.

#[cfg(feature = "monitor-cpu-time")]
mod cpu_time;
mod execution_monitor;
mod launcher;
pub mod metrics;
mod monitor_set;
mod orchestrate;
pub(crate) mod runtime;
mod sleep;
mod stats;
#[cfg(target_os = "linux")]
mod timerfd;
#[cfg(feature = "monitor-wall-clock")]
mod wall_clock;

#[cfg(feature = "monitor-cpu-time")]
pub use cpu_time::{cpu_clock_support, CpuTimeMonitor};
pub use execution_monitor::ExecutionMonitor;
pub use monitor_set::{MonitorList, MonitorSet, Race, Winner};
pub use orchestrate::Watchers;
pub(crate) use orchestrate::{run_measured, run_watched};
pub use runtime::{monitor_thread_count, THREADS_ENV};
pub use sleep::{sleep, sleep_until};
pub use stats::ExecutionStats;
#[cfg(feature = "monitor-wall-clock")]
pub use wall_clock::WallClockMonitor;

/// Checks a limit given by a caller: finite and strictly positive.
#[cfg(any(feature = "monitor-wall-clock", feature = "monitor-cpu-time"))]
pub(crate) fn positive_duration(what: &str, value: std::time::Duration) -> Result<std::time::Duration, crate::Error> {
    if value.is_zero() {
        return Err(crate::Error::InvalidArgument(format!("{what} must be greater than zero")));
    }
    Ok(value)
}
