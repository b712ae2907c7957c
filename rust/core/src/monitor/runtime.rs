//! The one tokio runtime every monitor runs on.
//!
//! Created on first use and never torn down, so a monitored call costs a task
//! spawn, not a thread. The thread count is read from the environment once;
//! a bad value is remembered as an error, so every monitored call fails
//! closed with the same clear message instead of silently using a default.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::MonitorError;

/// The environment variable that sets the monitor runtime's thread count.
pub const THREADS_ENV: &str = "HYPERLIGHT_MONITOR_THREADS";
const DEFAULT_THREADS: usize = 2;
pub(crate) const THREAD_NAME: &str = "hl-monitor";

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

thread_local! {
    static ON_WORKER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread is one of the shared runtime's workers, which have
/// its reactor (a user's own runtime may not).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn on_worker() -> bool {
    ON_WORKER.with(|on| on.get())
}

pub(crate) fn shared() -> Result<&'static Runtime, MonitorError> {
    RUNTIME
        .get_or_init(build)
        .as_ref()
        .map_err(|reason| MonitorError { monitor: "runtime".into(), reason: reason.clone() })
}

fn build() -> Result<Runtime, String> {
    let threads = threads_from_env(std::env::var(THREADS_ENV).ok().as_deref())?;
    Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(THREAD_NAME)
        .on_thread_start(|| ON_WORKER.with(|on| on.set(true)))
        .enable_time()
        .enable_io()
        .build()
        .map_err(|e| format!("cannot start the monitor runtime: {e}"))
}

fn threads_from_env(value: Option<&str>) -> Result<usize, String> {
    match value {
        None => Ok(DEFAULT_THREADS),
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{THREADS_ENV} must be a positive integer, got {text:?}")),
        },
    }
}

/// Worker threads of the shared runtime, once it exists.
pub fn monitor_thread_count() -> Option<usize> {
    match RUNTIME.get()? {
        Ok(rt) => Some(rt.metrics().num_workers()),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_count_must_be_a_positive_integer() {
        assert_eq!(threads_from_env(None), Ok(2));
        assert_eq!(threads_from_env(Some("4")), Ok(4));
        for bad in ["0", "-1", "two", ""] {
            let err = threads_from_env(Some(bad)).unwrap_err();
            assert!(err.contains(THREADS_ENV), "{err}");
        }
    }
}
