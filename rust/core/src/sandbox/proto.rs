use std::collections::BTreeMap;
use std::sync::Arc;

use super::js::SandboxParts;
use super::metrics::Alive;
use super::snapshot_file::{host_module_names, load_spec, snapshot_files};
use super::{HostFunction, JSSandbox, LoadedJSSandbox, SandboxConfig, Snapshot};
use crate::error::{Error, Result};
use crate::monitor::{run_watched, Watchers};

/// A sandbox that is still collecting host functions.
pub struct ProtoJSSandbox {
    config: SandboxConfig,
    host_modules: BTreeMap<String, BTreeMap<String, HostFunction>>,
    _alive: Alive<ProtoJSSandbox>,
}

impl ProtoJSSandbox {
    pub(crate) fn new(config: SandboxConfig) -> Self {
        Self { config, host_modules: BTreeMap::new(), _alive: Alive::new() }
    }

    /// Makes `function` importable as `import { name } from "module"`, or
    /// `import * as m from "module"` then `m[name]`.
    ///
    /// As upstream, a function name is any non-empty string (`"no-op"`,
    /// `"scoped/add/😊"`), called as `m["no-op"]()`. Refused
    /// ([`Error::InvalidArgument`]): an empty name, a NUL character in
    /// either name (QuickJS takes export and module names as C strings), a
    /// module name that looks like a path (imports of paths are files), and
    /// a name already registered in the module (upstream overwrites it).
    pub fn register(&mut self, module: &str, name: &str, function: HostFunction) -> Result<()> {
        if module.is_empty()
            || module.starts_with('.')
            || module.contains('/')
            || module.contains('\\')
            || module.contains('\0')
        {
            return Err(Error::InvalidArgument(format!(
                "host module name {module:?} must be non-empty, hold no NUL and cannot look like a path"
            )));
        }
        if name.is_empty() || name.contains('\0') {
            return Err(Error::InvalidArgument(format!(
                "host function name {name:?} must be non-empty and hold no NUL"
            )));
        }
        let functions = self.host_modules.entry(module.to_owned()).or_default();
        if functions.contains_key(name) {
            return Err(Error::InvalidArgument(format!("host function {module}.{name} is already registered")));
        }
        functions.insert(name.to_owned(), function);
        Ok(())
    }

    /// The next stage, where handlers are added; the host functions
    /// registered so far are fixed from here on.
    pub fn load_runtime(self) -> Result<JSSandbox> {
        Ok(JSSandbox::new(SandboxParts::new(self.config, self.host_modules)))
    }

    /// A loaded sandbox in the state of `snapshot` (read from a file, or
    /// taken by another sandbox), with this sandbox's host functions and
    /// print sink, without running the handlers' load again (wasm; the
    /// in-process backend's snapshot *is* its load, which runs).
    ///
    /// Refused ([`Error::Snapshot`]) unless this sandbox is built for the
    /// same backend and sizes and registers exactly the host functions the
    /// snapshot's handlers were loaded with. On failure this sandbox is
    /// left as it was.
    pub fn load_snapshot(&self, snapshot: &Snapshot) -> Result<LoadedJSSandbox> {
        self.load_snapshot_watched(snapshot, Watchers::default())
    }

    /// Like [`load_snapshot`](Self::load_snapshot), raced against monitors.
    pub fn load_snapshot_watched(&self, snapshot: &Snapshot, watchers: Watchers<'_>) -> Result<LoadedJSSandbox> {
        let saved = snapshot.saved()?;
        let backend = saved.backend()?;
        let mine = self.config.backend.resolve()?;
        if backend != mine {
            return Err(Error::Snapshot(format!(
                "the snapshot is of the {} backend; this sandbox is built for {}",
                backend.name, mine.name
            )));
        }
        let import = snapshot_files(backend)?.import;
        let sizes = (saved.heap_size as usize, saved.stack_size as usize);
        if sizes != (self.config.guest.heap_size, self.config.guest.stack_size) {
            return Err(Error::Snapshot(format!(
                "the snapshot was taken with a guest heap of {} and scratch of {} bytes; this sandbox is built \
                 with {} and {}",
                sizes.0, sizes.1, self.config.guest.heap_size, self.config.guest.stack_size
            )));
        }
        let registered = host_module_names(&self.host_modules);
        if registered != saved.host_modules {
            return Err(Error::Snapshot(format!(
                "the snapshot's handlers were loaded with host functions {}; this sandbox registers {}",
                describe(&saved.host_modules),
                describe(&registered)
            )));
        }
        let spec = Arc::new(load_spec(&saved, self.host_modules.clone(), self.config.guest.print.clone()));
        let parts = SandboxParts::new(self.config.clone(), self.host_modules.clone());
        let handlers = spec.handlers.clone();
        let interrupt = parts.interrupt.clone();
        let loaded =
            run_watched(&interrupt.state, watchers, || import(spec, &saved.payload, &saved.decoded, &interrupt))?;
        Ok(LoadedJSSandbox::new(backend, loaded, parts, handlers))
    }
}

fn describe(modules: &BTreeMap<String, Vec<String>>) -> String {
    if modules.is_empty() {
        return "(none)".into();
    }
    let names: Vec<String> = modules
        .iter()
        .flat_map(|(module, functions)| functions.iter().map(move |function| format!("{module}.{function}")))
        .collect();
    names.join(", ")
}
