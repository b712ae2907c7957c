//! The files a micro-VM's `import`s can reach.
//!
//! hyperlight-js resolves the guest's imports on the host, Node-style
//! (oxc_resolver), over whatever file system it is given. This is that file
//! system, and it is deliberately small:
//!
//! - the handlers' own modules, served from the sources captured when the
//!   scripts were made (a file script is not read again);
//! - regular files inside the directories the handlers' scripts allow
//!   (`Script` roots), each read once (through `source_file::read_import`:
//!   never a FIFO or device, and all together no larger than the guest heap)
//!   and then served from the sandbox's source cache, so `restore()` and
//!   later loads see the same code;
//! - never a `package.json` or anything under `node_modules`, so a bare
//!   specifier cannot reach a package and a package manifest cannot redirect
//!   an import; symlinks are followed and judged by where they lead.
//!
//! Unlike the in-process loader, which checks each module against its own
//! handler's root, the resolver here cannot tell which handler is importing:
//! a file is allowed when it lies inside *any* handler's root. Node-style
//! resolution also completes a missing extension (`./util` → `./util.js`).

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyperlight_js::{FileMetadata, FileSystem, ResolveError};

#[cfg(test)]
use crate::backend::handler::HANDLER_EXPORT;
use crate::backend::handler::{module_name, with_handler_export};
use crate::source_file;
use crate::spec::{LoadSpec, SourceCache};
use crate::Script;

/// Where handler modules given as text (and our glue) live for the resolver.
pub(super) const VIRTUAL_DIR: &str = "/hyperlight-js-python";

/// The namespace of handler modules with no directory: hyperlight-js serves
/// `namespace:name` modules from memory, and they cannot import files.
const TEXT_MODULE_NAMESPACE: &str = "hyperlight-js-python-handler";

/// How the glue reaches one handler's module.
pub(super) struct HandlerModule {
    /// The module's name in messages, as on every backend.
    pub name: String,
    /// What the glue passes to `import()`.
    pub specifier: String,
    /// Set when the module must be registered with hyperlight-js as an
    /// in-memory module: (namespace, name, source).
    pub in_memory: Option<(&'static str, String, String)>,
}

#[derive(Default)]
struct Files {
    /// Directories imports may come from (canonical).
    roots: Vec<PathBuf>,
    /// Handler modules, by the path the resolver sees.
    handlers: HashMap<PathBuf, Arc<str>>,
    /// Directories that exist only for the resolver.
    virtual_dirs: HashSet<PathBuf>,
    sources: SourceCache,
    /// Bytes all imported files together may hold (the guest heap size).
    budget: usize,
}

/// The file system handed to hyperlight-js (it needs `Clone + 'static`).
#[derive(Clone, Default)]
pub(super) struct ModuleFiles(Arc<Files>);

impl ModuleFiles {
    /// The file system for `spec`, and how each handler (by name) is imported.
    pub(super) fn new(spec: &LoadSpec) -> (Self, HashMap<String, HandlerModule>) {
        let mut files =
            Files { sources: spec.imported_sources.clone(), budget: spec.guest.heap_size, ..Default::default() };
        files.virtual_dirs.insert(PathBuf::from(VIRTUAL_DIR));
        let mut modules = HashMap::new();
        for (name, script) in &spec.handlers {
            if let Some(root) = &script.root {
                if !files.roots.contains(root) {
                    files.roots.push(root.clone());
                }
            }
            modules.insert(name.clone(), files.place(name, script));
        }
        (Self(Arc::new(files)), modules)
    }
}

impl Files {
    fn place(&mut self, name: &str, script: &Script) -> HandlerModule {
        let source = with_handler_export(&script.source);
        let shown = module_name(name, script);
        let path = match (&script.path, &script.root) {
            // A file is its own module, named by its real path, so its
            // relative imports resolve next to it.
            (Some(path), _) => path.clone(),
            // Text with a base directory: a module inside that directory.
            (None, Some(root)) => root.join(format!(".hyperlight-js-handler-{}.js", hex(name))),
            (None, None) => {
                let module = hex(name);
                return HandlerModule {
                    name: shown,
                    specifier: format!("{TEXT_MODULE_NAMESPACE}:{module}"),
                    in_memory: Some((TEXT_MODULE_NAMESPACE, module, source)),
                };
            }
        };
        self.handlers.insert(path.clone(), source.into());
        HandlerModule { name: shown, specifier: path.to_string_lossy().into_owned(), in_memory: None }
    }

    /// `path` as a file the guest may read, canonical.
    fn allowed(&self, path: &Path) -> io::Result<PathBuf> {
        if !path.is_absolute() {
            return Err(denied(path));
        }
        let canonical = std::fs::canonicalize(path).map_err(|_| denied(path))?;
        let hidden = canonical.file_name().is_some_and(|n| n == "package.json")
            || canonical.components().any(|c| c.as_os_str() == "node_modules");
        if hidden || !self.roots.iter().any(|root| canonical.starts_with(root)) {
            return Err(denied(path));
        }
        Ok(canonical)
    }

    fn read(&self, path: &Path) -> io::Result<Arc<str>> {
        if let Some(source) = self.handlers.get(path) {
            return Ok(source.clone());
        }
        let canonical = self.allowed(path)?;
        if let Some(source) = self.handlers.get(&canonical) {
            return Ok(source.clone());
        }
        Ok(source_file::read_import(&self.sources, &canonical, self.budget)?)
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMetadata> {
        if self.handlers.contains_key(path) {
            return Ok(FileMetadata::new(true, false, false));
        }
        if self.virtual_dirs.contains(path) {
            return Ok(FileMetadata::new(false, true, false));
        }
        if !path.is_absolute() {
            return Err(denied(path));
        }
        let meta = std::fs::metadata(path)?;
        if meta.is_dir() {
            // Which directories exist is no secret, and the resolver walks them.
            return Ok(FileMetadata::new(false, true, false));
        }
        if meta.is_file() {
            self.allowed(path)?;
            return Ok(FileMetadata::new(true, false, false));
        }
        Err(denied(path))
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        if self.handlers.contains_key(path) || self.virtual_dirs.contains(path) {
            return Ok(path.to_path_buf());
        }
        if !path.is_absolute() {
            return Err(denied(path));
        }
        let canonical = std::fs::canonicalize(path).map_err(|_| denied(path))?;
        if canonical.is_dir() {
            return Ok(canonical);
        }
        self.allowed(&canonical)
    }
}

/// Reported as "not found", naming no path: the guest learns nothing about
/// files it may not read, nor where they are.
fn denied(_path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such file in the directories handlers may import from")
}

/// Handler names are arbitrary text; module names and paths get them in hex.
pub(super) fn hex(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

impl FileSystem for ModuleFiles {
    /// Required by the trait; a file system with no roots refuses every file.
    fn new() -> Self {
        Self::default()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0.read(path).map(|s| s.as_bytes().to_vec())
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.0.read(path).map(|s| s.to_string())
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMetadata> {
        self.0.metadata(path)
    }

    /// Symlinks are followed here (and judged by their target in
    /// `canonicalize` and `read`), so the resolver never sees one.
    fn symlink_metadata(&self, path: &Path) -> io::Result<FileMetadata> {
        self.0.metadata(path)
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf, ResolveError> {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a symlink", path.display())).into())
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        self.0.canonicalize(path)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn spec(handlers: BTreeMap<String, Script>) -> LoadSpec {
        LoadSpec {
            guest: crate::spec::GuestConfig { heap_size: 1 << 20, stack_size: 1, print: None },
            host_modules: BTreeMap::new(),
            handlers,
            imported_sources: Default::default(),
        }
    }

    #[test]
    fn only_files_inside_a_root_are_served_and_each_is_read_once() {
        let dir = std::env::temp_dir().join(format!("hljs-files-{}", std::process::id()));
        let inner = dir.join("inner");
        std::fs::create_dir_all(inner.join("node_modules")).unwrap();
        std::fs::write(dir.join("secret.js"), "secret").unwrap();
        std::fs::write(inner.join("lib.js"), "v1").unwrap();
        std::fs::write(inner.join("package.json"), "{}").unwrap();
        std::fs::write(inner.join("node_modules").join("pkg.js"), "").unwrap();
        std::fs::write(inner.join("main.js"), "function handler() {}").unwrap();
        let main = Script::from_file(&inner.join("main.js"), None).unwrap();
        let main_path = main.path.clone().unwrap();
        let root = main.root.clone().unwrap();
        let (files, modules) = ModuleFiles::new(&spec(BTreeMap::from([("main".to_string(), main)])));

        assert_eq!(modules["main"].specifier, main_path.to_string_lossy());
        assert!(files.read_to_string(&main_path).unwrap().ends_with(HANDLER_EXPORT));
        assert_eq!(files.read_to_string(&root.join("lib.js")).unwrap(), "v1");
        std::fs::write(inner.join("lib.js"), "v2").unwrap();
        assert_eq!(files.read_to_string(&root.join("lib.js")).unwrap(), "v1", "read once, then cached");
        for refused in [dir.join("secret.js"), root.join("package.json"), root.join("node_modules/pkg.js")] {
            assert_eq!(files.read_to_string(&refused).unwrap_err().kind(), io::ErrorKind::NotFound, "{refused:?}");
            assert!(files.metadata(&refused).is_err());
        }
        assert!(files.read_to_string(&root.join("../secret.js")).is_err());
        assert!(files.read_to_string(Path::new("inner/lib.js")).is_err(), "relative paths are refused");
        assert!(files.metadata(&dir).unwrap().is_dir());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Files an attacker may have put in the root: a FIFO (which would block
    /// the read forever) and a file larger than the guest heap.
    #[test]
    fn fifos_and_oversized_files_in_the_root_are_refused() {
        let dir = std::env::temp_dir().join(format!("hljs-files-hostile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.js"), "function handler() {}").unwrap();
        std::fs::File::create(dir.join("big.js")).unwrap().set_len(2 << 20).unwrap();
        #[cfg(unix)]
        {
            let fifo = std::ffi::CString::new(dir.join("pipe.js").to_str().unwrap()).unwrap();
            // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        }
        let main = Script::from_file(&dir.join("main.js"), None).unwrap();
        let root = main.root.clone().unwrap();
        let (files, _) = ModuleFiles::new(&spec(BTreeMap::from([("main".to_string(), main)])));
        assert!(files.read_to_string(&root.join("big.js")).unwrap_err().to_string().contains("limit of 1048576 bytes"));
        #[cfg(unix)]
        {
            assert!(files.metadata(&root.join("pipe.js")).is_err());
            assert!(files
                .read_to_string(&root.join("pipe.js"))
                .unwrap_err()
                .to_string()
                .contains("not a regular file"));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn text_handlers_live_in_their_base_directory_or_in_memory() {
        let base = std::env::temp_dir();
        let with_base = Script::from_content("function handler() {}", Some(&base)).unwrap();
        let root = with_base.root.clone().unwrap();
        let bare = Script::from_content("function handler() {}", None).unwrap();
        let (files, modules) =
            ModuleFiles::new(&spec(BTreeMap::from([("a/b".to_string(), with_base), ("c".to_string(), bare)])));
        let placed = PathBuf::from(&modules["a/b"].specifier);
        assert_eq!(placed, root.join(".hyperlight-js-handler-612f62.js"));
        assert!(files.metadata(&placed).unwrap().is_file());
        assert!(files.read_to_string(&placed).is_ok());
        let bare = &modules["c"];
        assert_eq!(bare.specifier, "hyperlight-js-python-handler:63");
        assert!(bare.in_memory.as_ref().unwrap().2.ends_with(HANDLER_EXPORT));
        assert!(files.metadata(Path::new(VIRTUAL_DIR)).unwrap().is_dir());
    }

    /// Under the resolver hyperlight-js uses, configured as it configures it.
    ///
    /// Unix only: the guest resolves POSIX paths, and Windows host paths are
    /// not mapped into it yet (the micro-VM backend is not in the Windows
    /// wheel: docs/windows.md), so the resolver is a dev-dependency on Unix
    /// only (rust/core/Cargo.toml says why).
    #[test]
    #[cfg(unix)]
    fn the_guest_resolver_sees_only_what_it_may_import() {
        use oxc_resolver::{ResolveOptions, ResolverGeneric};

        let dir = std::env::temp_dir().join(format!("hljs-resolve-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("node_modules/lodash")).unwrap();
        std::fs::write(dir.join("secret.js"), "").unwrap();
        std::fs::write(root.join("lib.js"), "").unwrap();
        std::fs::write(root.join("node_modules/lodash/index.js"), "").unwrap();
        std::fs::write(root.join("main.js"), "function handler() {}").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.js"), root.join("link.js")).unwrap();
        let main = Script::from_file(&root.join("main.js"), None).unwrap();
        let root = main.root.clone().unwrap();
        let text = Script::from_content("function handler() {}", Some(&root)).unwrap();
        let (files, modules) = ModuleFiles::new(&spec(BTreeMap::from([("main".into(), main), ("text".into(), text)])));
        let resolver = ResolverGeneric::new_with_file_system(
            files,
            ResolveOptions {
                extensions: vec![".js".into(), ".mjs".into()],
                condition_names: vec!["import".into(), "module".into()],
                ..Default::default()
            },
        );
        let resolve = |base: &Path, specifier: &str| resolver.resolve(base, specifier).map(|r| r.path().to_path_buf());

        for name in ["main", "text"] {
            let specifier = &modules[name].specifier;
            assert_eq!(resolve(Path::new(VIRTUAL_DIR), specifier).unwrap(), PathBuf::from(specifier), "{name}");
        }
        assert_eq!(resolve(&root, "./lib.js").unwrap(), root.join("lib.js"));
        assert_eq!(resolve(&root, "./lib").unwrap(), root.join("lib.js"), "Node-style extension completion");
        assert!(resolve(&root, "../secret.js").is_err());
        assert!(resolve(&root, "lodash").is_err(), "no packages");
        assert!(resolve(&root, "./link.js").is_err(), "a symlink out of the root");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
