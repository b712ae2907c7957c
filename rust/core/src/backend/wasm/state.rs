//! What the host keeps per sandbox next to the guest (the wasmtime store's
//! data): everything the guest's imports need to answer it.

use std::sync::Arc;

use wasmtime::Memory;

use super::limiter::HeapLimiter;
use super::modules::Modules;
use crate::backend::host_errors::HostErrors;
use crate::interrupt::CallState;
use crate::spec::HostFunction;
use crate::spec::LoadSpec;

pub(super) struct GuestState {
    pub spec: Arc<LoadSpec>,
    pub calls: Arc<CallState>,
    pub limiter: HeapLimiter,
    pub modules: Modules,
    /// Host functions by (module number, function number), in the order
    /// the guest was told about them.
    pub host_functions: Vec<Vec<HostFunction>>,
    /// The answer to the guest's last import, until it copies it in.
    pub reply: Vec<u8>,
    pub host_errors: HostErrors,
    /// The guest's memory, once instantiated.
    pub memory: Option<Memory>,
    /// Native stack QuickJS may use per entry into the guest.
    pub native_quota: usize,
    /// The lowest native stack address QuickJS may reach in the current run.
    pub native_floor: usize,
}

impl GuestState {
    pub(super) fn new(spec: Arc<LoadSpec>, calls: Arc<CallState>, limiter: HeapLimiter) -> Self {
        let host_functions = host_functions(&spec);
        Self {
            modules: Modules::new(&spec),
            spec,
            calls,
            limiter,
            host_functions,
            reply: Vec::new(),
            host_errors: HostErrors::default(),
            memory: None,
            native_quota: 0,
            native_floor: 0,
        }
    }
}

impl GuestState {
    /// Answers the guest from `spec` from now on (a restore into another
    /// load's state).
    pub(super) fn adopt(&mut self, spec: Arc<LoadSpec>) {
        self.host_functions = host_functions(&spec);
        self.spec = spec;
    }
}

fn host_functions(spec: &LoadSpec) -> Vec<Vec<HostFunction>> {
    spec.host_modules.values().map(|functions| functions.values().cloned().collect()).collect()
}
