//! The kill path: the only code that acts when a monitor completes.
//!
//! The race was built on the calling thread; here it is put on the shared
//! runtime against one specific call. When a monitor wins, the winner is
//! written down, the call is killed by compare-and-swap (aimed at this call
//! only, so a late win cannot touch the next call), and only a kill that
//! landed is counted and logged. Nothing here waits for a lock held by the
//! guest's thread, or for the GIL.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::launcher::{self, Launch};
use super::{metrics, runtime, MonitorSet, Race, Winner};
use crate::interrupt::{CallId, CallState};
use crate::MonitorError;

/// How long before the earliest possible completion a deferred race is put
/// on the runtime: covers the launcher's own timer granularity (1 ms) and
/// the hop onto a worker, so the race is always being polled in time.
const LAUNCH_LEAD: Duration = Duration::from_millis(3);

/// A race on its way to, or on, the runtime for one call.
pub(crate) struct Watch {
    launch: Arc<Launch>,
    winner: Arc<Mutex<Option<Winner>>>,
}

/// Checked before the guest starts, so a misconfigured runtime fails the
/// call closed rather than running it unwatched.
pub(crate) fn runtime_ready() -> Result<(), MonitorError> {
    runtime::shared().map(|_| ())
}

/// `started` is when the monitors' `get_monitor()` ran.
pub(crate) fn watch(
    monitors: &dyn MonitorSet,
    started: Instant,
    race: Race,
    state: Arc<CallState>,
    call: CallId,
) -> Result<Watch, MonitorError> {
    let runtime = runtime::shared()?;
    let winner = Arc::new(Mutex::new(None));
    let slot = winner.clone();
    let job = Box::pin(async move {
        let won = race.await;
        let name = won.name.clone();
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(won);
        if state.kill_call(call) {
            metrics::record_termination(&name);
            tracing::warn!(triggered_by = %name, "execution monitor terminated the handler");
        } else {
            // The call ended (or was killed by someone else) first.
            slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
    });
    let launch = match monitors.earliest_completion() {
        Some(quiet) if quiet > LAUNCH_LEAD * 2 => launcher::spawn_at(runtime, job, started + quiet - LAUNCH_LEAD),
        _ => launcher::spawn_now(runtime, job),
    };
    Ok(Watch { launch, winner })
}

impl Watch {
    /// Stops watching; returns the monitor that killed the call, if one did.
    pub(crate) fn finish(self) -> Option<Winner> {
        self.launch.cancel();
        self.winner.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
