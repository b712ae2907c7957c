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

mod builtins_bytecode;
mod engine;
mod heap;
mod host_module;
mod loader;
mod random;
mod sizes;
mod values;

use std::sync::Arc;

use super::registry::{Descriptor, Engine as Registered, Isolation, SizeFloors, SnapshotFiles};
use super::{Backend, BackendSnapshot};
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::payload::Payload;
use crate::spec::LoadSpec;
use engine::Engine;
use sizes::{MIN_HEAP_SIZE, MIN_SCRATCH_SIZE};

/// The in-process backend in the registry.
pub(crate) static DESCRIPTOR: Descriptor =
    Descriptor::compiled("in-process", 2, Isolation::None, "an in-process engine", &REGISTERED);

static REGISTERED: Registered = Registered {
    floors: SizeFloors { heap: MIN_HEAP_SIZE, scratch: MIN_SCRATCH_SIZE },
    // QuickJS is linked into this package: nothing to check before trying it.
    preconditions: || Ok(()),
    load: |spec, interrupt| Ok(Box::new(InProcess::load(spec, interrupt)?)),
    files: Some(SnapshotFiles {
        // The engine is compiled into this package, whose version the file
        // already records.
        guest_identity: || Ok("quickjs-ng (rquickjs, in this package)".to_owned()),
        export,
        import: |spec, payload, _decoded, interrupt| Ok(Box::new(InProcess::import(spec, payload, interrupt)?)),
    }),
};

pub(crate) struct InProcess {
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

    /// From a snapshot file: the load recipe is the whole snapshot, so the
    /// payload is empty and loading it is a load (from the sources saved).
    pub(crate) fn import(spec: Arc<LoadSpec>, payload: &[u8], interrupt: &InterruptHandle) -> Result<Self> {
        if !payload.is_empty() {
            return Err(Error::Snapshot("the in-process snapshot file carries an unexpected payload".into()));
        }
        Self::load(spec, interrupt)
    }
}

/// For a snapshot file: this backend's snapshot is its load recipe, which
/// the file holds outside the payload.
fn export(snapshot: &BackendSnapshot) -> Result<(Arc<LoadSpec>, Vec<u8>)> {
    let LoadedState(spec) = snapshot
        .downcast_ref::<LoadedState>()
        .ok_or_else(|| Error::Snapshot("this snapshot was not taken by the in-process backend".into()))?;
    Ok((spec.clone(), Vec::new()))
}

impl Backend for InProcess {
    fn has_handler(&self, name: &str) -> bool {
        self.spec.handlers.contains_key(name)
    }

    fn call(&mut self, handler: &str, event_json: &str, collection: Collection) -> Result<Payload> {
        self.ran_handlers = true;
        self.engine.call(handler, event_json, collection, self.spec.guest.stack_size)
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
