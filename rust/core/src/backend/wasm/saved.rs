//! This backend's part of a snapshot file: the guest's memory image (zero
//! chunks left out), its stack pointer, the handler table and the import
//! roots. The rest of the host's view (handler sources, imported files,
//! host function names, sizes) is the load recipe the file keeps for every
//! backend.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::backend::{Wasm, WasmSnapshot};
use super::engine;
use super::instance::on_host_stack;
use super::memory::{MemoryImage, WASM_PAGE};
use crate::backend::{Backend, BackendSnapshot};
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::spec::LoadSpec;

/// Runs of zeroes this long are not written to the file.
const CHUNK: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
struct Payload {
    memory_len: u64,
    /// (offset, bytes) of every chunk of memory that is not all zero.
    chunks: Vec<(u64, Vec<u8>)>,
    stack_pointer: i32,
    handlers: BTreeMap<String, u32>,
    roots: BTreeMap<String, PathBuf>,
}

/// The SHA-256 of the guest module compiled into this build: a memory
/// image only means something to the very guest that wrote it.
pub(super) fn guest_identity() -> Result<String, String> {
    static DIGEST: OnceLock<String> = OnceLock::new();
    let guest = engine::guest()?;
    Ok(DIGEST
        .get_or_init(|| Sha256::digest(guest).iter().map(|byte| format!("{byte:02x}")).collect::<String>())
        .clone())
}

pub(super) fn export(snapshot: &BackendSnapshot) -> Result<(Arc<LoadSpec>, Vec<u8>)> {
    let snapshot = snapshot
        .downcast_ref::<WasmSnapshot>()
        .ok_or_else(|| Error::Snapshot("this snapshot was not taken by the wasm backend".into()))?;
    let memory = snapshot.memory.contents();
    let chunks = memory
        .chunks(CHUNK)
        .enumerate()
        .filter(|(_, chunk)| chunk.iter().any(|&b| b != 0))
        .map(|(index, chunk)| ((index * CHUNK) as u64, chunk.to_vec()))
        .collect();
    let payload = Payload {
        memory_len: memory.len() as u64,
        chunks,
        stack_pointer: snapshot.stack_pointer,
        handlers: snapshot.handlers.iter().map(|(name, index)| (name.clone(), *index)).collect(),
        roots: snapshot.modules.roots(),
    };
    postcard::to_stdvec(&payload)
        .map(|payload| (snapshot.spec.clone(), payload))
        .map_err(|e| Error::Internal(format!("cannot encode the wasm snapshot: {e}")))
}

/// A payload decoded once per loaded file and shared by every sandbox
/// started from it: each maps the same memory image copy-on-write, so a
/// start copies nothing.
struct Decoded {
    image: Arc<MemoryImage>,
    stack_pointer: i32,
    handlers: Arc<HashMap<String, u32>>,
    roots: BTreeMap<String, PathBuf>,
}

fn decode(spec: &LoadSpec, payload: &[u8]) -> Result<Decoded> {
    let bad = |what: String| Error::Snapshot(format!("the wasm snapshot in the file is unusable: {what}"));
    let payload: Payload = postcard::from_bytes(payload).map_err(|e| bad(e.to_string()))?;
    let memory_len = usize::try_from(payload.memory_len).map_err(|e| bad(e.to_string()))?;
    if memory_len % WASM_PAGE != 0 {
        return Err(bad(format!("{memory_len} bytes of memory is not a whole number of wasm pages")));
    }
    if payload.handlers.keys().ne(spec.handlers.keys())
        || payload.handlers.values().any(|&index| index as usize >= spec.handlers.len())
    {
        return Err(bad("its handler table does not match its handlers".into()));
    }
    let mut contents = vec![0u8; memory_len];
    for (offset, bytes) in &payload.chunks {
        let start = usize::try_from(*offset).map_err(|e| bad(e.to_string()))?;
        let target = start
            .checked_add(bytes.len())
            .and_then(|end| contents.get_mut(start..end))
            .ok_or_else(|| bad("a memory chunk lies outside the memory".into()))?;
        target.copy_from_slice(bytes);
    }
    let image = MemoryImage::write(&contents).map_err(|e| Error::Snapshot(format!("cannot load: {e}")))?;
    Ok(Decoded {
        image: Arc::new(image),
        stack_pointer: payload.stack_pointer,
        handlers: Arc::new(payload.handlers.into_iter().collect()),
        roots: payload.roots,
    })
}

impl Wasm {
    /// A guest started fresh, then put in the saved state exactly as a
    /// restore would (its handlers' load does not run again). `decoded`
    /// keeps the decoded payload for the next sandbox from the same file.
    pub(super) fn import(
        spec: Arc<LoadSpec>,
        payload: &[u8],
        decoded: &OnceLock<BackendSnapshot>,
        interrupt: &InterruptHandle,
    ) -> Result<Self> {
        let cached = decoded.get().cloned().and_then(|any| any.downcast::<Decoded>().ok());
        let saved = match cached {
            Some(saved) => saved,
            None => {
                let fresh = Arc::new(decode(&spec, payload)?);
                let _ = decoded.set(fresh.clone());
                fresh
            }
        };
        on_host_stack(|| {
            let mut wasm = Self::start(spec.clone(), interrupt)?;
            wasm.handlers = saved.handlers.clone();
            let mut modules = wasm.instance.state().modules.clone();
            modules.set_roots(saved.roots.clone());
            let snapshot: BackendSnapshot = Arc::new(WasmSnapshot {
                memory: saved.image.clone(),
                stack_pointer: saved.stack_pointer,
                modules,
                spec,
                handlers: saved.handlers.clone(),
            });
            Backend::restore(&mut wasm, &snapshot)?;
            Ok(wasm)
        })
    }
}
