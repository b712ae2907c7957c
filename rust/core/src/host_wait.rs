//! A host function's wait for a result another thread delivers, which a
//! kill of the call ends early.
//!
//! A host function whose work finishes elsewhere (an asyncio coroutine on a
//! loop thread) blocks the guest's thread here instead of in its own
//! language's wait: this wait holds no interpreter lock, and the call's
//! [`InterruptHandle`](crate::InterruptHandle) wakes it the moment the call
//! is killed, so a monitor or `kill()` never waits for the host's work (or
//! for the GIL) to stop a call that is waiting on it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How often a waiting call re-checks what no one wakes it for: a Ctrl-C
/// (the signal handler only counts, it cannot take a lock).
const SIGINT_POLL: Duration = Duration::from_millis(50);

/// One pending host result: completed once, by whoever delivers it.
#[derive(Debug, Default)]
pub struct HostWait {
    completed: Mutex<bool>,
    changed: Condvar,
}

/// How a [`wait_for_host`](crate::InterruptHandle::wait_for_host) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostWaitEnd {
    /// The result was delivered ([`HostWait::complete`]); it wins over a kill
    /// that arrived at the same time, so a delivered result is always taken.
    Completed,
    /// The call was killed (or Ctrl-C ended it) first; the host should stop
    /// the work it was waiting for.
    Killed,
}

impl HostWait {
    /// A wait nothing has completed yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Delivers the result: wakes the waiting call. Any thread; never blocks
    /// for longer than the waiter takes to check its flags.
    pub fn complete(&self) {
        *self.lock() = true;
        self.changed.notify_all();
    }

    /// Whether [`complete`](Self::complete) was called.
    pub fn is_completed(&self) -> bool {
        *self.lock()
    }

    /// Waits for [`complete`](Self::complete) alone: for a call that has no
    /// interrupt handle yet.
    pub fn wait(&self) {
        let mut completed = self.lock();
        while !*completed {
            completed = self.changed.wait(completed).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until completed or `stop()` says the call is over. Wakes on
    /// [`complete`](Self::complete) and [`wake`](Self::wake), and every
    /// [`SIGINT_POLL`] for what cannot wake it.
    pub(crate) fn wait_unless(&self, stop: impl Fn() -> bool) -> HostWaitEnd {
        let mut completed = self.lock();
        loop {
            if *completed {
                return HostWaitEnd::Completed;
            }
            // Checked with the lock held: a kill that lands after this check
            // must take the lock to wake us, which it can only do once we
            // sleep, so its notification cannot be lost.
            if stop() {
                return HostWaitEnd::Killed;
            }
            completed = self.changed.wait_timeout(completed, SIGINT_POLL).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Wakes the waiter so it re-checks whether its call was killed.
    pub(crate) fn wake(&self) {
        drop(self.lock());
        self.changed.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        self.completed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread;

    #[test]
    fn a_completed_wait_returns_at_once_even_if_stopped() {
        let wait = HostWait::new();
        wait.complete();
        assert!(wait.is_completed());
        assert_eq!(wait.wait_unless(|| true), HostWaitEnd::Completed);
        wait.wait();
    }

    #[test]
    fn completion_from_another_thread_wakes_the_waiter() {
        let wait = HostWait::new();
        let other = wait.clone();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            other.complete();
        });
        assert_eq!(wait.wait_unless(|| false), HostWaitEnd::Completed);
        t.join().unwrap();
    }

    #[test]
    fn a_stop_with_a_wake_ends_the_wait() {
        let wait = HostWait::new();
        let stopped = Arc::new(AtomicBool::new(false));
        let (other, flag) = (wait.clone(), stopped.clone());
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            flag.store(true, Ordering::SeqCst);
            other.wake();
        });
        assert_eq!(wait.wait_unless(|| stopped.load(Ordering::SeqCst)), HostWaitEnd::Killed);
        assert!(!wait.is_completed());
        t.join().unwrap();
    }
}
