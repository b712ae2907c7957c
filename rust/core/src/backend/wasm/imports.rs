//! The host side of the guest's `hyperlight` imports: the only ways the
//! guest can reach outside its memory. Each one reads its arguments from
//! linear memory, answers from the sandbox's state, and leaves anything
//! longer than a number as a *reply* the guest copies in with `take_reply`
//! once it has allocated room (so the host never allocates in the guest).

use wasmtime::{Caller, Linker};

use super::abi::{bytes, utf8, ReplyStatus, BINARY_ARGUMENT_SIZE, IMPORT_MODULE, NO_HOST_ERROR, REPLY_SIZE};
use super::instance::stack_position;
use super::modules::Loaded;
use super::state::GuestState;
use crate::host_call::HostArgs;
use crate::payload::Payload;

type Result<T> = wasmtime::Result<T>;

pub(super) fn define(linker: &mut Linker<GuestState>) -> Result<()> {
    // Polled by QuickJS's interrupt handler and the job loops: a kill, or
    // Ctrl-C on a call that watches for it.
    linker.func_wrap(IMPORT_MODULE, "should_stop", |caller: Caller<'_, GuestState>| -> i32 {
        i32::from(caller.data().calls.should_stop())
    })?;

    // How much native stack QuickJS has left (see `stack_position` in
    // guest.c): wasm code cannot see its own stack pointer, the host can.
    linker.func_wrap(IMPORT_MODULE, "native_stack_left", |caller: Caller<'_, GuestState>| -> u32 {
        let left = stack_position().saturating_sub(caller.data().native_floor);
        u32::try_from(left).unwrap_or(u32::MAX)
    })?;

    linker.func_wrap(
        IMPORT_MODULE,
        "print",
        |mut caller: Caller<'_, GuestState>, ptr: u32, len: u32| -> Result<()> {
            let (data, state) = split(&mut caller)?;
            if let Some(print) = state.spec.guest.print.clone() {
                let line = utf8(guest_bytes(data, ptr, len)?);
                print(&line);
            }
            Ok(())
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "resolve",
        |mut caller: Caller<'_, GuestState>,
         base: u32,
         base_len: u32,
         name: u32,
         name_len: u32,
         reply: u32|
         -> Result<()> {
            let (data, state) = split(&mut caller)?;
            let base_name = utf8(guest_bytes(data, base, base_len)?);
            let name = utf8(guest_bytes(data, name, name_len)?);
            let (status, text) = match state.modules.resolve(&base_name, &name) {
                Ok(resolved) => (ReplyStatus::Ok, resolved),
                Err(message) => (ReplyStatus::Error, message),
            };
            state.reply = text.into_bytes();
            write_reply(data, reply, status, state.reply.len(), NO_HOST_ERROR)
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "load",
        |mut caller: Caller<'_, GuestState>, name: u32, name_len: u32, reply: u32| -> Result<()> {
            let (data, state) = split(&mut caller)?;
            let name = utf8(guest_bytes(data, name, name_len)?);
            let (status, tag) = match state.modules.load(&name) {
                Ok(Loaded::Source(source)) => {
                    state.reply = source.as_bytes().to_vec();
                    (ReplyStatus::Ok, NO_HOST_ERROR)
                }
                Ok(Loaded::HostModule { index, functions }) => {
                    // NUL-separated: registration refuses names holding a NUL.
                    state.reply = functions.join("\0").into_bytes();
                    state.reply.push(0);
                    (ReplyStatus::HostModule, index)
                }
                Err(message) => {
                    state.reply = message.into_bytes();
                    (ReplyStatus::Error, NO_HOST_ERROR)
                }
            };
            write_reply(data, reply, status, state.reply.len(), tag)
        },
    )?;

    linker.func_wrap(
        IMPORT_MODULE,
        "call",
        |mut caller: Caller<'_, GuestState>,
         module: u32,
         function: u32,
         args: u32,
         args_len: u32,
         binary: u32,
         binary_count: u32,
         reply: u32|
         -> Result<()> {
            let (data, state) = split(&mut caller)?;
            let args_json = utf8(guest_bytes(data, args, args_len)?);
            let binary_args = binary_arguments(data, binary, binary_count)?;
            let host_function = state
                .host_functions
                .get(module as usize)
                .and_then(|functions| functions.get(function as usize))
                .cloned()
                .ok_or_else(|| wasmtime::format_err!("the guest called unknown host function {module}.{function}"))?;
            // The host function runs with no borrow of guest memory held: it
            // may take long, call Python, or kill this very sandbox.
            let outcome = host_function(HostArgs { json: &args_json, bytes: &binary_args });
            let (data, state) = split(&mut caller)?;
            let (status, tag) = match outcome {
                Ok(Payload::Json(result_json)) => {
                    state.reply = result_json.into_bytes();
                    (ReplyStatus::Ok, NO_HOST_ERROR)
                }
                Ok(Payload::Bytes(result)) => {
                    state.reply = result;
                    (ReplyStatus::Bytes, NO_HOST_ERROR)
                }
                Err(failure) => {
                    state.reply = failure.message.clone().into_bytes();
                    let tag = if failure.cause.is_some() { state.host_errors.keep(failure) } else { NO_HOST_ERROR };
                    (ReplyStatus::Error, tag)
                }
            };
            write_reply(data, reply, status, state.reply.len(), tag)
        },
    )?;

    linker.func_wrap(IMPORT_MODULE, "take_reply", |mut caller: Caller<'_, GuestState>, dst: u32| -> Result<()> {
        let (data, state) = split(&mut caller)?;
        let reply = std::mem::take(&mut state.reply);
        let start = dst as usize;
        let target = start
            .checked_add(reply.len())
            .and_then(|end| data.get_mut(start..end))
            .ok_or_else(|| wasmtime::format_err!("the guest asked for its reply outside its memory"))?;
        target.copy_from_slice(&reply);
        Ok(())
    })?;

    linker.func_wrap(IMPORT_MODULE, "drop_reply", |mut caller: Caller<'_, GuestState>| {
        caller.data_mut().reply = Vec::new();
    })?;
    Ok(())
}

/// Guest memory and the sandbox state, borrowed together.
fn split<'a>(caller: &'a mut Caller<'_, GuestState>) -> Result<(&'a mut [u8], &'a mut GuestState)> {
    let memory = caller.data().memory.ok_or_else(|| wasmtime::format_err!("the guest has no memory yet"))?;
    Ok(memory.data_and_store_mut(caller))
}

fn guest_bytes(data: &[u8], ptr: u32, len: u32) -> Result<&[u8]> {
    bytes(data, ptr, len).ok_or_else(|| wasmtime::format_err!("the guest passed a buffer outside its memory"))
}

/// The `Uint8Array` arguments the guest lists at `at` (guest.c's
/// `BinaryArgument` records), copied out of its memory, by position.
fn binary_arguments(data: &[u8], at: u32, count: u32) -> Result<Vec<(usize, Vec<u8>)>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let size = (count as usize)
        .checked_mul(BINARY_ARGUMENT_SIZE)
        .and_then(|size| u32::try_from(size).ok())
        .ok_or_else(|| wasmtime::format_err!("the guest listed too many binary arguments"))?;
    let records = guest_bytes(data, at, size)?;
    records
        .chunks_exact(BINARY_ARGUMENT_SIZE)
        .map(|record| {
            let field = |i: usize| u32::from_le_bytes([record[i], record[i + 1], record[i + 2], record[i + 3]]);
            Ok((field(0) as usize, guest_bytes(data, field(4), field(8))?.to_vec()))
        })
        .collect()
}

fn write_reply(data: &mut [u8], at: u32, status: ReplyStatus, len: usize, tag: u32) -> Result<()> {
    let len = u32::try_from(len).map_err(|_| wasmtime::format_err!("a reply larger than 4 GiB"))?;
    let start = at as usize;
    let record = data
        .get_mut(start..start + REPLY_SIZE)
        .ok_or_else(|| wasmtime::format_err!("the guest's reply record is outside its memory"))?;
    record[0..4].copy_from_slice(&(status as u32).to_le_bytes());
    record[4..8].copy_from_slice(&len.to_le_bytes());
    record[8..12].copy_from_slice(&tag.to_le_bytes());
    Ok(())
}
