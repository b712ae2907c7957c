//! How a handler script is made into a module every backend can call.

use crate::script::Script;

/// The binding every backend reads the handler from.
pub(crate) const HANDLER_BINDING: &str = "__hyperlight_handler";

/// Appended to every handler script so the handler is reachable whether or
/// not the script exports it. A second export name for the same binding is
/// valid next to `export function handler`, and being last it leaves line
/// numbers in stack traces untouched.
pub(crate) const HANDLER_EXPORT: &str = "\n;export { handler as __hyperlight_handler };\n";

/// The script's source with [`HANDLER_EXPORT`] appended.
pub(crate) fn with_handler_export(source: &str) -> String {
    let mut text = String::with_capacity(source.len() + HANDLER_EXPORT.len());
    text.push_str(source);
    text.push_str(HANDLER_EXPORT);
    text
}

/// The module name a handler's script is loaded under: its file, or a name
/// of its own for inline source (shown in stack traces and load errors).
pub(crate) fn module_name(handler: &str, script: &Script) -> String {
    match &script.path {
        Some(path) => path.to_string_lossy().into_owned(),
        None => format!("handler:{handler}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guests are C and JavaScript: they name the binding, and say the
    /// one message they raise themselves, in the same words.
    #[test]
    fn the_guests_use_the_same_binding_and_words() {
        let wasm = include_str!("../../guest/wasm/guest.c");
        let glue = include_str!("../../guest/hyperlight/runtime.js");
        assert!(wasm.contains(&format!("\"{HANDLER_BINDING}\"")));
        assert!(glue.contains(&format!(".{HANDLER_BINDING};")));
        assert!(wasm.contains(&format!("\"{}\"", super::super::outcome::NEVER_SETTLES)));
    }

    #[test]
    fn the_export_names_the_binding() {
        assert!(HANDLER_EXPORT.contains(HANDLER_BINDING));
        assert!(with_handler_export("function handler() {}").ends_with(HANDLER_EXPORT));
    }
}
