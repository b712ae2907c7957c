//! The guest heap. QuickJS allocates through this allocator, which enforces
//! the heap limit itself, so running out of heap is a fact we record (the
//! `refused` flag) rather than something guessed from an error message —
//! when even the error object cannot be allocated, QuickJS throws `null`.

use std::alloc::{self, Layout};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use rquickjs::allocator::Allocator;

/// Each block starts with its size, so frees and `usable_size` need no lookup.
const HEADER: usize = 16;
const ALIGN: usize = 16;

/// What the host can see of a guest heap while the engine owns the allocator.
#[derive(Debug, Default)]
pub(super) struct HeapStats {
    used: AtomicUsize,
    refused: AtomicBool,
}

impl HeapStats {
    /// Whether an allocation was refused since the last call to this.
    pub(super) fn take_refused(&self) -> bool {
        self.refused.swap(false, Ordering::Relaxed)
    }

    /// Bytes the engine holds now.
    pub(super) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

pub(super) struct GuestHeap {
    limit: usize,
    used: usize,
    stats: Arc<HeapStats>,
}

impl GuestHeap {
    pub(super) fn new(limit: usize, stats: Arc<HeapStats>) -> Self {
        Self { limit, used: 0, stats }
    }

    fn admit(&mut self, grow_by: usize) -> bool {
        let fits = self.used.checked_add(grow_by).is_some_and(|total| total <= self.limit);
        if !fits {
            self.stats.refused.store(true, Ordering::Relaxed);
        }
        fits
    }

    fn account(&mut self, used: usize) {
        self.used = used;
        self.stats.used.store(used, Ordering::Relaxed);
    }

    fn allocate(&mut self, size: usize, zeroed: bool) -> *mut u8 {
        let Some(layout) = block_layout(size) else { return ptr::null_mut() };
        if !self.admit(size) {
            return ptr::null_mut();
        }
        // SAFETY: the layout has a non-zero size (it includes the header).
        let block = unsafe {
            if zeroed {
                alloc::alloc_zeroed(layout)
            } else {
                alloc::alloc(layout)
            }
        };
        if block.is_null() {
            self.stats.refused.store(true, Ordering::Relaxed);
            return ptr::null_mut();
        }
        self.account(self.used + size);
        // SAFETY: the block is at least HEADER bytes and aligned for usize.
        unsafe {
            block.cast::<usize>().write(size);
            block.add(HEADER)
        }
    }
}

fn block_layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, ALIGN).ok()
}

/// The block behind a pointer we handed out, and its size.
///
/// # Safety
/// `ptr` must have come from [`GuestHeap::allocate`] (or `realloc`) and not
/// been freed since.
unsafe fn block_of(ptr: *mut u8) -> (*mut u8, usize) {
    // SAFETY: by the caller's promise, `ptr` is HEADER bytes into a live block
    // whose first word, aligned for usize, holds the requested size.
    unsafe {
        let block = ptr.sub(HEADER);
        (block, block.cast::<usize>().read())
    }
}

// SAFETY: every pointer handed out points HEADER bytes into a block from the
// global allocator whose first word is the requested size; frees and
// reallocations use the same layout.
unsafe impl Allocator for GuestHeap {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        self.allocate(size, false)
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        match count.checked_mul(size) {
            Some(total) => self.allocate(total, true),
            None => {
                self.stats.refused.store(true, Ordering::Relaxed);
                ptr::null_mut()
            }
        }
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        // SAFETY: QuickJS frees only pointers this heap handed out.
        let (block, size) = unsafe { block_of(ptr) };
        self.account(self.used - size);
        // SAFETY: the block was allocated with exactly this layout, whose
        // size and alignment `block_layout` already accepted.
        unsafe { alloc::dealloc(block, Layout::from_size_align_unchecked(size + HEADER, ALIGN)) };
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.allocate(new_size, false);
        }
        if new_size == 0 {
            // SAFETY: `ptr` is non-null, so QuickJS got it from this heap.
            unsafe { self.dealloc(ptr) };
            return ptr::null_mut();
        }
        // SAFETY: as above, `ptr` is a live pointer from this heap.
        let (block, old_size) = unsafe { block_of(ptr) };
        let Some(new_layout) = block_layout(new_size) else { return ptr::null_mut() };
        if new_size > old_size && !self.admit(new_size - old_size) {
            return ptr::null_mut();
        }
        // SAFETY: the block was allocated with this layout (accepted by
        // `block_layout` then), and the new size is a valid layout's size.
        let moved = unsafe {
            let old_layout = Layout::from_size_align_unchecked(old_size + HEADER, ALIGN);
            alloc::realloc(block, old_layout, new_layout.size())
        };
        if moved.is_null() {
            self.stats.refused.store(true, Ordering::Relaxed);
            return ptr::null_mut();
        }
        self.account(self.used - old_size + new_size);
        // SAFETY: the moved block is at least HEADER bytes and aligned for usize.
        unsafe {
            moved.cast::<usize>().write(new_size);
            moved.add(HEADER)
        }
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: QuickJS asks only about pointers this heap handed out.
        unsafe { block_of(ptr).1 }
    }
}
