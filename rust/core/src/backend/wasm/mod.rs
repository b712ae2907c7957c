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
//! - **Cost**: the module is compiled once per process ([`engine`]); a
//!   sandbox instantiates it and starts QuickJS in about a millisecond.
//!
//! The guest is built by build.rs from QuickJS's C sources and
//! `guest/guest.c`; without clang and wasi-libc the crate still builds and
//! [`availability`] says why this backend cannot run. It runs on Linux and
//! Windows hosts (the snapshot memory is the operating system's part, see
//! [`memory`]); elsewhere it reports itself unavailable.

#[cfg(any(target_os = "linux", windows))]
mod abi;
#[cfg(any(target_os = "linux", windows))]
mod engine;
#[cfg(any(target_os = "linux", windows))]
mod imports;
#[cfg(any(target_os = "linux", windows))]
mod instance;
#[cfg(any(target_os = "linux", windows))]
mod limiter;
#[cfg(any(target_os = "linux", windows))]
mod memory;
#[cfg(any(target_os = "linux", windows))]
mod modules;
#[cfg(any(target_os = "linux", windows))]
mod outcome;
mod sizes;
#[cfg(any(target_os = "linux", windows))]
mod state;
#[cfg(any(target_os = "linux", windows))]
mod wasi;

pub(crate) use sizes::{MIN_HEAP_SIZE, MIN_SCRATCH_SIZE};

#[cfg(any(target_os = "linux", windows))]
mod backend;
#[cfg(any(target_os = "linux", windows))]
pub use backend::Wasm;
#[cfg(any(target_os = "linux", windows))]
mod saved;
#[cfg(any(target_os = "linux", windows))]
pub(crate) use saved::{export, guest_identity};

#[cfg(not(any(target_os = "linux", windows)))]
mod unsupported;
#[cfg(not(any(target_os = "linux", windows)))]
pub use unsupported::Wasm;
#[cfg(not(any(target_os = "linux", windows)))]
pub(crate) use unsupported::{export, guest_identity};

/// Whether the backend can run here; the first call compiles the guest and
/// starts one to be sure, so the answer is cached.
#[cfg(any(target_os = "linux", windows))]
pub fn availability() -> Result<(), String> {
    backend::probe()
}

#[cfg(not(any(target_os = "linux", windows)))]
pub fn availability() -> Result<(), String> {
    Err(unsupported::REASON.into())
}
