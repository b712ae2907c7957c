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

/// A snapshot turned into what a file can hold: the load it belongs to,
/// and the backend's own bytes (see `sandbox::snapshot_file` for the file).
pub(crate) struct Exported {
    pub kind: BackendKind,
    pub spec: Arc<LoadSpec>,
    pub payload: Vec<u8>,
}

/// Exports a snapshot for a file, through the backend that took it.
pub(crate) fn export(snapshot: &BackendSnapshot) -> Result<Exported> {
    if let Some(exported) = in_process::export(snapshot) {
        return exported;
    }
    #[cfg(feature = "wasm")]
    if let Some(exported) = wasm::export(snapshot) {
        return exported;
    }
    // The hyperlight backend's snapshot is hyperlight-js's in-memory VM
    // snapshot, which that crate (0.4) gives no way to write out or read.
    Err(crate::Error::Snapshot(format!(
        "this backend's snapshots cannot be saved to a file (only the wasm and in-process backends' can{})",
        if cfg!(feature = "hyperlight") { "; hyperlight-js gives no way to persist a micro-VM snapshot" } else { "" }
    )))
}

/// Builds a backend of `kind` in the state a file's payload describes;
/// the backend may keep what it decoded in `decoded` for the next one.
pub(crate) fn import(
    kind: BackendKind,
    spec: Arc<LoadSpec>,
    payload: &[u8],
    decoded: &std::sync::OnceLock<BackendSnapshot>,
    interrupt: &InterruptHandle,
) -> Result<Box<dyn Backend>> {
    match kind {
        BackendKind::InProcess => Ok(Box::new(in_process::InProcess::import(spec, payload, interrupt)?)),
        #[cfg(feature = "wasm")]
        BackendKind::Wasm => Ok(Box::new(wasm::Wasm::import(spec, payload, decoded, interrupt)?)),
        other => Err(crate::Error::Snapshot(format!("the {} backend cannot load snapshot files", other.name()))),
    }
}

/// Names the guest code a payload is only valid for.
pub(crate) fn guest_identity(kind: BackendKind) -> Result<String> {
    match kind {
        // The engine is compiled into this package, whose version the file
        // already records.
        BackendKind::InProcess => Ok("quickjs-ng (rquickjs, in this package)".to_owned()),
        #[cfg(feature = "wasm")]
        BackendKind::Wasm => {
            wasm::guest_identity().map_err(|reason| crate::Error::BackendUnavailable { backend: "wasm", reason })
        }
        other => Err(crate::Error::Snapshot(format!("the {} backend cannot load snapshot files", other.name()))),
    }
}
