//! A one-shot precise timer on the shared runtime's own reactor (Linux).
//!
//! async-io's timers are driven by a thread of its own, so every kill took
//! one more thread wake-up than needed: timer thread, then runtime worker.
//! That thread is also just one more thread for the OS to schedule: with 256
//! guests spinning on two cores, `perf sched latency` showed it waiting up
//! to 60 ms for a CPU. A timerfd registered with tokio's reactor wakes the
//! runtime worker that will do the kill directly.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

pub(super) struct Timer(AsyncFd<OwnedFd>);

impl Timer {
    /// Must be called on a worker of the shared runtime (it has the reactor).
    pub(super) fn at(deadline: Instant) -> io::Result<Self> {
        // SAFETY: a plain syscall; the descriptor is owned right after.
        let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A zero expiry would disarm the timer rather than fire it.
        let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: wait.as_secs().try_into().unwrap_or(libc::time_t::MAX),
                tv_nsec: wait.subsec_nanos().into(),
            },
        };
        // SAFETY: valid descriptor and a valid, initialised itimerspec.
        if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the AsyncFd owns `fd`, so it stays open, and is the same
        // descriptor, for as long as it is registered.
        Ok(Self(unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?))
    }

    /// Resolves once the deadline has passed.
    pub(super) async fn expired(self) -> io::Result<()> {
        loop {
            let mut ready = self.0.readable().await?;
            let mut expirations = 0u64;
            // SAFETY: reads 8 bytes into a u64 we own.
            let read = unsafe {
                libc::read(self.0.as_raw_fd(), (&mut expirations as *mut u64).cast(), std::mem::size_of::<u64>())
            };
            if read == std::mem::size_of::<u64>() as isize {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::WouldBlock {
                return Err(error);
            }
            ready.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_runtime<T: Send + 'static>(job: impl std::future::Future<Output = T> + Send + 'static) -> T {
        let runtime = super::super::runtime::shared().expect("runtime");
        runtime.block_on(async move { runtime.spawn(job).await.expect("task") })
    }

    #[test]
    fn never_fires_before_its_deadline() {
        for wait_ms in [0u64, 1, 5] {
            let (elapsed, precise) = on_runtime(async move {
                let start = Instant::now();
                let timer = Timer::at(start + Duration::from_millis(wait_ms)).expect("timerfd");
                timer.expired().await.expect("expired");
                (start.elapsed(), super::super::runtime::on_worker())
            });
            assert!(precise, "a spawned task runs on a worker");
            assert!(elapsed >= Duration::from_millis(wait_ms), "{elapsed:?} < {wait_ms} ms");
            assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        }
    }

    #[test]
    fn a_deadline_in_the_past_fires_at_once() {
        let elapsed = on_runtime(async {
            let start = Instant::now();
            let past = start.checked_sub(Duration::from_millis(10)).unwrap_or(start);
            Timer::at(past).expect("timerfd").expired().await.expect("expired");
            start.elapsed()
        });
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    }
}
