//! Ctrl-C while a handler runs on the main thread.
//!
//! The host's SIGINT handler (Python's, in the binding) only sets a flag that
//! is read once control returns to the host, which never happens while a
//! handler spins. We chain one async-signal-safe counter in front of it; a
//! call that opted in records the count when it starts and is interrupted as
//! soon as the count moves. The host's own handler still runs, so the host
//! sees its usual `KeyboardInterrupt` afterwards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static SIGNALS: AtomicU64 = AtomicU64::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the counter (once per process). Safe to call again.
pub fn install() -> Result<(), String> {
    INSTALLED
        .get_or_init(|| {
            // SAFETY: the action only touches an atomic, which is
            // async-signal-safe.
            unsafe {
                signal_hook_registry::register(libc::SIGINT, || {
                    SIGNALS.fetch_add(1, Ordering::SeqCst);
                })
            }
            .map(|_| ())
            .map_err(|e| format!("cannot watch SIGINT: {e}"))
        })
        .clone()
}

pub(crate) fn count() -> u64 {
    SIGNALS.load(Ordering::SeqCst)
}
