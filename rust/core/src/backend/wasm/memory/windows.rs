//! Windows: the snapshot memory as a write-watched reservation.
//!
//! The memory is reserved with `MEM_WRITE_WATCH` and committed as the guest
//! grows. The kernel then records every page written since the last
//! `ResetWriteWatch`, and `GetWriteWatch` lists them. A snapshot copies the
//! memory into an image (a heap buffer) and resets the watch; a restore of
//! that same image copies back only the pages listed, zeroes those past the
//! image, and resets the watch again, so it costs what the guest touched.
//!
//! Restoring any other image (or if the watch cannot be read) copies the
//! whole image and zeroes the rest: correct, just without the shortcut.
//! Unlike Linux's copy-on-write image, a snapshot here costs one full copy
//! of the memory when it is taken.

use std::ffi::c_void;
use std::io;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use windows_sys::Win32::System::Memory::{
    GetWriteWatch, ResetWriteWatch, VirtualAlloc, VirtualFree, MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE,
    PAGE_NOACCESS, PAGE_READWRITE,
};

use super::MemoryError;

/// `MEM_WRITE_WATCH` and `WRITE_WATCH_FLAG_RESET` from winnt.h (windows-sys
/// keeps them in a module far larger than these two numbers).
const MEM_WRITE_WATCH: u32 = 0x0020_0000;
/// x86-64 Windows pages; wasm's 64 KiB pages are whole multiples of it.
const PAGE: usize = 4096;

fn os_error(what: &'static str) -> MemoryError {
    MemoryError::Os { what, source: io::Error::last_os_error() }
}

/// One linear memory: its reservation and the image it was last reset to.
pub(crate) struct Region {
    base: *mut u8,
    /// Bytes the memory may grow to without moving.
    reserved: usize,
    /// Committed (accessible) bytes: the wasm memory's size.
    size: AtomicUsize,
    /// The image the write watch was last reset against, if any, and the
    /// buffer `GetWriteWatch` fills (kept to avoid an allocation per restore).
    state: Mutex<WatchState>,
}

struct WatchState {
    image: Option<Arc<MemoryImage>>,
    written: Vec<*mut c_void>,
}

// SAFETY: `base` points to a reservation this region owns until it drops.
// The memory is only read or written by the guest (through wasmtime, one
// store at a time) and by snapshot/restore, which the backend runs with
// exclusive access to the store, so never while the guest runs. The page
// addresses in `written` are only numbers read back from the kernel.
unsafe impl Send for Region {}
// SAFETY: as for `Send`: what a shared reference changes is atomic or
// locked, and the memory is touched only with exclusive access to the store.
unsafe impl Sync for Region {}

impl Region {
    pub(super) fn reserve(size: usize, reserved: usize, guard: usize) -> Result<Self, MemoryError> {
        if size > reserved {
            return Err(MemoryError::Reservation { wanted: size, reserved });
        }
        let mapped = reserved.checked_add(guard).ok_or(MemoryError::Reservation { wanted: size, reserved })?;
        // SAFETY: a fresh reservation; nothing else refers to it. Reserved
        // pages are inaccessible until committed, which is what the guard
        // and the part past the memory's size must be.
        let base = unsafe { VirtualAlloc(ptr::null(), mapped, MEM_RESERVE | MEM_WRITE_WATCH, PAGE_NOACCESS) };
        if base.is_null() {
            return Err(os_error("reserving linear memory (VirtualAlloc)"));
        }
        let region = Self {
            base: base.cast(),
            reserved,
            size: AtomicUsize::new(0),
            state: Mutex::new(WatchState { image: None, written: Vec::new() }),
        };
        region.commit(0, size)?;
        region.size.store(size, Ordering::Release);
        Ok(region)
    }

    pub(crate) fn size(&self) -> usize {
        self.size.load(Ordering::Acquire)
    }

    pub(super) fn reserved(&self) -> usize {
        self.reserved
    }

    pub(super) fn base(&self) -> *mut u8 {
        self.base
    }

    /// Commits [from, to): zero-filled, readable and writable.
    fn commit(&self, from: usize, to: usize) -> Result<(), MemoryError> {
        if to <= from {
            return Ok(());
        }
        // SAFETY: [from, to) lies inside the reservation (callers check).
        let done = unsafe { VirtualAlloc(self.base.add(from).cast(), to - from, MEM_COMMIT, PAGE_READWRITE) };
        if done.is_null() {
            return Err(os_error("growing linear memory (VirtualAlloc)"));
        }
        Ok(())
    }

    pub(super) fn grow_to(&self, new_size: usize) -> Result<(), MemoryError> {
        if new_size > self.reserved {
            return Err(MemoryError::Reservation { wanted: new_size, reserved: self.reserved });
        }
        let size = self.size();
        self.commit(size, new_size)?;
        self.size.store(new_size.max(size), Ordering::Release);
        Ok(())
    }

    /// Captures the memory as it is now into a new image and starts
    /// watching for writes against it.
    pub(crate) fn snapshot(&self) -> Result<Arc<MemoryImage>, MemoryError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let size = self.size();
        // SAFETY: [0, size) is committed and nothing runs in the guest.
        let contents = unsafe { std::slice::from_raw_parts(self.base, size) };
        let image = Arc::new(MemoryImage { bytes: contents.into() });
        self.reset_watch(size)?;
        state.image = Some(image.clone());
        Ok(image)
    }

    /// Puts the memory back to `image`'s contents (see the module docs).
    pub(crate) fn restore(&self, image: &Arc<MemoryImage>) -> Result<(), MemoryError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let size = self.size();
        let len = image.bytes.len();
        if len > size {
            return Err(MemoryError::ForeignImage { image: len, size });
        }
        let watched_now = state.image.as_ref().is_some_and(|watched| Arc::ptr_eq(watched, image));
        let copied_back = watched_now && self.copy_back_written(image, size, &mut state.written);
        if !copied_back {
            self.copy_all(image, size)?;
        }
        self.reset_watch(size)?;
        state.image = Some(image.clone());
        Ok(())
    }

    /// Copies back from `image` the pages written since the watch was reset
    /// and zeroes those past it; false if the watch cannot be read.
    fn copy_back_written(&self, image: &MemoryImage, size: usize, written: &mut Vec<*mut c_void>) -> bool {
        written.resize(size.div_ceil(PAGE), ptr::null_mut());
        let mut count = written.len();
        let mut granularity = 0u32;
        // SAFETY: the range is our committed memory; `written` holds
        // `count` entries for the kernel to fill.
        let failed =
            unsafe { GetWriteWatch(0, self.base.cast(), size, written.as_mut_ptr(), &mut count, &mut granularity) };
        let granularity = granularity as usize;
        if failed != 0 || granularity == 0 || granularity % PAGE != 0 {
            return false;
        }
        let len = image.bytes.len();
        for &page in &written[..count] {
            let start = (page as usize).wrapping_sub(self.base as usize);
            if start >= size {
                continue;
            }
            let end = (start + granularity).min(size);
            let copy_end = end.min(len);
            // SAFETY: [start, end) is inside the committed memory, and the
            // image is a separate buffer of `len` bytes.
            unsafe {
                if start < copy_end {
                    ptr::copy_nonoverlapping(image.bytes.as_ptr().add(start), self.base.add(start), copy_end - start);
                }
                let zero_start = start.max(len);
                if zero_start < end {
                    ptr::write_bytes(self.base.add(zero_start), 0, end - zero_start);
                }
            }
        }
        true
    }

    /// Copies the whole image over [0, len) and gives [len, size) fresh
    /// zero pages (decommitted and committed again).
    fn copy_all(&self, image: &MemoryImage, size: usize) -> Result<(), MemoryError> {
        let len = image.bytes.len();
        // SAFETY: [0, len) is committed (len <= size) and the image is a
        // separate buffer.
        unsafe { ptr::copy_nonoverlapping(image.bytes.as_ptr(), self.base, len) };
        if size > len {
            // SAFETY: decommits part of our own committed memory; it is
            // committed again at once, reading as zero.
            let done = unsafe { VirtualFree(self.base.add(len).cast(), size - len, MEM_DECOMMIT) };
            if done == 0 {
                return Err(os_error("zeroing linear memory (VirtualFree)"));
            }
            self.commit(len, size)?;
        }
        Ok(())
    }

    fn reset_watch(&self, size: usize) -> Result<(), MemoryError> {
        if size == 0 {
            return Ok(());
        }
        // SAFETY: the range is part of our write-watched reservation.
        if unsafe { ResetWriteWatch(self.base.cast(), size) } != 0 {
            return Err(os_error("resetting the write watch (ResetWriteWatch)"));
        }
        Ok(())
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the reservation is ours and nothing refers to it any more
        // (wasmtime's handle and the backend's are both gone).
        unsafe { VirtualFree(self.base.cast(), 0, MEM_RELEASE) };
    }
}

/// A memory's contents at one moment.
pub(crate) struct MemoryImage {
    bytes: Box<[u8]>,
}

impl MemoryImage {
    /// Bytes of linear memory the image holds.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The memory as the image holds it.
    pub(crate) fn contents(&self) -> &[u8] {
        &self.bytes
    }

    /// An image holding `contents` (a snapshot file's memory): a plain copy,
    /// as every Windows image is.
    pub(crate) fn write(contents: &[u8]) -> Result<Self, MemoryError> {
        Ok(Self { bytes: contents.into() })
    }
}
