//! Guest text as Rust strings.
//!
//! JavaScript strings may hold lone surrogates, which UTF-8 cannot encode.
//! QuickJS hands such strings out as WTF-8 (each lone surrogate as the
//! three bytes `ED A0..BF 80..BF`). Refusing them would let a guest blank
//! its console lines and error messages with one `"\uD800"`; decoding them
//! byte by byte would turn each into three replacement characters. Each
//! becomes one U+FFFD, as `String.prototype.toWellFormed` would give.

use std::borrow::Cow;

pub(crate) fn from_wtf8_lossy(bytes: &[u8]) -> Cow<'_, str> {
    let Err(first) = std::str::from_utf8(bytes) else {
        // SAFETY: just checked.
        return Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) });
    };
    let mut text = String::with_capacity(bytes.len());
    let mut rest = bytes;
    let mut error = Some(first);
    while let Some(e) = error {
        let (valid, bad) = rest.split_at(e.valid_up_to());
        text.push_str(std::str::from_utf8(valid).unwrap_or_default());
        text.push(char::REPLACEMENT_CHARACTER);
        let skip = match bad {
            [0xED, 0xA0..=0xBF, 0x80..=0xBF, ..] => 3,
            _ => e.error_len().unwrap_or(bad.len()),
        };
        rest = &bad[skip..];
        error = std::str::from_utf8(rest).err();
    }
    text.push_str(std::str::from_utf8(rest).unwrap_or_default());
    Cow::Owned(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_lone_surrogate_becomes_one_replacement_character() {
        assert_eq!(from_wtf8_lossy(b"plain \xF0\x9F\x98\x80"), "plain \u{1F600}");
        assert_eq!(from_wtf8_lossy(b"a\xED\xA0\x80b"), "a\u{FFFD}b");
        assert_eq!(from_wtf8_lossy(b"\xED\xB0\x80\xED\xA0\x80"), "\u{FFFD}\u{FFFD}");
        assert_eq!(from_wtf8_lossy(b"x\xFFy\xED"), "x\u{FFFD}y\u{FFFD}");
    }
}
