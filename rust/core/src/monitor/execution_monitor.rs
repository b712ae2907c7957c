use std::future::Future;
use std::time::Duration;

use crate::MonitorError;

/// A watcher for one handler call.
///
/// `get_monitor` is deliberately not `async`: its body runs on the thread
/// that will run the guest, before the guest starts, and it returns the
/// future that does the watching on the shared monitor runtime. Return an
/// error if the monitor cannot watch; the handler will then not run.
pub trait ExecutionMonitor: Send + Sync {
    /// Prepares the watch for one call; the future completes when the call
    /// must end.
    fn get_monitor(&self) -> Result<impl Future<Output = ()> + Send + 'static, MonitorError>;

    /// Reported as the winner in errors, the `monitor_terminations_total`
    /// metric and the `triggered_by` log field.
    fn name(&self) -> &str;

    /// A lower bound on how long after `get_monitor()` the future can
    /// complete, if the monitor knows one (a 5 s wall-clock limit cannot
    /// fire in the first 5 s). The orchestration need not poll a monitor
    /// before then, which is what makes short monitored calls cheap. `None`
    /// (the default) means it may complete at any moment.
    fn earliest_completion(&self) -> Option<Duration> {
        None
    }
}
