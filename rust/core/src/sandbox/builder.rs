use super::{PrintFn, ProtoJSSandbox, SandboxConfig};
use crate::backend::BackendChoice;
use crate::error::{Error, Result};
use crate::spec::GuestConfig;

/// Default guest heap: QuickJS's memory limit.
pub const DEFAULT_HEAP_SIZE: usize = 64 * 1024 * 1024;
/// Default guest stack: QuickJS's recursion limit (never more than the
/// calling thread really has).
pub const DEFAULT_SCRATCH_SIZE: usize = 1024 * 1024;

/// The first stage of a sandbox's lifecycle: its backend and guest sizes.
#[derive(Clone)]
pub struct SandboxBuilder {
    config: SandboxConfig,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SandboxBuilder {
    /// The defaults: the `auto` backend, a 64 MiB heap and a 1 MiB stack.
    pub fn new() -> Self {
        Self {
            config: SandboxConfig {
                backend: BackendChoice::Auto,
                guest: GuestConfig { heap_size: DEFAULT_HEAP_SIZE, stack_size: DEFAULT_SCRATCH_SIZE, print: None },
                cpu_time_stats: false,
            },
        }
    }

    /// The guest's heap limit, in bytes; zero is refused.
    pub fn with_guest_heap_size(mut self, bytes: usize) -> Result<Self> {
        self.config.guest.heap_size = positive("guest heap size", bytes)?;
        Ok(self)
    }

    /// The guest's stack, in bytes; zero is refused.
    pub fn with_guest_scratch_size(mut self, bytes: usize) -> Result<Self> {
        self.config.guest.stack_size = positive("guest scratch size", bytes)?;
        Ok(self)
    }

    /// Which backend runs the sandbox (default: `Auto`, the strongest
    /// isolation that runs here; in-process only when named).
    pub fn with_backend(mut self, backend: BackendChoice) -> Self {
        self.config.backend = backend;
        self
    }

    /// Whether [`last_call_stats`](crate::LoadedJSSandbox::last_call_stats)
    /// gives the CPU time of unmonitored calls too (monitored calls always
    /// have it). Off by default: reading the thread's CPU clock is a system
    /// call on Linux, measurable on a round trip that does nothing else.
    pub fn with_cpu_time_stats(mut self, enabled: bool) -> Self {
        self.config.cpu_time_stats = enabled;
        self
    }

    /// Where `console.log` and `print` go. Without one, guest output is dropped.
    pub fn with_host_print_fn(mut self, print: PrintFn) -> Self {
        self.config.guest.print = Some(print);
        self
    }

    /// Resolves the backend (`Auto` picks one here, the same one every load
    /// of this sandbox will use: availability is probed once per process)
    /// and refuses heap or scratch sizes it cannot honour, naming the
    /// minimum. A backend that cannot run here is reported when the sandbox
    /// is loaded, as before.
    pub fn build(self) -> Result<ProtoJSSandbox> {
        if let Ok(backend) = self.config.backend.resolve() {
            backend.check_sizes(self.config.guest.heap_size, self.config.guest.stack_size)?;
        }
        Ok(ProtoJSSandbox::new(self.config))
    }
}

fn positive(what: &str, bytes: usize) -> Result<usize> {
    if bytes == 0 {
        return Err(Error::InvalidArgument(format!("{what} must be greater than zero")));
    }
    Ok(bytes)
}
