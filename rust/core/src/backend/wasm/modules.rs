//! Module resolution for the guest, done host-side: the guest asks, and only
//! what this allows reaches it. The rules are the in-process engine's
//! (`in_process/loader.rs`): host modules by exact name, files by path
//! inside the directory the handler's script allows, each file read once
//! per sandbox and reused by every restore.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::{LoadSpec, SourceCache};
use crate::script::resolve_relative;
use crate::Script;

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
}

/// The name a handler's module gets: its path, or `handler:<name>` for text.
pub(super) fn module_name(handler: &str, script: &Script) -> String {
    match &script.path {
        Some(path) => path.to_string_lossy().into_owned(),
        None => format!("handler:{handler}"),
    }
}

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
        Self { host_modules, roots, sources: spec.imported_sources.clone() }
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
        let resolved_name = resolved.to_string_lossy().into_owned();
        self.roots.insert(resolved_name.clone(), root);
        Ok(resolved_name)
    }

    /// The contents of a module `resolve` returned.
    pub(super) fn load(&self, name: &str) -> Result<Loaded, String> {
        if !Path::new(name).is_absolute() {
            return self
                .host_modules
                .iter()
                .position(|(module, _)| module == name)
                .map(|index| Loaded::HostModule { index: index as u32, functions: self.host_modules[index].1.clone() })
                .ok_or_else(|| format!("no host module named {name:?}"));
        }
        let path = PathBuf::from(name);
        let cached = self.sources.lock().unwrap_or_else(|e| e.into_inner()).get(&path).cloned();
        if let Some(source) = cached {
            return Ok(Loaded::Source(source));
        }
        let text: Arc<str> =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read module {name}: {e}"))?.into();
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).insert(path, text.clone());
        Ok(Loaded::Source(text))
    }
}
