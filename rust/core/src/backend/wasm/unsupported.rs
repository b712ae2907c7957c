//! Hosts other than Linux and Windows: the backend is not built there (its
//! snapshot memory has no port for them), so it reports itself unavailable
//! and a load never gets this far.

use std::sync::Arc;

use crate::backend::{Backend, BackendSnapshot, LoadSpec};
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;

pub(super) const REASON: &str = "the wasm backend is built for Linux and Windows hosts only";

/// Never constructed: [`Wasm::load`] always reports the backend unavailable.
pub enum Wasm {}

/// No wasm snapshot exists here to export.
pub(crate) fn export(_snapshot: &BackendSnapshot) -> Option<Result<crate::backend::Exported>> {
    None
}

pub(crate) fn guest_identity() -> Result<String, String> {
    Err(REASON.into())
}

impl Wasm {
    pub(crate) fn import(
        _spec: Arc<LoadSpec>,
        _payload: &[u8],
        _decoded: &std::sync::OnceLock<BackendSnapshot>,
        _interrupt: &InterruptHandle,
    ) -> Result<Self> {
        Err(Error::BackendUnavailable { backend: "wasm", reason: REASON.into() })
    }

    pub(crate) fn load(_spec: Arc<LoadSpec>, _interrupt: &InterruptHandle) -> Result<Self> {
        Err(Error::BackendUnavailable { backend: "wasm", reason: REASON.into() })
    }
}

impl Backend for Wasm {
    fn name(&self) -> &'static str {
        match *self {}
    }

    fn has_handler(&self, _name: &str) -> bool {
        match *self {}
    }

    fn call(&mut self, _handler: &str, _event_json: &str, _gc: bool) -> Result<String> {
        match *self {}
    }

    fn snapshot(&mut self) -> Result<BackendSnapshot> {
        match *self {}
    }

    fn restore(&mut self, _snapshot: &BackendSnapshot) -> Result<()> {
        match *self {}
    }
}
