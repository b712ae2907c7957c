//! Turning JavaScript values into what the host reports: console text and
//! uncaught exceptions.

use rquickjs::convert::Coerced;
use rquickjs::{qjs, Ctx, Value};

use super::host_module::HostErrors;
use crate::error::{Error, GuestFailure};

/// Property set on errors thrown by failing host functions.
pub(super) const HOST_ERROR_ID: &str = "__hyperlight_host_error_id";

/// One console argument as text: strings as they are, objects as JSON where
/// they have one, anything else as `String(value)` would print it.
pub(super) fn display<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> String {
    if let Some(s) = value.as_string() {
        return text(&s);
    }
    if value.is_object() && !value.is_function() && !value.is_error() {
        if let Ok(Some(json)) = ctx.json_stringify(value.clone()) {
            if let Ok(text) = json.to_string() {
                return text;
            }
        }
        let _ = ctx.catch();
    }
    match value.get::<Coerced<rquickjs::String>>() {
        Ok(string) => text(&string.0),
        Err(_) => {
            let _ = ctx.catch();
            "<unprintable value>".to_owned()
        }
    }
}

/// A JavaScript string as Rust text, each lone surrogate replaced by U+FFFD
/// (rquickjs's own conversion refuses such strings, which left console
/// lines and error messages empty).
pub(super) fn text(string: &rquickjs::String<'_>) -> String {
    let value = string.as_value();
    let mut len = 0;
    // SAFETY: the context and value are live for this call; QuickJS returns
    // a buffer of `len` bytes (WTF-8) that we copy, then free.
    unsafe {
        let ctx = value.ctx().as_raw().as_ptr();
        let ptr = qjs::JS_ToCStringLen(ctx, &mut len, value.as_raw());
        if ptr.is_null() {
            return String::new();
        }
        let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize);
        let text = crate::text::from_wtf8_lossy(bytes).into_owned();
        qjs::JS_FreeCString(ctx, ptr);
        text
    }
}

/// The exception pending on `ctx`, as the error the host sees.
pub(super) fn pending_exception(ctx: &Ctx<'_>, errors: &HostErrors, heap_limit: usize) -> Error {
    let thrown = ctx.catch();
    let Some(object) = thrown.as_object() else {
        let text = display(ctx, thrown);
        return Error::Guest(GuestFailure { message: format!("Uncaught {text}"), stack: None, host_cause: None });
    };
    let get = |key: &str| -> Option<String> {
        let value: Value = object.get(key).ok()?;
        if value.is_undefined() || value.is_null() {
            return None;
        }
        value.get::<Coerced<rquickjs::String>>().ok().map(|c| text(&c.0))
    };
    let name = get("name");
    let message = get("message");
    if name.as_deref() == Some("InternalError") && message.as_deref() == Some("out of memory") {
        return Error::OutOfMemory { limit: heap_limit };
    }
    let host_cause = object.get::<_, Option<u32>>(HOST_ERROR_ID).ok().flatten().and_then(|id| errors.take(id));
    let message = match (name, message) {
        (Some(name), Some(message)) if !message.is_empty() => format!("{name}: {message}"),
        (Some(name), _) if thrown.is_error() => name,
        _ => format!("Uncaught {}", display(ctx, thrown.clone())),
    };
    let _ = ctx.catch();
    Error::Guest(GuestFailure { message, stack: get("stack").filter(|s| !s.is_empty()), host_cause })
}
