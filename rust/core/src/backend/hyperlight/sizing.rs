//! How the builder's heap and stack sizes become a micro-VM's memory.
//!
//! A Hyperlight VM has a fixed heap and a "scratch" region that holds the
//! guest's stack *and* the I/O buffers every call's arguments and results
//! travel through (plus the page tables of the heap). hyperlight-js's own
//! defaults (16 KiB buffers, 1 MiB scratch) would refuse any event, result or
//! imported file above 16 KiB, and would let a deep recursion overflow the
//! real guest stack before QuickJS's own 1 MiB limit notices it. So the
//! buffers grow with the heap, and the scratch is sized so the stack QuickJS
//! believes it has really exists.

use crate::error::{Error, Result};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// hyperlight-js ignores smaller heaps: QuickJS needs this much to start.
/// `SandboxBuilder::build()` refuses a smaller heap for this backend (a
/// `ValueError` naming it) rather than silently granting more than asked.
/// Not measured here (no micro-VM runs on this project's machine): it is
/// hyperlight-js 0.4's own minimum.
pub(crate) const MIN_HEAP: usize = 4 * MIB;
/// QuickJS's recursion limit inside the guest (the runtime keeps the
/// engine's default), so at least this much stack must be real.
const GUEST_STACK_LIMIT: usize = MIB;
/// The guest's recursion limit is fixed at [`GUEST_STACK_LIMIT`], so a
/// smaller scratch size cannot be honoured and `build()` refuses it; a
/// larger one is honoured (the limit stays below it).
pub(crate) const MIN_SCRATCH: usize = GUEST_STACK_LIMIT;
/// Frames that run between QuickJS's stack checks (parser, regexp compiler,
/// the runtime's own Rust code).
const STACK_MARGIN: usize = 256 * KIB;
/// Exception stacks, descriptor tables and hyperlight's bookkeeping pages.
const FIXED_OVERHEAD: usize = 256 * KIB;
const MIN_IO: usize = MIB;
const MAX_IO: usize = 16 * MIB;
/// What a call's own framing (handler name, flags) takes in the input buffer.
const CALL_FRAMING: usize = 4 * KIB;
/// Hyperlight maps at most 16 GiB of guest memory.
const MAX_MEMORY: usize = 16 * 1024 * MIB;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sizing {
    pub heap: usize,
    pub scratch: usize,
    /// Each of the input and output buffers.
    pub io: usize,
}

impl Sizing {
    pub(super) fn new(heap_size: usize, stack_size: usize) -> Result<Self> {
        let heap = heap_size.max(MIN_HEAP);
        let io = (heap / 16).clamp(MIN_IO, MAX_IO);
        let stack = stack_size.max(GUEST_STACK_LIMIT).checked_add(STACK_MARGIN);
        // One 8-byte entry per 4 KiB page, and the upper levels: heap / 256
        // is comfortably more than the tables of the heap need.
        let page_tables = heap / 256;
        let scratch = stack
            .and_then(|s| s.checked_add(2 * io))
            .and_then(|s| s.checked_add(page_tables))
            .and_then(|s| s.checked_add(FIXED_OVERHEAD))
            .filter(|&s| s <= MAX_MEMORY && heap <= MAX_MEMORY)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "a guest heap of {heap_size} bytes and stack of {stack_size} bytes do not fit in a micro-VM \
                     (at most {} GiB)",
                    MAX_MEMORY / 1024 / MIB
                ))
            })?;
        Ok(Self { heap, scratch, io })
    }

    /// The largest event a call can carry.
    pub(super) fn max_event(&self) -> usize {
        self.io - CALL_FRAMING
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_leave_a_real_stack_and_megabyte_buffers() {
        let s = Sizing::new(64 * MIB, MIB).unwrap();
        assert_eq!(s.heap, 64 * MIB);
        assert_eq!(s.io, 4 * MIB);
        assert!(s.scratch >= MIB + 2 * s.io + STACK_MARGIN);
        assert!(s.max_event() > 4 * MIB - 8 * KIB);
    }

    #[test]
    fn small_requests_are_raised_to_what_the_guest_needs() {
        let s = Sizing::new(1, 1).unwrap();
        assert_eq!((s.heap, s.io), (MIN_HEAP, MIN_IO));
        assert!(s.scratch > GUEST_STACK_LIMIT + 2 * MIN_IO);
    }

    #[test]
    fn huge_requests_are_refused_not_wrapped() {
        assert!(matches!(Sizing::new(usize::MAX, MIB), Err(Error::InvalidArgument(_))));
        assert!(matches!(Sizing::new(64 * MIB, usize::MAX), Err(Error::InvalidArgument(_))));
        assert!(matches!(Sizing::new(17 * 1024 * MIB, MIB), Err(Error::InvalidArgument(_))));
    }
}
