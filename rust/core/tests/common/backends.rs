//! The one place the tests ask the core which backends exist and how to
//! pick one; everything else names a backend only by its string.

use hyperlight_js_core::backend::registry;
use hyperlight_js_core::SandboxBuilder;

/// A backend as the core registers it: its public name, and whether a
/// sandbox of it can run on this machine (the reason when it cannot,
/// including "not compiled into this build").
#[derive(Clone, Debug)]
pub struct Registered {
    pub name: &'static str,
    pub availability: Result<(), String>,
}

/// Every backend the core registers, strongest isolation first.
pub fn registered_backends() -> Vec<Registered> {
    registry()
        .iter()
        .map(|backend| Registered {
            name: backend.name,
            availability: backend.availability().map_err(|reason| reason.to_string()),
        })
        .collect()
}

/// A builder for a sandbox of the backend with this name (or `"auto"`).
pub fn builder(name: &str) -> SandboxBuilder {
    let choice = name.parse().unwrap_or_else(|e| panic!("{name:?} is not a registered backend: {e}"));
    SandboxBuilder::new().with_backend(choice)
}

/// Whether the backend with this name can run here, and if not why.
pub fn availability(name: &str) -> Result<(), String> {
    registered_backends()
        .into_iter()
        .find(|backend| backend.name == name)
        .unwrap_or_else(|| panic!("{name:?} is not a registered backend"))
        .availability
}

/// The backends a test run must be able to run (a comma-separated
/// `HLJS_REQUIRE_BACKENDS`): where one cannot, its checks fail with the
/// reason instead of being ignored, so a build that should run a backend
/// cannot pass by skipping it.
pub fn required(name: &str) -> bool {
    std::env::var("HLJS_REQUIRE_BACKENDS").is_ok_and(|names| names.split(',').any(|n| n.trim() == name))
}
