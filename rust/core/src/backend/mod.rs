//! What actually runs the JavaScript. The lifecycle, poisoning and monitors
//! live above this trait, so a backend only has to run one call, stop when
//! the shared interrupt state says so, and return to a snapshot.

mod floors;
#[cfg(feature = "hyperlight")]
pub mod hyperlight;
pub mod in_process;
mod kind;
#[cfg(feature = "wasm")]
pub mod wasm;

pub use floors::SizeFloors;
pub use kind::{BackendChoice, BackendKind};

use std::any::Any;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::interrupt::InterruptHandle;
use crate::sandbox::{HostFunction, PrintFn};
use crate::Script;

/// Everything a backend needs to bring a sandbox to its loaded state.
pub struct LoadSpec {
    pub heap_size: usize,
    pub stack_size: usize,
    pub print: Option<PrintFn>,
    /// Host modules: module name → function name → function.
    pub host_modules: BTreeMap<String, BTreeMap<String, HostFunction>>,
    pub handlers: BTreeMap<String, Script>,
    /// Files the handlers import, read once at first load and reused by every
    /// restore, so a restore returns to the same code even if a file changed.
    pub imported_sources: SourceCache,
}

pub type SourceCache = Arc<Mutex<HashMap<PathBuf, Arc<str>>>>;

/// A backend's own snapshot data; only the backend that made it reads it.
pub type BackendSnapshot = Arc<dyn Any + Send + Sync>;

pub trait Backend: Send {
    /// A short name users see (`LoadedJSSandbox.backend`).
    fn name(&self) -> &'static str;

    fn has_handler(&self, name: &str) -> bool;

    /// Runs one call. The sandbox has already marked the call as running on
    /// the interrupt state; the backend must stop soon after it is killed.
    fn call(&mut self, handler: &str, event_json: &str, gc: bool) -> Result<String>;

    fn snapshot(&mut self) -> Result<BackendSnapshot>;

    fn restore(&mut self, snapshot: &BackendSnapshot) -> Result<()>;
}

/// Builds a backend of `kind` for a load.
pub(crate) fn load(kind: BackendKind, spec: Arc<LoadSpec>, interrupt: &InterruptHandle) -> Result<Box<dyn Backend>> {
    match kind {
        BackendKind::InProcess => Ok(Box::new(in_process::InProcess::load(spec, interrupt)?)),
        #[cfg(feature = "wasm")]
        BackendKind::Wasm => Ok(Box::new(wasm::Wasm::load(spec, interrupt)?)),
        #[cfg(feature = "hyperlight")]
        BackendKind::Hyperlight => Ok(Box::new(hyperlight::Hyperlight::load(spec, interrupt)?)),
        #[allow(unreachable_patterns)]
        other => Err(crate::Error::BackendUnavailable {
            backend: other.name(),
            reason: other.availability().err().unwrap_or_else(|| "not compiled in".into()),
        }),
    }
}
