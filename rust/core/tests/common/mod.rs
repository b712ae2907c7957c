//! Host functions that tests of more than one backend register.

use std::sync::Arc;

use hyperlight_js_core::ProtoJSSandbox;

/// `math.add(a, b)`: the sum of two numbers.
pub fn register_add(proto: &mut ProtoJSSandbox) {
    proto
        .register(
            "math",
            "add",
            Arc::new(|args: &str| {
                let v: Vec<f64> = args.trim_matches(['[', ']']).split(',').map(|x| x.parse().unwrap()).collect();
                Ok((v[0] + v[1]).to_string())
            }),
        )
        .unwrap();
}
