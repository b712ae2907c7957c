//! What one call cost: the guest code's wall-clock time, the CPU time of the
//! thread that ran it, and the monitor that ended it, if one did (as
//! hyperlight-js's `guest-call-stats`).
//!
//! Every backend runs guest code on the calling thread (wasmtime and QuickJS
//! directly, hyperlight's vCPU likewise), so that thread's CPU clock is the
//! guest's, plus whatever host functions it called spent on that thread.

use std::time::{Duration, Instant};

/// The stats of one call into guest code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionStats {
    /// From the guest's start to its return (or to the kill taking effect).
    pub wall_clock: Duration,
    /// The CPU time the calling thread used meanwhile; `None` where the
    /// platform has no per-thread CPU clock, or when it was not measured
    /// (an unmonitored call, unless the sandbox was built to measure it:
    /// see [`SandboxBuilder::with_cpu_time_stats`](crate::SandboxBuilder::with_cpu_time_stats)).
    pub cpu_time: Option<Duration>,
    /// The name of the monitor whose completion ended the call (`"wall-clock"`,
    /// `"cpu-time"`, a custom monitor's name); `None` if no monitor did (it
    /// returned, failed, or was killed through the interrupt handle or Ctrl-C).
    pub terminated_by: Option<String>,
}

/// Both clocks read as guest code starts.
pub(crate) struct CallClock {
    wall: Instant,
    cpu: Option<Duration>,
}

impl CallClock {
    /// `cpu`: whether to read the CPU clock too. It costs two system calls
    /// on Linux (the vDSO serves no thread CPU clock), about 1.5 µs on a
    /// small VM: a third of an unmonitored round trip, nothing next to a
    /// monitored one.
    /// `wall`: when the guest starts (read by the caller, who may have
    /// one at hand).
    pub(crate) fn start(cpu: bool, wall: Instant) -> Self {
        Self { cpu: if cpu { this_thread_cpu_time() } else { None }, wall }
    }

    /// The stats once the guest is done; `terminated_by` as the kill path
    /// recorded it.
    pub(crate) fn stop(self, terminated_by: Option<String>) -> ExecutionStats {
        let wall_clock = self.wall.elapsed();
        let cpu_time = self.cpu.and_then(|start| Some(this_thread_cpu_time()?.saturating_sub(start)));
        ExecutionStats { wall_clock, cpu_time, terminated_by }
    }
}

/// The calling thread's CPU time so far.
#[cfg(unix)]
fn this_thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer and the clock id a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(windows)]
fn this_thread_cpu_time() -> Option<Duration> {
    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::Threading::{GetCurrentThread, GetThreadTimes};

    let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
    let (mut creation, mut exit, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: the current thread's pseudo-handle and valid out-pointers.
    let ok = unsafe { GetThreadTimes(GetCurrentThread(), &mut creation, &mut exit, &mut kernel, &mut user) };
    if ok == 0 {
        return None;
    }
    let ticks = |t: FILETIME| (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime);
    Some(Duration::from_nanos((ticks(kernel) + ticks(user)) * 100))
}

#[cfg(not(any(unix, windows)))]
fn this_thread_cpu_time() -> Option<Duration> {
    None
}
