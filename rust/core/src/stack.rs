//! How much native stack the engine may use on the calling thread.
//!
//! QuickJS guards recursion by comparing the stack pointer against a limit
//! measured from where it was entered. The configured scratch size can be
//! larger than what the calling thread really has left (a Python thread, a
//! deep host call stack), so the limit is the smaller of the two, minus room
//! for the C frames QuickJS pushes between its own checks.

/// Room kept for native frames that run between QuickJS's stack checks
/// (parser, regexp compiler, our own host-call glue).
const NATIVE_MARGIN: usize = 256 * 1024;
/// Below this QuickJS cannot even start a call; asking for it makes every
/// call a clean "stack overflow" error rather than a crash.
const FLOOR: usize = 16 * 1024;

pub(crate) fn usable_stack(requested: usize) -> usize {
    match stacker::remaining_stack() {
        Some(remaining) => requested.min(remaining.saturating_sub(NATIVE_MARGIN)).max(FLOOR),
        None => requested.min(1024 * 1024),
    }
}
