//! Module resolution for the guest, done host-side: the guest asks, and only
//! what this allows reaches it. The rules are the in-process engine's
//! (`in_process/loader.rs`): host modules by exact name, files by path
//! inside the directory the handler's script allows, each file read once
//! per sandbox (when it is resolved) and reused by every restore.
//!
//! The guest is not trusted to name files: `load` serves only sources that
//! `resolve` itself checked against a root and read. A memory bug inside
//! the guest that forges a module name gets "not found", never a host file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::builtins;
use crate::backend::handler::module_name;
#[cfg(test)]
use crate::script::Script;
use crate::script::{import_read_error, resolve_relative};
use crate::source_file;
use crate::spec::{LoadSpec, SourceCache};

/// What the guest gets for a module name.
pub(super) enum Loaded {
    /// A file module's source text.
    Source(Arc<str>),
    /// Host module number `index`, exporting these functions.
    HostModule { index: u32, functions: Vec<String> },
}

#[derive(Clone)]
pub(super) struct Modules {
    host_modules: Vec<(String, Vec<String>)>,
    /// Root directory each file-backed module (by its resolved name) may import from.
    roots: HashMap<String, PathBuf>,
    sources: SourceCache,
    /// Bytes all imported files together may hold (the guest heap size).
    budget: usize,
}

/// The name a handler's module gets: its path, or `handler:<name>` for text.
impl Modules {
    pub(super) fn new(spec: &LoadSpec) -> Self {
        let host_modules = spec
            .host_modules
            .iter()
            .map(|(module, functions)| (module.clone(), functions.keys().cloned().collect()))
            .collect();
        let roots = spec
            .handlers
            .iter()
            .filter_map(|(name, script)| Some((module_name(name, script), script.root.clone()?)))
            .collect();
        Self { host_modules, roots, sources: spec.imported_sources.clone(), budget: spec.guest.heap_size }
    }

    /// Which directory each module may import from (for a snapshot file).
    pub(super) fn roots(&self) -> std::collections::BTreeMap<String, PathBuf> {
        self.roots.iter().map(|(module, root)| (module.clone(), root.clone())).collect()
    }

    pub(super) fn set_roots(&mut self, roots: std::collections::BTreeMap<String, PathBuf>) {
        self.roots = roots.into_iter().collect();
    }

    /// The module `name` imported from module `base` refers to, or why it
    /// cannot be imported.
    pub(super) fn resolve(&mut self, base: &str, name: &str) -> Result<String, String> {
        if self.host_modules.iter().any(|(module, _)| module == name) {
            return Ok(name.to_owned());
        }
        if builtins::is_module(name) {
            return Ok(name.to_owned());
        }
        let Some(root) = self.roots.get(base).cloned() else {
            return Err(format!(
                "cannot import {name:?}: it is not a registered host module (relative imports need a script \
                 from a file or a base directory)"
            ));
        };
        // File modules are named by their absolute path; scripts given as
        // text import relative to their base directory.
        let importer_dir = match Path::new(base).parent() {
            Some(parent) if Path::new(base).is_absolute() => parent.to_path_buf(),
            _ => root.clone(),
        };
        let resolved = resolve_relative(&importer_dir, &root, name)?;
        source_file::read_import(&self.sources, &resolved, self.budget).map_err(|e| import_read_error(name, &e))?;
        let resolved_name = resolved.to_string_lossy().into_owned();
        self.roots.insert(resolved_name.clone(), root);
        Ok(resolved_name)
    }

    /// The contents of a module `resolve` returned.
    pub(super) fn load(&self, name: &str) -> Result<Loaded, String> {
        if !Path::new(name).is_absolute() {
            let builtin = || builtins::module_source(name).map(|source| Loaded::Source(source.into()));
            return self
                .host_modules
                .iter()
                .position(|(module, _)| module == name)
                .map(|index| Loaded::HostModule { index: index as u32, functions: self.host_modules[index].1.clone() })
                .or_else(builtin)
                .ok_or_else(|| format!("no host module named {name:?}"));
        }
        let cached = self.sources.lock().unwrap_or_else(|e| e.into_inner()).get(Path::new(name)).cloned();
        cached.map(Loaded::Source).ok_or_else(|| "cannot load a module that was not resolved from an import".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn modules(handlers: BTreeMap<String, Script>) -> Modules {
        Modules::new(&LoadSpec {
            guest: crate::spec::GuestConfig { heap_size: 1 << 20, stack_size: 1 << 16, print: None },
            host_modules: BTreeMap::new(),
            handlers,
            imported_sources: Default::default(),
        })
    }

    /// The guest names files only through `resolve`: a name it makes up
    /// (as a memory bug inside the guest could) is not read from the host,
    /// even when it is an absolute path, inside the root or not.
    #[test]
    fn load_serves_only_what_resolve_checked() {
        let dir = std::env::temp_dir().join(format!("hljs-wasm-modules-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(dir.join("secret.js"), "secret").unwrap();
        std::fs::write(root.join("lib.js"), "export const v = 1").unwrap();
        std::fs::write(root.join("other.js"), "other").unwrap();
        let main = Script::from_content("function handler() {}", Some(&root)).unwrap();
        let root = main.root.clone().unwrap();
        let mut modules = modules(BTreeMap::from([("main".to_string(), main)]));

        for forged in [dir.join("secret.js"), root.join("other.js"), PathBuf::from("/etc/passwd")] {
            assert!(modules.load(forged.to_str().unwrap()).is_err(), "{forged:?}");
        }
        let resolved = modules.resolve("handler:main", "./lib.js").unwrap();
        assert!(matches!(modules.load(&resolved), Ok(Loaded::Source(s)) if &*s == "export const v = 1"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
