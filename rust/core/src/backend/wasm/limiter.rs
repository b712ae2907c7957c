//! The guest heap limit as a hard limit on linear memory.
//!
//! The guest's allocator gets its memory from `memory.grow`, and wasmtime
//! asks this limiter before every growth: past the limit the growth is
//! refused, the guest's `malloc` returns NULL and QuickJS throws its
//! out-of-memory error. The refusal is recorded here, on the host, so
//! running out of heap is a fact the host knows rather than something read
//! from a guest message (QuickJS may not even manage to allocate the error).
//! The host never allocates on the guest's behalf: linear memory is address
//! space reserved up front and filled in by the kernel as it is touched.

use wasmtime::ResourceLimiter;

/// wasm32 cannot address more than 4 GiB.
const WASM32_MAX: usize = 1 << 32;
/// Function table entries (the guest's table holds its C function pointers).
const TABLE_LIMIT: usize = 1 << 16;

pub(super) struct HeapLimiter {
    /// Largest linear memory allowed: the guest's fixed part (stack, data)
    /// plus the heap size it was given.
    limit: usize,
    refused: bool,
}

impl HeapLimiter {
    /// `fixed` is the module's initial memory (stack and static data).
    pub(super) fn new(fixed: usize, heap_size: usize) -> Self {
        Self { limit: fixed.saturating_add(heap_size).min(WASM32_MAX), refused: false }
    }

    /// Whether a growth was refused since the last call to this.
    pub(super) fn take_refused(&mut self) -> bool {
        std::mem::take(&mut self.refused)
    }
}

impl ResourceLimiter for HeapLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    /// The guest's function table is created with the instance and never
    /// grown by QuickJS; this only bounds it.
    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_LIMIT)
    }
}
