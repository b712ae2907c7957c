//! What tests of more than one backend share: which backends exist
//! ([`backends`]), sandboxes loaded from inline sources, and the shapes of
//! the failures they assert.

// Each test binary uses its own part of this.
#![allow(dead_code)]

pub mod backends;

use hyperlight_js_core::{json_host_function, Error, LoadedJSSandbox, ProtoJSSandbox, SandboxBuilder, Script};

/// Loads these `(name, source)` handlers into a sandbox built by `builder`.
pub fn load(proto: ProtoJSSandbox, handlers: &[(&str, &str)]) -> Result<LoadedJSSandbox, Error> {
    let mut sandbox = proto.load_runtime()?;
    for (name, source) in handlers {
        sandbox.add_handler(name, Script::from_content(*source, None)?)?;
    }
    sandbox.get_loaded_sandbox()
}

/// A sandbox of the named backend with these handlers and default sizes.
pub fn loaded(backend: &str, handlers: &[(&str, &str)]) -> LoadedJSSandbox {
    loaded_from(backends::builder(backend), handlers)
}

/// A sandbox from this builder with these handlers.
pub fn loaded_from(builder: SandboxBuilder, handlers: &[(&str, &str)]) -> LoadedJSSandbox {
    load(builder.build().unwrap(), handlers).unwrap()
}

/// `math.add(a, b)`: the sum of two numbers.
pub fn register_add(proto: &mut ProtoJSSandbox) {
    proto
        .register(
            "math",
            "add",
            json_host_function(|args: &str| {
                let v: Vec<f64> = args.trim_matches(['[', ']']).split(',').map(|x| x.parse().unwrap()).collect();
                Ok((v[0] + v[1]).to_string())
            }),
        )
        .unwrap();
}

/// The message of a JavaScript exception that ended a call.
pub fn guest_message(result: Result<String, Error>) -> String {
    match result {
        Err(Error::Guest(f)) => f.message,
        other => panic!("expected a guest error, got {other:?}"),
    }
}

/// The monitor that ended a call (`None`: the interrupt handle).
pub fn cancelled_by(result: Result<String, Error>) -> Option<String> {
    match result {
        Err(Error::Cancelled { monitor, .. }) => monitor,
        other => panic!("expected a cancellation, got {other:?}"),
    }
}
