//! Running guests step aside once for every kill, so killed guests end soon.
//!
//! A kill only marks a call: the guest must still run to see the mark and
//! return. With far more spinning guests than cores (the 256-thread case
//! of `benches/test_vs_scale.py`, on 2 cores), a killed guest waited for its
//! next turn on a CPU behind every other guest, each running its full time
//! slice: it returned 42 ms past its deadline at p50 and 236 ms at p99
//! before any Python ran. So every guest that was not the one killed yields
//! its CPU once per kill it notices (`sched_yield`, `SwitchToThread`): the
//! scheduler then moves on through the run queue at the pace of yields
//! rather than of time slices, and reaches the killed guests sooner. In
//! three alternating runs of 256 threads (with and without the yield, same
//! build) the p99 went from 412–569 ms to 135–361 ms past the deadline.
//! It is not more because a guest that just ran is not eligible again until
//! the others have used CPU time, which yielding does not do.
//!
//! Guests notice at their usual interrupt check (the in-process interrupt
//! handler; on wasm the epoch bump every kill makes, see
//! `backend/wasm/instance.rs`), so the cost is one relaxed load per check
//! and one yield per kill per running guest. A yield with nothing else to
//! run returns at once. The micro-VM backend has no check in the guest to
//! hook, so it does not take part.

use std::sync::atomic::{AtomicU64, Ordering};

/// Kills that landed in this process, ever.
static KILLS: AtomicU64 = AtomicU64::new(0);

/// Counts a kill that landed.
pub(crate) fn kill_landed() {
    KILLS.fetch_add(1, Ordering::Relaxed);
}

/// Gives up the CPU to whatever else may run.
pub(crate) fn step_aside() {
    std::thread::yield_now();
}

/// One guest's view of the kills: it steps aside once per kill it has not
/// seen yet (several at once count as one: one yield is enough to move on).
#[derive(Debug)]
pub(crate) struct Courtesy {
    seen: u64,
}

impl Courtesy {
    pub(crate) fn new() -> Self {
        Self { seen: KILLS.load(Ordering::Relaxed) }
    }

    /// Called at the guest's interrupt check when it is not itself killed.
    /// Returns whether it stepped aside.
    pub(crate) fn check(&mut self) -> bool {
        let kills = KILLS.load(Ordering::Relaxed);
        if kills == self.seen {
            return false;
        }
        self.seen = kills;
        step_aside();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_steps_aside_once_for_the_kills_it_has_not_seen() {
        let mut courtesy = Courtesy::new();
        // Other tests' kills may land meanwhile: catch up first.
        courtesy.check();
        kill_landed();
        kill_landed();
        assert!(courtesy.check(), "two new kills: step aside");
        let mut rounds_without = 0;
        for _ in 0..1000 {
            if !courtesy.check() {
                rounds_without += 1;
            }
        }
        // Only a kill landing in a concurrent test makes it step aside again.
        assert!(rounds_without >= 990, "{rounds_without}");
    }
}
