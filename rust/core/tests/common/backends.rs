//! The one place the tests ask the core which backends exist and how to
//! pick one; everything else names a backend only by its string.

use hyperlight_js_core::backend::{find, registry, Descriptor};
use hyperlight_js_core::SandboxBuilder;

/// A backend as the core registers it.
#[derive(Clone, Copy, Debug)]
pub struct Registered {
    /// Its public name (`with_backend`, `backend_name()`).
    pub name: &'static str,
    descriptor: &'static Descriptor,
}

impl Registered {
    /// Whether a sandbox of it can run on this machine, and if not why
    /// (including "not compiled into this build"). The first call probes
    /// the backend, so it is asked only by the checks that run.
    pub fn availability(&self) -> Result<(), String> {
        self.descriptor.availability().map_err(|reason| reason.to_string())
    }
}

/// Every backend the core registers, strongest isolation first.
pub fn registered_backends() -> Vec<Registered> {
    registry().iter().map(|&descriptor| Registered { name: descriptor.name, descriptor }).collect()
}

/// The registered backend with this name.
pub fn registered(name: &str) -> Registered {
    let descriptor = find(name).unwrap_or_else(|| panic!("{name:?} is not a registered backend"));
    Registered { name: descriptor.name, descriptor }
}

/// Whether the backend with this name can run here, and if not why.
pub fn availability(name: &str) -> Result<(), String> {
    registered(name).availability()
}

/// A builder for a sandbox of the backend with this name (or `"auto"`).
pub fn builder(name: &str) -> SandboxBuilder {
    let choice = name.parse().unwrap_or_else(|e| panic!("{name:?} is not a registered backend: {e}"));
    SandboxBuilder::new().with_backend(choice)
}

/// The backends a test run must be able to run (a comma-separated
/// `HLJS_REQUIRE_BACKENDS`): where one cannot, its checks fail with the
/// reason instead of being ignored, so a build that should run a backend
/// cannot pass by skipping it.
pub fn required(name: &str) -> bool {
    std::env::var("HLJS_REQUIRE_BACKENDS").is_ok_and(|names| names.split(',').any(|n| n.trim() == name))
}
