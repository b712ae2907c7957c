//! Module resolution: host modules by exact name, handler files by path
//! inside the directory the handler's script allows. A file is read when it
//! is resolved (so a failure is reported with the specifier the guest wrote,
//! never a host path); loading only serves what resolution read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Error as JsError, Module, Result as JsResult};

use super::host_module::HostModule;
use crate::backend::builtins;
use crate::script::{import_read_error, resolve_relative};
use crate::source_file;
use crate::spec::SourceCache;

pub(super) struct ModuleResolver {
    pub host_modules: Vec<String>,
    /// Root directory each file-backed module (by its resolved name) may import from.
    pub roots: HashMap<String, PathBuf>,
    pub sources: SourceCache,
    /// Bytes all imported files together may hold (the guest heap size).
    pub budget: usize,
}

impl Resolver for ModuleResolver {
    fn resolve<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> JsResult<String> {
        if self.host_modules.iter().any(|m| m == name) {
            return Ok(name.to_owned());
        }
        if builtins::is_module(name) {
            return Ok(name.to_owned());
        }
        let fail = |message: String| rquickjs::Exception::throw_reference(ctx, &message);
        let Some(root) = self.roots.get(base).cloned() else {
            return Err(fail(format!(
                "cannot import {name:?}: it is not a registered host module (relative imports need \
                 a script from a file or a base directory)"
            )));
        };
        // File modules are named by their absolute path; scripts given as
        // text import relative to their base directory.
        let importer_dir = match Path::new(base).parent() {
            Some(parent) if Path::new(base).is_absolute() => parent.to_path_buf(),
            _ => root.clone(),
        };
        let resolved = resolve_relative(&importer_dir, &root, name).map_err(fail)?;
        source_file::read_import(&self.sources, &resolved, self.budget)
            .map_err(|e| fail(import_read_error(name, &e)))?;
        let resolved_name = resolved.to_string_lossy().into_owned();
        self.roots.insert(resolved_name.clone(), root);
        Ok(resolved_name)
    }
}

pub(super) struct ModuleLoader {
    pub host_modules: Vec<String>,
    pub sources: SourceCache,
}

impl Loader for ModuleLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> JsResult<Module<'js, Declared>> {
        if !Path::new(name).is_absolute() {
            if !self.host_modules.iter().any(|m| m == name) {
                if let Some(source) = builtins::module_source(name) {
                    return Module::declare(ctx.clone(), name, source);
                }
            }
            return Module::declare_def::<HostModule, _>(ctx.clone(), name);
        }
        // Only what the resolver read (and so checked) is served.
        let cached = self.sources.lock().unwrap_or_else(|e| e.into_inner()).get(Path::new(name)).cloned();
        let source = cached.ok_or_else(|| {
            rquickjs::Exception::throw_reference(ctx, "cannot load a module that was not resolved from an import")
        })?;
        Module::declare(ctx.clone(), name, source.as_bytes()).map_err(|e| match e {
            JsError::Exception => e,
            other => rquickjs::Exception::throw_syntax(ctx, &other.to_string()),
        })
    }
}
