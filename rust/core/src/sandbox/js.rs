use std::collections::BTreeMap;
use std::sync::Arc;

use super::metrics::Alive;
use super::{next_sandbox_id, HostFunction, LoadedJSSandbox, SandboxConfig};
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::monitor::{run_watched, Watchers};
use crate::script::Script;
use crate::spec::LoadSpec;

/// A sandbox with its host functions, collecting handlers.
///
/// It holds no engine, so unlike hyperlight-js's (whose micro-VM it keeps
/// between loads) it is never poisoned: [`poisoned`](Self::poisoned) is
/// always `false`, also for one `unload()`ed from a poisoned loaded sandbox.
pub struct JSSandbox {
    pub(super) parts: SandboxParts,
    pub(super) handlers: BTreeMap<String, Script>,
    _alive: Alive<JSSandbox>,
}

/// What a sandbox is besides its handlers and engine: kept by every stage
/// from `load_runtime()` on, across loads and unloads.
pub(super) struct SandboxParts {
    pub config: SandboxConfig,
    pub host_modules: BTreeMap<String, BTreeMap<String, HostFunction>>,
    pub interrupt: InterruptHandle,
    pub id: u64,
}

impl SandboxParts {
    pub(super) fn new(config: SandboxConfig, host_modules: BTreeMap<String, BTreeMap<String, HostFunction>>) -> Self {
        Self { config, host_modules, interrupt: InterruptHandle::new(), id: next_sandbox_id() }
    }

    fn clone_parts(&self) -> Self {
        Self {
            config: self.config.clone(),
            host_modules: self.host_modules.clone(),
            interrupt: self.interrupt.clone(),
            id: self.id,
        }
    }
}

impl JSSandbox {
    /// A sandbox with no handlers.
    pub(super) fn new(parts: SandboxParts) -> Self {
        Self { parts, handlers: BTreeMap::new(), _alive: Alive::new() }
    }

    /// Adds a handler under `name`; an empty name, one with a NUL, or one
    /// already added is refused.
    pub fn add_handler(&mut self, name: &str, script: Script) -> Result<()> {
        if name.is_empty() {
            return Err(Error::InvalidArgument("handler name must not be empty".into()));
        }
        // Engines take names as C strings: a NUL would cut the name short.
        if name.contains('\0') {
            return Err(Error::InvalidArgument(format!("handler name {name:?} must not contain a NUL character")));
        }
        if self.handlers.contains_key(name) {
            return Err(Error::InvalidArgument(format!(
                "a handler named {name:?} is already added; remove_handler() it first"
            )));
        }
        self.handlers.insert(name.to_owned(), script);
        Ok(())
    }

    /// Removes the handler added under `name`; an empty name is refused as
    /// invalid (as by `add_handler`), an unknown one is not found.
    pub fn remove_handler(&mut self, name: &str) -> Result<()> {
        if name.is_empty() {
            return Err(Error::InvalidArgument("handler name must not be empty".into()));
        }
        self.handlers.remove(name).map(|_| ()).ok_or_else(|| Error::HandlerNotFound(name.to_owned()))
    }

    /// Removes every handler.
    pub fn clear_handlers(&mut self) {
        self.handlers.clear();
    }

    /// Kills the handlers' top-level code while `get_loaded_sandbox` runs;
    /// the loaded sandbox keeps the same handle.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.parts.interrupt.clone()
    }

    /// Always `false`: this stage holds no engine that a failure could
    /// leave in doubt (a failed load leaves it as it was, and `unload()`
    /// drops the poisoned engine). Here for parity with hyperlight-js's
    /// `JSSandbox::poisoned()`.
    pub fn poisoned(&self) -> bool {
        false
    }

    /// The names of the added handlers, in order.
    pub fn handler_names(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }

    /// Builds the engine and evaluates every handler. On failure (a script
    /// that does not compile, throws at top level or has no `handler`) this
    /// sandbox is left as it was.
    pub fn get_loaded_sandbox(&self) -> Result<LoadedJSSandbox> {
        self.get_loaded_sandbox_watched(Watchers::default())
    }

    /// Like [`get_loaded_sandbox`](Self::get_loaded_sandbox), with the
    /// handlers' top-level code raced against monitors: loading runs guest
    /// code, and hostile top-level code must not hang the host either.
    pub fn get_loaded_sandbox_watched(&self, watchers: Watchers<'_>) -> Result<LoadedJSSandbox> {
        let backend = self.parts.config.backend.resolve()?;
        let load = backend.engine()?.load;
        let spec = Arc::new(LoadSpec {
            guest: self.parts.config.guest.clone(),
            host_modules: self.parts.host_modules.clone(),
            handlers: self.handlers.clone(),
            imported_sources: Default::default(),
        });
        let interrupt = &self.parts.interrupt;
        let engine = run_watched(&interrupt.state, watchers, || load(spec, interrupt))?;
        Ok(LoadedJSSandbox::new(backend, engine, self.parts.clone_parts(), self.handlers.clone()))
    }
}
