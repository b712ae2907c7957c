//! The kill path: the only code that acts when a monitor completes.
//!
//! The race was built on the calling thread; here it is put on the shared
//! runtime against one specific call. When a monitor wins, the winner is
//! written down, the call is killed by compare-and-swap (aimed at this call
//! only, so a late win cannot touch the next call), and only a kill that
//! landed is counted and logged. Nothing here waits for a lock held by the
//! guest's thread, or for the GIL.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::launcher::{self, Launch};
use super::stats::{CallClock, ExecutionStats};
use super::{metrics, runtime, MonitorSet, Race, Winner};
use crate::error::{Error, Result};
use crate::interrupt::{CallId, CallState};
use crate::MonitorError;

/// How guest code is watched while it runs.
#[derive(Default, Clone, Copy)]
pub struct Watchers<'a> {
    /// Race these monitors against the guest.
    pub monitor: Option<&'a dyn MonitorSet>,
    /// End the guest on any Ctrl-C after this mark (for code on the host's
    /// main thread).
    pub interrupt_on_sigint: Option<crate::sigint::Mark>,
}

/// Runs guest code (`body`) as one call on `state`: monitors started on this
/// thread first (fail closed), the race on the runtime while `body` runs, a
/// panic contained as an internal error, and a killed call reported as
/// cancelled whatever `body` returned.
pub(crate) fn run_watched<T>(
    state: &Arc<CallState>,
    watchers: Watchers<'_>,
    body: impl FnOnce() -> Result<T>,
) -> Result<T> {
    run_measured(state, watchers, false, body).0
}

/// [`run_watched`], with the call's [`ExecutionStats`]: `Some` once `body`
/// ran (whatever its outcome), `None` if the call failed before it could
/// (a monitor that did not start). The CPU time is measured on monitored
/// calls, and on the others if `cpu_time` says so.
pub(crate) fn run_measured<T>(
    state: &Arc<CallState>,
    watchers: Watchers<'_>,
    cpu_time: bool,
    body: impl FnOnce() -> Result<T>,
) -> (Result<T>, Option<ExecutionStats>) {
    let started = Instant::now();
    let race = match watchers.monitor {
        Some(monitor) => match runtime_ready().and_then(|()| monitor.start_race()) {
            Ok(race) => Some((monitor, race)),
            Err(e) => return (Err(e.into()), None),
        },
        None => None,
    };
    let call = state.begin();
    if let Some(mark) = watchers.interrupt_on_sigint {
        state.watch_sigint(mark);
    }
    let watch = match race.map(|(set, race)| watch(set, started, race, state.clone(), call)).transpose() {
        Ok(watch) => watch,
        Err(e) => {
            state.end();
            return (Err(e.into()), None);
        }
    };
    // Unmonitored, `started` is as good as a new reading (only the call's
    // bookkeeping ran since) and saves one on the cheapest path.
    let clock = match watch {
        Some(_) => CallClock::start(true, Instant::now()),
        None => CallClock::start(cpu_time, started),
    };
    let outcome =
        catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| Err(Error::Internal(panic_message(&*panic))));
    let winner = watch.and_then(Watch::finish).map(|w| w.name);
    let by_signal = state.sigint_arrived();
    if state.end() {
        let stats = clock.stop(winner.clone());
        return (Err(Error::Cancelled { monitor: winner, by_signal }), Some(stats));
    }
    (outcome, Some(clock.stop(None)))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

/// How long before the earliest possible completion a deferred race is put
/// on the runtime: covers the launcher's own timer granularity (1 ms) and
/// the hop onto a worker, so the race is always being polled in time.
const LAUNCH_LEAD: Duration = Duration::from_millis(3);

/// A race on its way to, or on, the runtime for one call.
struct Watch {
    launch: Arc<Launch>,
    winner: Arc<Mutex<Option<Winner>>>,
}

/// Checked before the guest starts, so a misconfigured runtime fails the
/// call closed rather than running it unwatched.
fn runtime_ready() -> Result<(), MonitorError> {
    runtime::shared().map(|_| ())
}

/// `started` is when the monitors' `get_monitor()` ran.
fn watch(
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
        Some(quiet) if quiet > LAUNCH_LEAD * 2 => match started.checked_add(quiet - LAUNCH_LEAD) {
            Some(at) => launcher::spawn_at(runtime, job, at),
            // No monitor can complete within any representable time.
            None => launcher::never(job),
        },
        _ => launcher::spawn_now(runtime, job),
    };
    Ok(Watch { launch, winner })
}

impl Watch {
    /// Stops watching; returns the monitor that killed the call, if one did.
    fn finish(self) -> Option<Winner> {
        self.launch.cancel();
        self.winner.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
