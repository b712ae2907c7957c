//! Waiting inside monitors, on time.
//!
//! tokio's timer wheel is cheap to arm and cancel, which matters because
//! most monitors are cancelled long before they fire, but it ticks in whole
//! milliseconds and rounds every deadline up, so a limit could be overshot
//! by up to two milliseconds. A wait therefore uses tokio for all but its
//! last stretch and a timerfd for the end, which lands within tens of
//! microseconds: on the shared runtime's workers, one registered with the
//! runtime's own reactor (`timerfd.rs` says why); elsewhere, and if that
//! fails, async-io's. Neither busy-waits.

use std::time::{Duration, Instant};

/// Longer than tokio's worst lateness, so the coarse part never overshoots.
const PRECISE_TAIL: Duration = Duration::from_millis(3);

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
