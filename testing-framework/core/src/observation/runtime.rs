//! The write side: [`ObservationRuntime`] owns the observer and the loop
//! that drives it.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use parking_lot::RwLock;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::cycle::CycleLoop;
use super::error::ConfigError;
use super::health::{CycleBook, SourceHealthBook};
use super::history::{Cursor, History, Observation};
use super::{
    ObservationConfig, ObservationHandle, ObservationOf, Observer, SourceName, SourceProvider,
};

/// Where a runtime is in its life. It only ever moves forward, in this
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lifecycle {
    /// Started; the first cycle has not finished yet.
    Starting,
    /// Cycling.
    Running,
    /// [`ObservationRuntime::stop`] was called; the cycle in progress
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
pub(crate) struct Progress {
    /// Position of the newest published observation (0: none yet).
    pub(crate) published: u64,
    pub(crate) lifecycle: Lifecycle,
}

/// State shared by the loop and every handle.
pub(crate) struct Shared<O: Observer> {
    pub(crate) observer_name: String,
    pub(crate) latest: ArcSwapOption<ObservationOf<O>>,
    pub(crate) history: RwLock<History<O::Snapshot, O::Event>>,
    pub(crate) progress: watch::Sender<Progress>,
    pub(crate) cycles: CycleBook,
    pub(crate) sources: SourceHealthBook,
}

impl<O: Observer> Shared<O> {
    pub(crate) fn new(observer_name: String, config: &ObservationConfig) -> Self {
        let (progress, _) = watch::channel(Progress {
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

/// Why a runtime could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// There is no Tokio runtime to run on.
    #[error(
        "ObservationRuntime::start must be called from within a Tokio runtime \
         (inside #[tokio::main], #[tokio::test] or Runtime::block_on)"
    )]
    NoTokioRuntime,
}

/// Changes a running runtime's settings; clone it to hand to other code.
/// Every change is validated, and applied whole or not at all.
pub struct ConfigUpdater<O: Observer> {
    shared: Arc<Shared<O>>,
    config: Arc<watch::Sender<ObservationConfig>>,
}

impl<O: Observer> Clone for ConfigUpdater<O> {
    fn clone(&self) -> Self {
        ConfigUpdater {
            shared: Arc::clone(&self.shared),
            config: Arc::clone(&self.config),
        }
    }
}

impl<O: Observer> ConfigUpdater<O> {
    /// The settings in force.
    pub fn get(&self) -> ObservationConfig {
        self.config.borrow().clone()
    }

    /// Changes settings; invalid settings are refused and the old ones stay.
    /// A new interval applies to the wait in progress, a new cycle timeout to
    /// the next cycle, and a smaller history is trimmed before this returns.
    pub fn update(&self, change: impl FnOnce(&mut ObservationConfig)) -> Result<(), ConfigError> {
        let mut outcome = Ok(());
        // Read, change, check and store under the watch's lock, so that
        // concurrent updates do not lose each other.
        self.config.send_if_modified(|current| {
            let mut next = current.clone();
            change(&mut next);
            if let Err(error) = next.validate() {
                outcome = Err(error);
                return false;
            }
            if next == *current {
                return false;
            }
            self.shared
                .history
                .write()
                .set_limits(next.history_capacity, next.history_max_age);
            *current = next;
            true
        });
        outcome
    }
}

/// Runs an [`Observer`] against the sources of a [`SourceProvider`], cycle
/// after cycle, and publishes what it sees through [`ObservationHandle`]s.
///
/// Dropping the runtime aborts its task at once; [`stop`](Self::stop) lets
/// the cycle in progress finish first. Either way handles stay readable, and
/// their waits and subscriptions end.
pub struct ObservationRuntime<O: Observer> {
    shared: Arc<Shared<O>>,
    config: ConfigUpdater<O>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl<O: Observer> ObservationRuntime<O> {
    /// Validates `config` and starts cycling on the current Tokio runtime.
    /// The first cycle starts at once.
    pub fn start<P>(provider: P, observer: O, config: ObservationConfig) -> Result<Self, StartError>
    where
        P: SourceProvider<O::Source>,
    {
        config.validate()?;
        let tokio =
            tokio::runtime::Handle::try_current().map_err(|_| StartError::NoTokioRuntime)?;
        let shared = Arc::new(Shared::new(observer.name().to_owned(), &config));
        let (config_tx, config_rx) = watch::channel(config);
        let stop = CancellationToken::new();
        // Made before the spawn: even a task dropped before its first poll
        // marks the runtime stopped.
        let stopped = StoppedOnDrop(Arc::clone(&shared));
        let cycle_loop = CycleLoop::new(Arc::clone(&shared), observer, provider, config_rx);
        let task = tokio.spawn(cycle_loop.run(stop.clone(), stopped));
        Ok(ObservationRuntime {
            config: ConfigUpdater {
                shared: Arc::clone(&shared),
                config: Arc::new(config_tx),
            },
            shared,
            stop,
            task: Some(task),
        })
    }

    /// A read side; clone it freely.
    pub fn handle(&self) -> ObservationHandle<O> {
        ObservationHandle::new(Arc::clone(&self.shared))
    }

    /// The settings in force.
    pub fn config(&self) -> ObservationConfig {
        self.config.get()
    }

    /// Changes settings while running; see [`ConfigUpdater::update`].
    pub fn update_config(
        &self,
        change: impl FnOnce(&mut ObservationConfig),
    ) -> Result<(), ConfigError> {
        self.config.update(change)
    }

    /// A clonable handle for changing settings from elsewhere.
    pub fn config_updater(&self) -> ConfigUpdater<O> {
        self.config.clone()
    }

    /// Stops after the cycle in progress (bounded by the cycle timeout) and
    /// waits until the loop has ended.
    pub async fn stop(mut self) {
        self.shared.set_lifecycle(Lifecycle::Stopping);
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            if let Err(error) = task.await {
                tracing::error!(%error, "observation loop ended abnormally");
            }
        }
        self.shared.set_lifecycle(Lifecycle::Stopped);
    }
}

impl<O: Observer> Drop for ObservationRuntime<O> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.stop.cancel();
            task.abort();
            self.shared.set_lifecycle(Lifecycle::Stopped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::Sources;
    use crate::observation::error::BoxError;

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
