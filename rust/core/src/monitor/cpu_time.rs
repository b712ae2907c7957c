//! CPU time used by the thread that runs the guest.
//!
//! The clock must be the guest thread's own, and only that thread can name
//! it (`pthread_getcpuclockid(pthread_self())`, or a real handle from
//! `GetCurrentThread`), which is why it is captured in `get_monitor`. The
//! watching future then samples it from the runtime. One thread cannot use
//! CPU time faster than real time passes, so it sleeps for the whole
//! remaining budget: the first wake-up is the earliest moment the budget can
//! be spent, and each later one makes up for time the thread spent off the
//! CPU. A full-speed guest is therefore caught within one timer's lateness.
//! The floor between samples keeps a guest that is rarely scheduled (or a
//! clock that only ticks coarsely, as Windows' does every 15.6 ms) from
//! turning the watch into a busy loop. A guest that used no CPU at all since
//! the last sample (blocked in a host function, say) is sampled less and
//! less often, up to `IDLE_POLL_MAX`: once it runs again it is caught within
//! that, and meanwhile the watch costs a few hundred wake-ups a second, not
//! thousands.

use std::future::Future;
use std::time::Duration;

use super::{positive_duration, ExecutionMonitor};
use crate::MonitorError;

#[cfg(not(windows))]
const MIN_POLL: Duration = Duration::from_micros(100);
#[cfg(windows)]
const MIN_POLL: Duration = Duration::from_millis(1);
const IDLE_POLL_MAX: Duration = Duration::from_millis(2);

#[derive(Debug, Clone)]
pub struct CpuTimeMonitor {
    budget: Duration,
}

impl CpuTimeMonitor {
    pub fn new(budget: Duration) -> crate::Result<Self> {
        Ok(Self { budget: positive_duration("CPU-time budget", budget)? })
    }

    pub fn budget(&self) -> Duration {
        self.budget
    }
}

impl ExecutionMonitor for CpuTimeMonitor {
    fn get_monitor(&self) -> Result<impl Future<Output = ()> + Send + 'static, MonitorError> {
        let clock = thread_clock::ThreadCpuClock::current()
            .map_err(|reason| MonitorError { monitor: self.name().into(), reason })?;
        let start = clock.now();
        let budget = self.budget;
        Ok(async move {
            let mut previous = None;
            let mut floor = MIN_POLL;
            loop {
                // A clock that cannot be read any more counts as spent:
                // failing closed beats an unwatched guest.
                let used = match (clock.now(), start) {
                    (Some(now), Some(start)) => now.saturating_sub(start),
                    _ => return,
                };
                if used >= budget {
                    return;
                }
                floor = if previous == Some(used) { (floor * 2).min(IDLE_POLL_MAX) } else { MIN_POLL };
                previous = Some(used);
                super::sleep((budget - used).max(floor)).await;
            }
        })
    }

    fn name(&self) -> &str {
        "cpu-time"
    }

    /// One thread cannot use CPU time faster than real time passes.
    fn earliest_completion(&self) -> Option<Duration> {
        Some(self.budget)
    }
}

/// Whether this platform has per-thread CPU clocks, and which API they use.
pub fn cpu_clock_support() -> Result<&'static str, String> {
    thread_clock::ThreadCpuClock::current().map(|_| thread_clock::API)
}

#[cfg(unix)]
mod thread_clock {
    use std::time::Duration;

    pub const API: &str = "pthread_getcpuclockid";

    pub struct ThreadCpuClock(libc::clockid_t);

    impl ThreadCpuClock {
        pub fn current() -> Result<Self, String> {
            let mut clock: libc::clockid_t = 0;
            // SAFETY: pthread_self() is always a valid thread of this process.
            let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
            if rc != 0 {
                return Err(format!("pthread_getcpuclockid failed: {}", std::io::Error::from_raw_os_error(rc)));
            }
            Ok(Self(clock))
        }

        pub fn now(&self) -> Option<Duration> {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: `ts` is a valid out-pointer; a stale clock id only
            // makes the call fail, which we report as None.
            let rc = unsafe { libc::clock_gettime(self.0, &mut ts) };
            (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
        }
    }
}

#[cfg(windows)]
mod thread_clock {
    use std::time::Duration;

    use windows_sys::Win32::Foundation::{CloseHandle, DuplicateHandle, DUPLICATE_SAME_ACCESS, FILETIME, HANDLE};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetCurrentThread, GetThreadTimes};

    pub const API: &str = "GetThreadTimes";

    /// A real (not pseudo) handle to the guest thread, so it can be read
    /// from a runtime worker.
    pub struct ThreadCpuClock(HANDLE);

    // SAFETY: a thread handle may be used from any thread.
    unsafe impl Send for ThreadCpuClock {}
    unsafe impl Sync for ThreadCpuClock {}

    impl ThreadCpuClock {
        pub fn current() -> Result<Self, String> {
            let mut handle: HANDLE = std::ptr::null_mut();
            // SAFETY: duplicating this thread's pseudo-handle into a real one.
            let ok = unsafe {
                DuplicateHandle(
                    GetCurrentProcess(),
                    GetCurrentThread(),
                    GetCurrentProcess(),
                    &mut handle,
                    0,
                    0,
                    DUPLICATE_SAME_ACCESS,
                )
            };
            if ok == 0 {
                return Err(format!("DuplicateHandle failed: {}", std::io::Error::last_os_error()));
            }
            Ok(Self(handle))
        }

        pub fn now(&self) -> Option<Duration> {
            let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
            let (mut creation, mut exit, mut kernel, mut user) = (zero, zero, zero, zero);
            // SAFETY: valid handle and out-pointers.
            let ok = unsafe { GetThreadTimes(self.0, &mut creation, &mut exit, &mut kernel, &mut user) };
            if ok == 0 {
                return None;
            }
            let ticks = |t: FILETIME| ((t.dwHighDateTime as u64) << 32) | t.dwLowDateTime as u64;
            Some(Duration::from_nanos((ticks(kernel) + ticks(user)) * 100))
        }
    }

    impl Drop for ThreadCpuClock {
        fn drop(&mut self) {
            // SAFETY: we own the duplicated handle.
            unsafe { CloseHandle(self.0) };
        }
    }
}

#[cfg(not(any(unix, windows)))]
mod thread_clock {
    use std::time::Duration;

    pub const API: &str = "none";

    pub struct ThreadCpuClock;

    impl ThreadCpuClock {
        pub fn current() -> Result<Self, String> {
            Err("per-thread CPU clocks are not supported on this platform".into())
        }

        pub fn now(&self) -> Option<Duration> {
            None
        }
    }
}
