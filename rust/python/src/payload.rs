//! A handler's result for Python: JSON text, or `bytes` for a `Uint8Array`.

use hyperlight_js_core::Payload;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// `str` (JSON) or, when the caller takes `binary` results, `bytes`; a
/// caller that does not gets the JSON text `JSON.stringify` writes.
pub(crate) fn payload_to_py(py: Python<'_>, payload: Payload, binary: bool) -> Py<PyAny> {
    match payload {
        Payload::Bytes(bytes) if binary => PyBytes::new(py, &bytes).into_any().unbind(),
        other => PyString::new(py, &other.into_json()).into_any().unbind(),
    }
}
