//! The write side: [`ObservationRuntime`] owns the observer and the loop
//! that drives it.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cycle::CycleLoop;
use super::error::ConfigError;
use super::shared::{Lifecycle, Shared, StoppedOnDrop};
use super::{ObservationConfig, ObservationHandle, Observer, SourceProvider};

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
