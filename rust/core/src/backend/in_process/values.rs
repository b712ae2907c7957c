//! Turning JavaScript values into what the host reports: console text and
//! uncaught exceptions.

use rquickjs::convert::Coerced;
use rquickjs::{qjs, Ctx, Value};

use crate::backend::host_errors::HostErrors;
use crate::backend::outcome::Thrown;

/// Property set on errors thrown by failing host functions.
pub(super) const HOST_ERROR_ID: &str = "__hyperlight_host_error_id";

/// One console argument as text: strings as they are, objects as JSON where
/// they have one, anything else as `String(value)` would print it.
pub(super) fn display<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> String {
    if let Some(s) = value.as_string() {
        return text(s);
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
        let bytes = std::slice::from_raw_parts(ptr.cast::<u8>(), len);
        let text = crate::text::from_wtf8_lossy(bytes).into_owned();
        qjs::JS_FreeCString(ctx, ptr);
        text
    }
}

/// The exception pending on `ctx`, described for [`crate::backend::outcome`];
/// the host failure behind it, if any, is taken from `errors`.
pub(super) fn thrown(ctx: &Ctx<'_>, errors: &HostErrors) -> Thrown {
    let value = ctx.catch();
    let Some(object) = value.as_object() else {
        return Thrown { display: Some(display(ctx, value)), ..Thrown::default() };
    };
    let get = |key: &str| -> Option<String> {
        let value: Value = object.get(key).ok()?;
        if value.is_undefined() || value.is_null() {
            return None;
        }
        value.get::<Coerced<rquickjs::String>>().ok().map(|c| text(&c.0))
    };
    let (name, message, is_error) = (get("name"), get("message"), value.is_error());
    let host_failure = object.get::<_, Option<u32>>(HOST_ERROR_ID).ok().flatten().and_then(|id| errors.take(id));
    let display =
        Thrown::needs_display(name.as_deref(), message.as_deref(), is_error).then(|| display(ctx, value.clone()));
    let stack = get("stack").filter(|s| !s.is_empty());
    // A getter above may have thrown; that is not the guest's failure.
    let _ = ctx.catch();
    Thrown { name, message, stack, is_error, display, host_failure }
}
