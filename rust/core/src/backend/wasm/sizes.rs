//! The smallest heap and scratch sizes this backend can honour. Smaller
//! ones are refused by `SandboxBuilder::build()` (a `ValueError` naming the
//! minimum) instead of failing inside the guest.
//!
//! Measured by binary search over the size, each try in a fresh process,
//! until loading `function handler(e) { return e.x + 1 }` and calling it
//! works (quickjs-ng 0.10 in wasm32-wasi, wasmtime 48):
//! - heap: 131,072 bytes (two 64 KiB pages on top of the module's own
//!   memory) is the least that works; below it QuickJS cannot start. The
//!   floor leaves two pages more for other handlers' bookkeeping.
//! - scratch: 6,057 bytes is the least that works (below it the handler
//!   fails to load with QuickJS's RangeError; the refusal is cleaner and
//!   the same on every call). The floor is 16 KiB, over twice that, so
//!   top-level code and the call's JSON have room to spare.

//!
//! Since the built-ins (`guest/builtins.js`, evaluated at start-up into the
//! guest heap) the heap floor is 512 KiB: the measurement above was made
//! without them, and they take tens of KiB of bytecode and tables.

const KIB: usize = 1024;

pub(crate) const MIN_HEAP_SIZE: usize = 512 * KIB;

pub(crate) const MIN_SCRATCH_SIZE: usize = 16 * KIB;
