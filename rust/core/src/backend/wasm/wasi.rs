//! The few WASI functions wasi-libc links into the guest, implemented here
//! rather than with wasmtime-wasi so the guest gets exactly this and
//! nothing more: clocks (for `Date` and `performance`), and writes to
//! stdout/stderr, which are swallowed (QuickJS only writes there on its own
//! debug paths; handlers print through `console`, an import of ours). There
//! are no files, sockets, environment or arguments; every descriptor is bad.
//!
//! A guest importing anything else fails to instantiate: the set is
//! checked when the module is linked, not discovered at run time.

use std::sync::LazyLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Linker};

use super::state::GuestState;

const MODULE: &str = "wasi_snapshot_preview1";
const SUCCESS: i32 = 0;
const BAD_DESCRIPTOR: i32 = 8;
const INVALID: i32 = 28;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const STDOUT: u32 = 1;
const STDERR: u32 = 2;

/// The monotonic clock's zero: the guest only ever sees differences.
static MONOTONIC_ZERO: LazyLock<Instant> = LazyLock::new(Instant::now);

pub(super) fn define(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        MODULE,
        "clock_time_get",
        |mut caller: Caller<'_, GuestState>, clock: u32, _precision: u64, out: u32| -> wasmtime::Result<i32> {
            let nanos = match clock {
                CLOCK_REALTIME => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
                CLOCK_MONOTONIC => MONOTONIC_ZERO.elapsed().as_nanos(),
                _ => return Ok(INVALID),
            };
            let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
            write_u64(&mut caller, out, nanos)?;
            Ok(SUCCESS)
        },
    )?;
    linker.func_wrap(
        MODULE,
        "fd_write",
        |mut caller: Caller<'_, GuestState>,
         fd: u32,
         iovs: u32,
         iovs_len: u32,
         written: u32|
         -> wasmtime::Result<i32> {
            if fd != STDOUT && fd != STDERR {
                return Ok(BAD_DESCRIPTOR);
            }
            let total = {
                let memory = memory(&caller)?;
                let data = memory.data(&caller);
                let mut total: u32 = 0;
                for i in 0..iovs_len {
                    let entry = iovs as usize + i as usize * 8;
                    let len = data
                        .get(entry + 4..entry + 8)
                        .ok_or_else(|| wasmtime::format_err!("fd_write: iovec outside guest memory"))?;
                    total = total
                        .saturating_add(u32::from_le_bytes(len.try_into().expect("entry + 4..entry + 8 is 4 bytes")));
                }
                total
            };
            let memory = memory(&caller)?;
            let target = memory
                .data_mut(&mut caller)
                .get_mut(written as usize..written as usize + 4)
                .ok_or_else(|| wasmtime::format_err!("fd_write: result outside guest memory"))?;
            target.copy_from_slice(&total.to_le_bytes());
            Ok(SUCCESS)
        },
    )?;
    linker.func_wrap(MODULE, "fd_close", |_fd: u32| -> i32 { BAD_DESCRIPTOR })?;
    linker.func_wrap(MODULE, "fd_fdstat_get", |_fd: u32, _out: u32| -> i32 { BAD_DESCRIPTOR })?;
    linker.func_wrap(MODULE, "fd_seek", |_fd: u32, _offset: i64, _whence: u32, _out: u32| -> i32 { BAD_DESCRIPTOR })?;
    Ok(())
}

fn memory(caller: &Caller<'_, GuestState>) -> wasmtime::Result<wasmtime::Memory> {
    caller.data().memory.ok_or_else(|| wasmtime::format_err!("the guest has no memory yet"))
}

fn write_u64(caller: &mut Caller<'_, GuestState>, at: u32, value: u64) -> wasmtime::Result<()> {
    let memory = memory(caller)?;
    let target = memory
        .data_mut(caller)
        .get_mut(at as usize..at as usize + 8)
        .ok_or_else(|| wasmtime::format_err!("clock_time_get: result outside guest memory"))?;
    target.copy_from_slice(&value.to_le_bytes());
    Ok(())
}
