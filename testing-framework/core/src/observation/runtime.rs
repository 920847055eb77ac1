//! The write side: [`ObservationRuntime`] owns the observer and the loop
//! that drives it.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use parking_lot::RwLock;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cycle::CycleLoop;
use super::health::{CycleBook, SourceHealthBook};
use super::history::History;
use super::{
    ConfigError, ObservationConfig, ObservationHandle, ObservationOf, Observer, SourceProvider,
};

/// Where a runtime is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    pub(crate) fn set_lifecycle(&self, lifecycle: Lifecycle) {
        self.progress.send_if_modified(|progress| {
            // Stopped is final: a late "running" must not revive it.
            let change =
                progress.lifecycle != lifecycle && progress.lifecycle != Lifecycle::Stopped;
            if change {
                progress.lifecycle = lifecycle;
            }
            change
        });
    }

    pub(crate) fn lifecycle(&self) -> Lifecycle {
        self.progress.borrow().lifecycle
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

/// Runs an [`Observer`] against the sources of a [`SourceProvider`], cycle
/// after cycle, and publishes what it sees through [`ObservationHandle`]s.
///
/// Dropping the runtime aborts its task at once; [`stop`](Self::stop) lets
/// the cycle in progress finish first. Either way handles stay readable, and
/// their waits and subscriptions end.
pub struct ObservationRuntime<O: Observer> {
    shared: Arc<Shared<O>>,
    config: watch::Sender<ObservationConfig>,
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
        let (progress, _) = watch::channel(Progress {
            published: 0,
            lifecycle: Lifecycle::Starting,
        });
        let shared = Arc::new(Shared {
            observer_name: observer.name().to_owned(),
            latest: ArcSwapOption::empty(),
            history: RwLock::new(History::new()),
            progress,
            cycles: CycleBook::default(),
            sources: SourceHealthBook::default(),
        });
        let (config_tx, config_rx) = watch::channel(config);
        let stop = CancellationToken::new();
        let cycle_loop = CycleLoop::new(Arc::clone(&shared), observer, provider, config_rx);
        let task = tokio.spawn(cycle_loop.run(stop.clone()));
        Ok(ObservationRuntime {
            shared,
            config: config_tx,
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
        self.config.borrow().clone()
    }

    /// Changes settings while running; invalid settings are refused and the
    /// old ones stay. A new interval applies to the wait in progress, and a
    /// smaller history is trimmed at once.
    pub fn update_config(
        &self,
        change: impl FnOnce(&mut ObservationConfig),
    ) -> Result<(), ConfigError> {
        let mut config = self.config();
        change(&mut config);
        config.validate()?;
        self.shared
            .history
            .write()
            .trim(config.history_capacity, config.history_max_age);
        self.config.send_replace(config);
        Ok(())
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
