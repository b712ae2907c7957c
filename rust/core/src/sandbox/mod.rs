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
mod proto;
pub mod snapshot_file;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use builder::SandboxBuilder;
pub use js::JSSandbox;
pub use loaded::{CallOptions, LoadedJSSandbox, Snapshot};
pub use proto::ProtoJSSandbox;

use crate::error::HostCallError;

/// A host function: JSON array of arguments in, JSON value out.
pub type HostFunction = Arc<dyn Fn(&str) -> Result<String, HostCallError> + Send + Sync>;

/// Receives each line the guest prints with `console.log` or `print`.
pub type PrintFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Sizes and settings fixed by the builder.
#[derive(Clone)]
pub(crate) struct SandboxConfig {
    pub backend: crate::backend::BackendChoice,
    pub heap_size: usize,
    pub stack_size: usize,
    pub print: Option<PrintFn>,
}

/// Sandboxes are numbered so a snapshot can only go back into its own.
fn next_sandbox_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
