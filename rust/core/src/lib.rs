//! The engine room of hyperlight-js for Python, with no Python in it.
//!
//! A handler runs inside a sandbox that moves through the same lifecycle as
//! the hyperlight-js crate (`SandboxBuilder` → [`ProtoJSSandbox`] →
//! [`JSSandbox`] → [`LoadedJSSandbox`]). What actually executes the
//! JavaScript is a [`backend`]; everything above it — the lifecycle, the
//! poisoning rules, the [`monitor`] orchestration and the kill path — is
//! shared, so every backend is stopped the same way: a monitor completes and
//! the sandbox's [`InterruptHandle`] is told to `kill()`.
//!
//! The PyO3 crate is a thin layer over this one; keeping Python out of here
//! means the whole kill path can be tested with `cargo test` and can never
//! need the GIL.

pub mod backend;
pub mod collection;
mod error;
mod host_call;
mod host_wait;
mod interrupt;
mod make_way;
pub mod monitor;
mod payload;
pub mod sandbox;
mod script;
pub mod sigint;
mod source_file;
mod spec;
mod stack;
mod text;

pub use error::{Error, GuestFailure, HostCallError, HostCause, MonitorError, Result};
pub use host_call::HostArgs;
pub use host_wait::{HostWait, HostWaitEnd};
pub use interrupt::InterruptHandle;
pub use monitor::ExecutionStats;
pub use payload::Payload;
pub use sandbox::{JSSandbox, LoadedJSSandbox, ProtoJSSandbox, SandboxBuilder, Snapshot};
pub use script::Script;
pub use spec::{json_host_function, HostFunction, PrintFn};
