//! The [`Backend`] over one guest instance: loading the handlers, calls,
//! and exact snapshots.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::Val;

use super::engine;
use super::instance::{fresh_seed, on_host_stack, Instance};
use super::memory::{MemoryError, MemoryImage};
use super::modules::Modules;
use crate::backend::handler::{module_name, with_handler_export};
use crate::backend::registry::Unavailable;
use crate::backend::{Backend, BackendSnapshot};
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::payload::Payload;
use crate::spec::LoadSpec;

pub(super) struct Wasm {
    pub(super) spec: Arc<LoadSpec>,
    pub(super) instance: Instance,
    /// Handler name → the guest's handler number. It describes the guest's
    /// memory, so it is part of every snapshot and comes back with it.
    pub(super) handlers: Arc<HashMap<String, u32>>,
    /// Set when a restore failed part-way: the guest's memory is then
    /// neither the old state nor the snapshot, and every call fails (which
    /// poisons the sandbox) until a restore succeeds.
    broken: bool,
}

/// This backend's snapshot: the guest's memory and globals, and the host's
/// view of them: which handler is which number, which files its modules may
/// import, and the load they came from (a snapshot taken before `unload()`
/// brings all of it back into the reloaded sandbox, never a mix).
pub(super) struct WasmSnapshot {
    pub(super) memory: Arc<MemoryImage>,
    pub(super) stack_pointer: i32,
    pub(super) modules: Modules,
    pub(super) spec: Arc<LoadSpec>,
    pub(super) handlers: Arc<HashMap<String, u32>>,
}

impl Wasm {
    pub(crate) fn load(spec: Arc<LoadSpec>, interrupt: &InterruptHandle) -> Result<Self> {
        on_host_stack(|| {
            let Self { mut instance, .. } = Self::start(spec.clone(), interrupt)?;
            let mut handlers = HashMap::new();
            for (index, (name, script)) in spec.handlers.iter().enumerate() {
                let module = module_name(name, script);
                instance.load(name, &module, &with_handler_export(&script.source))?;
                handlers.insert(name.clone(), index as u32);
            }
            Ok(Self { spec, instance, handlers: Arc::new(handlers), broken: false })
        })
    }

    /// A guest with QuickJS started and no handler loaded, stopped by
    /// `interrupt`. Runs guest code: call it on the host stack.
    pub(super) fn start(spec: Arc<LoadSpec>, interrupt: &InterruptHandle) -> Result<Self> {
        let shared =
            engine::shared().map_err(|reason| super::DESCRIPTOR.unavailable(Unavailable::DoesNotStart(reason)))?;
        let engine = shared.engine.clone();
        interrupt.state.set_kill_hook(Some(Arc::new(move || engine.increment_epoch())));
        let instance = Instance::start(shared, spec.clone(), interrupt.state.clone())?;
        Ok(Self { spec, instance, handlers: Arc::default(), broken: false })
    }
}

impl Backend for Wasm {
    fn has_handler(&self, name: &str) -> bool {
        self.spec.handlers.contains_key(name)
    }

    fn call(&mut self, handler: &str, event_json: &str, collection: Collection) -> Result<Payload> {
        if self.broken {
            return Err(Error::Internal("a failed restore left the wasm guest's memory inconsistent".into()));
        }
        let index = *self.handlers.get(handler).ok_or_else(|| Error::HandlerNotFound(handler.to_owned()))?;
        let instance = &mut self.instance;
        on_host_stack(|| instance.call(index, event_json, collection))
    }

    /// Exact at any time: everything the guest has is in its linear memory
    /// and its stack pointer.
    fn snapshot(&mut self) -> Result<BackendSnapshot> {
        let memory = self.instance.region.snapshot().map_err(|e| Error::Snapshot(format!("cannot snapshot: {e}")))?;
        let stack_pointer = self
            .instance
            .stack_pointer()
            .i32()
            .ok_or_else(|| Error::Internal("the wasm guest's stack pointer is not an i32".into()))?;
        let modules = self.instance.state().modules.clone();
        Ok(Arc::new(WasmSnapshot {
            memory,
            stack_pointer,
            modules,
            spec: self.spec.clone(),
            handlers: self.handlers.clone(),
        }))
    }

    fn restore(&mut self, snapshot: &BackendSnapshot) -> Result<()> {
        let Some(snapshot) = snapshot.downcast_ref::<WasmSnapshot>() else {
            return Err(Error::Snapshot("this snapshot was not taken by the wasm backend".into()));
        };
        let seed = fresh_seed()?;
        // A snapshot from before an unload may hold more memory than the
        // reloaded guest has grown to yet; growing first changes nothing
        // the guest can see (its allocator's break is in the image).
        self.instance
            .grow_memory_to(snapshot.memory.len())
            .map_err(|e| Error::Snapshot(format!("cannot restore: {e}")))?;
        match self.instance.region.restore(&snapshot.memory) {
            Ok(()) => {}
            Err(e @ MemoryError::ForeignImage { .. }) => return Err(Error::Snapshot(e.to_string())),
            Err(e) => {
                self.broken = true;
                return Err(Error::Internal(format!("cannot restore the wasm guest's memory: {e}")));
            }
        }
        if let Err(e) = self.instance.set_stack_pointer(Val::I32(snapshot.stack_pointer)) {
            self.broken = true;
            return Err(e);
        }
        let state = self.instance.state();
        if !Arc::ptr_eq(&self.spec, &snapshot.spec) {
            // Taken under another load (before an unload): the handler table
            // and everything the imports answer from go back to that load's.
            state.adopt(snapshot.spec.clone());
            self.spec = snapshot.spec.clone();
            self.handlers = snapshot.handlers.clone();
        }
        state.modules = snapshot.modules.clone();
        state.reply = Vec::new();
        state.host_errors.clear();
        state.limiter.take_refused();
        if let Err(e) = self.instance.reseed(seed) {
            self.broken = true;
            return Err(e);
        }
        self.broken = false;
        Ok(())
    }
}
