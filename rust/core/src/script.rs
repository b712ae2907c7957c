//! Where a handler's source comes from, and which files its `import`s may
//! reach. A script read from a file may import its neighbours, but never
//! anything outside the directory the caller allowed: untrusted code must not
//! be able to pull arbitrary host files into the guest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::source_file;

/// The largest handler script `Script::from_file` reads (64 MiB, the default
/// guest heap size): the file may come from someone else, and a huge or
/// sparse one must not be copied whole into host memory. Imported files have
/// their own limit, the guest heap size (see `source_file::read_import`).
pub const MAX_SCRIPT_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// A handler's JavaScript module: its source, and where its relative
/// imports may come from.
#[derive(Debug, Clone)]
pub struct Script {
    pub(crate) source: Arc<str>,
    /// Directory relative imports resolve against and may not leave.
    pub(crate) root: Option<PathBuf>,
    /// The module's own path, when it came from a file.
    pub(crate) path: Option<PathBuf>,
}

impl Script {
    /// A script given as text. Relative imports are refused unless
    /// `base_dir` says where they may come from.
    pub fn from_content(source: impl Into<Arc<str>>, base_dir: Option<&Path>) -> Result<Self> {
        let root = base_dir.map(canonical_dir).transpose()?;
        Ok(Self { source: source.into(), root, path: None })
    }

    /// A script read from `path` now. Its relative imports resolve next to it
    /// and may not leave `root`: by default, the directory `path` names, even
    /// when `path` is a symlink (a link planted in a plugin directory must not
    /// widen what its imports can reach to wherever it points). The file
    /// itself, symlink resolved, must lie inside the root too.
    pub fn from_file(path: &Path, root: Option<&Path>) -> Result<Self> {
        let cannot_open =
            |e: &dyn std::fmt::Display| Error::Load(format!("cannot open handler script {}: {e}", path.display()));
        let target = path.canonicalize().map_err(|e| cannot_open(&e))?;
        let root = match root {
            Some(root) => canonical_dir(root)?,
            None => {
                let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
                dir.canonicalize().map_err(|e| cannot_open(&e))?
            }
        };
        if !target.starts_with(&root) {
            return Err(Error::InvalidArgument(format!(
                "handler script {} is outside the allowed directory {}",
                path.display(),
                root.display()
            )));
        }
        let source = source_file::read(&target, MAX_SCRIPT_FILE_SIZE)
            .map_err(|e| Error::Load(format!("cannot read handler script {}: {e}", path.display())))?;
        Ok(Self { source: source.into(), root: Some(root), path: Some(target) })
    }

    /// The module's source text.
    pub fn source(&self) -> &str {
        &self.source
    }
}

fn canonical_dir(dir: &Path) -> Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .map_err(|e| Error::InvalidArgument(format!("cannot use directory {}: {e}", dir.display())))?;
    if !dir.is_dir() {
        return Err(Error::InvalidArgument(format!("{} is not a directory", dir.display())));
    }
    Ok(dir)
}

/// Resolves `specifier`, imported by a module living in `importer_dir`,
/// to a file inside `root`.
///
/// A specifier that leads outside the root gets the same answer as one
/// naming nothing, and no answer names a host path: the guest must not be
/// able to probe which files exist outside its root, nor learn where the
/// root is. `..` is applied to the path as written (as URLs resolve, and
/// before the file system is asked anything), then symlinks are resolved
/// and the result checked against the root again.
pub(crate) fn resolve_relative(importer_dir: &Path, root: &Path, specifier: &str) -> Result<PathBuf, String> {
    if !(specifier.starts_with("./") || specifier.starts_with("../")) {
        return Err(format!("cannot import {specifier:?}: only host modules and relative paths can be imported"));
    }
    let not_found = || format!("cannot import {specifier:?}: no such file in the directory imports may come from");
    let written = lexically_normal(&importer_dir.join(specifier)).ok_or_else(not_found)?;
    if !written.starts_with(root) {
        return Err(not_found());
    }
    let resolved = written.canonicalize().map_err(|_| not_found())?;
    if !resolved.starts_with(root) {
        return Err(not_found());
    }
    Ok(resolved)
}

/// `path` with `.` and `..` applied, or `None` when `..` climbs above `/`.
fn lexically_normal(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !normal.pop() {
                    return None;
                }
            }
            other => normal.push(other),
        }
    }
    Some(normal)
}

/// The message a guest sees when an import it resolved cannot be read:
/// named by the specifier it wrote, never by a host path.
pub(crate) fn import_read_error(specifier: &str, error: &source_file::ReadError) -> String {
    match error {
        source_file::ReadError::TooLarge { limit } => {
            format!(
                "cannot import {specifier:?}: it would take the imported files over their limit of {limit} bytes \
                 (the guest heap size, for all imports together)"
            )
        }
        other => format!("cannot import {specifier:?}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_imports_cannot_escape_the_root() {
        let dir = std::env::temp_dir().join(format!("hljs-script-{}", std::process::id()));
        let inner = dir.join("inner");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::write(dir.join("secret.js"), "").unwrap();
        std::fs::write(inner.join("ok.js"), "").unwrap();
        let root = inner.canonicalize().unwrap();
        assert!(resolve_relative(&root, &root, "./ok.js").is_ok());
        let escaping = resolve_relative(&root, &root, "../secret.js").unwrap_err();
        let missing = resolve_relative(&root, &root, "../missing.js").unwrap_err().replace("missing", "secret");
        assert_eq!(escaping, missing, "no existence probe outside the root");
        assert!(!escaping.contains(dir.to_str().unwrap()), "no host path: {escaping}");
        assert!(resolve_relative(&root, &root, "./../inner/ok.js").is_ok());
        assert!(resolve_relative(&root, &root, "../../../../../../../../../../etc/passwd").is_err());
        assert!(resolve_relative(&root, &root, "fs").unwrap_err().contains("only host modules"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
