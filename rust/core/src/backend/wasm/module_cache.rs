//! The compiled guest kept on disk, so only the first process on a machine
//! pays for Cranelift (most of a second); the others load the machine code.
//!
//! Hand-written rather than wasmtime's `cache` feature because that cache
//! hands the file's bytes to `Module::deserialize` unchecked: a truncated or
//! flipped file there is undefined behaviour. Here each file is sealed with
//! a SHA-256 that is checked before wasmtime sees a byte, and is used only
//! if it (and its directory) belongs to this user and nobody else may write
//! it. What is trusted, and why, is in `docs/backends/wasm.md`.
//!
//! The file's name is a SHA-256 over everything the machine code depends
//! on: wasmtime's compatibility hash of the engine (its version, the
//! compiler's settings and the CPU features it targets, every tunable) and
//! the guest's bytes. Whatever does not match is compiled again, and
//! wasmtime itself rejects an artifact this CPU cannot run, which is then
//! replaced. Every failure of the cache falls back to compiling, silently
//! (or on stderr with [`TRACE_ENV`]), once per process: a read-only home
//! costs the compile, never an error.

use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// Overrides the cache's directory (default: the user's cache directory,
/// e.g. `~/.cache/hyperlight-js/wasm`).
pub(super) const DIR_ENV: &str = "HYPERLIGHT_JS_CACHE_DIR";
/// Set to `0` to neither read nor write the cache.
pub(super) const ENABLE_ENV: &str = "HYPERLIGHT_JS_WASM_CACHE";
/// Set to `1` to have each process say on stderr where its guest came from.
const TRACE_ENV: &str = "HYPERLIGHT_JS_WASM_CACHE_TRACE";

/// Starts every cache file, so a stranger's file is never mistaken for one.
const MAGIC: &[u8; 16] = b"hljs-wasm-cwasm1";
/// A version for the file's name: bump it when the layout above changes.
const LAYOUT: &[u8] = b"hyperlight-js wasm module cache, layout 1";

/// The guest compiled for `engine`: from the cache when a sealed, matching
/// file is there, else compiled here (and the cache filled, if it can be).
pub(super) fn load_or_compile(engine: &Engine, guest: &[u8]) -> Result<Module, String> {
    let Some(dir) = directory() else {
        trace(format_args!("cache disabled, compiling"));
        return compile(engine, guest);
    };
    let path = dir.join(file_name(engine, guest));
    match read_sealed(&path) {
        Ok(Some(bytes)) => {
            // SAFETY: `bytes` are exactly what `Module::serialize` wrote in
            // `fill`: the SHA-256 sealing them matched, and the file and its
            // directory belong to this user and nobody else may write them
            // (checked by `read_sealed`), so no other user put them there.
            // wasmtime still checks version, settings and CPU features and
            // returns an error for a module this engine cannot run.
            match unsafe { Module::deserialize(engine, &bytes) } {
                Ok(module) => {
                    trace(format_args!("loaded {}", path.display()));
                    return Ok(module);
                }
                Err(e) => trace(format_args!("{} does not fit this engine ({e}), compiling", path.display())),
            }
        }
        Ok(None) => trace(format_args!("no {}, compiling", path.display())),
        Err(e) => trace(format_args!("cannot use {} ({e}), compiling", path.display())),
    }
    let module = compile(engine, guest)?;
    match fill(&dir, &path, &module) {
        Ok(()) => trace(format_args!("wrote {}", path.display())),
        Err(e) => trace(format_args!("cannot write {} ({e}); this process keeps its compiled guest", path.display())),
    }
    Ok(module)
}

fn compile(engine: &Engine, guest: &[u8]) -> Result<Module, String> {
    Module::new(engine, guest).map_err(|e| format!("cannot compile the wasm guest: {e}"))
}

/// Where the cache lives, or `None` when it is turned off or this user
/// has no cache directory.
fn directory() -> Option<PathBuf> {
    if std::env::var_os(ENABLE_ENV).is_some_and(|value| value == "0") {
        return None;
    }
    match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::cache_dir().map(|dir| dir.join("hyperlight-js").join("wasm")),
    }
}

/// Feeds what wasmtime hashes into a SHA-256, whose digest (unlike std's
/// `DefaultHasher`) is stable across Rust releases.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Never asked for: the digest is read with `finalize` below.
        0
    }
}

fn file_name(engine: &Engine, guest: &[u8]) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    hasher.write(LAYOUT);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hasher.write(&Sha256::digest(guest));
    format!("guest-{}.cwasm", hex(&hasher.0.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The module's bytes from a sealed file: `Ok(None)` if there is none, an
/// error if it is corrupt or not safely ours.
fn read_sealed(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(dir) = path.parent() {
        private_to_us(&fs::metadata(dir)?, "its directory")?;
    }
    // The open file's own metadata: the file checked is the file read.
    private_to_us(&file.metadata()?, "the file")?;
    let mut contents = Vec::new();
    file.read_to_end(&mut contents)?;
    let corrupt = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("corrupt: {what}"));
    let rest = contents.strip_prefix(MAGIC.as_slice()).ok_or_else(|| corrupt("not a cache file"))?;
    let (seal, module) = rest.split_at_checked(32).ok_or_else(|| corrupt("truncated"))?;
    if Sha256::digest(module).as_slice() != seal {
        return Err(corrupt("its SHA-256 does not match"));
    }
    Ok(Some(module.to_vec()))
}

/// A file someone else owns, or could write, could hold any machine code:
/// refuse it. (On Windows the default directory, under `%LOCALAPPDATA%`,
/// is private to the user by its ACL; nothing is checked here.)
#[cfg(unix)]
fn private_to_us(metadata: &fs::Metadata, what: &str) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if metadata.uid() != me {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{what} belongs to another user")));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{what} is writable by other users")));
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_to_us(_metadata: &fs::Metadata, _what: &str) -> io::Result<()> {
    Ok(())
}

/// Writes the module under a name of its own, then renames it into place:
/// a reader sees the old file, no file, or the whole new one, and two
/// processes filling the cache at once each rename a complete file.
fn fill(dir: &Path, path: &Path, module: &Module) -> io::Result<()> {
    create_private_dir(dir)?;
    let bytes = module.serialize().map_err(io::Error::other)?;
    let seal = Sha256::digest(&bytes);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let temporary = dir.join(format!(".tmp-{}-{nanos}", std::process::id()));
    let written = (|| {
        let mut file = create_private_file(&temporary)?;
        file.write_all(MAGIC)?;
        file.write_all(&seal)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> io::Result<File> {
    fs::OpenOptions::new().write(true).create_new(true).open(path)
}

fn trace(message: std::fmt::Arguments<'_>) {
    if std::env::var_os(TRACE_ENV).is_some_and(|value| value == "1") {
        eprintln!("hyperlight-js wasm cache: {message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid module: the header alone.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hljs-module-cache-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_name_follows_the_guest_and_the_engine() {
        let engine = Engine::default();
        let name = file_name(&engine, EMPTY_MODULE);
        assert_eq!(name, file_name(&engine, EMPTY_MODULE));
        assert_ne!(name, file_name(&engine, b"\0asm\x01\0\0\0\0\0"));
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config).expect("engine");
        assert_ne!(name, file_name(&other, EMPTY_MODULE));
    }

    #[test]
    fn a_sealed_file_reads_back_and_a_damaged_one_is_refused() {
        let engine = Engine::default();
        let dir = scratch("seal");
        let path = dir.join(file_name(&engine, EMPTY_MODULE));
        assert!(read_sealed(&path).expect("no file is not an error").is_none());
        let module = compile(&engine, EMPTY_MODULE).expect("compiles");
        fill(&dir, &path, &module).expect("fills");
        let bytes = read_sealed(&path).expect("reads").expect("is there");
        assert_eq!(bytes, module.serialize().expect("serializes"));

        let mut damaged = fs::read(&path).expect("reads");
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        fs::write(&path, &damaged).expect("writes");
        let error = read_sealed(&path).expect_err("damage is found");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        fs::remove_dir_all(&dir).expect("cleans up");
    }
}
