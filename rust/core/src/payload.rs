//! A value crossing the sandbox boundary: JSON text, or bytes, which stand
//! for a `Uint8Array` in the guest and never pass through JSON.

/// What a host function answers, or a handler returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// JSON text (`JSON.parse` / `JSON.stringify` on the guest's side).
    Json(String),
    /// The bytes of a `Uint8Array` (a view's own bytes, not its buffer's).
    Bytes(Vec<u8>),
}

impl Payload {
    /// As JSON text, bytes in the form `JSON.stringify` gives a
    /// `Uint8Array` (`{"0":1,"1":2}`): what a JSON-only API reports.
    pub fn into_json(self) -> String {
        match self {
            Payload::Json(json) => json,
            Payload::Bytes(bytes) => {
                let mut json = String::with_capacity(2 + bytes.len() * 8);
                json.push('{');
                for (i, byte) in bytes.iter().enumerate() {
                    if i > 0 {
                        json.push(',');
                    }
                    json.push_str(&format!("\"{i}\":{byte}"));
                }
                json.push('}');
                json
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Payload;

    #[test]
    fn bytes_as_json_are_what_json_stringify_writes_for_a_uint8array() {
        assert_eq!(Payload::Bytes(vec![]).into_json(), "{}");
        assert_eq!(Payload::Bytes(vec![0, 255]).into_json(), r#"{"0":0,"1":255}"#);
        assert_eq!(Payload::Json("[1]".into()).into_json(), "[1]");
    }
}
