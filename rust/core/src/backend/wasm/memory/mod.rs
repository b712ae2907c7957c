//! Linear memory the backend owns, so a snapshot can be exact and a restore
//! cheap.
//!
//! wasmtime lets an embedder supply linear memories (`MemoryCreator`). Ours
//! is a reservation that never moves, made accessible as the guest grows.
//! What a snapshot and a restore do with it is the operating system's part:
//!
//! - [`linux`]: a snapshot maps a memfd image copy-on-write over the memory;
//!   a restore copies back the pages `/proc/self/pagemap` reports written.
//! - [`windows`]: the reservation is made with `MEM_WRITE_WATCH`; a snapshot
//!   copies the memory into an image and resets the watch; a restore copies
//!   back the pages `GetWriteWatch` reports written.
//!
//! Either way a restore costs what the guest touched since the snapshot, not
//! the memory's size. Both export the same [`Region`] and [`MemoryImage`].
//!
//! wasm memories cannot shrink, so after a restore the memory keeps its
//! size; the pages past the image are zero and the guest's allocator, whose
//! break is part of the restored state, does not hand them out again until
//! it needs them (see `sbrk` in guest.c).

use std::cell::RefCell;
use std::io;
use std::sync::Arc;

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

#[cfg(target_os = "linux")]
mod dirty_pages;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::{MemoryImage, Region};
#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::{MemoryImage, Region};

/// wasm's page size: memories grow, and images are sized, in these.
pub(super) const WASM_PAGE: usize = 64 * 1024;
/// Address space reserved when wasmtime does not say (wasm32's 4 GiB).
const DEFAULT_RESERVATION: usize = 1 << 32;

thread_local! {
    /// The region the creator made last on this thread: instantiation is
    /// synchronous, so the backend picks its memory up right after.
    static CREATED: RefCell<Option<Arc<Region>>> = const { RefCell::new(None) };
}

/// Creates every linear memory of the wasm backend's engine.
pub(super) struct SnapshotMemories;

/// Takes the region created by the last instantiation on this thread.
pub(super) fn take_created() -> Option<Arc<Region>> {
    CREATED.with(|slot| slot.borrow_mut().take())
}

// SAFETY: the memories returned are reservations of `reserved + guard`
// bytes that never move, zero-filled, with exactly `byte_size()` bytes
// accessible and the rest (including the guard) inaccessible.
unsafe impl MemoryCreator for SnapshotMemories {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let reserved = reserved_size_in_bytes.unwrap_or_else(|| maximum.unwrap_or(DEFAULT_RESERVATION));
        let region = Region::reserve(minimum, reserved, guard_size_in_bytes).map_err(|e| e.to_string())?;
        let region = Arc::new(region);
        CREATED.with(|slot| *slot.borrow_mut() = Some(region.clone()));
        Ok(Box::new(WasmMemory(region)))
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum MemoryError {
    #[error("{what} failed: {source}")]
    Os { what: &'static str, source: io::Error },
    #[error("linear memory cannot grow to {wanted} bytes (reserved {reserved})")]
    Reservation { wanted: usize, reserved: usize },
    #[error("the snapshot is larger than this memory ({image} > {size} bytes): it belongs to another sandbox")]
    ForeignImage { image: usize, size: usize },
}

/// wasmtime's handle on a region.
struct WasmMemory(Arc<Region>);

// SAFETY: see `SnapshotMemories`; growth never moves the base.
unsafe impl LinearMemory for WasmMemory {
    fn byte_size(&self) -> usize {
        self.0.size()
    }

    fn byte_capacity(&self) -> usize {
        self.0.reserved()
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        self.0.grow_to(new_size).map_err(|e| wasmtime::format_err!("{e}"))
    }

    fn as_ptr(&self) -> *mut u8 {
        self.0.base()
    }
}
