//! How a handler's run ended, and what the host reports for it — once, for
//! every backend.
//!
//! Each backend decodes its own native form (rquickjs errors, the wasm
//! guest's output record, the micro-VM glue's envelope) into an
//! [`Ending`] and a [`Thrown`]; the rules that turn those into the core's
//! [`Error`] — "name: message" or "Uncaught …", out of memory, a host
//! failure's cause, a bad event, a result JSON cannot hold — and the words
//! users see live here, so the backends cannot drift apart.

use crate::error::{Error, GuestFailure, HostCallError, Result};
use crate::payload::Payload;

/// QuickJS's own out-of-memory error: thrown as `InternalError: out of memory`.
const OOM_NAME: &str = "InternalError";
const OOM_MESSAGE: &str = "out of memory";

/// The `TypeError` message for a handler whose promise nothing can settle.
pub(crate) const NEVER_SETTLES: &str = "the handler returned a promise that can never settle (nothing is left to run)";

/// A value the guest threw, as the guest could describe it.
#[derive(Debug, Default)]
pub(crate) struct Thrown {
    /// Its `name` property, when it has one.
    pub name: Option<String>,
    /// Its `message` property, when it has one.
    pub message: Option<String>,
    /// Its `stack` property, when it has a non-empty one.
    pub stack: Option<String>,
    /// It is an `Error` object (a name alone then says what happened).
    pub is_error: bool,
    /// `String(value)`: what is shown for anything without a usable name
    /// and message. A guest only needs to give it in that case.
    pub display: Option<String>,
    /// The failing host function behind it, found by the backend.
    pub host_failure: Option<HostCallError>,
}

impl Thrown {
    /// Whether this is QuickJS saying the heap limit was reached.
    pub(crate) fn is_out_of_memory(&self) -> bool {
        self.name.as_deref() == Some(OOM_NAME) && self.message.as_deref() == Some(OOM_MESSAGE)
    }

    /// Whether [`message`](Self::message) will need [`display`](Self::display).
    pub(crate) fn needs_display(name: Option<&str>, message: Option<&str>, is_error: bool) -> bool {
        match (name, message) {
            (Some(_), Some(message)) if !message.is_empty() => false,
            (Some(_), _) => !is_error,
            _ => true,
        }
    }

    /// What the host reports: `name: message` for errors, the name alone for
    /// an error without a message, `Uncaught <value>` for anything else.
    pub(crate) fn message(&self) -> String {
        match (&self.name, &self.message) {
            (Some(name), Some(message)) if !message.is_empty() => format!("{name}: {message}"),
            (Some(name), _) if self.is_error => name.clone(),
            _ => format!("Uncaught {}", self.display.as_deref().unwrap_or("<unprintable value>")),
        }
    }

    fn into_failure(self) -> GuestFailure {
        let message = self.message();
        GuestFailure { message, stack: self.stack, host_cause: self.host_failure.and_then(|f| f.cause) }
    }
}

/// How one run of guest code (a handler call, or a handler's load) ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// It returned; the result as JSON text.
    Returned(String),
    /// It returned a `Uint8Array`; its bytes (handler calls only).
    ReturnedBytes(Vec<u8>),
    /// It returned something JSON cannot hold (`undefined`, a function, a symbol).
    ReturnedUndefined,
    /// Turning the result into JSON threw (a cycle, a BigInt, a throwing `toJSON`).
    NotSerializable(Thrown),
    /// It threw, and nothing caught it.
    Threw(Thrown),
    /// The event did not parse (nothing ran).
    BadEvent(Thrown),
    /// The guest ran out of memory before it could even describe what happened.
    #[cfg_attr(
        not(all(feature = "wasm", any(target_os = "linux", windows))),
        allow(dead_code, reason = "only the wasm guest reports running out of memory as its own ending")
    )]
    OutOfMemory,
    /// A handler's module was evaluated, but its `handler` is not a function.
    NotAFunction,
}

impl Ending {
    fn out_of_memory(&self) -> bool {
        match self {
            Ending::OutOfMemory => true,
            Ending::NotSerializable(t) | Ending::Threw(t) | Ending::BadEvent(t) => t.is_out_of_memory(),
            Ending::Returned(_) | Ending::ReturnedBytes(_) | Ending::ReturnedUndefined | Ending::NotAFunction => false,
        }
    }
}

/// What the heap limit saw during the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heap {
    /// The limit, in bytes.
    pub limit: usize,
    /// The limit refused memory at some point in the run.
    pub refused: bool,
}

/// The result of a handler call.
pub(crate) fn call_result(ending: Ending, heap: Heap) -> Result<Payload> {
    let limit = heap.limit;
    if let Ending::BadEvent(thrown) = ending {
        // A bad event never ran the handler: running out of memory here is
        // the event's size, not the handler's doing.
        if heap.refused || thrown.is_out_of_memory() {
            return Err(Error::InvalidEvent(format!(
                "the event does not fit in the guest heap ({limit} bytes); raise it with with_guest_heap_size()"
            )));
        }
        return Err(Error::InvalidEvent(format!("the event is not valid JSON: {}", thrown.message())));
    }
    // Hitting the heap limit is an error even when the guest caught it
    // (QuickJS makes it a catchable exception, and a promise chain turns it
    // into a silent rejection).
    if heap.refused || ending.out_of_memory() {
        return Err(Error::OutOfMemory { limit });
    }
    match ending {
        Ending::Returned(json) => Ok(Payload::Json(json)),
        Ending::ReturnedBytes(bytes) => Ok(Payload::Bytes(bytes)),
        Ending::ReturnedUndefined => Err(Error::ResultNotSerializable(
            "the handler returned undefined (or a function or symbol), which JSON cannot hold".into(),
        )),
        Ending::NotSerializable(thrown) => Err(Error::ResultNotSerializable(thrown.message())),
        Ending::Threw(thrown) => Err(threw(thrown, heap)),
        Ending::NotAFunction => Err(Error::Internal("a handler call ended like a handler's load".into())),
        Ending::OutOfMemory | Ending::BadEvent(_) => Err(Error::OutOfMemory { limit }),
    }
}

/// The error for guest code that threw `thrown` (out of memory included).
pub(crate) fn threw(thrown: Thrown, heap: Heap) -> Error {
    if heap.refused || thrown.is_out_of_memory() {
        return Error::OutOfMemory { limit: heap.limit };
    }
    Error::Guest(thrown.into_failure())
}

/// The result of loading handler `handler` from module `module`.
#[cfg_attr(
    not(any(feature = "hyperlight", all(feature = "wasm", any(target_os = "linux", windows)))),
    allow(dead_code, reason = "the in-process engine reports a load's end itself (load_error)")
)]
pub(crate) fn load_result(handler: &str, module: &str, ending: Ending, heap: Heap) -> Result<()> {
    match ending {
        Ending::Returned(_) if !heap.refused => Ok(()),
        other => Err(load_error(handler, module, other, heap)),
    }
}

/// The error for a handler's load that did not end in a handler.
pub(crate) fn load_error(handler: &str, module: &str, ending: Ending, heap: Heap) -> Error {
    // Running out of heap while loading fails the load even if the module
    // caught it, as it fails a call.
    if heap.refused || ending.out_of_memory() {
        return Error::OutOfMemory { limit: heap.limit };
    }
    match ending {
        Ending::Threw(thrown) => load_failed(handler, thrown.into_failure()),
        Ending::NotAFunction => {
            Error::Load(format!("handler script {module:?} defines `handler`, but it is not a function"))
        }
        other => Error::Internal(format!("loading handler {handler:?} ended like a call: {other:?}")),
    }
}

/// A handler whose module threw while loading.
pub(crate) fn load_failed(handler: &str, failure: GuestFailure) -> Error {
    Error::Load(format!(
        "handler {handler:?} failed to load: {}{}",
        failure.message,
        failure.stack.map(|s| format!("\n{s}")).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HostCause;

    const HEAP: Heap = Heap { limit: 9, refused: false };

    fn thrown(name: Option<&str>, message: Option<&str>, is_error: bool) -> Thrown {
        Thrown {
            name: name.map(Into::into),
            message: message.map(Into::into),
            is_error,
            display: Thrown::needs_display(name, message, is_error).then(|| "shown".to_owned()),
            ..Thrown::default()
        }
    }

    #[test]
    fn thrown_values_are_reported_as_quickjs_would_print_them() {
        assert_eq!(thrown(Some("TypeError"), Some("nope"), true).message(), "TypeError: nope");
        assert_eq!(thrown(Some("Error"), Some(""), true).message(), "Error");
        assert_eq!(thrown(None, None, false).message(), "Uncaught shown");
        assert_eq!(thrown(Some("x"), None, false).message(), "Uncaught shown");
        assert!(!Thrown::needs_display(Some("E"), Some("m"), false));
    }

    #[test]
    fn calls_end_in_the_same_errors_on_every_backend() {
        assert_eq!(call_result(Ending::Returned("1".into()), HEAP).unwrap(), Payload::Json("1".into()));
        assert_eq!(call_result(Ending::ReturnedBytes(vec![1]), HEAP).unwrap(), Payload::Bytes(vec![1]));
        assert!(matches!(call_result(Ending::ReturnedUndefined, HEAP), Err(Error::ResultNotSerializable(_))));
        let cycle = Ending::NotSerializable(thrown(Some("TypeError"), Some("circular"), true));
        assert!(matches!(call_result(cycle, HEAP), Err(Error::ResultNotSerializable(m)) if m == "TypeError: circular"));
        let oom = Ending::Threw(thrown(Some("InternalError"), Some("out of memory"), true));
        assert!(matches!(call_result(oom, HEAP), Err(Error::OutOfMemory { limit: 9 })));
        let caught = Ending::Returned("1".into());
        assert!(matches!(call_result(caught, Heap { limit: 9, refused: true }), Err(Error::OutOfMemory { .. })));
        let bad = Ending::BadEvent(thrown(Some("SyntaxError"), Some("unexpected"), true));
        assert!(
            matches!(call_result(bad, HEAP), Err(Error::InvalidEvent(m)) if m.ends_with("SyntaxError: unexpected"))
        );
        let big = Ending::BadEvent(thrown(Some("InternalError"), Some("out of memory"), true));
        assert!(matches!(call_result(big, HEAP), Err(Error::InvalidEvent(m)) if m.contains("does not fit")));
    }

    #[test]
    fn an_escaped_host_failure_carries_its_cause() {
        let mut t = thrown(Some("HostError"), Some("no such user"), true);
        t.host_failure = Some(HostCallError { message: "no such user".into(), cause: Some(HostCause(Box::new(7_u8))) });
        match call_result(Ending::Threw(t), HEAP) {
            Err(Error::Guest(f)) => {
                assert_eq!(f.message, "HostError: no such user");
                assert_eq!(f.host_cause.unwrap().0.downcast_ref::<u8>(), Some(&7));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loads_end_in_load_errors() {
        assert!(load_result("h", "m", Ending::Returned(String::new()), HEAP).is_ok());
        let threw = Ending::Threw(Thrown { stack: Some("at top".into()), ..thrown(Some("Error"), Some("x"), true) });
        assert!(matches!(load_result("h", "m", threw, HEAP), Err(Error::Load(m)) if m.ends_with("Error: x\nat top")));
        assert!(
            matches!(load_result("h", "m", Ending::NotAFunction, HEAP), Err(Error::Load(m)) if m.contains("\"m\""))
        );
    }
}
