//! The sandbox lifecycle, as in hyperlight-js:
//! [`SandboxBuilder`] → [`ProtoJSSandbox`] (register host functions) →
//! [`JSSandbox`] (add handlers) → [`LoadedJSSandbox`] (call them).
//!
//! Each stage only holds a description until the last one builds the engine,
//! which is what lets a poisoned sandbox be rebuilt from its snapshot and an
//! unloaded one be edited and loaded again.

mod builder;
mod js;
mod loaded;
pub mod metrics;
mod proto;
pub mod snapshot_file;

use std::sync::atomic::{AtomicU64, Ordering};

pub use builder::SandboxBuilder;
pub use js::JSSandbox;
pub use loaded::{CallOptions, LoadedJSSandbox, Snapshot};
pub use proto::ProtoJSSandbox;

use crate::spec::GuestConfig;
pub use crate::spec::{HostFunction, PrintFn};

/// Settings fixed by the builder: the backend asked for, and what the
/// guest is told.
#[derive(Clone)]
pub(crate) struct SandboxConfig {
    pub backend: crate::backend::BackendChoice,
    pub guest: GuestConfig,
    /// Measure every call's CPU time, not only monitored calls'.
    pub cpu_time_stats: bool,
}

/// Sandboxes are numbered so a snapshot can only go back into its own.
fn next_sandbox_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
