//! Deferred start of monitor races.
//!
//! Most monitored calls finish long before any of their limits: a handler
//! that takes 20 µs under a 5 s wall-clock limit. Spawning its race onto the
//! runtime and aborting it again costs two cross-thread wake-ups, more than
//! the call itself. But a race whose every monitor declares it cannot
//! complete before some time (see
//! [`ExecutionMonitor::earliest_completion`](super::ExecutionMonitor::earliest_completion))
//! has nothing to do until shortly before then. Such races wait here, in a
//! queue ordered by start time that one long-lived task on the shared
//! runtime drains; a call that ends first takes its race back and drops it,
//! never having touched the runtime. Races that may complete at once are
//! spawned immediately, exactly as before.
//!
//! The queue holds only start times and futures: the deadline logic stays in
//! the monitors, so a deferred race behaves exactly like one spawned at once.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

enum Slot {
    Waiting(Job),
    Running(AbortHandle),
    Finished,
}

/// One call's race: waiting in the queue, running on the runtime, or over.
pub(crate) struct Launch {
    slot: Mutex<Slot>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Launch {
    fn start(&self) {
        let mut slot = locked(&self.slot);
        if let Slot::Waiting(_) = &*slot {
            let Slot::Waiting(job) = std::mem::replace(&mut *slot, Slot::Finished) else { unreachable!() };
            *slot = Slot::Running(tokio::spawn(job).abort_handle());
        }
    }

    fn is_finished(&self) -> bool {
        matches!(*locked(&self.slot), Slot::Finished)
    }

    /// Ends the race: a waiting one is dropped unpolled, a running one aborted.
    pub(crate) fn cancel(&self) {
        let previous = std::mem::replace(&mut *locked(&self.slot), Slot::Finished);
        if let Slot::Running(handle) = previous {
            handle.abort();
        }
    }
}

struct Entry {
    at: Instant,
    launch: Arc<Launch>,
}

// Ordered so the BinaryHeap (a max-heap) pops the earliest start first.
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.at.cmp(&self.at)
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Entry {}

/// Entries of calls that ended stay queued until their start time comes
/// (removing them eagerly would need a search). This bounds them: past this
/// many, finished entries are swept out.
const SWEEP_AT_LEAST: usize = 1024;

struct Queue {
    entries: BinaryHeap<Entry>,
    /// When the launcher task will look at the queue next; `None` when idle.
    next_look: Option<Instant>,
    sweep_at: usize,
}

struct Launcher {
    queue: Mutex<Queue>,
    wake: Notify,
}

static LAUNCHER: OnceLock<Launcher> = OnceLock::new();

fn launcher(runtime: &Runtime) -> &'static Launcher {
    let mut created = false;
    let launcher = LAUNCHER.get_or_init(|| {
        created = true;
        Launcher {
            queue: Mutex::new(Queue { entries: BinaryHeap::new(), next_look: None, sweep_at: SWEEP_AT_LEAST }),
            wake: Notify::new(),
        }
    });
    if created {
        runtime.spawn(run(launcher));
    }
    launcher
}

/// Spawns `job` on the runtime now.
pub(crate) fn spawn_now(runtime: &Runtime, job: Job) -> Arc<Launch> {
    Arc::new(Launch { slot: Mutex::new(Slot::Running(runtime.spawn(job).abort_handle())) })
}

/// Holds `job` without ever spawning it (until it is cancelled).
pub(crate) fn never(job: Job) -> Arc<Launch> {
    Arc::new(Launch { slot: Mutex::new(Slot::Waiting(job)) })
}

/// Queues `job` to be spawned at `at`.
pub(crate) fn spawn_at(runtime: &Runtime, job: Job, at: Instant) -> Arc<Launch> {
    let launcher = launcher(runtime);
    let launch = Arc::new(Launch { slot: Mutex::new(Slot::Waiting(job)) });
    let wake_launcher = {
        let mut queue = locked(&launcher.queue);
        queue.entries.push(Entry { at, launch: launch.clone() });
        if queue.entries.len() >= queue.sweep_at {
            queue.entries.retain(|entry| !entry.launch.is_finished());
            queue.sweep_at = (queue.entries.len() * 2).max(SWEEP_AT_LEAST);
        }
        // Only a start earlier than the launcher's next look needs a wake-up;
        // in a steady stream of calls that is rare.
        let earlier = queue.next_look.is_none_or(|next| at < next);
        if earlier {
            queue.next_look = Some(at);
        }
        earlier
    };
    if wake_launcher {
        launcher.wake.notify_one();
    }
    launch
}

async fn run(launcher: &'static Launcher) {
    loop {
        let next = {
            let mut queue = locked(&launcher.queue);
            let now = Instant::now();
            while queue.entries.peek().is_some_and(|entry| entry.at <= now) {
                if let Some(entry) = queue.entries.pop() {
                    entry.launch.start();
                }
            }
            queue.next_look = queue.entries.peek().map(|entry| entry.at);
            queue.next_look
        };
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = launcher.wake.notified() => {}
                }
            }
            None => launcher.wake.notified().await,
        }
    }
}
