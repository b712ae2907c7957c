//! Where a handler's source comes from, and which files its `import`s may
//! reach. A script read from a file may import its neighbours, but never
//! anything outside the directory the caller allowed: untrusted code must not
//! be able to pull arbitrary host files into the guest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

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
    /// and may not leave `root` (by default, the file's own directory).
    pub fn from_file(path: &Path, root: Option<&Path>) -> Result<Self> {
        let path = path
            .canonicalize()
            .map_err(|e| Error::Load(format!("cannot open handler script {}: {e}", path.display())))?;
        let root = match root {
            Some(root) => canonical_dir(root)?,
            None => path.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        if !path.starts_with(&root) {
            return Err(Error::InvalidArgument(format!(
                "handler script {} is outside the allowed directory {}",
                path.display(),
                root.display()
            )));
        }
        let source = std::fs::read_to_string(&path)
            .map_err(|e| Error::Load(format!("cannot read handler script {}: {e}", path.display())))?;
        Ok(Self { source: source.into(), root: Some(root), path: Some(path) })
    }

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
pub(crate) fn resolve_relative(importer_dir: &Path, root: &Path, specifier: &str) -> Result<PathBuf, String> {
    if !(specifier.starts_with("./") || specifier.starts_with("../")) {
        return Err(format!("cannot import {specifier:?}: only host modules and relative paths can be imported"));
    }
    let candidate = importer_dir.join(specifier);
    let resolved = candidate.canonicalize().map_err(|e| format!("cannot import {specifier:?}: {e}"))?;
    if !resolved.starts_with(root) {
        return Err(format!(
            "cannot import {specifier:?}: it resolves outside the allowed directory {}",
            root.display()
        ));
    }
    Ok(resolved)
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
        assert!(resolve_relative(&root, &root, "../secret.js").unwrap_err().contains("outside"));
        assert!(resolve_relative(&root, &root, "fs").unwrap_err().contains("only host modules"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
