//! Waiting inside monitors, on time.
//!
//! tokio's timer wheel is cheap to arm and cancel, which matters because
//! most monitors are cancelled long before they fire, but it ticks in whole
//! milliseconds and rounds every deadline up, so a limit could be overshot
//! by up to two milliseconds. A wait therefore uses tokio for all but its
//! last stretch and a timerfd for the end: on the shared runtime's workers,
//! one registered with the runtime's own reactor (`timerfd.rs` says why);
//! elsewhere, and if that fails, async-io's.
//!
//! Even a precise timer lands late by the time an idle CPU takes to wake
//! the worker: 0.08 ms at p50 and 0.14 ms at p99 on our VMs (`cargo run
//! --release -p hyperlight-js-core --example kill_chain`). So a wait long
//! enough to have one is armed [`SPIN_LEAD`] early and spins the rest: the
//! worker is already running when the deadline comes. That costs at most
//! `SPIN_LEAD` of one worker's CPU per deadline reached, and a deadline is
//! reached once per killed call, never by a call that ends in time (its race
//! is dropped first). Short waits (the CPU-time monitor's re-checks of a
//! guest that is not getting the CPU) do not spin: spinning there would take
//! the CPU from the very guest being waited for.

use std::time::{Duration, Instant};

/// Longer than tokio's worst lateness, so the coarse part never overshoots.
const PRECISE_TAIL: Duration = Duration::from_millis(3);

/// How early the precise timer is armed, to be spun out: about the p99 of
/// an idle worker's wake-up here.
const SPIN_LEAD: Duration = Duration::from_micros(150);

/// Waits for `duration` without blocking the shared runtime.
pub async fn sleep(duration: Duration) {
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline).await,
        // Too far away to represent: it never ends.
        None => std::future::pending().await,
    }
}

/// Waits until `deadline` without blocking the shared runtime.
pub async fn sleep_until(deadline: Instant) {
    if let Some(coarse) = deadline.checked_sub(PRECISE_TAIL) {
        if coarse > Instant::now() {
            tokio::time::sleep_until(coarse.into()).await;
        }
    }
    match deadline.checked_sub(SPIN_LEAD).filter(|&wake| wake > Instant::now()) {
        Some(wake) => {
            precise_sleep_until(wake).await;
            spin_until(deadline);
        }
        None => precise_sleep_until(deadline).await,
    }
}

async fn precise_sleep_until(deadline: Instant) {
    #[cfg(target_os = "linux")]
    if super::runtime::on_worker() {
        if let Ok(timer) = super::timerfd::Timer::at(deadline) {
            if timer.expired().await.is_ok() {
                return;
            }
        }
    }
    async_io::Timer::at(deadline).await;
}

/// Blocks the worker until `deadline`: at most [`SPIN_LEAD`], because a
/// timer never fires early.
fn spin_until(deadline: Instant) {
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}
