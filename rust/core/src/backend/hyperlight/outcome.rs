//! What a call into the micro-VM means for the host.
//!
//! The glue answers every call with a tagged JSON envelope (`["ok", json]`,
//! `["error", description]`, ...). This module turns that envelope, or the
//! hyperlight error the call failed with instead, into the core's `Error`,
//! so the same failure is reported the same way on every backend.

use hyperlight_js::HyperlightError;
use serde_json::Value;

use crate::backend::host_errors::HostErrors;
use crate::backend::outcome::{self, Ending, Heap, Thrown, NEVER_SETTLES};
use crate::error::{Error, GuestFailure, Result};
use crate::payload::Payload;

/// The glue's envelope, read: how the run ended.
pub(super) fn ending(envelope: &str, errors: &HostErrors) -> Result<Ending> {
    let bad = || Error::Internal(format!("the guest glue answered with an unexpected value: {envelope:.200}"));
    let value: Value = serde_json::from_str(envelope).map_err(|_| bad())?;
    let items = value.as_array().ok_or_else(bad)?;
    let tag = items.first().and_then(Value::as_str).ok_or_else(bad)?;
    match (tag, items.get(1)) {
        ("ok", Some(Value::String(json))) => Ok(Ending::Returned(json.clone())),
        ("bytes", Some(Value::String(hex))) => Ok(Ending::ReturnedBytes(from_hex(hex).ok_or_else(bad)?)),
        ("undefined", None) => Ok(Ending::ReturnedUndefined),
        ("notfunction", None) => Ok(Ending::NotAFunction),
        ("unserializable", Some(d)) => Ok(Ending::NotSerializable(thrown(d, errors))),
        ("error", Some(d)) => Ok(Ending::Threw(thrown(d, errors))),
        _ => Err(bad()),
    }
}

/// The bytes the glue wrote as lowercase hex.
fn from_hex(hex: &str) -> Option<Vec<u8>> {
    let digits = hex.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let digit = |d: u8| char::from(d).to_digit(16).and_then(|v| u8::try_from(v).ok());
    digits.chunks_exact(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// A thrown value as the glue described it. A failing host function
/// reaches the guest as hyperlight-js's `InternalError`, whose message ends
/// with the host's own message: that is decoded back into the `HostError`
/// the other backends throw, with its cause.
fn thrown(description: &Value, errors: &HostErrors) -> Thrown {
    let text = |key: &str| description.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut thrown = Thrown {
        name: text("name"),
        message: text("message"),
        stack: text("stack").filter(|s| !s.is_empty()),
        is_error: description.get("error").and_then(Value::as_bool).unwrap_or(false),
        display: text("display"),
        host_failure: None,
    };
    if thrown.name.as_deref() == Some("InternalError") && !thrown.is_out_of_memory() {
        if let Some(failure) = thrown.message.as_deref().and_then(|m| errors.take_matching(m)) {
            thrown.name = Some("HostError".into());
            thrown.message = Some(failure.message.clone());
            thrown.host_failure = Some(failure);
        }
    }
    thrown
}

/// The result of a handler call, from the glue's envelope.
pub(super) fn call_result(envelope: &str, errors: &HostErrors, heap_limit: usize) -> Result<Payload> {
    match ending(envelope, errors)? {
        Ending::NotAFunction => Err(Error::Internal("a handler call answered like a load".into())),
        other => outcome::call_result(other, Heap { limit: heap_limit, refused: false }),
    }
}

/// A hyperlight error from a call into a loaded VM.
pub(super) fn call_error(error: HyperlightError, heap_limit: usize) -> Error {
    match error {
        HyperlightError::ExecutionCanceledByHost() => Error::Cancelled { monitor: None, by_signal: false },
        HyperlightError::JsonConversionFailure(e) => Error::InvalidEvent(format!("the event is not valid JSON: {e}")),
        HyperlightError::PoisonedSandbox => Error::Poisoned,
        HyperlightError::GuestError(_, message) => guest_error(message, heap_limit),
        HyperlightError::GuestAborted(code, message) => {
            if mentions_memory(&message) {
                Error::OutOfMemory { limit: heap_limit }
            } else {
                Error::Internal(format!("the guest aborted (code {code}): {message}"))
            }
        }
        other => Error::Internal(format!("the micro-VM failed: {other}")),
    }
}

/// What the guest runtime reports when a call fails outside the glue's
/// reach (hyperlight-js formats these as "Runtime error: <debug text>").
fn guest_error(message: String, heap_limit: usize) -> Error {
    if mentions_memory(&message) {
        return Error::OutOfMemory { limit: heap_limit };
    }
    if message.contains("WouldBlock") {
        // rquickjs gives up on a promise when nothing is left to run.
        return Error::Guest(GuestFailure {
            message: format!("TypeError: {NEVER_SETTLES}"),
            stack: None,
            host_cause: None,
        });
    }
    Error::Guest(GuestFailure { message, stack: None, host_cause: None })
}

fn mentions_memory(message: &str) -> bool {
    message.contains("out of memory") || message.contains("memory allocation") || message.contains("alloc error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{HostCallError, HostCause};

    fn guest_message(error: Error) -> String {
        match error {
            Error::Guest(f) => f.message,
            other => panic!("not a guest failure: {other:?}"),
        }
    }

    #[test]
    fn envelopes_become_results_and_errors() {
        let errors = HostErrors::default();
        let result = |text: &str| call_result(text, &errors, 9);
        assert_eq!(result(r#"["ok","{\"a\":1}"]"#).unwrap(), Payload::Json(r#"{"a":1}"#.into()));
        assert_eq!(result(r#"["bytes","00ff7a"]"#).unwrap(), Payload::Bytes(vec![0, 255, 0x7a]));
        assert_eq!(result(r#"["bytes",""]"#).unwrap(), Payload::Bytes(vec![]));
        assert!(matches!(result(r#"["bytes","0"]"#), Err(Error::Internal(_))));
        assert!(matches!(result(r#"["undefined"]"#), Err(Error::ResultNotSerializable(_))));
        let cycle = r#"["unserializable",{"name":"TypeError","message":"circular reference","stack":null,"error":true,"display":""}]"#;
        assert!(matches!(result(cycle), Err(Error::ResultNotSerializable(m)) if m == "TypeError: circular reference"));
        let thrown =
            r#"["error",{"name":"Error","message":"boom","stack":"at handler","error":true,"display":"Error: boom"}]"#;
        match result(thrown) {
            Err(Error::Guest(f)) => {
                assert_eq!((f.message.as_str(), f.stack.as_deref()), ("Error: boom", Some("at handler")))
            }
            other => panic!("{other:?}"),
        }
        let string = r#"["error",{"name":null,"message":null,"stack":null,"error":false,"display":"just text"}]"#;
        assert_eq!(guest_message(result(string).unwrap_err()), "Uncaught just text");
        let oom =
            r#"["error",{"name":"InternalError","message":"out of memory","stack":null,"error":true,"display":""}]"#;
        assert!(matches!(result(oom), Err(Error::OutOfMemory { limit: 9 })));
        assert!(matches!(ending("[\"what\"]", &errors), Err(Error::Internal(_))));
        assert!(matches!(ending("not json", &errors), Err(Error::Internal(_))));
    }

    #[test]
    fn an_uncaught_host_failure_carries_its_cause() {
        let errors = HostErrors::default();
        errors.keep(HostCallError { message: "no such user".into(), cause: Some(HostCause(Box::new(7_u8))) });
        let thrown = r#"["error",{"name":"InternalError","message":"Host function error: Calling binary host function: Error calling host function 'f' in module 'm': no such user","stack":null,"error":true,"display":""}]"#;
        match call_result(thrown, &errors, 1) {
            Err(Error::Guest(f)) => {
                assert_eq!(f.message, "HostError: no such user");
                assert_eq!(f.host_cause.unwrap().0.downcast_ref::<u8>(), Some(&7));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hyperlight_errors_map_to_the_core_errors() {
        assert!(matches!(call_error(HyperlightError::ExecutionCanceledByHost(), 1), Error::Cancelled { .. }));
        assert!(matches!(call_error(HyperlightError::PoisonedSandbox, 1), Error::Poisoned));
        assert!(matches!(
            call_error(HyperlightError::GuestAborted(1, "memory allocation of 8 bytes failed".into()), 5),
            Error::OutOfMemory { limit: 5 }
        ));
        assert!(matches!(call_error(HyperlightError::GuestAborted(1, "panic".into()), 5), Error::Internal(_)));
        let never = call_error(HyperlightError::Error("x".into()), 1);
        assert!(matches!(never, Error::Internal(_)));
        assert!(guest_message(guest_error("Runtime error: Error(WouldBlock)".into(), 1)).contains("never settle"));
    }
}
