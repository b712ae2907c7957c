//! Every backend, described once.
//!
//! A backend folder exports one [`Descriptor`]; this file lists them, in
//! rank order. Everything else — `with_backend` names, `auto`, the size
//! floors `build()` checks, snapshot files, Python's `_native.backends()`,
//! `doctor`, the error class for an unavailable backend — reads the
//! descriptors, so adding a backend is one folder and one line here.

use std::sync::{Arc, OnceLock};

use super::{Backend, BackendSnapshot};
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::spec::LoadSpec;

/// What stands between a handler and the host process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// A hardware-virtualised micro-VM: needs a hypervisor.
    MicroVm,
    /// A WebAssembly instance: the guest can touch only its linear memory.
    WebAssembly,
    /// None beyond the engine itself: the handler runs in the host process.
    None,
}

impl Isolation {
    /// Whether `auto` may pick a backend with this isolation.
    pub fn is_isolated(self) -> bool {
        self != Isolation::None
    }
}

/// Why a backend cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// This build was made without it (a cargo feature, or a guest that
    /// could not be built with the tools at hand).
    #[error("{0}")]
    NotCompiledIn(String),
    /// It is not built for this operating system.
    #[error("{0}")]
    UnsupportedHost(String),
    /// It needs a hypervisor and none can be opened.
    #[error("{0}")]
    NoHypervisor(String),
    /// It is here but a sandbox does not start or answer (the probe's error).
    #[error("{0}")]
    DoesNotStart(String),
}

/// The smallest sizes a backend can run a handler with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeFloors {
    /// Bytes of guest heap.
    pub heap: usize,
    /// Bytes of guest stack (the scratch size).
    pub scratch: usize,
}

/// Builds a backend for a load.
pub(crate) type LoadFn = fn(Arc<LoadSpec>, &InterruptHandle) -> Result<Box<dyn Backend>>;

/// A snapshot's load and payload bytes, for its file.
pub(crate) type ExportFn = fn(&BackendSnapshot) -> Result<(Arc<LoadSpec>, Vec<u8>)>;
/// A backend started from a payload (the cell caches what was decoded).
pub(crate) type ImportFn =
    fn(Arc<LoadSpec>, &[u8], &OnceLock<BackendSnapshot>, &InterruptHandle) -> Result<Box<dyn Backend>>;

/// A backend's part in snapshot files (see `sandbox::snapshot_file`).
pub(crate) struct SnapshotFiles {
    /// Names the guest code a payload is only valid for.
    pub guest_identity: fn() -> Result<String, Unavailable>,
    /// A snapshot this backend took, as the load it belongs to and bytes.
    pub export: ExportFn,
    /// A backend in the state a payload describes; what was decoded may be
    /// kept in the cell for the next sandbox started from the same file.
    pub import: ImportFn,
}

/// What a backend compiled into this build can do.
pub(crate) struct Engine {
    pub floors: SizeFloors,
    /// What is checked or prepared before a sandbox is tried (a hypervisor
    /// device, compiling the guest); it runs outside the probe's time limit,
    /// which is for a guest that never answers.
    pub preconditions: fn() -> Result<(), Unavailable>,
    pub load: LoadFn,
    /// `None`: its snapshots cannot be written to a file.
    pub files: Option<SnapshotFiles>,
}

/// One backend: its public facts and, when compiled in, its engine.
pub struct Descriptor {
    /// The name users pass to `with_backend` and see as `backend`.
    pub name: &'static str,
    /// Lower is stronger isolation; `auto` takes the first isolated
    /// backend that runs here.
    pub rank: u8,
    /// What separates its guests from the host.
    pub isolation: Isolation,
    /// What one sandbox of it is called in messages ("a micro-VM").
    pub(crate) sandbox_noun: &'static str,
    pub(crate) engine: Result<&'static Engine, &'static str>,
    /// The probe's answer, once asked (see `backend::probe`).
    pub(crate) availability: OnceLock<Result<(), Unavailable>>,
}

impl Descriptor {
    /// A backend compiled into this build.
    pub(crate) const fn compiled(
        name: &'static str,
        rank: u8,
        isolation: Isolation,
        sandbox_noun: &'static str,
        engine: &'static Engine,
    ) -> Self {
        Self { name, rank, isolation, sandbox_noun, engine: Ok(engine), availability: OnceLock::new() }
    }

    /// A backend left out of this build; `why` says how to get it.
    #[allow(dead_code, reason = "only builds that leave a backend out describe one as absent")]
    pub(crate) const fn absent(name: &'static str, rank: u8, isolation: Isolation, why: &'static str) -> Self {
        Self { name, rank, isolation, sandbox_noun: "a sandbox", engine: Err(why), availability: OnceLock::new() }
    }

    /// Whether this build contains the backend.
    pub fn compiled_in(&self) -> bool {
        self.engine.is_ok()
    }

    /// Whether a sandbox of this backend runs here, and if not why. The first
    /// call tries one (see `backend::probe`); the answer is kept.
    pub fn availability(&'static self) -> Result<(), Unavailable> {
        self.availability.get_or_init(|| super::probe::probe(self)).clone()
    }

    /// The least sizes it can run a handler with; `None` when not compiled in.
    pub fn size_floors(&self) -> Option<SizeFloors> {
        self.engine.ok().map(|engine| engine.floors)
    }

    /// Its engine, or the error a load of it reports.
    pub(crate) fn engine(&'static self) -> Result<&'static Engine> {
        match self.engine {
            Ok(engine) => Ok(engine),
            Err(why) => Err(self.unavailable(Unavailable::NotCompiledIn(why.into()))),
        }
    }

    /// The error for a load of this backend that cannot run here.
    pub(crate) fn unavailable(&self, reason: Unavailable) -> Error {
        Error::BackendUnavailable {
            backend: self.name,
            needs_hypervisor: self.isolation == Isolation::MicroVm,
            reason: reason.to_string(),
        }
    }

    /// Refuses sizes this backend cannot honour, naming the minimum.
    pub(crate) fn check_sizes(&self, heap: usize, scratch: usize) -> Result<()> {
        let Some(floors) = self.size_floors() else { return Ok(()) };
        let refuse = |what: &str, asked: usize, floor: usize| {
            Error::InvalidArgument(format!(
                "a {what} of {asked} bytes is too small for the {} backend: the minimum is {floor} bytes ({} KiB)",
                self.name,
                floor / 1024
            ))
        };
        if heap < floors.heap {
            return Err(refuse("guest heap size", heap, floors.heap));
        }
        if scratch < floors.scratch {
            return Err(refuse("guest scratch size", scratch, floors.scratch));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Descriptor").field("name", &self.name).field("rank", &self.rank).finish_non_exhaustive()
    }
}

impl PartialEq for Descriptor {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Descriptor {}

#[cfg(feature = "hyperlight")]
use super::hyperlight::DESCRIPTOR as HYPERLIGHT;
#[cfg(not(feature = "hyperlight"))]
static HYPERLIGHT: Descriptor = Descriptor::absent(
    "hyperlight",
    0,
    Isolation::MicroVm,
    "the hyperlight backend is not compiled into this build (cargo feature `hyperlight`)",
);

#[cfg(all(feature = "wasm", any(target_os = "linux", windows)))]
use super::wasm::DESCRIPTOR as WASM;
#[cfg(all(feature = "wasm", not(any(target_os = "linux", windows))))]
static WASM: Descriptor =
    Descriptor::absent("wasm", 1, Isolation::WebAssembly, "the wasm backend is built for Linux and Windows hosts only");
#[cfg(not(feature = "wasm"))]
static WASM: Descriptor = Descriptor::absent(
    "wasm",
    1,
    Isolation::WebAssembly,
    "the wasm backend is not compiled into this build (cargo feature `wasm`)",
);

use super::in_process::DESCRIPTOR as IN_PROCESS;

/// Every backend, strongest isolation first.
static REGISTRY: [&Descriptor; 3] = [&HYPERLIGHT, &WASM, &IN_PROCESS];

/// Every backend this package knows, compiled in or not, by rank.
pub fn registry() -> &'static [&'static Descriptor] {
    &REGISTRY
}

/// The backend called `name`.
pub fn find(name: &str) -> Option<&'static Descriptor> {
    REGISTRY.iter().copied().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_distinct_and_in_order_and_names_unique() {
        for pair in REGISTRY.windows(2) {
            assert!(pair[0].rank < pair[1].rank, "{:?} before {:?}", pair[0], pair[1]);
            assert_ne!(pair[0].name, pair[1].name);
        }
        assert!(REGISTRY.iter().all(|d| find(d.name) == Some(*d)));
        assert_eq!(find("nope"), None);
    }

    #[test]
    fn the_in_process_backend_is_never_isolated_and_always_built() {
        let in_process = registry().iter().find(|d| !d.isolation.is_isolated()).unwrap();
        assert!(in_process.compiled_in());
    }

    #[test]
    fn sizes_below_a_backends_floor_are_refused_with_the_minimum() {
        let backend = registry().iter().find(|d| d.compiled_in()).unwrap();
        let floors = backend.size_floors().unwrap();
        assert!(backend.check_sizes(floors.heap, floors.scratch).is_ok());
        match backend.check_sizes(floors.heap - 1, floors.scratch) {
            Err(Error::InvalidArgument(message)) => assert!(message.contains(&format!("{} bytes", floors.heap))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(backend.check_sizes(floors.heap, floors.scratch - 1), Err(Error::InvalidArgument(_))));
    }
}
