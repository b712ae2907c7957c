//! The lifecycle's metrics, under hyperlight-js's names: per stage, a gauge
//! of the objects alive now and a counter of those ever made; and counters
//! of loads and unloads.
//!
//! A stage object counts as alive from its construction until it is
//! dropped, which includes being consumed by the next stage
//! (`load_runtime()` ends a proto sandbox, a load that succeeds ends the
//! `JSSandbox` the binding holds, `unload()` ends a loaded sandbox). Plain
//! atomics: a stage change costs a few uncontended increments, and
//! exporters read them whenever they like.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

/// Gauge: proto sandboxes alive.
pub const ACTIVE_PROTO_JS_SANDBOXES: &str = "active_proto_js_sandboxes";
/// Gauge: `JSSandbox`es alive.
pub const ACTIVE_JS_SANDBOXES: &str = "active_js_sandboxes";
/// Gauge: loaded sandboxes alive.
pub const ACTIVE_LOADED_JS_SANDBOXES: &str = "active_loaded_js_sandboxes";
/// Counter: proto sandboxes ever built.
pub const PROTO_JS_SANDBOXES_TOTAL: &str = "proto_js_sandboxes_total";
/// Counter: `JSSandbox`es ever made (`load_runtime()` and `unload()`).
pub const JS_SANDBOXES_TOTAL: &str = "js_sandboxes_total";
/// Counter: loaded sandboxes ever made.
pub const LOADED_JS_SANDBOXES_TOTAL: &str = "loaded_js_sandboxes_total";
/// Counter: successful loads (`get_loaded_sandbox()` and `load_snapshot()`).
pub const SANDBOX_LOADS_TOTAL: &str = "sandbox_loads_total";
/// Counter: `unload()`s.
pub const SANDBOX_UNLOADS_TOTAL: &str = "sandbox_unloads_total";

pub(crate) struct Stage {
    alive: AtomicU64,
    made: AtomicU64,
}

impl Stage {
    const fn new() -> Self {
        Self { alive: AtomicU64::new(0), made: AtomicU64::new(0) }
    }
}

static PROTO: Stage = Stage::new();
static JS: Stage = Stage::new();
static LOADED: Stage = Stage::new();
static LOADS: AtomicU64 = AtomicU64::new(0);
static UNLOADS: AtomicU64 = AtomicU64::new(0);

/// Which gauge and counter a stage object moves.
pub(crate) trait Counted {
    fn stage() -> &'static Stage;
}

impl Counted for super::ProtoJSSandbox {
    fn stage() -> &'static Stage {
        &PROTO
    }
}

impl Counted for super::JSSandbox {
    fn stage() -> &'static Stage {
        &JS
    }
}

impl Counted for super::LoadedJSSandbox {
    fn stage() -> &'static Stage {
        &LOADED
    }
}

/// Held by each stage object: counts it made and alive, and no longer
/// alive when dropped.
pub(crate) struct Alive<T: Counted>(PhantomData<fn() -> T>);

impl<T: Counted> Alive<T> {
    pub(crate) fn new() -> Self {
        let stage = T::stage();
        stage.made.fetch_add(1, Ordering::Relaxed);
        stage.alive.fetch_add(1, Ordering::Relaxed);
        Self(PhantomData)
    }
}

impl<T: Counted> Drop for Alive<T> {
    fn drop(&mut self) {
        T::stage().alive.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) fn record_load() {
    LOADS.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn record_unload() {
    UNLOADS.fetch_add(1, Ordering::Relaxed);
}

/// Every lifecycle metric now, as (name, value, is a gauge), in the order
/// hyperlight-js's observability guide lists them.
pub fn lifecycle_metrics() -> Vec<(&'static str, u64, bool)> {
    let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    vec![
        (ACTIVE_PROTO_JS_SANDBOXES, read(&PROTO.alive), true),
        (ACTIVE_JS_SANDBOXES, read(&JS.alive), true),
        (ACTIVE_LOADED_JS_SANDBOXES, read(&LOADED.alive), true),
        (PROTO_JS_SANDBOXES_TOTAL, read(&PROTO.made), false),
        (JS_SANDBOXES_TOTAL, read(&JS.made), false),
        (LOADED_JS_SANDBOXES_TOTAL, read(&LOADED.made), false),
        (SANDBOX_LOADS_TOTAL, read(&LOADS), false),
        (SANDBOX_UNLOADS_TOTAL, read(&UNLOADS), false),
    ]
}
