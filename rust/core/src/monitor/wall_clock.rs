use std::future::Future;
use std::time::{Duration, Instant};

use super::{positive_duration, ExecutionMonitor};
use crate::MonitorError;

/// Ends a call once it has run for `timeout` of real time, whatever it was
/// doing: computing, or waiting in a host function.
#[derive(Debug, Clone)]
pub struct WallClockMonitor {
    timeout: Duration,
}

impl WallClockMonitor {
    /// A monitor with this timeout; a zero timeout is refused.
    pub fn new(timeout: Duration) -> crate::Result<Self> {
        Ok(Self { timeout: positive_duration("wall-clock timeout", timeout)? })
    }

    /// The real time a call may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl ExecutionMonitor for WallClockMonitor {
    fn get_monitor(&self) -> Result<impl Future<Output = ()> + Send + 'static, MonitorError> {
        // The deadline is fixed here, before the guest starts, so time spent
        // getting the task onto the runtime counts against the call.
        // A limit too far away to represent as an instant can never fire.
        let deadline = Instant::now().checked_add(self.timeout);
        Ok(async move {
            match deadline {
                Some(deadline) => super::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        })
    }

    fn name(&self) -> &str {
        "wall-clock"
    }

    fn earliest_completion(&self) -> Option<Duration> {
        Some(self.timeout)
    }
}
