//! Linux: the snapshot memory as copy-on-write mappings of a memfd image.
//!
//! The memory is a plain reservation (`PROT_NONE` address space, made
//! accessible as the guest grows) until the first snapshot. A snapshot
//! writes the memory into a memfd (its *image*) and maps that image
//! copy-on-write over the live memory. From then on the kernel knows exactly
//! which pages the guest wrote: they are the private (anonymous) pages of the
//! mapping, which `/proc/self/pagemap` reports (see [`super::dirty_pages`]).
//! A restore copies back only those pages from the image and zeroes whatever
//! the guest grew past it, so it costs what the guest touched, not the
//! memory's size.
//!
//! Restoring an image other than the one currently mapped remaps it (still
//! copy-on-write, nothing copied). If pagemap cannot be read, every restore
//! remaps: correct, just without the dirty-page shortcut.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::dirty_pages::{self, PAGE};
use super::MemoryError;

/// Zero runs of at least this size are left as holes in an image.
const HOLE_CHUNK: usize = 64 * 1024;

fn os_error(what: &'static str) -> MemoryError {
    MemoryError::Os { what, source: io::Error::last_os_error() }
}

/// One linear memory: its reservation and what is mapped in it.
pub(crate) struct Region {
    base: *mut u8,
    /// Bytes the memory may grow to without moving.
    reserved: usize,
    /// The whole mapping, guard included.
    mapped: usize,
    /// Accessible bytes: the wasm memory's size.
    size: AtomicUsize,
    /// The image mapped copy-on-write at the start of the memory, if any.
    image: Mutex<Option<Arc<MemoryImage>>>,
}

// SAFETY: `base` points to a mapping this region owns until it drops. The
// memory is only read or written by the guest (through wasmtime, one store
// at a time) and by snapshot/restore, which the backend runs with exclusive
// access to the store, so never while the guest runs.
unsafe impl Send for Region {}
// SAFETY: as for `Send`: the fields a shared reference changes (`size`,
// `image`) are atomic or locked, and the memory is touched only with
// exclusive access to the store.
unsafe impl Sync for Region {}

impl Region {
    pub(super) fn reserve(size: usize, reserved: usize, guard: usize) -> Result<Self, MemoryError> {
        if size > reserved {
            return Err(MemoryError::Reservation { wanted: size, reserved });
        }
        let mapped = reserved.checked_add(guard).ok_or(MemoryError::Reservation { wanted: size, reserved })?;
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                mapped,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(os_error("reserving linear memory (mmap)"));
        }
        let region = Self { base: base.cast(), reserved, mapped, size: AtomicUsize::new(0), image: Mutex::new(None) };
        region.make_accessible(0, size)?;
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

    fn make_accessible(&self, from: usize, to: usize) -> Result<(), MemoryError> {
        if to <= from {
            return Ok(());
        }
        // SAFETY: [from, to) lies inside the reservation (callers check).
        let done = unsafe { libc::mprotect(self.base.add(from).cast(), to - from, libc::PROT_READ | libc::PROT_WRITE) };
        if done != 0 {
            return Err(os_error("growing linear memory (mprotect)"));
        }
        Ok(())
    }

    pub(super) fn grow_to(&self, new_size: usize) -> Result<(), MemoryError> {
        if new_size > self.reserved {
            return Err(MemoryError::Reservation { wanted: new_size, reserved: self.reserved });
        }
        let size = self.size();
        self.make_accessible(size, new_size)?;
        self.size.store(new_size.max(size), Ordering::Release);
        Ok(())
    }

    /// Captures the memory as it is now into a new image, and maps that
    /// image copy-on-write over the memory so later writes can be found.
    pub(crate) fn snapshot(&self) -> Result<Arc<MemoryImage>, MemoryError> {
        let mut current = self.image.lock().unwrap_or_else(|e| e.into_inner());
        let size = self.size();
        // SAFETY: [0, size) is accessible and nothing runs in the guest.
        let contents = unsafe { std::slice::from_raw_parts(self.base, size) };
        let image = Arc::new(MemoryImage::write(contents)?);
        self.map_image(&image, size)?;
        *current = Some(image.clone());
        Ok(image)
    }

    /// Puts the memory back to `image`'s contents (see the module docs).
    pub(crate) fn restore(&self, image: &Arc<MemoryImage>) -> Result<(), MemoryError> {
        let mut current = self.image.lock().unwrap_or_else(|e| e.into_inner());
        let size = self.size();
        if image.len > size {
            return Err(MemoryError::ForeignImage { image: image.len, size });
        }
        let mapped_now = current.as_ref().is_some_and(|mapped| Arc::ptr_eq(mapped, image));
        if mapped_now {
            if let Some(dirty) = dirty_pages::scan(self.base, size) {
                self.copy_back(image, &dirty)?;
                return Ok(());
            }
        }
        self.map_image(image, size)?;
        *current = Some(image.clone());
        Ok(())
    }

    /// Undoes the pages the guest wrote since `image` was mapped: those
    /// inside the image are copied from it, those past it zeroed.
    fn copy_back(&self, image: &MemoryImage, dirty: &dirty_pages::DirtyPages) -> Result<(), MemoryError> {
        let page = *PAGE;
        for run in dirty.runs() {
            let start = run.start * page;
            let end = run.end * page;
            let copy_end = end.min(image.len);
            if start < copy_end {
                // SAFETY: both ranges are inside their mappings (image.len
                // <= size) and do not overlap (different mappings).
                unsafe { ptr::copy_nonoverlapping(image.view.add(start), self.base.add(start), copy_end - start) };
            }
            let zero_start = start.max(image.len);
            if zero_start < end {
                // Past the image the memory is anonymous: dropping the pages
                // makes them read as zero again.
                // SAFETY: inside the accessible part of our own mapping.
                let done =
                    unsafe { libc::madvise(self.base.add(zero_start).cast(), end - zero_start, libc::MADV_DONTNEED) };
                if done != 0 {
                    return Err(os_error("zeroing linear memory (madvise)"));
                }
            }
        }
        Ok(())
    }

    /// Maps `image` copy-on-write over [0, image.len) and fresh zero pages
    /// over [image.len, size), keeping the rest of the reservation as it is.
    fn map_image(&self, image: &MemoryImage, size: usize) -> Result<(), MemoryError> {
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        if image.len > 0 {
            // SAFETY: replaces part of our own reservation (MAP_FIXED inside
            // it); the guest is not running.
            let mapped = unsafe {
                libc::mmap(
                    self.base.cast(),
                    image.len,
                    rw,
                    libc::MAP_PRIVATE | libc::MAP_FIXED,
                    image.fd.as_raw_fd(),
                    0,
                )
            };
            if mapped == libc::MAP_FAILED {
                return Err(os_error("mapping a snapshot image (mmap)"));
            }
        }
        if size > image.len {
            // SAFETY: as above, for the part past the image.
            let mapped = unsafe {
                libc::mmap(
                    self.base.add(image.len).cast(),
                    size - image.len,
                    rw,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if mapped == libc::MAP_FAILED {
                return Err(os_error("zeroing linear memory (mmap)"));
            }
        }
        Ok(())
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing refers to it any more
        // (wasmtime's handle and the backend's are both gone).
        unsafe { libc::munmap(self.base.cast(), self.mapped) };
    }
}

/// A memory's contents at one moment: a memfd (zero runs left as holes),
/// and a read-only view of it to copy pages back from.
pub(crate) struct MemoryImage {
    fd: OwnedFd,
    view: *const u8,
    len: usize,
}

// SAFETY: the view is a read-only shared mapping owned by the image.
unsafe impl Send for MemoryImage {}
// SAFETY: the view is never written, so shared reads from threads are sound.
unsafe impl Sync for MemoryImage {}

impl MemoryImage {
    /// Bytes of linear memory the image holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The memory as the image holds it.
    pub(crate) fn contents(&self) -> &[u8] {
        if self.view.is_null() {
            return &[];
        }
        // SAFETY: the view maps `len` bytes, read-only, for the image's life.
        unsafe { std::slice::from_raw_parts(self.view, self.len) }
    }

    pub(crate) fn write(contents: &[u8]) -> Result<Self, MemoryError> {
        // SAFETY: the name is a NUL-terminated literal.
        let raw = unsafe { libc::memfd_create(c"hyperlight-js-wasm-snapshot".as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(os_error("creating a snapshot image (memfd_create)"));
        }
        // SAFETY: memfd_create returned a new descriptor we now own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let len = contents.len();
        // SAFETY: plain syscalls on our descriptor.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
            return Err(os_error("sizing a snapshot image (ftruncate)"));
        }
        for (index, chunk) in contents.chunks(HOLE_CHUNK).enumerate() {
            if chunk.iter().all(|&b| b == 0) {
                continue;
            }
            write_at(&fd, chunk, index * HOLE_CHUNK)?;
        }
        let view = if len == 0 {
            ptr::null()
        } else {
            // SAFETY: maps the memfd we just filled, read-only and shared.
            let view =
                unsafe { libc::mmap(ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
            if view == libc::MAP_FAILED {
                return Err(os_error("mapping a snapshot image (mmap)"));
            }
            view.cast_const().cast()
        };
        Ok(Self { fd, view, len })
    }
}

fn write_at(fd: &OwnedFd, mut bytes: &[u8], mut offset: usize) -> Result<(), MemoryError> {
    while !bytes.is_empty() {
        // SAFETY: writes from a live slice to our descriptor.
        let written =
            unsafe { libc::pwrite(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len(), offset as libc::off_t) };
        if written < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(MemoryError::Os { what: "writing a snapshot image (pwrite)", source: error });
        }
        bytes = &bytes[written as usize..];
        offset += written as usize;
    }
    Ok(())
}

impl Drop for MemoryImage {
    fn drop(&mut self) {
        if !self.view.is_null() {
            // SAFETY: the view is ours and nothing refers to it any more.
            unsafe { libc::munmap(self.view.cast_mut().cast(), self.len) };
        }
    }
}
