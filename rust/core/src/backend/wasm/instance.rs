//! One guest: a wasmtime store with the QuickJS module instantiated in it,
//! and the calls that drive it through its ABI.

use std::sync::Arc;

use wasmtime::{Store, Trap, UpdateDeadline, Val};

use super::abi::{self, Exports, Status};
use super::engine::{Shared, WASM_STACK};
use super::limiter::HeapLimiter;
use super::memory::{self, MemoryImage, Region};
use super::outcome::{self, Finished};
use super::start_image::{self, StartImage, StartKey};
use super::state::GuestState;
use crate::backend::builtins;
use crate::backend::outcome::{call_result, Ending, Heap, Thrown};
use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::interrupt::CallState;
use crate::payload::Payload;
use crate::spec::LoadSpec;

/// Room kept, on both of the guest's stacks, past QuickJS's recursion limit
/// for the frames that run between its checks.
const STACK_MARGIN: usize = 256 * 1024;
/// Host stack kept beyond the wasm stack for the host functions the guest
/// calls (Python code among them).
const HOST_MARGIN: usize = 512 * 1024;

pub(super) struct Instance {
    store: Store<GuestState>,
    exports: Exports,
    /// The guest's output record (a static in its memory).
    output: u32,
    pub(super) region: Arc<Region>,
}

/// Runs `body` with enough native stack for wasm code and the host
/// functions it calls: on the current thread's stack when it has room
/// (the common case, free), else on a fresh stack.
pub(super) fn on_host_stack<R>(body: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(WASM_STACK + HOST_MARGIN, WASM_STACK + 2 * HOST_MARGIN, body)
}

impl Instance {
    /// Instantiates the guest and starts QuickJS in it.
    pub(super) fn start(shared: &Shared, spec: Arc<LoadSpec>, calls: Arc<CallState>) -> Result<Self> {
        let limiter = HeapLimiter::new(shared.initial_memory, spec.guest.heap_size);
        let print = spec.guest.print.is_some();
        let requested_stack = spec.guest.stack_size;
        let mut store = Store::new(&shared.engine, GuestState::new(spec, calls.clone(), limiter));
        store.limiter(|state| &mut state.limiter);
        // Every kill bumps the engine's epoch, which stops every running
        // guest here; only the one whose own call was killed traps, the
        // others step aside once (`make_way.rs` says why) and carry on to
        // the next epoch.
        store.epoch_deadline_callback(move |_| {
            if calls.should_stop() {
                return Ok(UpdateDeadline::Interrupt);
            }
            crate::make_way::step_aside();
            Ok(UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);
        memory::take_created();
        let instance = shared.pre.instantiate(&mut store).map_err(|e| trapped(&store, e))?;
        let region = memory::take_created()
            .ok_or_else(|| Error::Internal("the wasm guest's memory was not created by this backend".into()))?;
        let exports = Exports::find(&instance, &mut store).map_err(|e| Error::Internal(e.to_string()))?;
        store.data_mut().memory = Some(exports.memory);
        // The scratch size bounds both of the guest's stacks (see
        // `stack_position` in guest.c), each capped by what it really has.
        // With --stack-first the shadow stack is [0, initial stack pointer).
        let shadow_stack = exports.stack_pointer.get(&mut store).i32().unwrap_or(0).max(0) as usize;
        let key = StartKey { shadow_quota: quota(requested_stack, shadow_stack) as u32, print };
        store.data_mut().native_quota = quota(requested_stack, WASM_STACK);
        let output = exports.output.call(&mut store, ()).map_err(|e| trapped(&store, e))?;
        let mut instance = Self { output, store, exports, region };
        let image = if start_image::enabled() { shared.start_images.get(key) } else { None };
        match image {
            Some(image) if instance.resume(&image)? => instance.restart_clock()?,
            _ => {
                instance.start_cold(key, shadow_stack)?;
                if let Some(image) = start_image::enabled().then(|| instance.start_image()).flatten() {
                    shared.start_images.keep(key, Arc::new(image));
                }
            }
        }
        // QuickJS seeds Math.random from the clock; two sandboxes started
        // in the same microsecond (or from the same image) would draw the
        // same numbers.
        instance.reseed(fresh_seed()?)?;
        Ok(instance)
    }

    /// Starts QuickJS in the fresh instance and runs the built-ins.
    fn start_cold(&mut self, key: StartKey, shadow_stack: usize) -> Result<()> {
        self.exports.initialize.call(&mut self.store, ()).map_err(|e| trapped(&self.store, e))?;
        self.enter();
        let init = self.exports.init.clone();
        let status = init
            .call(&mut self.store, (key.shadow_quota, i32::from(key.print)))
            .map_err(|e| trapped(&self.store, e))?;
        let finished = self.finish(status)?;
        started(finished)?;
        self.setup(shadow_stack)
    }

    /// The guest's state as it is now, for the next starts of its
    /// configuration; `None` if the operating system will not hold it (the
    /// next start is then cold too, as without images). The memory is
    /// copied, not mapped under this guest, which keeps running as it is.
    fn start_image(&mut self) -> Option<StartImage> {
        let memory = match MemoryImage::write(self.exports.memory.data(&self.store)) {
            Ok(memory) => Arc::new(memory),
            Err(e) => {
                tracing::debug!("the wasm start image cannot be kept: {e}");
                return None;
            }
        };
        let stack_pointer = self.stack_pointer().i32()?;
        Some(StartImage { memory, stack_pointer })
    }

    /// Puts the fresh instance in the state of `image`, as a restore would;
    /// `false` (nothing changed) when the heap limit does not allow the
    /// image's memory, so that the cold start fails as it always did.
    fn resume(&mut self, image: &StartImage) -> Result<bool> {
        // The growth goes through the heap limiter, as the guest's own did
        // when the image was made.
        if self.grow_memory_to(image.memory.len()).is_err() {
            self.state().limiter.take_refused();
            return Ok(false);
        }
        self.region
            .restore(&image.memory)
            .map_err(|e| Error::Internal(format!("cannot start the wasm guest from its start image: {e}")))?;
        self.set_stack_pointer(Val::I32(image.stack_pointer))?;
        Ok(true)
    }

    /// Gives `performance` the clock origin a cold start would have.
    fn restart_clock(&mut self) -> Result<()> {
        self.enter();
        let status = self.exports.restart_clock.call(&mut self.store, ()).map_err(|e| trapped(&self.store, e))?;
        if Status::from_code(status)? != Status::Ok {
            return Err(Error::Internal(format!(
                "the wasm guest started from its start image cannot restart its clock ({status})"
            )));
        }
        Ok(())
    }

    /// Evaluates the built-in environment (`builtins.js`), shared with the
    /// in-process engine, so it is in the guest before any snapshot.
    /// They are our code, so they get [`builtins::SETUP_STACK`] of both
    /// stacks whatever scratch size the handlers were given.
    fn setup(&mut self, shadow_stack: usize) -> Result<()> {
        let handler_quota = self.store.data().native_quota;
        self.store.data_mut().native_quota = quota(builtins::SETUP_STACK, WASM_STACK);
        self.enter();
        self.store.data_mut().native_quota = handler_quota;
        let source = builtins::SOURCE;
        let Some(source_ptr) = self.put(source.as_bytes())? else {
            return Err(Error::OutOfMemory { limit: self.store.data().spec.guest.heap_size });
        };
        let setup_stack = quota(builtins::SETUP_STACK, shadow_stack) as u32;
        let called = self.exports.setup.call(&mut self.store, (source_ptr, source.len() as u32, setup_stack));
        let status = called.map_err(|e| trapped(&self.store, e))?;
        self.free(source_ptr)?;
        let finished = self.finish(status)?;
        started(finished)
    }

    /// Gives the guest's Math.random a new state.
    pub(super) fn reseed(&mut self, seed: u64) -> Result<()> {
        self.exports.reseed.call(&mut self.store, seed).map_err(|e| trapped(&self.store, e))
    }

    /// Grows linear memory to at least `bytes`, through wasmtime (and the
    /// heap limiter), as the guest's own growth would.
    pub(super) fn grow_memory_to(&mut self, bytes: usize) -> Result<()> {
        let size = self.exports.memory.data_size(&self.store);
        if bytes <= size {
            return Ok(());
        }
        let pages = (bytes - size).div_ceil(memory::WASM_PAGE) as u64;
        self.exports
            .memory
            .grow(&mut self.store, pages)
            .map(drop)
            .map_err(|e| Error::Internal(format!("linear memory cannot grow to {bytes} bytes: {e}")))
    }

    pub(super) fn state(&mut self) -> &mut GuestState {
        self.store.data_mut()
    }

    /// Evaluates handler module `module` (for handler `name`); the guest
    /// numbers handlers in the order they load.
    pub(super) fn load(&mut self, name: &str, module: &str, source: &str) -> Result<()> {
        self.enter();
        let module_ptr = self.put(module.as_bytes())?;
        let source_ptr = self.put(source.as_bytes())?;
        let (Some(module_ptr), Some(source_ptr)) = (module_ptr, source_ptr) else {
            return Err(Error::OutOfMemory { limit: self.store.data().spec.guest.heap_size });
        };
        let called = self.exports.load.call(&mut self.store, (module_ptr, source_ptr, source.len() as u32));
        let status = called.map_err(|e| trapped(&self.store, e))?;
        self.free(module_ptr)?;
        self.free(source_ptr)?;
        let finished = self.finish(status)?;
        let state = self.store.data_mut();
        let result = outcome::load(name, module, finished, &state.host_errors);
        state.host_errors.clear();
        result
    }

    /// Calls handler number `index` with `event` (JSON text).
    pub(super) fn call(&mut self, index: u32, event: &str, collection: Collection) -> Result<Payload> {
        self.enter();
        let Some(event_ptr) = self.put(event.as_bytes())? else {
            let heap = Heap { limit: self.store.data().spec.guest.heap_size, refused: true };
            return call_result(Ending::BadEvent(Thrown::default()), heap);
        };
        let (gc, budget) = abi::collection(collection);
        let called = self.exports.call.call(&mut self.store, (index, event_ptr, event.len() as u32, gc, budget));
        let status = called.map_err(|e| trapped(&self.store, e))?;
        self.free(event_ptr)?;
        let finished = self.finish(status)?;
        let state = self.store.data_mut();
        let result = outcome::call(finished, &state.host_errors);
        state.host_errors.clear();
        result
    }

    /// The guest's stack pointer, the one mutable global it has.
    pub(super) fn stack_pointer(&mut self) -> Val {
        self.exports.stack_pointer.get(&mut self.store)
    }

    pub(super) fn set_stack_pointer(&mut self, value: Val) -> Result<()> {
        self.exports.stack_pointer.set(&mut self.store, value).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Prepares a guest run from this host frame: the native stack it may
    /// use starts here, and no refusal from before counts.
    fn enter(&mut self) {
        let state = self.store.data_mut();
        state.native_floor = stack_position().saturating_sub(state.native_quota);
        state.limiter.take_refused();
    }

    /// Copies `bytes` (plus a NUL) into a fresh guest allocation; `None` if
    /// the guest heap cannot hold them.
    fn put(&mut self, bytes: &[u8]) -> Result<Option<u32>> {
        let len = u32::try_from(bytes.len() + 1).ok();
        let Some(len) = len else { return Ok(None) };
        let ptr = self.exports.alloc.call(&mut self.store, len).map_err(|e| trapped(&self.store, e))?;
        if ptr == 0 {
            return Ok(None);
        }
        let data = self.exports.memory.data_mut(&mut self.store);
        let start = ptr as usize;
        let target = data
            .get_mut(start..start + len as usize)
            .ok_or_else(|| Error::Internal("the wasm guest allocated outside its memory".into()))?;
        target[..bytes.len()].copy_from_slice(bytes);
        target[bytes.len()] = 0;
        Ok(Some(ptr))
    }

    fn free(&mut self, ptr: u32) -> Result<()> {
        self.exports.free.call(&mut self.store, ptr).map_err(|e| trapped(&self.store, e))
    }

    fn finish(&mut self, status: i32) -> Result<Finished> {
        let status = Status::from_code(status)?;
        let output = abi::read_output(&self.exports.memory, &self.store, self.output, status)?;
        let state = self.store.data_mut();
        let heap = Heap { limit: state.spec.guest.heap_size, refused: state.limiter.take_refused() };
        Ok(Finished { status, output, heap })
    }
}

/// How much of a stack of `size` bytes QuickJS may use when the scratch
/// size asks for `requested` (never below the backend's floor, see
/// `sizes.rs`; both stacks are megabytes, far above it).
fn quota(requested: usize, size: usize) -> usize {
    requested.min(size.saturating_sub(STACK_MARGIN))
}

/// A seed for the guest's Math.random from the host's OS randomness.
pub(super) fn fresh_seed() -> Result<u64> {
    getrandom::u64().map_err(|e| Error::Internal(format!("cannot read the host's randomness: {e}")))
}

/// Where the native stack pointer is.
pub(super) fn stack_position() -> usize {
    psm::stack_pointer() as usize
}

/// The error for a trap (or a failed wasmtime call). A killed call trapped
/// on purpose: the orchestration reports it as cancelled whatever this says.
fn trapped(store: &Store<GuestState>, error: wasmtime::Error) -> Error {
    if store.data().calls.is_killed() {
        return Error::Internal("the wasm guest was stopped".into());
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => Error::Internal(
            "the wasm guest ran out of native stack (QuickJS's own limit should have stopped it first)".into(),
        ),
        Some(trap) => Error::Internal(format!("the wasm guest trapped: {trap}")),
        None => Error::Internal(format!("the wasm guest failed: {error}")),
    }
}

/// Refuses a guest whose runtime did not start.
fn started(finished: Finished) -> Result<()> {
    if finished.status != Status::Ok {
        return Err(Error::Internal(format!(
            "QuickJS did not start in the wasm guest ({:?}: {})",
            finished.status,
            finished.output.message.or(finished.output.text).unwrap_or_default()
        )));
    }
    Ok(())
}
