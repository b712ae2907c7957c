//! Host functions across the micro-VM boundary.
//!
//! The core's host functions take a JSON array of arguments and return JSON,
//! which is exactly hyperlight-js's JavaScript-bridge registration (the one
//! its Node.js binding uses): the guest runtime serialises the arguments,
//! the host gets them parsed, and a JSON result goes back. `Uint8Array`
//! arguments travel beside the JSON, each leaving a placeholder in it. A
//! top-level one reaches the host function as bytes, `null` in the JSON, as
//! on the other backends (`host_call.rs`); a nested one is put back in the
//! form `JSON.stringify` gives it there (`{"0": 1, "1": 2}`), so a host
//! function sees the same everywhere. Bytes a host function returns go back
//! as hyperlight-js's binary result, a `Uint8Array` in the guest.
//!
//! Upstream's runtime marks binary arguments with `{"__bin__": n}` objects,
//! so a guest object of exactly that shape, passed together with a
//! `Uint8Array`, is read as binary here: the one ambiguity the other
//! backends do not have (docs/api.md).
//!
//! A failing host function fails the guest's call with its message. What it
//! raised (the cause) stays host-side, and is attached to the guest error if
//! the handler lets that exception escape.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyperlight_js::{FnReturn, HyperlightError, ProtoJSSandbox};
use serde_json::{Map, Value};

use crate::backend::host_errors::HostErrors;
use crate::host_call::HostArgs;
use crate::payload::Payload;
use crate::spec::HostFunction;

/// hyperlight-js's placeholder for the n-th binary argument: `{"__bin__": n}`.
const BINARY_PLACEHOLDER: &str = "__bin__";

/// Registers every host module on the sandbox before its runtime loads.
pub(super) fn register(
    sandbox: &mut ProtoJSSandbox,
    modules: &BTreeMap<String, BTreeMap<String, HostFunction>>,
    errors: &Arc<HostErrors>,
) {
    for (module, functions) in modules {
        let host_module = sandbox.host_module(module.as_str());
        for (name, function) in functions {
            let function = function.clone();
            let errors = errors.clone();
            host_module.register_js(name.as_str(), move |mut args: Value, binaries: Vec<Vec<u8>>| {
                let bytes = if binaries.is_empty() { Vec::new() } else { take_binaries(&mut args, &binaries) };
                match function(HostArgs { json: &args.to_string(), bytes: &bytes }) {
                    Ok(Payload::Json(result)) => Ok(FnReturn::Json(result)),
                    Ok(Payload::Bytes(result)) => Ok(FnReturn::Binary(result)),
                    Err(failure) => {
                        let message = failure.message.clone();
                        errors.keep(failure);
                        Err(HyperlightError::Error(message))
                    }
                }
            });
        }
    }
}

/// The n-th blob, if `value` is the placeholder for it.
fn placeholder<'a>(value: &Value, binaries: &'a [Vec<u8>]) -> Option<&'a Vec<u8>> {
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    let index = usize::try_from(object.get(BINARY_PLACEHOLDER)?.as_u64()?).ok()?;
    binaries.get(index)
}

/// Takes the top-level binary arguments out (`null` in their place, their
/// bytes by position) and restores nested ones as index-keyed objects.
fn take_binaries(args: &mut Value, binaries: &[Vec<u8>]) -> Vec<(usize, Vec<u8>)> {
    let mut taken = Vec::new();
    if let Value::Array(items) = args {
        for (position, item) in items.iter_mut().enumerate() {
            match placeholder(item, binaries) {
                Some(bytes) => {
                    taken.push((position, bytes.clone()));
                    *item = Value::Null;
                }
                None => restore_binaries(item, binaries),
            }
        }
    }
    taken
}

/// Replaces each binary placeholder by the bytes as an index-keyed object.
fn restore_binaries(value: &mut Value, binaries: &[Vec<u8>]) {
    if let Some(bytes) = placeholder(value, binaries) {
        *value = Value::Object(
            bytes.iter().enumerate().map(|(i, b)| (i.to_string(), Value::from(*b))).collect::<Map<_, _>>(),
        );
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| restore_binaries(v, binaries)),
        Value::Object(object) => object.values_mut().for_each(|v| restore_binaries(v, binaries)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_binary_arguments_are_bytes_and_nested_ones_read_as_json_stringify_writes_them() {
        let mut args = serde_json::json!([{"__bin__": 0}, {"nested": [{"__bin__": 1}]}, {"__bin__": 0, "other": 1}, 7, {"__bin__": 1}]);
        let taken = take_binaries(&mut args, &[vec![1, 2], vec![]]);
        assert_eq!(taken, vec![(0, vec![1, 2]), (4, vec![])]);
        assert_eq!(args.to_string(), r#"[null,{"nested":[{}]},{"__bin__":0,"other":1},7,null]"#);
    }
}
