//! What failing host functions raised, kept host-side for the length of a
//! call.
//!
//! A host function that fails throws a JavaScript error in the guest; if
//! the guest lets it escape, the host's failure (and its cause, e.g. the
//! Python exception) is returned with the guest error it caused. Only the
//! latest is kept: a guest that catches host exceptions in a loop must not
//! pile up their causes (and everything those reference) in host memory.
//! An error the guest caught and rethrows after a later host failure
//! therefore escapes without its cause.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::error::HostCallError;

/// A number no kept failure ever has: "no host failure" for guests that
/// carry the number in a `u32`.
pub(crate) const NO_HOST_ERROR: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct HostErrors {
    next_id: AtomicU32,
    latest: Mutex<Option<(u32, HostCallError)>>,
}

impl HostErrors {
    /// Keeps `failure` in place of the previous one; returns its number,
    /// which the thrown error can carry to find it again.
    pub(crate) fn keep(&self, failure: HostCallError) -> u32 {
        let id = self
            .next_id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| Some(id.wrapping_add(1) % NO_HOST_ERROR))
            .unwrap_or_default();
        // The replaced failure is dropped after the lock is released.
        let replaced = self.lock().replace((id, failure));
        drop(replaced);
        id
    }

    /// The failure numbered `id`, if it is still the latest.
    pub(crate) fn take(&self, id: u32) -> Option<HostCallError> {
        let mut latest = self.lock();
        if latest.as_ref().is_some_and(|(kept, _)| *kept == id) {
            return latest.take().map(|(_, failure)| failure);
        }
        None
    }

    /// The latest failure, if `guest_message` ends with its message (for
    /// guests that report it only as text, prefixed with where it failed).
    #[cfg_attr(
        not(feature = "hyperlight"),
        allow(dead_code, reason = "only the micro-VM backend's guest reports host failures as text")
    )]
    pub(crate) fn take_matching(&self, guest_message: &str) -> Option<HostCallError> {
        let mut latest = self.lock();
        if latest.as_ref().is_some_and(|(_, f)| guest_message.ends_with(f.message.as_str())) {
            return latest.take().map(|(_, failure)| failure);
        }
        None
    }

    /// Forgets the latest failure (a call is over).
    pub(crate) fn clear(&self) {
        let cleared = self.lock().take();
        drop(cleared);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u32, HostCallError)>> {
        self.latest.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HostCause;

    fn failure(message: &str) -> HostCallError {
        HostCallError { message: message.into(), cause: Some(HostCause(Box::new(message.to_owned()))) }
    }

    #[test]
    fn only_the_latest_failure_is_kept_and_taken_once() {
        let errors = HostErrors::default();
        let first = errors.keep(failure("first"));
        let second = errors.keep(failure("second"));
        assert_ne!(first, second);
        assert!(errors.take(first).is_none());
        assert_eq!(errors.take(second).unwrap().message, "second");
        assert!(errors.take(second).is_none());
    }

    #[test]
    fn a_failure_is_found_by_the_end_of_the_guests_message() {
        let errors = HostErrors::default();
        errors.keep(failure("no such user"));
        assert!(errors.take_matching("Error calling host function: something else").is_none());
        assert_eq!(
            errors.take_matching("Error calling host function 'f': no such user").unwrap().message,
            "no such user"
        );
        errors.keep(failure("x"));
        errors.clear();
        assert!(errors.take_matching("x").is_none());
    }
}
