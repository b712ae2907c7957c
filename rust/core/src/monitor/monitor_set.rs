//! Racing several monitors. Sealed: users implement [`ExecutionMonitor`] and
//! compose with tuples or a [`MonitorList`]; the ways monitors are combined
//! stay under our control so the winner's name is always the one reported.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::ExecutionMonitor;
use crate::MonitorError;

/// The monitor that completed first: its position in the set and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Winner {
    /// Its position in the set, in the order the monitors were given.
    pub index: usize,
    /// Its [`ExecutionMonitor::name`].
    pub name: String,
}

/// The composed future: completes with the first monitor to complete.
pub type Race = Pin<Box<dyn Future<Output = Winner> + Send>>;

/// One started monitor: completes when the call must end.
type Watch = Pin<Box<dyn Future<Output = ()> + Send>>;

mod sealed {
    pub trait Sealed {}
}

/// One or more monitors raced with OR semantics.
pub trait MonitorSet: sealed::Sealed + Send + Sync {
    /// Starts every monitor on the calling thread and composes them.
    /// If any fails to start, no race is returned (fail closed).
    fn start_race(&self) -> Result<Race, MonitorError>;

    /// How many monitors the set holds.
    fn len(&self) -> usize;

    /// The earliest any member can complete (see
    /// [`ExecutionMonitor::earliest_completion`]); `None` if any member
    /// may complete at once.
    fn earliest_completion(&self) -> Option<Duration>;

    /// Whether the set holds no monitor.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<M: ExecutionMonitor> sealed::Sealed for M {}

impl<M: ExecutionMonitor> MonitorSet for M {
    fn start_race(&self) -> Result<Race, MonitorError> {
        let future = self.get_monitor()?;
        let name = self.name().to_owned();
        Ok(Box::pin(async move {
            future.await;
            Winner { index: 0, name }
        }))
    }

    fn len(&self) -> usize {
        1
    }

    fn earliest_completion(&self) -> Option<Duration> {
        ExecutionMonitor::earliest_completion(self)
    }
}

macro_rules! tuple_monitor_set {
    ($len:literal; $($m:ident $f:ident $n:ident $i:tt),+) => {
        impl<$($m: ExecutionMonitor),+> sealed::Sealed for ($($m,)+) {}

        impl<$($m: ExecutionMonitor),+> MonitorSet for ($($m,)+) {
            fn start_race(&self) -> Result<Race, MonitorError> {
                // Every monitor starts (on this thread) before any is raced.
                $(let $f = self.$i.get_monitor()?;)+
                $(let $n = self.$i.name().to_owned();)+
                Ok(Box::pin(async move {
                    tokio::select! {
                        $(_ = $f => Winner { index: $i, name: $n },)+
                    }
                }))
            }

            fn len(&self) -> usize {
                $len
            }

            fn earliest_completion(&self) -> Option<Duration> {
                let mut earliest = Duration::MAX;
                $(earliest = earliest.min(self.$i.earliest_completion()?);)+
                Some(earliest)
            }
        }
    };
}

tuple_monitor_set!(2; A fa na 0, B fb nb 1);
tuple_monitor_set!(3; A fa na 0, B fb nb 1, C fc nc 2);
tuple_monitor_set!(4; A fa na 0, B fb nb 1, C fc nc 2, D fd nd 3);
tuple_monitor_set!(5; A fa na 0, B fb nb 1, C fc nc 2, D fd nd 3, E fe ne 4);

/// Object-safe view of an [`ExecutionMonitor`], for sets whose size is only
/// known at run time.
pub trait DynMonitor: Send + Sync {
    fn start(&self) -> Result<Watch, MonitorError>;
    fn name(&self) -> &str;
    fn earliest_completion(&self) -> Option<Duration>;
}

impl<M: ExecutionMonitor> DynMonitor for M {
    fn start(&self) -> Result<Watch, MonitorError> {
        Ok(Box::pin(self.get_monitor()?))
    }

    fn name(&self) -> &str {
        ExecutionMonitor::name(self)
    }

    fn earliest_completion(&self) -> Option<Duration> {
        ExecutionMonitor::earliest_completion(self)
    }
}

/// Any number of monitors, raced like a tuple.
#[derive(Default)]
pub struct MonitorList {
    monitors: Vec<Box<dyn DynMonitor>>,
}

impl MonitorList {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a monitor to the race.
    pub fn push(&mut self, monitor: impl DynMonitor + 'static) {
        self.monitors.push(Box::new(monitor));
    }

    /// Adds a monitor that is already boxed.
    pub fn push_boxed(&mut self, monitor: Box<dyn DynMonitor>) {
        self.monitors.push(monitor);
    }
}

impl sealed::Sealed for MonitorList {}

impl MonitorSet for MonitorList {
    fn start_race(&self) -> Result<Race, MonitorError> {
        if self.monitors.is_empty() {
            return Err(MonitorError {
                monitor: "<empty>".into(),
                reason: "a monitor set needs at least one monitor".into(),
            });
        }
        let mut racers = Vec::with_capacity(self.monitors.len());
        for monitor in &self.monitors {
            racers.push((monitor.start()?, monitor.name().to_owned()));
        }
        Ok(Box::pin(FirstOf { racers: Some(racers) }))
    }

    fn len(&self) -> usize {
        self.monitors.len()
    }

    fn earliest_completion(&self) -> Option<Duration> {
        let mut earliest = Duration::MAX;
        for monitor in &self.monitors {
            earliest = earliest.min(monitor.earliest_completion()?);
        }
        (!self.monitors.is_empty()).then_some(earliest)
    }
}

/// Polls every racer in order; the first ready one wins. Earlier monitors
/// win ties, as in `tokio::select!` with `biased`.
struct FirstOf {
    racers: Option<Vec<(Watch, String)>>,
}

impl Future for FirstOf {
    type Output = Winner;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Winner> {
        let racers = self.racers.as_mut().expect("FirstOf polled after completion");
        let ready = racers.iter_mut().position(|(f, _)| f.as_mut().poll(cx).is_ready());
        match ready {
            Some(index) => {
                let mut racers = self.racers.take().unwrap_or_default();
                let name = std::mem::take(&mut racers[index].1);
                Poll::Ready(Winner { index, name })
            }
            None => Poll::Pending,
        }
    }
}
