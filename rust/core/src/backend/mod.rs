//! What actually runs the JavaScript. The lifecycle, poisoning and monitors
//! live above this trait, so a backend only has to run one call, stop when
//! the shared interrupt state says so, and return to a snapshot.
//!
//! Each backend is one folder exporting one [`Descriptor`], listed in the
//! [`registry`](mod@registry). How a call ended is decoded by each backend from its own
//! native form into `outcome`'s terms, and reported from there the same
//! way for all of them.

pub(crate) mod builtins;
mod choice;
pub(crate) mod handler;
pub(crate) mod host_errors;
#[cfg(feature = "hyperlight")]
mod hyperlight;
mod in_process;
pub(crate) mod outcome;
mod probe;
pub mod registry;
#[cfg(all(feature = "wasm", any(target_os = "linux", windows)))]
mod wasm;

pub use choice::BackendChoice;
pub use registry::{find, registry, Descriptor, Isolation, SizeFloors, Unavailable};

use std::any::Any;
use std::sync::Arc;

use crate::collection::Collection;
use crate::error::Result;
use crate::payload::Payload;

/// A backend's own snapshot data; only the backend that made it reads it.
pub type BackendSnapshot = Arc<dyn Any + Send + Sync>;

/// One loaded sandbox of some backend.
pub trait Backend: Send {
    /// Whether a handler of this name was loaded.
    fn has_handler(&self, name: &str) -> bool;

    /// Runs one call. The sandbox has already marked the call as running on
    /// the interrupt state; the backend must stop soon after it is killed.
    /// `collection` says whether it ends with a run of the cycle collector.
    fn call(&mut self, handler: &str, event_json: &str, collection: Collection) -> Result<Payload>;

    /// The guest's state now, to be given back to [`Backend::restore`].
    fn snapshot(&mut self) -> Result<BackendSnapshot>;

    /// Puts the guest back in the state of a snapshot this backend took.
    fn restore(&mut self, snapshot: &BackendSnapshot) -> Result<()>;
}
