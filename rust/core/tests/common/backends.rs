//! The one place the tests ask the core which backends exist and how to
//! pick one; everything else names a backend only by its string.

use hyperlight_js_core::backend::BackendKind;
use hyperlight_js_core::SandboxBuilder;

/// A backend as the core registers it: its public name, and whether a
/// sandbox of it can run on this machine (the reason when it cannot,
/// including "not compiled into this build").
#[derive(Clone, Debug)]
pub struct Registered {
    pub name: &'static str,
    pub availability: Result<(), String>,
}

/// Every backend the core knows of, in its order of isolation.
pub fn registered_backends() -> Vec<Registered> {
    BackendKind::ALL
        .into_iter()
        .map(|kind| Registered { name: kind.name(), availability: kind.availability() })
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
