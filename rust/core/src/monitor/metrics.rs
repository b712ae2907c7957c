//! `monitor_terminations_total{monitor_type}`: how many handlers each kind of
//! monitor has ended. Kept in-process as plain counters so the kill path
//! only takes a short uncontended lock; exporters read a copy.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The counter's name, as exporters publish it.
pub const MONITOR_TERMINATIONS_TOTAL: &str = "monitor_terminations_total";

static TERMINATIONS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

pub(crate) fn record_termination(monitor_type: &str) {
    let mut counts = TERMINATIONS.lock().unwrap_or_else(|e| e.into_inner());
    match counts.get_mut(monitor_type) {
        Some(count) => *count += 1,
        None => {
            counts.insert(monitor_type.to_owned(), 1);
        }
    }
}

/// Terminations so far, by monitor type.
pub fn monitor_terminations() -> BTreeMap<String, u64> {
    TERMINATIONS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}
