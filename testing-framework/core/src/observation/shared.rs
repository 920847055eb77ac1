//! What a runtime's loop, its handles and a replay share: the newest
//! observation, the history, the lifecycle and the wake-ups. The loop
//! (`cycle.rs`) and a replay write it, handles and subscriptions read it,
//! and [`ObservationRuntime`](super::ObservationRuntime) starts and stops
//! the loop; none of them needs another to reach it.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use parking_lot::RwLock;
use tokio::sync::watch;
use tokio::time::Instant;

use super::health::{CycleBook, SourceHealthBook};
use super::history::{Cursor, History, Observation};
use super::{ObservationConfig, ObservationOf, Observer, SourceName};

/// Where a runtime is in its life. It only ever moves forward, in this
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lifecycle {
    /// Started; the first cycle has not finished yet.
    Starting,
    /// Cycling.
    Running,
    /// [`ObservationRuntime::stop`](super::ObservationRuntime::stop) was called; the cycle in progress
    /// finishes.
    Stopping,
    /// No more cycles: stopped, or the runtime was dropped.
    Stopped,
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lifecycle::Starting => "starting",
            Lifecycle::Running => "running",
            Lifecycle::Stopping => "stopping",
            Lifecycle::Stopped => "stopped",
        })
    }
}

/// What waiters and subscribers are woken by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Advance {
    /// Position of the newest published observation (0: none yet).
    pub(crate) published: u64,
    pub(crate) lifecycle: Lifecycle,
}

/// State shared by the loop and every handle.
pub(crate) struct Shared<O: Observer> {
    pub(crate) observer_name: String,
    pub(crate) latest: ArcSwapOption<ObservationOf<O>>,
    pub(crate) history: RwLock<History<O::Snapshot, O::Event>>,
    pub(crate) progress: watch::Sender<Advance>,
    pub(crate) cycles: CycleBook,
    pub(crate) sources: SourceHealthBook,
}

impl<O: Observer> Shared<O> {
    pub(crate) fn new(observer_name: String, config: &ObservationConfig) -> Self {
        let (progress, _) = watch::channel(Advance {
            published: 0,
            lifecycle: Lifecycle::Starting,
        });
        Shared {
            observer_name,
            latest: ArcSwapOption::empty(),
            history: RwLock::new(History::new(
                config.history_capacity,
                config.history_max_age,
            )),
            progress,
            cycles: CycleBook::default(),
            sources: SourceHealthBook::default(),
        }
    }

    /// Moves the lifecycle forward; a late "running" after "stopping" is
    /// ignored.
    pub(crate) fn set_lifecycle(&self, lifecycle: Lifecycle) {
        self.progress.send_if_modified(|progress| {
            let forward = lifecycle > progress.lifecycle;
            if forward {
                progress.lifecycle = lifecycle;
            }
            forward
        });
    }

    pub(crate) fn lifecycle(&self) -> Lifecycle {
        self.progress.borrow().lifecycle
    }

    /// Makes `published` the newest observation: history, latest snapshot,
    /// counters, and a wake-up for waiters and subscribers.
    pub(crate) fn publish(&self, published: Published<O>) -> Cursor {
        let now = Instant::now();
        let position = {
            let mut history = self.history.write();
            let position = history.next_position();
            let observation = Arc::new(Observation {
                cursor: Cursor::at(position),
                cycle: published.cycle,
                began_at: published.began_at,
                observed_at: now,
                observed_at_wall: SystemTime::now(),
                source_count: published.source_count,
                sources_added: published.sources_added,
                sources_removed: published.sources_removed,
                events: published.events,
                reachability: published.reachability,
                snapshot: published.snapshot,
            });
            history.push(Arc::clone(&observation));
            self.latest.store(Some(observation));
            position
        };
        self.cycles.success(now);
        self.progress
            .send_modify(|progress| progress.published = position);
        Cursor::at(position)
    }
}

/// What one cycle (or one replayed observation) publishes.
pub(crate) struct Published<O: Observer> {
    pub(crate) cycle: u64,
    pub(crate) began_at: Instant,
    pub(crate) source_count: usize,
    pub(crate) sources_added: Vec<SourceName>,
    pub(crate) sources_removed: Vec<SourceName>,
    pub(crate) events: Vec<O::Event>,
    pub(crate) reachability: Vec<super::Reachability>,
    pub(crate) snapshot: O::Snapshot,
}

/// Marks the runtime stopped however its loop ends: returned, aborted, or
/// dropped by a shutting-down Tokio runtime before it ever ran.
pub(crate) struct StoppedOnDrop<O: Observer>(pub(crate) Arc<Shared<O>>);

impl<O: Observer> Drop for StoppedOnDrop<O> {
    fn drop(&mut self) {
        self.0.set_lifecycle(Lifecycle::Stopped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxError;
    use crate::observation::Sources;

    struct Nothing;

    #[async_trait::async_trait]
    impl Observer for Nothing {
        type Source = ();
        type State = ();
        type Snapshot = ();
        type Event = ();
        async fn init(&self, _: &Sources<'_, ()>) -> Result<(), BoxError> {
            Ok(())
        }
        async fn poll(&self, _: &Sources<'_, ()>, _: &mut ()) -> Result<Vec<()>, BoxError> {
            Ok(vec![])
        }
        fn snapshot(&self, _: &()) {}
    }

    #[test]
    fn lifecycle_only_moves_forward() {
        let shared = Shared::<Nothing>::new("nothing".into(), &ObservationConfig::default());
        shared.set_lifecycle(Lifecycle::Stopping);
        // The first cycle ending after stop() was called must not revive it.
        shared.set_lifecycle(Lifecycle::Running);
        assert_eq!(shared.lifecycle(), Lifecycle::Stopping);
        shared.set_lifecycle(Lifecycle::Stopped);
        shared.set_lifecycle(Lifecycle::Starting);
        assert_eq!(shared.lifecycle(), Lifecycle::Stopped);
    }
}
