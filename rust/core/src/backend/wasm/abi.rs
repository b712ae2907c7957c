//! The guest's ABI, mirrored from `rust/core/guest/wasm/guest.c`: the exports the host
//! calls, the statuses they return, and the records they leave in linear
//! memory. Every number here has its twin there; change both together.

use wasmtime::{AsContext, AsContextMut, Global, Instance, Memory, TypedFunc};

use crate::collection::Collection;
use crate::error::{Error, Result};

/// The import module every host function of the guest lives in.
pub(super) const IMPORT_MODULE: &str = "hyperlight";

/// `hl_call`'s last two arguments: what it does with the cycle collector
/// (`GC_NEVER`, `GC_ALWAYS`, `GC_WHEN_GROWN`) and the growth budget.
pub(super) fn collection(collection: Collection) -> (i32, u32) {
    match collection {
        Collection::Never => (0, 0),
        Collection::Always => (1, 0),
        Collection::WhenGrown { budget } => (2, u32::try_from(budget).unwrap_or(u32::MAX)),
    }
}

/// What `hl_init`, `hl_load` and `hl_call` return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Ok,
    /// An uncaught exception; the output holds its failure record.
    Thrown,
    /// The event did not parse; the output holds the parser's error.
    BadEvent,
    /// The result has no JSON form; the output says why.
    NotSerializable,
    /// `JSON.stringify` gave `undefined` (undefined, a function, a symbol).
    ResultUndefined,
    /// The guest could not even describe what happened.
    OutOfMemory,
    /// The handler binding is not a function.
    NotAFunction,
    /// The host passed something the guest cannot use (a host bug).
    BadArgument,
    /// The result is a `Uint8Array`; the output holds its bytes.
    OkBytes,
}

impl Status {
    pub(super) fn from_code(code: i32) -> Result<Self> {
        Ok(match code {
            0 => Status::Ok,
            1 => Status::Thrown,
            2 => Status::BadEvent,
            3 => Status::NotSerializable,
            4 => Status::ResultUndefined,
            5 => Status::OutOfMemory,
            6 => Status::NotAFunction,
            7 => Status::BadArgument,
            8 => Status::OkBytes,
            other => return Err(Error::Internal(format!("the wasm guest returned an unknown status {other}"))),
        })
    }
}

/// How an import's answer is classified (`Reply.status` in the guest).
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub(super) enum ReplyStatus {
    Ok = 0,
    Error = 1,
    HostModule = 2,
    /// A host function's result that is bytes (a `Uint8Array` in the guest).
    Bytes = 3,
}

/// Size of the guest's `BinaryArgument` (index, data pointer, len: three u32).
pub(super) const BINARY_ARGUMENT_SIZE: usize = 12;

/// `Reply.tag` when a host function failure carries no cause.
pub(super) use crate::backend::host_errors::NO_HOST_ERROR;
/// Size of the guest's `Reply` (status, len, tag: three u32).
pub(super) const REPLY_SIZE: usize = 12;
/// Size of the guest's `Output`: text, text_len, stack, stack_len,
/// host_error, name, name_len, message, message_len, is_error (ten u32).
const OUTPUT_SIZE: usize = 40;

/// What a guest call left in its output record, copied out of linear memory.
#[derive(Debug, Default)]
pub(super) struct Output {
    /// The result JSON; for a thrown value, its `String()` form if it has
    /// no usable name and message. `None` for [`Status::OkBytes`].
    pub text: Option<String>,
    /// The result's bytes, for [`Status::OkBytes`].
    pub bytes: Option<Vec<u8>>,
    /// The rest describe a thrown value.
    pub stack: Option<String>,
    pub host_error: Option<u32>,
    pub name: Option<String>,
    pub message: Option<String>,
    pub is_error: bool,
}

/// The guest's exports, looked up once per instance.
#[derive(Clone)]
pub(super) struct Exports {
    pub memory: Memory,
    pub stack_pointer: Global,
    pub initialize: TypedFunc<(), ()>,
    pub alloc: TypedFunc<u32, u32>,
    pub free: TypedFunc<u32, ()>,
    pub output: TypedFunc<(), u32>,
    pub init: TypedFunc<(u32, i32), i32>,
    pub load: TypedFunc<(u32, u32, u32), i32>,
    pub setup: TypedFunc<(u32, u32, u32), i32>,
    pub call: TypedFunc<(u32, u32, u32, i32, u32), i32>,
    pub reseed: TypedFunc<u64, ()>,
    pub restart_clock: TypedFunc<(), i32>,
}

impl Exports {
    pub(super) fn find(instance: &Instance, mut store: impl AsContextMut) -> wasmtime::Result<Self> {
        let mut store = store.as_context_mut();
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| wasmtime::format_err!("the guest exports no memory"))?;
        let stack_pointer = instance
            .get_global(&mut store, "__stack_pointer")
            .ok_or_else(|| wasmtime::format_err!("the guest does not export its stack pointer"))?;
        Ok(Self {
            memory,
            stack_pointer,
            initialize: instance.get_typed_func(&mut store, "_initialize")?,
            alloc: instance.get_typed_func(&mut store, "hl_alloc")?,
            free: instance.get_typed_func(&mut store, "hl_free")?,
            output: instance.get_typed_func(&mut store, "hl_output")?,
            init: instance.get_typed_func(&mut store, "hl_init")?,
            load: instance.get_typed_func(&mut store, "hl_load")?,
            setup: instance.get_typed_func(&mut store, "hl_setup")?,
            call: instance.get_typed_func(&mut store, "hl_call")?,
            reseed: instance.get_typed_func(&mut store, "hl_reseed")?,
            restart_clock: instance.get_typed_func(&mut store, "hl_restart_clock")?,
        })
    }
}

/// `len` bytes at `ptr` in linear memory, if they are all inside it.
pub(super) fn bytes(data: &[u8], ptr: u32, len: u32) -> Option<&[u8]> {
    let start = usize::try_from(ptr).ok()?;
    data.get(start..start.checked_add(usize::try_from(len).ok()?)?)
}

fn word(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// Copies the output record at `address` out of linear memory.
pub(super) fn read_output(memory: &Memory, store: impl AsContext, address: u32, status: Status) -> Result<Output> {
    let data = memory.data(&store);
    let broken = || Error::Internal("the wasm guest's output record points outside its memory".into());
    let record = bytes(data, address, OUTPUT_SIZE as u32).ok_or_else(broken)?;
    let field = |i: usize| word(record, i * 4).ok_or_else(broken);
    // A string field: a pointer (0 for none) and a length.
    let text = |i: usize| -> Result<Option<String>> {
        let (ptr, len) = (field(i)?, field(i + 1)?);
        if ptr == 0 {
            return Ok(None);
        }
        Ok(Some(utf8(bytes(data, ptr, len).ok_or_else(broken)?)))
    };
    let host_error = field(4)?;
    let (result_text, result_bytes) = if status == Status::OkBytes {
        let (ptr, len) = (field(0)?, field(1)?);
        let raw = if ptr == 0 { Vec::new() } else { bytes(data, ptr, len).ok_or_else(broken)?.to_vec() };
        (None, Some(raw))
    } else {
        (text(0)?, None)
    };
    Ok(Output {
        text: result_text,
        bytes: result_bytes,
        stack: text(2)?,
        host_error: (host_error != NO_HOST_ERROR).then_some(host_error),
        name: text(5)?,
        message: text(7)?,
        is_error: field(9)? != 0,
    })
}

/// Guest text as a Rust string. QuickJS hands out WTF-8 for strings holding
/// lone surrogates; each is replaced (by one U+FFFD) rather than refused.
pub(super) fn utf8(bytes: &[u8]) -> String {
    crate::text::from_wtf8_lossy(bytes).into_owned()
}
