//! Which backend a sandbox asks for, and which one it gets.
//!
//! The names are part of the public contract (`with_backend(name)`,
//! `LoadedJSSandbox.backend`) and come from the [registry](super::registry).
//! `auto` picks the strongest isolation that actually works on this
//! machine. Running in the host process is never chosen for you; you ask
//! for it by name.

use std::str::FromStr;

use super::registry::{self, Descriptor};
use crate::error::Error;

/// What the builder asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// The first isolated backend, by rank, that runs here.
    #[default]
    Auto,
    /// This backend, or an error if it cannot run here.
    Named(&'static Descriptor),
}

impl BackendChoice {
    /// The backend a load will use, or why none can.
    pub fn resolve(self) -> Result<&'static Descriptor, Error> {
        match self {
            BackendChoice::Named(backend) => {
                backend.availability().map(|()| backend).map_err(|r| backend.unavailable(r))
            }
            BackendChoice::Auto => {
                let mut reasons = Vec::new();
                for backend in registry::registry().iter().filter(|d| d.isolation.is_isolated()) {
                    match backend.availability() {
                        Ok(()) => return Ok(backend),
                        Err(reason) => reasons.push(format!("{}: {reason}", backend.name)),
                    }
                }
                let by_name: Vec<&str> =
                    registry::registry().iter().filter(|d| !d.isolation.is_isolated()).map(|d| d.name).collect();
                Err(Error::BackendUnavailable {
                    backend: "auto",
                    needs_hypervisor: false,
                    reason: format!(
                        "no isolated backend can run here ({}); ask for {} by name to run without one",
                        reasons.join("; "),
                        by_name.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(" or ")
                    ),
                })
            }
        }
    }
}

impl FromStr for BackendChoice {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        if name == "auto" {
            return Ok(BackendChoice::Auto);
        }
        registry::find(name).map(BackendChoice::Named).ok_or_else(|| {
            let names: Vec<String> = registry::registry().iter().map(|d| format!("{:?}", d.name)).collect();
            Error::InvalidArgument(format!("unknown backend {name:?}: use {} or \"auto\"", names.join(", ")))
        })
    }
}
