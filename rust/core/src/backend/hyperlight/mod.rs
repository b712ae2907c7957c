//! QuickJS inside a Hyperlight micro-VM, through the hyperlight-js crate.
//!
//! This is the product's isolation promise: the guest runs in its own
//! hardware-virtualised address space (KVM or mshv on Linux, WHP on
//! Windows), so even a memory-safety bug in the engine stays inside the VM.
//! Everything above the `Backend` trait is shared: our monitors race the
//! call, and a winning monitor's kill reaches the VM's vCPU through the
//! [`watchdog`].
//!
//! How hyperlight-js is driven, and why:
//!
//! - hyperlight-js only ever registers our [`glue`]; user handler modules are
//!   imported by an ordinary call right after the VM is loaded, so their
//!   top-level code runs where monitors and `kill()` can stop it.
//! - [`files`] is the only file system the guest's imports can reach: the
//!   handlers' captured sources and files inside their allowed roots.
//! - Calls answer with an envelope the host decodes in [`outcome`], so
//!   failures are reported as on the other backends.
//! - A snapshot is hyperlight's: the whole VM's memory, valid at any point
//!   (not only right after loading, as in-process), restored exactly. One
//!   taken before an unload is restored into a VM built as that load built
//!   it, so its handlers, glue and files come back with it, never mixed
//!   with the current load's.
//! - Hyperlight poisons a VM it interrupted or that faulted; whenever it
//!   has, the call fails with an error that poisons our sandbox too, so a
//!   poisoned VM is never called before `restore()`.
//!
//! The guest binary (hyperlight-js-runtime, QuickJS for the VM) is built
//! ahead of time by `scripts/build-hyperlight-guest.sh` and embedded by the
//! hyperlight-js crate at compile time.

mod console;
mod files;
mod glue;
mod host_functions;
mod outcome;
mod sizing;
mod watchdog;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hyperlight_js::{HyperlightError, InterruptHandle as VmInterrupt, LoadedJSSandbox, Snapshot as VmSnapshot};

use super::registry::{Descriptor, Engine, Isolation, SizeFloors, Unavailable};
use super::{Backend, BackendSnapshot};
use crate::backend::host_errors::HostErrors;
use crate::backend::outcome::{load_result, Heap};
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::interrupt::InterruptHandle;
use crate::payload::Payload;
use crate::spec::LoadSpec;
use files::ModuleFiles;
use sizing::Sizing;

/// The micro-VM backend in the registry.
pub(crate) static DESCRIPTOR: Descriptor =
    Descriptor::compiled("hyperlight", 0, Isolation::MicroVm, "a micro-VM", &REGISTERED);

static REGISTERED: Engine = Engine {
    floors: SizeFloors { heap: sizing::MIN_HEAP, scratch: sizing::MIN_SCRATCH },
    preconditions: hypervisor_present,
    load: |spec, interrupt| Ok(Box::new(Hyperlight::load(spec, interrupt)?)),
    // hyperlight-js (0.4) gives no way to write out or read a micro-VM
    // snapshot.
    files: None,
};

/// A hypervisor device that opens (whether its guests run is the probe's
/// question).
fn hypervisor_present() -> Result<(), Unavailable> {
    if hyperlight_js::is_hypervisor_present() {
        return Ok(());
    }
    Err(Unavailable::NoHypervisor(format!(
        "no usable hypervisor: {}",
        if cfg!(windows) {
            "the Windows Hypervisor Platform is not enabled"
        } else {
            "neither /dev/kvm nor /dev/mshv can be opened"
        }
    )))
}

pub(super) struct Hyperlight {
    /// The load this VM was built for (its glue, host functions and files).
    spec: Arc<LoadSpec>,
    vm: LoadedJSSandbox,
    vm_interrupt: Arc<dyn VmInterrupt>,
    interrupt: InterruptHandle,
    handlers: HashSet<String>,
    host_errors: Arc<HostErrors>,
    sizing: Sizing,
}

/// This backend's snapshot: a whole-VM snapshot of one sandbox, and the
/// load whose VM it was taken from.
struct WholeVm {
    vm: Arc<VmSnapshot>,
    spec: Arc<LoadSpec>,
}

impl Hyperlight {
    fn load(spec: Arc<LoadSpec>, interrupt: &InterruptHandle) -> Result<Self> {
        let (mut backend, modules) = Self::start(spec, interrupt)?;
        for (name, module) in &modules {
            backend.import_handler(name, module)?;
        }
        Ok(backend)
    }

    /// Builds the VM for `spec` with the glue in it, before any handler's
    /// code has run; says how each handler's module is imported.
    fn start(
        spec: Arc<LoadSpec>,
        interrupt: &InterruptHandle,
    ) -> Result<(Self, HashMap<String, files::HandlerModule>)> {
        let sizing = Sizing::new(spec.guest.heap_size, spec.guest.stack_size)?;
        let (files, modules) = ModuleFiles::new(&spec);
        let host_errors = Arc::new(HostErrors::default());

        let mut builder = hyperlight_js::SandboxBuilder::new()
            .with_guest_heap_size(sizing.heap as u64)
            .with_guest_scratch_size(sizing.scratch)
            .with_guest_input_buffer_size(sizing.io)
            .with_guest_output_buffer_size(sizing.io);
        if let Some(print) = spec.guest.print.clone() {
            builder = builder.with_host_print_fn(console::print_fn(print));
        }
        let mut proto = builder.build().map_err(start_error)?;
        host_functions::register(&mut proto, &spec.host_modules, &host_errors);
        let proto = proto.set_module_loader(files).map_err(start_error)?;
        let mut runtime = proto.load_runtime().map_err(start_error)?;
        glue::install(&mut runtime, modules.iter())?;
        let vm = runtime.get_loaded_sandbox().map_err(start_error)?;

        // From here on the VM can be interrupted: user code may run.
        interrupt.state.set_kill_hook(Some(watchdog::kill_hook()));
        let backend = Self {
            vm_interrupt: vm.interrupt_handle(),
            vm,
            interrupt: interrupt.clone(),
            handlers: spec.handlers.keys().cloned().collect(),
            host_errors,
            sizing,
            spec,
        };
        Ok((backend, modules))
    }

    /// Runs a handler's module (its top-level code) and files its `handler`.
    fn import_handler(&mut self, name: &str, module: &files::HandlerModule) -> Result<()> {
        let envelope = self.enter(glue::LOAD_HANDLER, glue::load_request(name, module), false)?;
        let ending = outcome::ending(&envelope, &self.host_errors)?;
        load_result(name, &module.name, ending, Heap { limit: self.sizing.heap, refused: false })
    }

    /// One call into the VM, watched so that a kill reaches the vCPU.
    fn enter(&mut self, handler: &str, event: String, gc: bool) -> Result<String> {
        let _watched = watchdog::watch(&self.interrupt.state, &self.vm_interrupt).map_err(Error::Internal)?;
        if self.interrupt.state.is_killed() {
            // Killed before the VM was entered: do not enter it.
            return Err(Error::Cancelled { monitor: None, by_signal: false });
        }
        let outcome = self.vm.handle_event(handler, event, Some(gc));
        let result = outcome.map_err(|e| outcome::call_error(e, self.sizing.heap));
        if self.vm.status().is_poisoned() && !matches!(&result, Err(e) if e.poisons()) {
            // Hyperlight will refuse this VM until it is restored; so must we.
            return Err(Error::Internal(match result {
                Err(e) => format!("the micro-VM was poisoned by this call: {e}"),
                Ok(_) => "the micro-VM was poisoned by this call".into(),
            }));
        }
        result
    }
}

impl Backend for Hyperlight {
    fn has_handler(&self, name: &str) -> bool {
        self.handlers.contains(name)
    }

    fn call(&mut self, handler: &str, event_json: &str, collection: Collection) -> Result<Payload> {
        if !self.handlers.contains(handler) {
            return Err(Error::HandlerNotFound(handler.to_owned()));
        }
        if event_json.len() > self.sizing.max_event() {
            return Err(Error::InvalidEvent(format!(
                "the event ({} bytes) does not fit in the micro-VM's input buffer ({} bytes, a sixteenth of the \
                 heap); raise it with with_guest_heap_size()",
                event_json.len(),
                self.sizing.max_event()
            )));
        }
        self.host_errors.clear();
        let result = self
            .enter(&glue::handler_id(handler), event_json.to_owned(), collects_after(collection))
            .and_then(|envelope| outcome::call_result(&envelope, &self.host_errors, self.sizing.heap));
        self.host_errors.clear();
        result
    }

    /// Any time: the whole VM is copied, so nothing a call left behind is lost.
    fn snapshot(&mut self) -> Result<BackendSnapshot> {
        let snapshot = self.vm.snapshot().map_err(|e| Error::Snapshot(format!("cannot snapshot the micro-VM: {e}")))?;
        Ok(Arc::new(WholeVm { vm: snapshot, spec: self.spec.clone() }))
    }

    fn restore(&mut self, snapshot: &BackendSnapshot) -> Result<()> {
        let Some(WholeVm { vm: snapshot, spec }) = snapshot.downcast_ref::<WholeVm>() else {
            return Err(Error::Snapshot("this snapshot was not taken by the hyperlight backend".into()));
        };
        let failed = |e| Error::Snapshot(format!("cannot restore the micro-VM: {e}"));
        if Arc::ptr_eq(spec, &self.spec) {
            return self.vm.restore(snapshot.clone()).map_err(failed);
        }
        // Taken before an unload: its VM is gone, and this one has other
        // glue, handlers and files. Build a VM as that load did (without
        // running any handler code: the snapshot holds the result) and
        // restore into it; the host side then matches the VM's memory. Only
        // if all of that works does it replace this VM.
        let (mut rebuilt, _) = Self::start(spec.clone(), &self.interrupt).map_err(|e| match e {
            e @ Error::Snapshot(_) => e,
            other => Error::Snapshot(format!("cannot rebuild the micro-VM this snapshot was taken from: {other}")),
        })?;
        rebuilt.vm.restore(snapshot.clone()).map_err(failed)?;
        *self = rebuilt;
        Ok(())
    }
}

/// A failure while creating and loading the VM: the hypervisor's refusal is
/// `BackendUnavailable` (isolation is never silently downgraded), a size the
/// VM cannot have is the caller's, anything else is ours.
fn start_error(error: HyperlightError) -> Error {
    match error {
        HyperlightError::NoHypervisorFound() => {
            DESCRIPTOR.unavailable(Unavailable::NoHypervisor("no hypervisor was found".into()))
        }
        e @ (HyperlightError::MemoryRequestTooBig(..) | HyperlightError::MemoryRequestTooSmall(..)) => {
            Error::InvalidArgument(format!("the micro-VM cannot have this memory size: {e}"))
        }
        e @ HyperlightError::HyperlightVmError(_) => {
            DESCRIPTOR.unavailable(Unavailable::DoesNotStart(format!("a micro-VM does not start: {e}")))
        }
        other => Error::Internal(format!("cannot load the micro-VM: {other}")),
    }
}

/// The micro-VM's runtime is upstream's, which can only be told to collect
/// or not: the default ([`Collection::WhenGrown`]) keeps upstream's own
/// default, a collection after every call.
fn collects_after(collection: Collection) -> bool {
    collection != Collection::Never
}
