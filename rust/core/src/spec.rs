//! What a backend is told: the sizes, the print sink, the host functions and
//! the handlers a sandbox is loaded with.
//!
//! This is a leaf: the lifecycle (`sandbox/`) fills it in and every backend
//! reads it, so neither has to know the other. The builder's settings and a
//! load's recipe share [`GuestConfig`] instead of repeating its fields.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::error::HostCallError;
use crate::host_call::HostArgs;
use crate::payload::Payload;
use crate::script::Script;

/// A host function: JSON array of arguments (and any binary ones) in, JSON
/// or bytes out.
pub type HostFunction = Arc<dyn Fn(HostArgs<'_>) -> Result<Payload, HostCallError> + Send + Sync>;

/// A host function that takes and returns JSON only: its binary arguments
/// arrive as the `null`s that hold their places.
pub fn json_host_function(
    function: impl Fn(&str) -> Result<String, HostCallError> + Send + Sync + 'static,
) -> HostFunction {
    Arc::new(move |args: HostArgs<'_>| function(args.json).map(Payload::Json))
}

/// Receives each line the guest prints with `console.log` or `print`.
pub type PrintFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Host modules: module name → function name → function.
pub type HostModules = BTreeMap<String, BTreeMap<String, HostFunction>>;

/// Files the handlers import, read once at first load and reused by every
/// restore, so a restore returns to the same code even if a file changed.
pub type SourceCache = Arc<Mutex<HashMap<PathBuf, Arc<str>>>>;

/// The guest's sizes and output, fixed by the builder.
#[derive(Clone)]
pub struct GuestConfig {
    /// Bytes of guest heap (QuickJS's memory limit).
    pub heap_size: usize,
    /// Bytes of guest stack (the scratch size).
    pub stack_size: usize,
    /// Where guest output goes; `None` drops it.
    pub print: Option<PrintFn>,
}

/// Everything a backend needs to bring a sandbox to its loaded state.
pub struct LoadSpec {
    pub guest: GuestConfig,
    pub host_modules: HostModules,
    pub handlers: BTreeMap<String, Script>,
    pub imported_sources: SourceCache,
}
