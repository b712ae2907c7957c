//! The smallest heap and scratch sizes this backend can honour. Smaller
//! ones are refused by `SandboxBuilder::build()` (a `ValueError` naming the
//! minimum) instead of reaching QuickJS, which crashes when even its runtime
//! cannot be allocated.
//!
//! Measured by binary search over the size, each try in a fresh process,
//! until loading `function handler(e) { return e.x + 1 }` and calling it
//! works, with the other size at its default (quickjs-ng through rquickjs
//! 0.14, x86-64; the script is in the report of the change that set these):
//! - heap: 187,704 bytes is the least that works (below it the context or
//!   the handler does not fit; at 32 KiB and less QuickJS crashed creating
//!   its runtime). The floor leaves a third more for other handlers'
//!   bookkeeping and allocator differences.
//! - scratch: 3,112 bytes is the least that works (below it the handler
//!   fails to load with QuickJS's RangeError; the refusal is cleaner and
//!   the same on every call). The floor is 16 KiB, five times that, so
//!   top-level code and the call's JSON have room to spare.

//!
//! Since the built-ins (`guest/builtins.js`, evaluated at start-up into the
//! guest heap) the heap floor is 512 KiB: the measurement above was made
//! without them, and they take tens of KiB of bytecode and tables.

const KIB: usize = 1024;

pub(crate) const MIN_HEAP_SIZE: usize = 512 * KIB;

pub(crate) const MIN_SCRATCH_SIZE: usize = 16 * KIB;
