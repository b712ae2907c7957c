//! Persistent snapshots: a [`Snapshot`] written to a file and read back in
//! another process, to start new sandboxes from it.
//!
//! A file is `MAGIC`, the format version (u32, little-endian), the body
//! (postcard-encoded `SavedSnapshot`), and the SHA-256 of everything
//! before it. Reading checks, in that order: that it is a snapshot file at
//! all, written in a format this build reads, whole and unaltered (the
//! digest), by the same package version, for a backend and guest this
//! build has. Host functions are code and cannot be saved: the file keeps
//! their names, and the sandbox that loads it must register the same ones.
//!
//! This module owns the format; each backend only turns its own snapshot
//! into bytes and back (its descriptor's snapshot-file part).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::loaded::{Snapshot, SnapshotInfo, FROM_FILE};
use crate::backend::registry::SnapshotFiles;
use crate::backend::{self, BackendSnapshot, Descriptor};
use crate::error::{Error, Result};
use crate::script::Script;
use crate::spec::{GuestConfig, HostFunction, LoadSpec, PrintFn, SourceCache};

const MAGIC: &[u8; 8] = b"HLJSSNAP";
/// Bumped whenever the layout of `SavedSnapshot` (or a backend payload) changes.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = MAGIC.len() + 4;
const DIGEST: usize = 32;
const PACKAGE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a snapshot file holds: the load recipe (sizes, handler sources, the
/// files they imported as read then, host function names) and the
/// backend's own payload.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedSnapshot {
    pub package_version: String,
    pub backend: String,
    /// Which guest the payload is for (the descriptor's `guest_identity`).
    pub guest: String,
    pub heap_size: u64,
    pub stack_size: u64,
    /// Host module → function names, sorted (the order backends number them in).
    pub host_modules: BTreeMap<String, Vec<String>>,
    pub handlers: BTreeMap<String, SavedScript>,
    pub imported_sources: BTreeMap<PathBuf, String>,
    pub payload: Vec<u8>,
    /// What the backend decoded from `payload`, kept for the next sandbox
    /// loaded from this snapshot (not part of the file).
    #[serde(skip)]
    pub decoded: OnceLock<BackendSnapshot>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SavedScript {
    source: String,
    root: Option<PathBuf>,
    path: Option<PathBuf>,
}

fn refused(message: impl Into<String>) -> Error {
    Error::Snapshot(message.into())
}

impl SavedSnapshot {
    /// The file contents of a snapshot a sandbox took.
    fn export(data: &BackendSnapshot, backend: &'static Descriptor) -> Result<Self> {
        let files = snapshot_files(backend)?;
        let (spec, payload) = (files.export)(data)?;
        let imported = spec.imported_sources.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Self {
            package_version: PACKAGE_VERSION.to_owned(),
            backend: backend.name.to_owned(),
            guest: (files.guest_identity)().map_err(|reason| backend.unavailable(reason))?,
            heap_size: spec.guest.heap_size as u64,
            stack_size: spec.guest.stack_size as u64,
            host_modules: host_module_names(&spec.host_modules),
            handlers: spec
                .handlers
                .iter()
                .map(|(name, script)| {
                    let saved = SavedScript {
                        source: script.source.to_string(),
                        root: script.root.clone(),
                        path: script.path.clone(),
                    };
                    (name.clone(), saved)
                })
                .collect(),
            imported_sources: imported.iter().map(|(path, source)| (path.clone(), source.to_string())).collect(),
            payload,
            decoded: OnceLock::new(),
        })
    }

    /// The backend the file is for.
    pub(crate) fn backend(&self) -> Result<&'static Descriptor> {
        backend::find(&self.backend)
            .ok_or_else(|| refused(format!("the snapshot file is for an unknown backend {:?}", self.backend)))
    }

    /// The handlers, as scripts to load.
    pub(crate) fn scripts(&self) -> BTreeMap<String, Script> {
        self.handlers
            .iter()
            .map(|(name, saved)| {
                let script =
                    Script { source: saved.source.as_str().into(), root: saved.root.clone(), path: saved.path.clone() };
                (name.clone(), script)
            })
            .collect()
    }

    /// The sources the handlers imported, for the new sandbox's cache
    /// (so it runs the code that was saved, not what the files hold now).
    pub(crate) fn source_cache(&self) -> SourceCache {
        let sources: HashMap<PathBuf, Arc<str>> =
            self.imported_sources.iter().map(|(path, source)| (path.clone(), source.as_str().into())).collect();
        Arc::new(Mutex::new(sources))
    }

    fn info(&self, backend: &'static Descriptor) -> SnapshotInfo {
        SnapshotInfo { backend, heap_size: self.heap_size as usize, stack_size: self.stack_size as usize }
    }
}

/// What `backend` can do with snapshot files, or why it cannot.
pub(crate) fn snapshot_files(backend: &'static Descriptor) -> Result<&'static SnapshotFiles> {
    let engine = backend.engine()?;
    engine.files.as_ref().ok_or_else(|| {
        let able: Vec<&str> =
            backend::registry().iter().filter(|d| d.engine.is_ok_and(|e| e.files.is_some())).map(|d| d.name).collect();
        refused(format!(
            "the {} backend's snapshots cannot be saved to a file (only the {} backends' can)",
            backend.name,
            able.join(" and ")
        ))
    })
}

pub(crate) fn host_module_names(
    modules: &BTreeMap<String, BTreeMap<String, HostFunction>>,
) -> BTreeMap<String, Vec<String>> {
    modules.iter().map(|(module, functions)| (module.clone(), functions.keys().cloned().collect())).collect()
}

/// Seals `saved` into the bytes of a file.
fn encode(saved: &SavedSnapshot) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(HEADER + saved.payload.len() + 4096);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    let bytes = postcard::to_extend(saved, bytes)
        .map_err(|e| Error::Internal(format!("cannot encode the snapshot file: {e}")))?;
    let mut bytes = bytes;
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    Ok(bytes)
}

/// Opens the bytes of a file, refusing anything this build cannot load.
fn decode(bytes: &[u8]) -> Result<SavedSnapshot> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(refused("not a hyperlight-js snapshot file"));
    }
    if bytes.len() < HEADER + DIGEST {
        return Err(refused("the snapshot file is truncated"));
    }
    let version =
        u32::from_le_bytes(bytes[MAGIC.len()..HEADER].try_into().expect("MAGIC..HEADER is the 4-byte version"));
    if version != FORMAT_VERSION {
        return Err(refused(format!(
            "the snapshot file has format version {version}; this build reads version {FORMAT_VERSION}"
        )));
    }
    let (sealed, digest) = bytes.split_at(bytes.len() - DIGEST);
    if Sha256::digest(sealed).as_slice() != digest {
        return Err(refused("the snapshot file is corrupt or truncated (its SHA-256 digest does not match)"));
    }
    let saved: SavedSnapshot = postcard::from_bytes(&sealed[HEADER..])
        .map_err(|e| refused(format!("the snapshot file cannot be read: {e}")))?;
    if saved.package_version != PACKAGE_VERSION {
        return Err(refused(format!(
            "the snapshot file was saved by hyperlight-js {}; this is {PACKAGE_VERSION}",
            saved.package_version
        )));
    }
    let backend = saved.backend()?;
    let files = snapshot_files(backend)?;
    let guest = (files.guest_identity)().map_err(|reason| backend.unavailable(reason))?;
    if saved.guest != guest {
        return Err(refused(format!(
            "the snapshot file was saved with another {} guest ({}); this build's is {guest}",
            backend.name, saved.guest
        )));
    }
    Ok(saved)
}

impl Snapshot {
    /// The snapshot as a self-contained file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        encode(&*self.saved()?)
    }

    /// A snapshot read from a file's bytes; it starts new sandboxes
    /// ([`ProtoJSSandbox::load_snapshot`](super::ProtoJSSandbox::load_snapshot)).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved = decode(bytes)?;
        let info = saved.info(saved.backend()?);
        Ok(Snapshot {
            sandbox_id: FROM_FILE,
            handlers: Arc::new(saved.scripts()),
            data: Arc::new(Arc::new(saved)),
            info,
        })
    }

    /// Writes the snapshot to `path`, replacing it whole: the file is
    /// written next to it and renamed over it, so a reader never sees half.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        let mut partial = path.as_os_str().to_owned();
        partial.push(format!(".partial-{}", std::process::id()));
        let partial = PathBuf::from(partial);
        let written = std::fs::write(&partial, &bytes).and_then(|()| std::fs::rename(&partial, path));
        written.map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            refused(format!("cannot save the snapshot to {}: {e}", path.display()))
        })
    }

    /// A snapshot read from a file that [`Snapshot::save`] wrote.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| refused(format!("cannot read the snapshot file {}: {e}", path.display())))?;
        Self::from_bytes(&bytes).map_err(|e| match e {
            Error::Snapshot(message) => refused(format!("{}: {message}", path.display())),
            other => other,
        })
    }

    /// What a file would hold: read back if the snapshot came from one,
    /// exported from the backend if a sandbox took it.
    pub(crate) fn saved(&self) -> Result<Arc<SavedSnapshot>> {
        if let Some(saved) = self.data.downcast_ref::<Arc<SavedSnapshot>>() {
            return Ok(saved.clone());
        }
        SavedSnapshot::export(&self.data, self.info.backend).map(Arc::new)
    }
}

/// The load a saved snapshot describes, with the host functions of the
/// sandbox loading it.
pub(crate) fn load_spec(
    saved: &SavedSnapshot,
    host_modules: BTreeMap<String, BTreeMap<String, HostFunction>>,
    print: Option<PrintFn>,
) -> LoadSpec {
    LoadSpec {
        guest: GuestConfig { heap_size: saved.heap_size as usize, stack_size: saved.stack_size as usize, print },
        host_modules,
        handlers: saved.scripts(),
        imported_sources: saved.source_cache(),
    }
}
