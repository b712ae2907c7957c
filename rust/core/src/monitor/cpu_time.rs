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
//! clock that only ticks coarsely, as Windows' does) from turning the watch
//! into a busy loop. A guest that used no CPU at all since
//! the last sample (blocked in a host function, say) is sampled less and
//! less often, up to `IDLE_POLL_MAX`: once it runs again it is caught within
//! that, and meanwhile the watch costs a few hundred wake-ups a second, not
//! thousands.
//!
//! **Coarse clocks.** Windows charges a thread's CPU time (`GetThreadTimes`)
//! in whole clock ticks, 15.6 ms by default: the thread running when the
//! timer interrupt fires is charged the full tick. A reading can then be up
//! to one tick ahead of the time really used (or behind), so a budget is
//! taken as spent only once the clock reads `budget + tick`
//! ([`ThreadCpuClock::resolution`](thread_clock::ThreadCpuClock)): a guest
//! that keeps the CPU is never stopped before it used its budget, and is
//! stopped within about two ticks after. Linux's per-thread clocks count
//! nanoseconds, so there the margin is zero.
//!
//! `QueryThreadCycleTime` would be precise on Windows, but it counts cycles
//! of a rate Windows does not state (Microsoft's documentation says not to
//! convert it to time), so it is not used.

use std::future::Future;
use std::time::Duration;

use super::{positive_duration, ExecutionMonitor};
use crate::MonitorError;

#[cfg(not(windows))]
const MIN_POLL: Duration = Duration::from_micros(100);
#[cfg(windows)]
const MIN_POLL: Duration = Duration::from_millis(1);
const IDLE_POLL_MAX: Duration = Duration::from_millis(2);

/// Ends a call once the thread running it has used `budget` of CPU time;
/// time spent blocked (in a host function, say) does not count.
#[derive(Debug, Clone)]
pub struct CpuTimeMonitor {
    budget: Duration,
}

impl CpuTimeMonitor {
    /// A monitor with this budget; a zero budget is refused.
    pub fn new(budget: Duration) -> crate::Result<Self> {
        Ok(Self { budget: positive_duration("CPU-time budget", budget)? })
    }

    /// The CPU time a call may use.
    pub fn budget(&self) -> Duration {
        self.budget
    }
}

impl ExecutionMonitor for CpuTimeMonitor {
    fn get_monitor(&self) -> Result<impl Future<Output = ()> + Send + 'static, MonitorError> {
        let clock = thread_clock::ThreadCpuClock::current()
            .map_err(|reason| MonitorError { monitor: self.name().into(), reason })?;
        let start = clock.now();
        // A coarse clock may read ahead of the time used by up to one tick.
        let budget = self.budget.saturating_add(clock.resolution());
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

/// Whether this platform has per-thread CPU clocks: which API they use, and
/// their granularity where it is coarse.
pub fn cpu_clock_support() -> Result<String, String> {
    let clock = thread_clock::ThreadCpuClock::current()?;
    let tick = clock.resolution();
    Ok(if tick.is_zero() {
        thread_clock::API.to_owned()
    } else {
        format!(
            "{} (charged in ticks of {:.1} ms: a budget is enforced from budget + 1 tick, so never early)",
            thread_clock::API,
            tick.as_secs_f64() * 1e3
        )
    })
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

        /// How far a reading may be ahead of the time really used: none,
        /// these clocks count what the scheduler measured.
        pub fn resolution(&self) -> Duration {
            Duration::ZERO
        }
    }
}

#[cfg(windows)]
mod thread_clock {
    use std::time::Duration;

    use windows_sys::Win32::Foundation::{CloseHandle, DuplicateHandle, DUPLICATE_SAME_ACCESS, FILETIME, HANDLE};
    use windows_sys::Win32::System::SystemInformation::GetSystemTimeAdjustment;
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetCurrentThread, GetThreadTimes};

    pub const API: &str = "GetThreadTimes";

    /// A real (not pseudo) handle to the guest thread, so it can be read
    /// from a runtime worker.
    pub struct ThreadCpuClock(HANDLE);

    // SAFETY: a thread handle may be used from any thread.
    unsafe impl Send for ThreadCpuClock {}
    // SAFETY: and shared: it is only read (GetThreadTimes), closed on drop.
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

        /// How far a reading may be ahead of the time really used: one clock
        /// tick, the unit Windows charges thread time in.
        pub fn resolution(&self) -> Duration {
            clock_tick()
        }
    }

    /// The clock interrupt's period (`GetSystemTimeAdjustment`'s time
    /// increment, 15.625 ms by default); the default if it cannot be read.
    fn clock_tick() -> Duration {
        static TICK: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
        *TICK.get_or_init(|| {
            let (mut adjustment, mut increment, mut disabled) = (0u32, 0u32, 0);
            // SAFETY: three valid out-pointers.
            let ok = unsafe { GetSystemTimeAdjustment(&mut adjustment, &mut increment, &mut disabled) };
            if ok != 0 && increment > 0 {
                Duration::from_nanos(u64::from(increment) * 100)
            } else {
                Duration::from_micros(15_625)
            }
        })
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

        pub fn resolution(&self) -> Duration {
            Duration::ZERO
        }
    }
}
