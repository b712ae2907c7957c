//! Reading JavaScript source from a file someone else may have written.
//!
//! Import roots hold files an attacker may control (plugin archives, tenant
//! uploads). A FIFO there would block the read forever, where no monitor can
//! end it; a huge (or sparse) file would be copied whole into host memory.
//! So every backend reads handler and import files through [`read`]:
//!
//! - the file is opened without blocking (`O_NONBLOCK`, so opening a FIFO
//!   with no writer returns at once) and without following a final symlink
//!   (callers pass canonical paths; a symlink there now means the path
//!   changed under us);
//! - what was opened is checked with `fstat` on the open descriptor, not on
//!   the path, so nothing can be swapped in between the check and the read:
//!   only a regular file is read;
//! - at most `limit` bytes are read, whatever the file claims its size is.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a source file was not read. Its `Display` names no path: callers
/// say which file they mean in words the reader may see.
#[derive(Debug)]
pub(crate) enum ReadError {
    NotFound,
    /// A directory, FIFO, socket, device, or a symlink where none may be.
    NotRegularFile,
    TooLarge {
        limit: u64,
    },
    NotUtf8,
    Io(io::ErrorKind),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such file"),
            Self::NotRegularFile => f.write_str("not a regular file"),
            Self::TooLarge { limit } => write!(f, "larger than the limit of {limit} bytes"),
            Self::NotUtf8 => f.write_str("not valid UTF-8"),
            Self::Io(kind) => write!(f, "cannot be read ({kind})"),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => Self::NotFound,
            kind => Self::Io(kind),
        }
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        let kind = match e {
            ReadError::NotFound => io::ErrorKind::NotFound,
            ReadError::Io(kind) => kind,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e.to_string())
    }
}

/// The text of the regular file at `path`, if it holds at most `limit` bytes.
pub(crate) fn read(path: &Path, limit: u64) -> Result<String, ReadError> {
    let file = open_without_blocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegularFile);
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    // The file may grow after fstat: read one byte past the limit to tell.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}

#[cfg(unix)]
fn open_without_blocking(path: &Path) -> Result<File, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(path).map_err(|e| {
        // O_NOFOLLOW on a symlink fails with ELOOP.
        if e.raw_os_error() == Some(libc::ELOOP) {
            ReadError::NotRegularFile
        } else {
            e.into()
        }
    })
}

/// Windows has no FIFOs in the file system; named pipes live under
/// `\\.\pipe\`, which is never inside an import root.
///
/// Opening a directory there fails (access denied) rather than giving a
/// handle whose metadata says so: a directory is still "not a regular file".
#[cfg(not(unix))]
fn open_without_blocking(path: &Path) -> Result<File, ReadError> {
    OpenOptions::new().read(true).open(path).map_err(|e| {
        if std::fs::metadata(path).is_ok_and(|meta| !meta.is_file()) {
            ReadError::NotRegularFile
        } else {
            e.into()
        }
    })
}

/// The source of the import at canonical `path`: from `cache`, or read now
/// and kept there. Together, the files a sandbox keeps may not exceed
/// `budget` bytes (the guest heap size: source larger than the heap cannot
/// be compiled in it, and a sandbox must not hold more host memory for its
/// imports than it was given for the guest).
pub(crate) fn read_import(
    cache: &Mutex<HashMap<PathBuf, Arc<str>>>,
    path: &Path,
    budget: usize,
) -> Result<Arc<str>, ReadError> {
    let mut sources = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(source) = sources.get(path) {
        return Ok(source.clone());
    }
    let held: usize = sources.values().map(|s| s.len()).sum();
    let left = budget.saturating_sub(held) as u64;
    let source: Arc<str> = read(path, left)
        .map_err(|e| match e {
            ReadError::TooLarge { .. } => ReadError::TooLarge { limit: budget as u64 },
            other => other,
        })?
        .into();
    sources.insert(path.to_path_buf(), source.clone());
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hljs-source-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = scratch("read");
        std::fs::write(dir.join("ok.js"), "export const x = 1;").unwrap();
        std::fs::write(dir.join("bad.js"), [0xff, 0xfe]).unwrap();
        assert_eq!(read(&dir.join("ok.js"), 100).unwrap(), "export const x = 1;");
        assert!(matches!(read(&dir.join("ok.js"), 5), Err(ReadError::TooLarge { limit: 5 })));
        assert!(matches!(read(&dir.join("bad.js"), 100), Err(ReadError::NotUtf8)));
        assert!(matches!(read(&dir.join("missing.js"), 100), Err(ReadError::NotFound)));
        assert!(matches!(read(&dir, 100), Err(ReadError::NotRegularFile)));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.join("ok.js"), dir.join("link.js")).unwrap();
            assert!(matches!(read(&dir.join("link.js"), 100), Err(ReadError::NotRegularFile)));
            let fifo = std::ffi::CString::new(dir.join("fifo.js").to_str().unwrap()).unwrap();
            // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
            // Would block forever without O_NONBLOCK: nobody opens the write end.
            assert!(matches!(read(&dir.join("fifo.js"), 100), Err(ReadError::NotRegularFile)));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn imports_share_one_budget_and_are_read_once() {
        let dir = scratch("budget");
        std::fs::write(dir.join("a.js"), "aaaa").unwrap();
        std::fs::write(dir.join("b.js"), "bbbb").unwrap();
        let cache = Mutex::default();
        assert_eq!(&*read_import(&cache, &dir.join("a.js"), 6).unwrap(), "aaaa");
        std::fs::write(dir.join("a.js"), "changed").unwrap();
        assert_eq!(&*read_import(&cache, &dir.join("a.js"), 6).unwrap(), "aaaa", "cached");
        assert!(matches!(read_import(&cache, &dir.join("b.js"), 6), Err(ReadError::TooLarge { limit: 6 })));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
