//! QuickJS (quickjs-ng through rquickjs) in the host process, on the
//! calling thread.
//!
//! Fast and simple, but it shares the host's address space, and QuickJS has
//! no way to copy its heap. A snapshot therefore records the *loaded* state:
//! restoring throws the engine away and builds a new one from the same
//! handlers and host modules, from the sources captured at load time (files
//! are not read again). That is exact only for a snapshot taken before any
//! handler has run, so that is the only time this backend takes one; see
//! [`InProcess::snapshot`].

mod engine;
mod heap;
mod host_module;
mod loader;
mod sizes;
mod values;

use std::sync::Arc;

use super::{Backend, BackendSnapshot, LoadSpec};
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use engine::Engine;
pub(crate) use sizes::{MIN_HEAP_SIZE, MIN_SCRATCH_SIZE};

pub struct InProcess {
    spec: Arc<LoadSpec>,
    interrupt: InterruptHandle,
    engine: Engine,
    /// A handler has run since the engine was built.
    ran_handlers: bool,
}

/// This backend's snapshot: the load it returns to.
struct LoadedState(Arc<LoadSpec>);

impl InProcess {
    pub(crate) fn load(spec: Arc<LoadSpec>, interrupt: &InterruptHandle) -> Result<Self> {
        let engine = Engine::build(spec.clone(), interrupt)?;
        Ok(Self { spec, interrupt: interrupt.clone(), engine, ran_handlers: false })
    }
}

impl Backend for InProcess {
    fn name(&self) -> &'static str {
        "in-process"
    }

    fn has_handler(&self, name: &str) -> bool {
        self.spec.handlers.contains_key(name)
    }

    fn call(&mut self, handler: &str, event_json: &str, gc: bool) -> Result<String> {
        self.ran_handlers = true;
        self.engine.call(handler, event_json, gc, self.spec.stack_size)
    }

    /// Refused once a handler has run: the engine's heap cannot be copied, so
    /// a later snapshot could not bring back what those calls did, and a
    /// snapshot that silently drops state is worse than none.
    fn snapshot(&mut self) -> Result<BackendSnapshot> {
        if self.ran_handlers {
            return Err(Error::Snapshot(
                "the in-process backend can only snapshot a freshly loaded sandbox (before its first \
                 call, or right after restore()): it cannot copy the state calls leave behind"
                    .into(),
            ));
        }
        Ok(Arc::new(LoadedState(self.spec.clone())))
    }

    fn restore(&mut self, snapshot: &BackendSnapshot) -> Result<()> {
        let Some(LoadedState(spec)) = snapshot.downcast_ref::<LoadedState>() else {
            return Err(Error::Snapshot("this snapshot was not taken by the in-process backend".into()));
        };
        // Build the new engine before dropping the old one: a failed restore
        // leaves the sandbox as it was.
        self.engine = Engine::build(spec.clone(), &self.interrupt)?;
        self.spec = spec.clone();
        self.ran_handlers = false;
        Ok(())
    }
}
