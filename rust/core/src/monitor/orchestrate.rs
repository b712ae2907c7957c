//! The kill path: the only code that acts when a monitor completes.
//!
//! The race was built on the calling thread; here it is spawned on the
//! shared runtime against one specific call. When a monitor wins, the winner
//! is written down, the call is killed by compare-and-swap (aimed at this
//! call only, so a late win cannot touch the next call), and only a kill that
//! landed is counted and logged. Nothing here waits for a lock held by the
//! guest's thread, or for the GIL.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::{metrics, runtime, Race, Winner};
use crate::interrupt::{CallId, CallState};
use crate::MonitorError;

/// A running race for one call.
pub(crate) struct Watch {
    task: JoinHandle<()>,
    winner: Arc<Mutex<Option<Winner>>>,
}

/// Checked before the guest starts, so a misconfigured runtime fails the
/// call closed rather than running it unwatched.
pub(crate) fn runtime_ready() -> Result<(), MonitorError> {
    runtime::shared().map(|_| ())
}

pub(crate) fn watch(race: Race, state: Arc<CallState>, call: CallId) -> Result<Watch, MonitorError> {
    let winner = Arc::new(Mutex::new(None));
    let slot = winner.clone();
    let task = runtime::shared()?.spawn(async move {
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
    Ok(Watch { task, winner })
}

impl Watch {
    /// Stops watching; returns the monitor that killed the call, if one did.
    pub(crate) fn finish(self) -> Option<Winner> {
        self.task.abort();
        self.winner.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
