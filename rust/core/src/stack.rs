//! How much native stack the in-process engine may use on the calling thread.
//!
//! QuickJS guards recursion by comparing the stack pointer against a limit
//! measured from where it was entered, so running out of real stack before
//! that limit is a crash (SIGSEGV), not an error. The limit is therefore
//! taken from what the calling thread really has left, never from the
//! configured scratch size alone: a Python thread may be small, and a call
//! may be nested inside a host function of another sandbox that already
//! used most of the stack. Below the limit a reserve is always kept, because
//! code runs there after QuickJS's last check: C frames between its checks,
//! and — at the guest's deepest point — a host function with our glue,
//! Python and whatever that Python code does (raise, format a traceback,
//! call another sandbox, which then applies this same rule to what is left).
//! When what is left cannot hold a usable engine stack plus the reserve, the
//! call fails before entering the engine.

use crate::error::{Error, GuestFailure};

const KIB: usize = 1024;

/// Kept below QuickJS's limit for everything that runs past its last check
/// (see the module comment). A host function called from the guest's
/// deepest frame runs on this: the hostile tests run Python there that
/// decodes a 900-deep JSON argument and then calls another sandbox.
pub(crate) const RESERVE: usize = 256 * KIB;

/// rquickjs treats a limit above this as "no limit at all", so a larger one
/// must never reach it (a thread with a bigger stack just gets this much).
pub(crate) const MAX_ENGINE_STACK: usize = 16 * 1024 * KIB;

/// Used when the thread's stack bounds cannot be read.
const UNKNOWN_STACK_LIMIT: usize = 1024 * KIB;

/// The recursion limit to give QuickJS for a run starting here: the
/// scratch size the sandbox asked for (`requested`), capped by what the
/// thread really has left minus [`RESERVE`]. `minimum` is the least stack
/// the engine can run a call with (the backend's scratch-size floor).
pub(crate) fn engine_stack(requested: usize, minimum: usize) -> Result<usize, Error> {
    let Some(remaining) = stacker::remaining_stack() else {
        return Ok(requested.min(UNKNOWN_STACK_LIMIT));
    };
    let usable = remaining.saturating_sub(RESERVE);
    if usable < minimum {
        return Err(shortage(remaining, minimum));
    }
    Ok(requested.min(usable).min(MAX_ENGINE_STACK))
}

fn shortage(remaining: usize, minimum: usize) -> Error {
    Error::Guest(GuestFailure {
        message: format!(
            "RangeError: Maximum call stack size exceeded: the engine was not entered, because only {} KiB of \
             native stack is left on this thread and a call needs {} KiB ({} KiB for the guest, {} KiB kept for \
             host code); calls nested in host functions, deep recursion before the call or a small thread stack \
             (threading.stack_size) use it up",
            remaining / KIB,
            (minimum + RESERVE) / KIB,
            minimum / KIB,
            RESERVE / KIB
        ),
        stack: None,
        host_cause: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_never_exceeds_what_is_left_minus_the_reserve() {
        let remaining = stacker::remaining_stack().expect("stack bounds are readable on this platform");
        let limit = engine_stack(usize::MAX, 16 * KIB).unwrap();
        assert!(limit <= remaining - RESERVE);
        assert!(limit <= MAX_ENGINE_STACK);
    }

    #[test]
    fn a_small_request_is_kept() {
        assert_eq!(engine_stack(64 * KIB, 16 * KIB).unwrap(), 64 * KIB);
    }

    /// Uses the stack until at most `until` bytes are left, then asks for
    /// `requested` (at least `minimum`) there. (Growing a stack to an exact
    /// size is not enough: Windows rounds a new stack up.)
    fn engine_stack_with_little_left(until: usize, requested: usize, minimum: usize) -> Result<usize, Error> {
        let frame = std::hint::black_box([0u8; 1024]);
        if stacker::remaining_stack().is_some_and(|left| left <= until) {
            return engine_stack(requested, minimum);
        }
        let outcome = engine_stack_with_little_left(until, requested, minimum);
        std::hint::black_box(&frame);
        outcome
    }

    #[test]
    fn too_little_left_is_a_guest_error_before_entering() {
        let outcome = stacker::grow(RESERVE + 256 * KIB, || {
            engine_stack_with_little_left(RESERVE + 32 * KIB, 64 * KIB, 48 * KIB)
        });
        match outcome {
            Err(Error::Guest(failure)) => assert!(failure.message.starts_with("RangeError: Maximum call stack")),
            other => panic!("expected a guest error, got {other:?}"),
        }
    }

    #[test]
    fn what_is_left_is_used_when_the_request_is_larger() {
        let limit = stacker::grow(RESERVE + 1024 * KIB, || {
            engine_stack_with_little_left(RESERVE + 512 * KIB, 1024 * KIB, 16 * KIB)
        })
        .unwrap();
        assert!((16 * KIB..512 * KIB).contains(&limit), "{limit}");
    }
}
