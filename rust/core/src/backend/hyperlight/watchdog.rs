//! From the sandbox's kill word to the micro-VM's vCPU.
//!
//! The core's kill is one compare-and-swap on the sandbox's call state; a
//! backend's kill hook runs right after it, on whatever thread killed (a
//! monitor's runtime worker, a Python thread, the guest's own thread on
//! Ctrl-C), and must not block. Hyperlight's `InterruptHandle::kill()` does
//! block: it signals the vCPU thread and waits, retrying, until the vCPU has
//! left the guest. And a kill that lands after our call began but before
//! hyperlight enters the VM is forgotten, because hyperlight clears its
//! cancel flag when a call starts.
//!
//! So one watchdog thread does the hyperlight side for every sandbox:
//!
//! - each call into a VM is registered for as long as it runs;
//! - the kill hook only wakes the watchdog, which calls `kill()` on every
//!   registered call whose state says it was killed, and calls it again on
//!   each tick until the call returns (closing the window above);
//! - on each tick it also asks every registered call's state whether a
//!   Ctrl-C arrived (`should_stop`), since no engine polls for it while the
//!   guest runs inside the VM.
//!
//! The thread starts with the first call and sleeps while no call runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use hyperlight_js::InterruptHandle as VmInterrupt;

use crate::interrupt::{CallState, KillHook};

/// How often running calls are checked for a Ctrl-C and re-killed.
const TICK: Duration = Duration::from_millis(5);

struct Watched {
    state: Arc<CallState>,
    vm: Arc<dyn VmInterrupt>,
}

#[derive(Default)]
struct Watchdog {
    calls: Mutex<HashMap<u64, Watched>>,
    wake: Condvar,
    /// Set by the kill hook: act now rather than at the next tick.
    kicked: AtomicBool,
    next_id: AtomicU64,
    started: OnceLock<Result<(), String>>,
}

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: OnceLock<Watchdog> = OnceLock::new();
    WATCHDOG.get_or_init(Watchdog::default)
}

/// Installed on every hyperlight sandbox's call state: it only wakes the
/// watchdog, so it never blocks the killing thread. (The lock is held only
/// for map updates, never while a VM is being killed, and taking it here
/// means the wake-up cannot slip between the watchdog's check and its wait.)
pub(super) fn kill_hook() -> KillHook {
    Arc::new(|| {
        let dog = watchdog();
        let _calls = dog.lock();
        dog.kicked.store(true, Ordering::Release);
        dog.wake.notify_one();
    })
}

/// A call into a VM, watched until this is dropped.
pub(super) struct Registration(u64);

/// Watches one call. Fails only if the watchdog thread cannot be started,
/// in which case the call must not run (it could not be stopped).
pub(super) fn watch(state: &Arc<CallState>, vm: &Arc<dyn VmInterrupt>) -> Result<Registration, String> {
    let dog = watchdog();
    dog.started
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("hyperlight-js-watchdog".into())
                .spawn(|| watchdog().run())
                .map(|_| ())
                .map_err(|e| format!("cannot start the micro-VM watchdog thread: {e}"))
        })
        .clone()?;
    let id = dog.next_id.fetch_add(1, Ordering::Relaxed);
    let was_idle = {
        let mut calls = dog.lock();
        let was_idle = calls.is_empty();
        calls.insert(id, Watched { state: state.clone(), vm: vm.clone() });
        was_idle
    };
    if was_idle {
        // The watchdog sleeps without a timeout while nothing runs.
        dog.wake.notify_one();
    }
    Ok(Registration(id))
}

impl Drop for Registration {
    fn drop(&mut self) {
        watchdog().lock().remove(&self.0);
    }
}

impl Watchdog {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Watched>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        loop {
            // Snapshot the running calls, then act without the lock:
            // `should_stop` may run the kill hook, and `kill()` blocks.
            let running: Vec<(Arc<CallState>, Arc<dyn VmInterrupt>)> =
                self.lock().values().map(|w| (w.state.clone(), w.vm.clone())).collect();
            for (state, vm) in &running {
                if state.should_stop() {
                    vm.kill();
                }
            }
            let calls = self.lock();
            if self.kicked.swap(false, Ordering::AcqRel) {
                continue;
            }
            if calls.is_empty() {
                drop(self.wake.wait(calls).unwrap_or_else(|e| e.into_inner()));
            } else {
                drop(self.wake.wait_timeout(calls, TICK).unwrap_or_else(|e| e.into_inner()));
            }
        }
    }
}
