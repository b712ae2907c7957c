//! Which backend runs a sandbox, and whether it can run here.
//!
//! The names are part of the public contract (`with_backend(name)`,
//! `LoadedJSSandbox.backend`). `auto` picks the strongest isolation that
//! actually works on this machine: a micro-VM, else WebAssembly. Running
//! in the host process is never chosen for you; you ask for it by name.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// QuickJS inside a Hyperlight micro-VM (hardware isolation).
    Hyperlight,
    /// QuickJS compiled to WebAssembly, run by wasmtime (memory-safe boundary).
    Wasm,
    /// QuickJS in the host process (no boundary beyond the engine itself).
    InProcess,
}

/// What the builder asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    #[default]
    Auto,
    Named(BackendKind),
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [BackendKind::Hyperlight, BackendKind::Wasm, BackendKind::InProcess];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Hyperlight => "hyperlight",
            BackendKind::Wasm => "wasm",
            BackendKind::InProcess => "in-process",
        }
    }

    /// Whether this backend is compiled into this build.
    pub fn compiled_in(self) -> bool {
        match self {
            BackendKind::Hyperlight => cfg!(feature = "hyperlight"),
            BackendKind::Wasm => cfg!(feature = "wasm"),
            BackendKind::InProcess => true,
        }
    }

    /// Whether a sandbox of this kind can run on this machine, and if not why.
    /// Probing may start (and discard) a guest, so the answer is cached.
    pub fn availability(self) -> Result<(), String> {
        match self {
            BackendKind::InProcess => Ok(()),
            BackendKind::Wasm => wasm_availability(),
            BackendKind::Hyperlight => hyperlight_availability(),
        }
    }
}

#[cfg(feature = "wasm")]
fn wasm_availability() -> Result<(), String> {
    super::wasm::availability()
}

#[cfg(not(feature = "wasm"))]
fn wasm_availability() -> Result<(), String> {
    Err("the wasm backend is not compiled into this build (cargo feature `wasm`)".into())
}

#[cfg(feature = "hyperlight")]
fn hyperlight_availability() -> Result<(), String> {
    super::hyperlight::availability()
}

#[cfg(not(feature = "hyperlight"))]
fn hyperlight_availability() -> Result<(), String> {
    Err("the hyperlight backend is not compiled into this build (cargo feature `hyperlight`)".into())
}

impl BackendChoice {
    /// The backend a load will use, or why none can.
    pub fn resolve(self) -> Result<BackendKind, Error> {
        match self {
            BackendChoice::Named(kind) => match kind.availability() {
                Ok(()) => Ok(kind),
                Err(reason) => Err(Error::BackendUnavailable { backend: kind.name(), reason }),
            },
            BackendChoice::Auto => {
                let mut reasons = Vec::new();
                for kind in [BackendKind::Hyperlight, BackendKind::Wasm] {
                    match kind.availability() {
                        Ok(()) => return Ok(kind),
                        Err(reason) => reasons.push(format!("{}: {reason}", kind.name())),
                    }
                }
                Err(Error::BackendUnavailable {
                    backend: "auto",
                    reason: format!(
                        "no isolated backend can run here ({}); ask for \"in-process\" by name to run without one",
                        reasons.join("; ")
                    ),
                })
            }
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendChoice {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        if name == "auto" {
            return Ok(BackendChoice::Auto);
        }
        BackendKind::ALL.into_iter().find(|k| k.name() == name).map(BackendChoice::Named).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "unknown backend {name:?}: use \"hyperlight\", \"wasm\", \"in-process\" or \"auto\""
            ))
        })
    }
}
