use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::js::SandboxParts;
use super::metrics::{self, Alive};
use super::JSSandbox;
use crate::backend::{Backend, BackendSnapshot, Descriptor};
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::monitor::{run_measured, ExecutionStats, MonitorSet, Watchers};
use crate::payload::Payload;
use crate::script::Script;

/// A sandbox whose handlers are loaded and can be called.
///
/// After a call is terminated (by a monitor, the interrupt handle or
/// Ctrl-C), runs out of heap, or hits an internal error, the sandbox is
/// *poisoned* and refuses calls until [`restore`](Self::restore). Any other
/// failure (a JavaScript exception, a bad event, a result JSON cannot hold)
/// leaves it usable.
pub struct LoadedJSSandbox {
    /// Which backend runs it.
    descriptor: &'static Descriptor,
    backend: Box<dyn Backend>,
    parts: SandboxParts,
    /// The handlers the engine holds now: those it was loaded with, or
    /// those of the snapshot it was last restored to.
    handlers: Arc<BTreeMap<String, Script>>,
    poisoned: Arc<AtomicBool>,
    last_call_stats: Option<ExecutionStats>,
    _alive: Alive<LoadedJSSandbox>,
}

/// A sandbox's whole state to return to, handlers included; only the
/// sandbox that took it accepts it (also after it was unloaded, given new
/// handlers and loaded again: restoring then brings back the handlers it
/// captured).
///
/// A snapshot can also be saved to a file and loaded in another process
/// (see [`snapshot_file`](super::snapshot_file)); one loaded from a file
/// belongs to no sandbox and starts new ones.
#[derive(Clone)]
pub struct Snapshot {
    pub(super) sandbox_id: u64,
    pub(super) handlers: Arc<BTreeMap<String, Script>>,
    pub(super) data: BackendSnapshot,
    pub(super) info: SnapshotInfo,
}

/// The `sandbox_id` of a snapshot read from a file (sandboxes count from 1).
pub(super) const FROM_FILE: u64 = 0;

/// What a sandbox must be built with to load a snapshot.
#[derive(Clone, Copy)]
pub(super) struct SnapshotInfo {
    pub backend: &'static Descriptor,
    pub heap_size: usize,
    pub stack_size: usize,
}

impl Snapshot {
    /// The name of the backend that took it.
    pub fn backend_name(&self) -> &'static str {
        self.info.backend.name
    }

    /// The guest heap size of the sandbox it was taken from.
    pub fn heap_size(&self) -> usize {
        self.info.heap_size
    }

    /// The guest stack size of the sandbox it was taken from.
    pub fn stack_size(&self) -> usize {
        self.info.stack_size
    }

    /// Whether it was read from a file (it then starts new sandboxes and
    /// is not restored into existing ones).
    pub fn from_file(&self) -> bool {
        self.sandbox_id == FROM_FILE
    }
}

/// Per-call settings beyond the handler and event.
#[derive(Default)]
pub struct CallOptions<'a> {
    /// Run QuickJS's cycle collector after the call: `Some(true)` always
    /// (hyperlight-js's default), `Some(false)` never, `None` when the heap
    /// grew enough since the last collection for it to find something
    /// ([`crate::collection`]).
    pub gc: Option<bool>,
    /// Race these monitors against the call.
    pub monitor: Option<&'a dyn MonitorSet>,
    /// End the call on any Ctrl-C after this mark (for calls on the host's
    /// main thread).
    pub interrupt_on_sigint: Option<crate::sigint::Mark>,
}

impl LoadedJSSandbox {
    /// A successful load (counted in `sandbox_loads_total`).
    pub(super) fn new(
        descriptor: &'static Descriptor,
        backend: Box<dyn Backend>,
        parts: SandboxParts,
        handlers: BTreeMap<String, Script>,
    ) -> Self {
        metrics::record_load();
        Self {
            descriptor,
            backend,
            parts,
            handlers: Arc::new(handlers),
            poisoned: Arc::new(AtomicBool::new(false)),
            last_call_stats: None,
            _alive: Alive::new(),
        }
    }

    /// Calls the handler `name` with a JSON event, unmonitored; `gc` as in
    /// [`CallOptions::gc`]. Returns the handler's result as JSON.
    pub fn handle_event(&mut self, name: &str, event_json: &str, gc: Option<bool>) -> Result<String> {
        self.call(name, event_json, &CallOptions { gc, ..Default::default() })
    }

    /// As [`handle_event`](Self::handle_event), raced against `monitor`:
    /// the first monitor to complete ends the call.
    pub fn handle_event_with_monitor<M: MonitorSet>(
        &mut self,
        name: &str,
        event_json: &str,
        monitor: &M,
        gc: Option<bool>,
    ) -> Result<String> {
        self.call(name, event_json, &CallOptions { gc, monitor: Some(monitor), ..Default::default() })
    }

    /// Calls the handler `name` with a JSON event and these options. A
    /// failure that leaves the engine in doubt ([`Error::poisons`]) poisons
    /// the sandbox; any other leaves it ready for the next call.
    /// [`last_call_stats`](Self::last_call_stats) describes it afterwards.
    ///
    /// The result is JSON text; a `Uint8Array` result reads as
    /// `JSON.stringify` writes it (`{"0":1,"1":2}`), as upstream's
    /// `handle_event` gives it. [`call_payload`](Self::call_payload) gives
    /// its bytes instead.
    pub fn call(&mut self, name: &str, event_json: &str, options: &CallOptions<'_>) -> Result<String> {
        self.call_payload(name, event_json, options).map(Payload::into_json)
    }

    /// As [`call`](Self::call), a `Uint8Array` result as its bytes.
    pub fn call_payload(&mut self, name: &str, event_json: &str, options: &CallOptions<'_>) -> Result<Payload> {
        self.last_call_stats = None;
        if self.poisoned() {
            return Err(Error::Poisoned);
        }
        if name.is_empty() {
            return Err(Error::InvalidArgument("handler name must not be empty".into()));
        }
        if !self.backend.has_handler(name) {
            return Err(Error::HandlerNotFound(name.to_owned()));
        }
        let watchers = Watchers { monitor: options.monitor, interrupt_on_sigint: options.interrupt_on_sigint };
        let backend = &mut self.backend;
        let collection = Collection::from_option(options.gc, self.parts.config.guest.heap_size);
        let (outcome, stats) =
            run_measured(&self.parts.interrupt.state, watchers, self.parts.config.cpu_time_stats, || {
                backend.call(name, event_json, collection)
            });
        self.last_call_stats = stats;
        if matches!(&outcome, Err(e) if e.poisons()) {
            self.poisoned.store(true, Ordering::Release);
        }
        outcome
    }

    /// The guest's state now, handlers included; refused while poisoned.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        if self.poisoned() {
            return Err(Error::Poisoned);
        }
        let info = SnapshotInfo {
            backend: self.descriptor,
            heap_size: self.parts.config.guest.heap_size,
            stack_size: self.parts.config.guest.stack_size,
        };
        Ok(Snapshot {
            sandbox_id: self.parts.id,
            handlers: self.handlers.clone(),
            data: self.backend.snapshot()?,
            info,
        })
    }

    /// Returns to `snapshot` and clears the poison. The state comes back
    /// whole: a snapshot taken before `unload()` brings back the handlers
    /// it captured, with their code, even if the sandbox was loaded with
    /// others since (and those are gone). A failed restore leaves the
    /// sandbox as it was.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        if snapshot.from_file() {
            return Err(Error::Snapshot(
                "a snapshot loaded from a file starts new sandboxes (ProtoJSSandbox.load_snapshot()); it is not \
                 restored into an existing one"
                    .into(),
            ));
        }
        if snapshot.sandbox_id != self.parts.id {
            return Err(Error::Snapshot("this snapshot was taken from a different sandbox".into()));
        }
        self.backend.restore(&snapshot.data)?;
        // Taken under another load, it brings that load's handlers back.
        self.handlers = snapshot.handlers.clone();
        self.poisoned.store(false, Ordering::Release);
        Ok(())
    }

    /// Whether an interrupted call left the sandbox unusable until a restore.
    pub fn poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// Shared view of the poison flag, readable while a call runs.
    pub fn poison_flag(&self) -> Arc<AtomicBool> {
        self.poisoned.clone()
    }

    /// The handle that kills this sandbox's running call from any thread.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.parts.interrupt.clone()
    }

    /// The stats of the last [`call`](Self::call): `None` before the first
    /// one, and after one that never reached the guest (refused while
    /// poisoned, an empty or unknown handler name, a monitor that did not
    /// start); otherwise filled, whether the call returned, threw or was
    /// terminated, monitored or not.
    pub fn last_call_stats(&self) -> Option<&ExecutionStats> {
        self.last_call_stats.as_ref()
    }

    /// The registered name of the backend running it.
    pub fn backend_name(&self) -> &'static str {
        self.descriptor.name
    }

    /// Drops the engine (poisoned or not) and returns the sandbox to the
    /// handler-editing stage with no handlers, as hyperlight-js does: add
    /// them again (or others) before the next load. Its snapshots still
    /// restore into the sandboxes it loads next, handlers included.
    pub fn unload(self) -> JSSandbox {
        metrics::record_unload();
        JSSandbox::new(self.parts)
    }
}
