//! Upstream's built-in environment (hyperlight-js-runtime's modules
//! `crypto`, `io`, `console`, `require` and the globals `require` and
//! `String.bytesFrom`), one JavaScript source that the wasm guest and the
//! in-process engine both evaluate when their runtime starts, so the two
//! cannot differ (docs/builtins.md).

/// Stack the built-ins' script may use while it is parsed and run at
/// start-up: it is ours, so the handlers' scratch size (as small as 16 KiB)
/// does not apply to it. (In-process, what the calling thread really has
/// left still caps it.)
pub(crate) const SETUP_STACK: usize = 256 * 1024;

/// The script that installs the built-ins (`guest/builtins.js`).
pub(crate) const SOURCE: &str = include_str!("../../guest/builtins.js");

/// Each built-in module and the names it exports, as upstream's
/// `hyperlight-js-runtime/src/modules/*.rs` declare them.
const MODULES: [(&str, &[&str]); 4] = [
    ("crypto", &["Hmac", "createHmac"]),
    ("io", &["print", "flush"]),
    ("console", &["log"]),
    ("require", &["require", "default"]),
];

/// Whether `name` is a built-in module (a host module of the same name
/// comes first, as upstream's loader chain has it).
pub(crate) fn is_module(name: &str) -> bool {
    MODULES.iter().any(|(module, _)| *module == name)
}

/// The ES module source for built-in module `name`: it re-exports what
/// `builtins.js` stored (frozen) when the runtime started.
pub(crate) fn module_source(name: &str) -> Option<String> {
    let (_, exports) = MODULES.iter().find(|(module, _)| *module == name)?;
    let mut source = format!("const m = globalThis[Symbol.for(\"hyperlight-js.builtins\")][{name:?}];\n");
    for export in *exports {
        if *export == "default" {
            source.push_str("export default m.default;\n");
        } else {
            source.push_str(&format!("export const {export} = m.{export};\n"));
        }
    }
    Some(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_has_a_source_and_nothing_else_does() {
        for name in ["crypto", "io", "console", "require"] {
            assert!(is_module(name));
            assert!(module_source(name).is_some_and(|s| s.contains("export")));
        }
        assert!(!is_module("fs"));
        assert!(module_source("./crypto").is_none());
    }
}
