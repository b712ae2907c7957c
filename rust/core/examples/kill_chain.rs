//! How long a wall-clock kill takes without Python in the way: a 50 ms
//! deadline on `while (true) {}`, 60 times, reporting how late the monitor's
//! timer fired on the runtime and how far past the deadline the call
//! returned. The Python benchmarks add the GIL and the exception on top.
//!
//!     cargo run --release -p hyperlight-js-core --example kill_chain [in-process]
//!     cargo run --release -p hyperlight-js-core --features wasm --example kill_chain wasm

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyperlight_js_core::backend::BackendChoice;
use hyperlight_js_core::monitor::{sleep_until, ExecutionMonitor};
use hyperlight_js_core::{MonitorError, SandboxBuilder, Script};

const LIMIT: Duration = Duration::from_millis(50);
const CALLS: usize = 60;

/// A wall-clock monitor that also writes down how late its timer fired.
struct StampedDeadline {
    lateness: &'static Mutex<Vec<Duration>>,
}

impl ExecutionMonitor for StampedDeadline {
    fn get_monitor(&self) -> Result<impl Future<Output = ()> + Send + 'static, MonitorError> {
        let deadline = Instant::now() + LIMIT;
        let lateness = self.lateness;
        Ok(async move {
            sleep_until(deadline).await;
            let late = Instant::now().saturating_duration_since(deadline);
            lateness.lock().unwrap_or_else(|e| e.into_inner()).push(late);
        })
    }

    fn name(&self) -> &str {
        "stamped-deadline"
    }

    fn earliest_completion(&self) -> Option<Duration> {
        Some(LIMIT)
    }
}

static LATENESS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

fn percentile_ms(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "in-process".into());
    let kind = name.parse::<BackendChoice>()?;
    let mut sandbox = SandboxBuilder::new().with_backend(kind).build()?.load_runtime()?;
    sandbox.add_handler("h", Script::from_content("function handler(e) { while (true) {} }", None)?)?;
    let mut loaded = sandbox.get_loaded_sandbox()?;
    let snapshot = loaded.snapshot()?;
    let monitor = StampedDeadline { lateness: &LATENESS };
    let mut overshoot = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        let outcome = loaded.handle_event_with_monitor("h", "{}", &monitor, None);
        overshoot.push(started.elapsed().saturating_sub(LIMIT));
        assert!(outcome.is_err(), "the spinning handler returned");
        loaded.restore(&snapshot)?;
    }
    let mut lateness = LATENESS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!(
        "{name}: timer lateness p50 {:.3} ms, p99 {:.3} ms; call returned past the deadline p50 {:.3} ms, p99 {:.3} ms",
        percentile_ms(&mut lateness, 0.5),
        percentile_ms(&mut lateness, 0.99),
        percentile_ms(&mut overshoot, 0.5),
        percentile_ms(&mut overshoot, 0.99),
    );
    Ok(())
}
