//! Module resolution: host modules by exact name, handler files by path
//! inside the directory the handler's script allows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Error as JsError, Module, Result as JsResult};

use super::host_module::HostModule;
use crate::backend::SourceCache;
use crate::script::resolve_relative;

pub(super) struct ModuleResolver {
    pub host_modules: Vec<String>,
    /// Root directory each file-backed module (by its resolved name) may import from.
    pub roots: HashMap<String, PathBuf>,
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
        let resolved_name = resolved.to_string_lossy().into_owned();
        self.roots.insert(resolved_name.clone(), root);
        Ok(resolved_name)
    }
}

pub(super) struct ModuleLoader {
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
            return Module::declare_def::<HostModule, _>(ctx.clone(), name);
        }
        let path = PathBuf::from(name);
        let cached = self.sources.lock().unwrap_or_else(|e| e.into_inner()).get(&path).cloned();
        let source = match cached {
            Some(source) => source,
            None => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    rquickjs::Exception::throw_reference(ctx, &format!("cannot read module {name}: {e}"))
                })?;
                let text: Arc<str> = text.into();
                self.sources.lock().unwrap_or_else(|e| e.into_inner()).insert(path, text.clone());
                text
            }
        };
        Module::declare(ctx.clone(), name, source.as_bytes()).map_err(|e| match e {
            JsError::Exception => e,
            other => rquickjs::Exception::throw_syntax(ctx, &other.to_string()),
        })
    }
}
