//! Host functions across the micro-VM boundary.
//!
//! The core's host functions take a JSON array of arguments and return JSON,
//! which is exactly hyperlight-js's JavaScript-bridge registration (the one
//! its Node.js binding uses): the guest runtime serialises the arguments,
//! the host gets them parsed, and a JSON result goes back. `Uint8Array`
//! arguments travel beside the JSON; they are put back into the arguments in
//! the form `JSON.stringify` gives them on the other backends
//! (`{"0": 1, "1": 2}`), so a host function sees the same text everywhere.
//!
//! A failing host function fails the guest's call with its message. What it
//! raised (the cause) stays host-side, and is attached to the guest error if
//! the handler lets that exception escape.

use std::collections::BTreeMap;
use std::sync::Arc;

use hyperlight_js::{FnReturn, HyperlightError, ProtoJSSandbox};
use serde_json::{Map, Value};

use crate::backend::host_errors::HostErrors;
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
                if !binaries.is_empty() {
                    restore_binaries(&mut args, &binaries);
                }
                match function(&args.to_string()) {
                    Ok(result) => Ok(FnReturn::Json(result)),
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

/// Replaces each binary placeholder by the bytes as an index-keyed object.
fn restore_binaries(value: &mut Value, binaries: &[Vec<u8>]) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| restore_binaries(v, binaries)),
        Value::Object(object) => {
            let index = match (object.len(), object.get(BINARY_PLACEHOLDER).and_then(Value::as_u64)) {
                (1, Some(index)) => usize::try_from(index).ok(),
                _ => None,
            };
            match index.and_then(|i| binaries.get(i)) {
                Some(bytes) => {
                    *value = Value::Object(
                        bytes.iter().enumerate().map(|(i, b)| (i.to_string(), Value::from(*b))).collect::<Map<_, _>>(),
                    )
                }
                None => object.values_mut().for_each(|v| restore_binaries(v, binaries)),
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_arguments_read_as_json_stringify_writes_them() {
        let mut args = serde_json::json!([{"__bin__": 0}, {"nested": [{"__bin__": 1}]}, {"__bin__": 0, "other": 1}]);
        restore_binaries(&mut args, &[vec![1, 2], vec![]]);
        assert_eq!(args.to_string(), r#"[{"0":1,"1":2},{"nested":[{}]},{"__bin__":0,"other":1}]"#);
    }
}
