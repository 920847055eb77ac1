//! Driving an observer's cycles by hand, without the runtime's loop: for an
//! observer's own unit tests and benchmarks, where a test wants exactly one
//! poll at a time and a benchmark wants the poll's cost alone.

use super::error::BoxError;
use super::health::SourceHealthBook;
use super::{ObservationConfig, Observer, SourceHealth, SourceSet, Sources};

/// One observer, its sources and its state; each [`cycle`](Self::cycle) is
/// one `poll` and one `snapshot`, with the same concurrency and per-source
/// timeouts as the runtime (no cycle timeout, no panic guard).
pub struct ObserverDriver<O: Observer> {
    observer: O,
    sources: SourceSet<O::Source>,
    config: ObservationConfig,
    health: SourceHealthBook,
    state: O::State,
}

impl<O: Observer> ObserverDriver<O> {
    /// Runs `init` on `sources` with `config`'s source settings.
    pub async fn init(
        observer: O,
        sources: SourceSet<O::Source>,
        config: ObservationConfig,
    ) -> Result<Self, BoxError> {
        config.validate()?;
        let health = SourceHealthBook::default();
        health.follow(&sources, &[]);
        let state = {
            let view = Sources::new(
                &sources,
                config.source_timeout,
                config.source_concurrency,
                &health,
            );
            observer.init(&view).await?
        };
        Ok(ObserverDriver {
            observer,
            sources,
            config,
            health,
            state,
        })
    }

    /// One poll, then the snapshot it leads to.
    pub async fn cycle(&mut self) -> Result<(Vec<O::Event>, O::Snapshot), BoxError> {
        let view = Sources::new(
            &self.sources,
            self.config.source_timeout,
            self.config.source_concurrency,
            &self.health,
        );
        let events = self.observer.poll(&view, &mut self.state).await?;
        Ok((events, self.observer.snapshot(&self.state)))
    }

    /// One poll, without building a snapshot.
    pub async fn poll(&mut self) -> Result<Vec<O::Event>, BoxError> {
        let view = Sources::new(
            &self.sources,
            self.config.source_timeout,
            self.config.source_concurrency,
            &self.health,
        );
        self.observer.poll(&view, &mut self.state).await
    }

    /// The snapshot of the current state.
    pub fn snapshot(&self) -> O::Snapshot {
        self.observer.snapshot(&self.state)
    }

    /// The observer's state.
    pub fn state(&self) -> &O::State {
        &self.state
    }

    /// Per-source health so far.
    pub fn source_health(&self) -> Vec<SourceHealth> {
        self.health.list()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::observation::ObservedSource;

    /// Sums its sources each poll; fails the poll when a source is 0.
    struct Sum;

    #[async_trait]
    impl Observer for Sum {
        type Source = Arc<AtomicU64>;
        type State = u64;
        type Snapshot = u64;
        type Event = u64;

        async fn init(&self, _: &Sources<'_, Arc<AtomicU64>>) -> Result<u64, BoxError> {
            Ok(0)
        }

        async fn poll(
            &self,
            sources: &Sources<'_, Arc<AtomicU64>>,
            state: &mut u64,
        ) -> Result<Vec<u64>, BoxError> {
            let values = sources
                .poll_each(|s| async move {
                    match s.source.load(Ordering::Relaxed) {
                        0 => Err("zero"),
                        v => Ok(v),
                    }
                })
                .await;
            let mut sum = 0;
            for polled in values {
                sum += polled.result.map_err(|e| e.to_string())?;
            }
            *state = sum;
            Ok(vec![sum])
        }

        fn snapshot(&self, state: &u64) -> u64 {
            *state
        }
    }

    #[tokio::test]
    async fn each_cycle_is_one_poll_and_one_snapshot_with_health_recorded() {
        let a = Arc::new(AtomicU64::new(1));
        let b = Arc::new(AtomicU64::new(2));
        let set: SourceSet<_> = vec![
            ObservedSource::new("a", Arc::clone(&a)),
            ObservedSource::new("b", Arc::clone(&b)),
        ]
        .into();
        let mut driver = ObserverDriver::init(Sum, set, ObservationConfig::default())
            .await
            .unwrap();
        assert_eq!(driver.snapshot(), 0);
        assert_eq!(driver.cycle().await.unwrap(), (vec![3], 3));
        b.store(5, Ordering::Relaxed);
        assert_eq!(driver.poll().await.unwrap(), vec![6]);
        assert_eq!(*driver.state(), 6);
        a.store(0, Ordering::Relaxed);
        assert!(driver.cycle().await.is_err());
        let health = driver.source_health();
        let a_health = health.iter().find(|h| h.name.as_str() == "a").unwrap();
        assert_eq!((a_health.successes, a_health.failures), (2, 1));
    }

    #[tokio::test]
    async fn bad_settings_are_refused() {
        let config = ObservationConfig::default().with_source_concurrency(0);
        let refused = ObserverDriver::init(Sum, SourceSet::empty(), config).await;
        assert!(refused.is_err());
    }
}
