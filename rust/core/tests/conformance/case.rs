//! One behaviour to check on every backend.

pub struct Case {
    pub name: &'static str,
    /// Runs the check on the backend with this name; a panic fails it.
    pub run: fn(&str),
    /// Backends whose documented rule differs here, each with why; their
    /// rule is checked in their own test file.
    pub not_on: &'static [(&'static str, &'static str)],
}

impl Case {
    pub fn applies_to(&self, backend: &str) -> bool {
        !self.not_on.iter().any(|(name, _)| *name == backend)
    }
}

/// `case!(check)` or `case!(check, not_on: [("backend", "why")])`.
macro_rules! case {
    ($run:ident) => {
        $crate::conformance::case::Case { name: stringify!($run), run: $run, not_on: &[] }
    };
    ($run:ident, not_on: [$(($backend:literal, $why:expr)),+ $(,)?]) => {
        $crate::conformance::case::Case { name: stringify!($run), run: $run, not_on: &[$(($backend, $why)),+] }
    };
}
pub(crate) use case;
