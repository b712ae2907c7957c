//! The smallest heap and scratch sizes each backend can honour. Each
//! backend measures and keeps its own (its `sizes` module); this only
//! gathers them so `SandboxBuilder::build()` can refuse a size before
//! anything is built, with the minimum in the message.

use super::BackendKind;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeFloors {
    /// Bytes of guest heap.
    pub heap: usize,
    /// Bytes of guest stack (the scratch size).
    pub scratch: usize,
}

impl BackendKind {
    /// The least heap and scratch sizes this backend can run a handler
    /// with; `None` when the backend is not compiled in.
    pub fn size_floors(self) -> Option<SizeFloors> {
        match self {
            BackendKind::InProcess => Some(SizeFloors {
                heap: super::in_process::MIN_HEAP_SIZE,
                scratch: super::in_process::MIN_SCRATCH_SIZE,
            }),
            #[cfg(feature = "wasm")]
            BackendKind::Wasm => {
                Some(SizeFloors { heap: super::wasm::MIN_HEAP_SIZE, scratch: super::wasm::MIN_SCRATCH_SIZE })
            }
            #[cfg(feature = "hyperlight")]
            BackendKind::Hyperlight => Some(SizeFloors {
                heap: super::hyperlight::MIN_HEAP_SIZE,
                scratch: super::hyperlight::MIN_SCRATCH_SIZE,
            }),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Refuses sizes this backend cannot honour.
    pub(crate) fn check_sizes(self, heap: usize, scratch: usize) -> Result<()> {
        let Some(floors) = self.size_floors() else { return Ok(()) };
        let refuse = |what: &str, asked: usize, floor: usize| {
            Error::InvalidArgument(format!(
                "a {what} of {asked} bytes is too small for the {} backend: the minimum is {floor} bytes ({} KiB)",
                self.name(),
                floor / 1024
            ))
        };
        if heap < floors.heap {
            return Err(refuse("guest heap size", heap, floors.heap));
        }
        if scratch < floors.scratch {
            return Err(refuse("guest scratch size", scratch, floors.scratch));
        }
        Ok(())
    }
}
