//! The process-wide half of the backend: one wasmtime engine, the guest
//! module compiled once (the expensive part, most of a second; kept on disk
//! by [`super::module_cache`] so later processes only load it) and
//! pre-linked against the host's imports, so a sandbox only instantiates it
//! (microseconds, plus QuickJS's own start-up).

use std::sync::{Arc, OnceLock};

use wasmtime::{Config, Engine, ExternType, InstancePre, Linker, OptLevel, ProfilingStrategy};

use super::memory::SnapshotMemories;
use super::start_image::StartImages;
use super::state::GuestState;
use super::{imports, module_cache, wasi};

/// The guest module, built by build.rs (empty if it could not be).
static GUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.wasm"));
/// Why build.rs could not build the guest (empty when it did).
const GUEST_MISSING: &str = env!("HYPERLIGHT_JS_WASM_GUEST_MISSING");

/// Native stack wasm code may use on the host thread. QuickJS's recursion
/// limit is kept well inside it (see `stack_position` in guest.c), so
/// running into it is only a backstop.
pub(super) const WASM_STACK: usize = 4 * 1024 * 1024;

/// Set to `1` to have wasmtime write `/tmp/perf-<pid>.map`, so `perf report`
/// names the guest's functions instead of showing bare JIT addresses.
const PERFMAP_ENV: &str = "HYPERLIGHT_JS_WASM_PERFMAP";

pub(super) struct Shared {
    pub engine: Engine,
    pub pre: InstancePre<GuestState>,
    /// Bytes of linear memory the guest starts with: its shadow stack and
    /// static data. The heap limit comes on top.
    pub initial_memory: usize,
    /// The guest as it is after start-up, per configuration (see
    /// [`super::start_image`]): they belong to this module.
    pub start_images: StartImages,
}

/// The engine and compiled guest, built on first use; the error says why
/// the backend cannot run.
pub(super) fn shared() -> Result<&'static Shared, String> {
    static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
    SHARED.get_or_init(build).as_ref().map_err(Clone::clone)
}

/// The guest module's bytes, or why it was not built.
pub(super) fn guest() -> Result<&'static [u8], String> {
    if GUEST.is_empty() {
        let reason = if GUEST_MISSING.is_empty() { "the wasm guest was not built" } else { GUEST_MISSING };
        return Err(reason.to_owned());
    }
    Ok(GUEST)
}

fn build() -> Result<Shared, String> {
    guest()?;
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .max_wasm_stack(WASM_STACK)
        // Only checked against the stack above; calls here are synchronous.
        .async_stack_size(WASM_STACK)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true)
        .with_host_memory(Arc::new(SnapshotMemories))
        // Copy-on-write initialisation needs wasmtime's own memories; ours
        // are initialised by copying the data segments once per sandbox.
        .memory_init_cow(false)
        // A trap is reported by its kind; walking a deep guest stack to
        // build a backtrace nobody reads would only delay the report.
        .wasm_backtrace_max_frames(None);
    if std::env::var_os(PERFMAP_ENV).is_some_and(|value| value == "1") {
        config.profiler(ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config).map_err(|e| format!("cannot start wasmtime: {e}"))?;
    let module = module_cache::load_or_compile(&engine, GUEST)?;
    let initial_memory = module
        .exports()
        .find_map(|export| match export.ty() {
            ExternType::Memory(memory) => Some(memory.minimum()),
            _ => None,
        })
        .ok_or("the wasm guest exports no memory")?;
    let mut linker = Linker::new(&engine);
    imports::define(&mut linker).map_err(|e| format!("cannot link the wasm guest: {e}"))?;
    wasi::define(&mut linker).map_err(|e| format!("cannot link the wasm guest: {e}"))?;
    let pre = linker.instantiate_pre(&module).map_err(|e| format!("cannot link the wasm guest: {e}"))?;
    let initial_memory = usize::try_from(initial_memory.saturating_mul(65536)).map_err(|e| e.to_string())?;
    Ok(Shared { engine, pre, initial_memory, start_images: StartImages::default() })
}
