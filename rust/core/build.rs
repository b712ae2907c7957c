//! Build steps for optional backends. Each lives in its own file under
//! `build/` and runs only when its cargo feature is on.

#[path = "build/wasm_guest.rs"]
mod wasm_guest;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_WASM").is_some() {
        wasm_guest::build();
    }
}
