use std::collections::BTreeMap;

use super::{HostFunction, JSSandbox, SandboxConfig};
use crate::error::{Error, Result};

/// A sandbox that is still collecting host functions.
pub struct ProtoJSSandbox {
    config: SandboxConfig,
    host_modules: BTreeMap<String, BTreeMap<String, HostFunction>>,
}

impl ProtoJSSandbox {
    pub(crate) fn new(config: SandboxConfig) -> Self {
        Self { config, host_modules: BTreeMap::new() }
    }

    /// Makes `function` importable as `import { name } from "module"`.
    pub fn register(&mut self, module: &str, name: &str, function: HostFunction) -> Result<()> {
        if module.is_empty() || module.starts_with('.') || module.contains('/') || module.contains('\\') {
            return Err(Error::InvalidArgument(format!(
                "host module name {module:?} must be non-empty and cannot look like a path"
            )));
        }
        if !is_identifier(name) {
            return Err(Error::InvalidArgument(format!("host function name {name:?} must be a JavaScript identifier")));
        }
        let functions = self.host_modules.entry(module.to_owned()).or_default();
        if functions.contains_key(name) {
            return Err(Error::InvalidArgument(format!("host function {module}.{name} is already registered")));
        }
        functions.insert(name.to_owned(), function);
        Ok(())
    }

    pub fn load_runtime(self) -> Result<JSSandbox> {
        Ok(JSSandbox::new(self.config, self.host_modules))
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c == '$' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c == '$' || c.is_alphanumeric())
}
