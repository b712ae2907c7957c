use std::future::Future;

use crate::MonitorError;

/// A watcher for one handler call.
///
/// `get_monitor` is deliberately not `async`: its body runs on the thread
/// that will run the guest, before the guest starts, and it returns the
/// future that does the watching on the shared monitor runtime. Return an
/// error if the monitor cannot watch; the handler will then not run.
pub trait ExecutionMonitor: Send + Sync {
    fn get_monitor(&self) -> Result<impl Future<Output = ()> + Send + 'static, MonitorError>;

    /// Reported as the winner in errors, the `monitor_terminations_total`
    /// metric and the `triggered_by` log field.
    fn name(&self) -> &str;
}
