//! Math.random's state, from the host's OS randomness.
//!
//! QuickJS seeds a new context from the clock in microseconds. Where the
//! clock is coarse (Windows: Wine's ticks, a real Windows' 15.6 ms ones) two
//! sandboxes made within one tick draw the same numbers, and anyone who knows
//! when a sandbox started can predict them. The wasm guest is reseeded the
//! same way (`hl_reseed`); QuickJS has no API for it, so the vendored copy
//! gains one (vendor/README.md, patch 0007).

use rquickjs::{qjs, Ctx};

use crate::error::{Error, Result};

extern "C" {
    /// vendor/patches/rquickjs-sys/0007: sets `ctx->random_state` (zero is taken as one).
    fn JS_SetRandomState(ctx: *mut qjs::JSContext, state: u64);
}

/// Gives the context's Math.random a state from the OS's randomness.
pub(super) fn reseed(ctx: &Ctx<'_>) -> Result<()> {
    let state = getrandom::u64().map_err(|e| Error::Internal(format!("cannot read the host's randomness: {e}")))?;
    // SAFETY: `ctx` is a live context (we hold it, inside `Context::with`),
    // and the function only writes one field of it.
    unsafe { JS_SetRandomState(ctx.as_raw().as_ptr(), state) };
    Ok(())
}
