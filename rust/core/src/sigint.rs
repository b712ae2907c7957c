//! Ctrl-C while a handler runs on the main thread.
//!
//! The host's SIGINT handler (Python's, in the binding) only sets a flag that
//! is read once control returns to the host, which never happens while a
//! handler spins. We put one async-signal-safe counter in front of it; a
//! call that opted in records the count when it starts and is interrupted as
//! soon as the count moves. The host's own handler still runs, so the host
//! sees its usual `KeyboardInterrupt` afterwards.
//!
//! On Unix the counter is chained to the SIGINT handler (signal-hook). On
//! Windows the C runtime re-installs the host's `signal()` handler on every
//! Ctrl-C, which would drop a chained one after the first, so the counter is
//! a console control handler instead: those run before the C runtime's and
//! pass the event on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static SIGNALS: AtomicU64 = AtomicU64::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the counter (once per process). Safe to call again.
pub fn install() -> Result<(), String> {
    INSTALLED.get_or_init(install_counter).clone()
}

#[cfg(unix)]
fn install_counter() -> Result<(), String> {
    // SAFETY: the action only touches an atomic, which is async-signal-safe.
    unsafe {
        signal_hook_registry::register(libc::SIGINT, || {
            SIGNALS.fetch_add(1, Ordering::SeqCst);
        })
    }
    .map(|_| ())
    .map_err(|e| format!("cannot watch SIGINT: {e}"))
}

#[cfg(windows)]
fn install_counter() -> Result<(), String> {
    use windows_sys::core::BOOL;
    use windows_sys::Win32::System::Console::{SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_C_EVENT};

    unsafe extern "system" fn count(event: u32) -> BOOL {
        if event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT {
            SIGNALS.fetch_add(1, Ordering::SeqCst);
        }
        0 // not handled here: the host's handler runs next
    }

    // SAFETY: `count` only touches an atomic and lives for the whole process.
    if unsafe { SetConsoleCtrlHandler(Some(count), 1) } == 0 {
        return Err(format!("cannot watch Ctrl-C: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn install_counter() -> Result<(), String> {
    Err("Ctrl-C cannot be watched on this platform".into())
}

pub(crate) fn count() -> u64 {
    SIGNALS.load(Ordering::SeqCst)
}

/// The count at one instant: a call watching from this mark is interrupted
/// by any Ctrl-C after it.
///
/// The host takes the mark *before* its last look at its own pending
/// signals. The counter runs after the host's handler, so a Ctrl-C is either
/// already visible to the host (it raises instead of calling) or moves the
/// count past the mark (the guest is interrupted): none falls in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark(pub(crate) u64);

/// Installs the counter if needed and reads it.
pub fn mark() -> Result<Mark, String> {
    install().map(|()| Mark(count()))
}

/// What the signal handler does, for tests that cannot send a real SIGINT.
#[cfg(test)]
pub(crate) fn count_one_for_tests() {
    SIGNALS.fetch_add(1, Ordering::SeqCst);
}
