use std::collections::BTreeMap;
use std::sync::Arc;

use super::{next_sandbox_id, HostFunction, LoadedJSSandbox, SandboxConfig};
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::monitor::{run_watched, Watchers};
use crate::script::Script;
use crate::spec::LoadSpec;

/// A sandbox with its host functions, collecting handlers.
pub struct JSSandbox {
    pub(super) config: SandboxConfig,
    pub(super) host_modules: BTreeMap<String, BTreeMap<String, HostFunction>>,
    pub(super) handlers: BTreeMap<String, Script>,
    pub(super) interrupt: InterruptHandle,
    pub(super) id: u64,
}

impl JSSandbox {
    pub(super) fn new(config: SandboxConfig, host_modules: BTreeMap<String, BTreeMap<String, HostFunction>>) -> Self {
        Self {
            config,
            host_modules,
            handlers: BTreeMap::new(),
            interrupt: InterruptHandle::new(),
            id: next_sandbox_id(),
        }
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

    /// Removes the handler added under `name`.
    pub fn remove_handler(&mut self, name: &str) -> Result<()> {
        self.handlers.remove(name).map(|_| ()).ok_or_else(|| Error::HandlerNotFound(name.to_owned()))
    }

    /// Removes every handler.
    pub fn clear_handlers(&mut self) {
        self.handlers.clear();
    }

    /// Kills the handlers' top-level code while `get_loaded_sandbox` runs;
    /// the loaded sandbox keeps the same handle.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.interrupt.clone()
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
        let backend = self.config.backend.resolve()?;
        let load = backend.engine()?.load;
        let spec = Arc::new(LoadSpec {
            guest: self.config.guest.clone(),
            host_modules: self.host_modules.clone(),
            handlers: self.handlers.clone(),
            imported_sources: Default::default(),
        });
        let engine = run_watched(&self.interrupt.state, watchers, || load(spec, &self.interrupt))?;
        Ok(LoadedJSSandbox::new(backend, engine, self.clone_parts()))
    }

    fn clone_parts(&self) -> JSSandbox {
        JSSandbox {
            config: self.config.clone(),
            host_modules: self.host_modules.clone(),
            handlers: self.handlers.clone(),
            interrupt: self.interrupt.clone(),
            id: self.id,
        }
    }
}
