//! QuickJS compiled to WebAssembly (wasm32-wasi) and run by wasmtime.
//!
//! The same engine as the in-process backend, behind a memory-safe
//! boundary: the guest can only touch its own linear memory, and reaches
//! the host through a handful of imports (console, module loading, host
//! functions, the kill flag, clocks). A bug in QuickJS is a bug inside the
//! sandbox, not in the host process.
//!
//! - **Kill**: wasmtime's epoch interruption. A kill bumps the engine-wide
//!   epoch (the sandbox's kill hook); every running guest then checks its
//!   *own* call's kill flag, and only the killed one traps, within
//!   microseconds and wherever it is (a loop in C code included).
//! - **Heap**: the heap size is a hard limit on linear memory, enforced by a
//!   resource limiter (see [`limiter`]).
//! - **Snapshots** are exact: linear memory and the stack pointer (the
//!   guest's only mutable global) as they were, taken at any time, with the
//!   host's view of them (handler numbers, import roots), so one taken
//!   before an unload brings its own handlers back. A restore copies back
//!   only the pages written since (see [`memory`]), and gives Math.random a
//!   new seed, which would otherwise come back with the memory.
//! - **Snapshot files** hold that same state (see [`saved`]): loading one
//!   starts a fresh guest and restores it, without running the handlers'
//!   load again.
//! - **Cost**: the module is compiled once per machine and kept in the
//!   user's cache directory ([`module_cache`]), loaded once per process
//!   ([`engine`]); the first sandbox of a configuration starts QuickJS and
//!   runs the built-ins (milliseconds) and leaves its memory as a start
//!   image ([`start_image`]); the others instantiate the module and map that
//!   image, in tens of microseconds.
//!
//! The guest is built by build.rs from QuickJS's C sources and
//! `rust/core/guest/wasm/guest.c`; without clang and wasi-libc the crate still builds and
//! the descriptor says why this backend cannot run. It is built for Linux
//! and Windows hosts (the snapshot memory is the operating system's part,
//! see [`memory`]); the registry describes it as absent elsewhere.

mod abi;
mod backend;
mod engine;
mod imports;
mod instance;
mod limiter;
mod memory;
mod module_cache;
mod modules;
mod outcome;
mod saved;
mod sizes;
mod start_image;
mod state;
mod wasi;

use super::registry::{Descriptor, Engine, Isolation, SizeFloors, SnapshotFiles, Unavailable};
use backend::Wasm;
use sizes::{MIN_HEAP_SIZE, MIN_SCRATCH_SIZE};

/// The wasm backend in the registry.
pub(crate) static DESCRIPTOR: Descriptor =
    Descriptor::compiled("wasm", 1, Isolation::WebAssembly, "a wasm guest", &REGISTERED);

static REGISTERED: Engine = Engine {
    floors: SizeFloors { heap: MIN_HEAP_SIZE, scratch: MIN_SCRATCH_SIZE },
    preconditions: || {
        // The guest is built by build.rs only where clang and wasi-libc were
        // found; without it this build has no wasm backend to offer.
        engine::guest().map_err(Unavailable::NotCompiledIn)?;
        // Compiling the guest takes seconds of CPU (more in a debug build on
        // a busy machine): done here, before the probe's time limit starts.
        engine::shared().map(drop).map_err(Unavailable::DoesNotStart)
    },
    load: |spec, interrupt| Ok(Box::new(Wasm::load(spec, interrupt)?)),
    files: Some(SnapshotFiles {
        guest_identity: || saved::guest_identity().map_err(Unavailable::NotCompiledIn),
        export: saved::export,
        import: |spec, payload, decoded, interrupt| Ok(Box::new(Wasm::import(spec, payload, decoded, interrupt)?)),
    }),
};
