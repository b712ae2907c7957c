//! The one kill path shared by every backend.
//!
//! All the state lives in a single atomic word: a call sequence number and
//! two bits, "a call is running" and "that call was killed". Putting the
//! sequence number in the same word is what makes a late kill harmless: a
//! monitor that fires just as its call returns compares-and-swaps against
//! *its* call's number and cannot touch the next call. Killing is one CAS,
//! so it never waits on a lock, a runtime or the GIL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::host_wait::{HostWait, HostWaitEnd};

const RUNNING: u64 = 1;
const KILLED: u64 = 2;
const FLAGS: u64 = RUNNING | KILLED;
const SEQ_STEP: u64 = 4;

/// What a backend must do, beyond the flag, to stop a running guest (e.g.
/// bump wasmtime's epoch, or kill a micro-VM's vCPU).
pub(crate) type KillHook = Arc<dyn Fn() + Send + Sync>;

pub(crate) struct CallState {
    word: AtomicU64,
    /// The SIGINT count when the running call started, or `NOT_WATCHING`.
    sigint_mark: AtomicU64,
    /// Set by the backend when it loads; the lock is only ever held to swap
    /// or clone the Arc, never while calling it.
    kill_hook: Mutex<Option<KillHook>>,
    /// The host result the running call is blocked on, woken by a kill.
    /// Like the hook, the lock is only held to swap or clone the Arc.
    host_wait: Mutex<Option<Arc<HostWait>>>,
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState").field("word", &self.word).finish_non_exhaustive()
    }
}

const NOT_WATCHING: u64 = u64::MAX;

impl Default for CallState {
    fn default() -> Self {
        Self {
            word: AtomicU64::new(0),
            sigint_mark: AtomicU64::new(NOT_WATCHING),
            kill_hook: Mutex::new(None),
            host_wait: Mutex::new(None),
        }
    }
}

/// Identifies one call on one sandbox, so a kill aimed at it cannot land on
/// a later call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallId(u64);

impl CallState {
    /// Marks a new call as running. Only the holder of the sandbox's lock
    /// calls this, so there is never more than one call per state.
    pub(crate) fn begin(&self) -> CallId {
        let seq = (self.word.load(Ordering::Acquire) & !FLAGS).wrapping_add(SEQ_STEP);
        self.word.store(seq | RUNNING, Ordering::Release);
        CallId(seq)
    }

    /// Marks the call finished; returns whether it was killed.
    pub(crate) fn end(&self) -> bool {
        self.sigint_mark.store(NOT_WATCHING, Ordering::Relaxed);
        self.word.fetch_and(!FLAGS, Ordering::AcqRel) & KILLED != 0
    }

    /// Makes the running call end on any Ctrl-C after `mark`.
    pub(crate) fn watch_sigint(&self, mark: crate::sigint::Mark) {
        self.sigint_mark.store(mark.0, Ordering::Relaxed);
    }

    /// Whether a Ctrl-C arrived during the watched call.
    pub(crate) fn sigint_arrived(&self) -> bool {
        let mark = self.sigint_mark.load(Ordering::Relaxed);
        mark != NOT_WATCHING && crate::sigint::count() != mark
    }

    /// Polled by the engines while they run guest code.
    pub(crate) fn should_stop(&self) -> bool {
        if self.is_killed() {
            return true;
        }
        self.sigint_arrived() && self.kill_current()
    }

    pub(crate) fn is_killed(&self) -> bool {
        self.word.load(Ordering::Relaxed) & KILLED != 0
    }

    /// Kills `call` if it is still the running call.
    pub(crate) fn kill_call(&self, call: CallId) -> bool {
        self.kill_where(|word| word & !FLAGS == call.0)
    }

    /// Kills whatever call is running.
    pub(crate) fn kill_current(&self) -> bool {
        self.kill_where(|_| true)
    }

    /// Installs what kills a running guest of the current backend.
    #[allow(dead_code)] // used by the backends behind the `wasm` and `hyperlight` features
    pub(crate) fn set_kill_hook(&self, hook: Option<KillHook>) {
        *self.kill_hook.lock().unwrap_or_else(|e| e.into_inner()) = hook;
    }

    fn kill_where(&self, is_target: impl Fn(u64) -> bool) -> bool {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            if word & RUNNING == 0 || !is_target(word) {
                return false;
            }
            if word & KILLED != 0 {
                return true;
            }
            match self.word.compare_exchange_weak(word, word | KILLED, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    crate::make_way::kill_landed();
                    let hook = self.kill_hook.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    if let Some(hook) = hook {
                        hook();
                    }
                    let waiting = self.host_wait.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    if let Some(waiting) = waiting {
                        waiting.wake();
                    }
                    return true;
                }
                Err(now) => word = now,
            }
        }
    }
}

/// Ends the handler a sandbox is running, from any thread.
///
/// It stays valid across `restore()` and `unload()`: it belongs to the
/// sandbox, not to one engine instance.
#[derive(Debug, Clone)]
pub struct InterruptHandle {
    pub(crate) state: Arc<CallState>,
}

impl InterruptHandle {
    pub(crate) fn new() -> Self {
        Self { state: Arc::new(CallState::default()) }
    }

    /// Kills the running call. Returns `false` when no call was running, in
    /// which case nothing happens: a kill never carries over to a later call.
    pub fn kill(&self) -> bool {
        self.state.kill_current()
    }

    /// Blocks the running call's thread until `wait` is completed or the call
    /// is killed (by a monitor, [`kill`](Self::kill), or a watched Ctrl-C),
    /// whichever comes first; a result delivered by then is always taken.
    ///
    /// For host functions whose result is produced on another thread: the
    /// kill wakes this wait directly (no lock of the host's is taken), and
    /// the host then stops the work it was waiting for. Called outside a
    /// call, it waits for the result alone.
    pub fn wait_for_host(&self, wait: &Arc<HostWait>) -> HostWaitEnd {
        let state = &self.state;
        let previous = state.host_wait.lock().unwrap_or_else(|e| e.into_inner()).replace(wait.clone());
        // Not `should_stop()`: that kills on a Ctrl-C, and the kill wakes
        // this very wait, whose lock `wait_unless` holds while it checks.
        let end = wait.wait_unless(|| state.is_killed() || state.sigint_arrived());
        *state.host_wait.lock().unwrap_or_else(|e| e.into_inner()) = previous;
        if end == HostWaitEnd::Killed {
            // A Ctrl-C only stopped the wait: kill the call for it now, with
            // no lock held, so the call ends cancelled whatever the guest
            // does with the host function's error.
            state.should_stop();
        }
        end
    }

    /// Whether a call (or a load's top-level code) is running now.
    pub fn is_running(&self) -> bool {
        self.state.word.load(Ordering::Relaxed) & RUNNING != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_without_a_call_is_a_no_op() {
        let s = CallState::default();
        assert!(!s.kill_current());
        let id = s.begin();
        assert!(!s.is_killed());
        assert!(!s.end());
        assert!(!s.kill_call(id));
    }

    #[test]
    fn a_late_kill_cannot_reach_the_next_call() {
        let s = CallState::default();
        let first = s.begin();
        assert!(!s.end());
        let second = s.begin();
        assert!(!s.kill_call(first));
        assert!(!s.is_killed());
        assert!(s.kill_call(second));
        assert!(s.is_killed());
        assert!(s.end());
        assert!(!s.is_killed());
    }

    #[test]
    fn a_kill_ends_a_host_wait_and_a_result_ends_it_first() {
        use std::time::{Duration, Instant};
        let handle = InterruptHandle::new();
        handle.state.begin();
        let wait = HostWait::new();
        let killer = handle.clone();
        let started = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            assert!(killer.kill());
        });
        assert_eq!(handle.wait_for_host(&wait), HostWaitEnd::Killed);
        // Woken by the kill, not by the Ctrl-C poll's period or a result.
        assert!(started.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
        assert!(handle.state.host_wait.lock().unwrap().is_none());
        assert!(handle.state.end());

        // A result delivered before the kill is still taken.
        handle.state.begin();
        let wait = HostWait::new();
        wait.complete();
        assert!(handle.kill());
        assert_eq!(handle.wait_for_host(&wait), HostWaitEnd::Completed);
        assert!(handle.state.end());
    }

    #[test]
    fn a_kill_before_the_wait_begins_is_not_lost() {
        let handle = InterruptHandle::new();
        handle.state.begin();
        assert!(handle.kill());
        assert_eq!(handle.wait_for_host(&HostWait::new()), HostWaitEnd::Killed);
        assert!(handle.state.end());
    }

    #[test]
    fn a_ctrl_c_ends_a_host_wait() {
        let handle = InterruptHandle::new();
        let mark = crate::sigint::Mark(crate::sigint::count());
        handle.state.begin();
        handle.state.watch_sigint(mark);
        let t = std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            crate::sigint::count_one_for_tests();
        });
        assert_eq!(handle.wait_for_host(&HostWait::new()), HostWaitEnd::Killed);
        t.join().unwrap();
        assert!(handle.state.is_killed());
        assert!(handle.state.end());
    }

    #[test]
    fn a_ctrl_c_between_the_mark_and_the_call_still_ends_it() {
        let s = CallState::default();
        let mark = crate::sigint::Mark(crate::sigint::count());
        crate::sigint::count_one_for_tests();
        s.begin();
        s.watch_sigint(mark);
        assert!(s.should_stop());
        assert!(s.end());
        // Once the call is over, the mark is gone with it.
        s.begin();
        assert!(!s.should_stop());
        assert!(!s.end());
    }
}
