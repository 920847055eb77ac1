//! Polling every source of a cycle concurrently, each with its own timeout,
//! so that observers never write their own join/timeout loops.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use super::health::{SourceHealthBook, SourceOutcome};
use super::{ObservedSource, SourceSet};

/// The sources of one cycle, as lent to [`Observer::init`](super::Observer::init)
/// and [`Observer::poll`](super::Observer::poll). Derefs to a slice of
/// [`ObservedSource`].
pub struct Sources<'a, S> {
    set: &'a SourceSet<S>,
    timeout: Duration,
    concurrency: usize,
    health: &'a SourceHealthBook,
}

impl<'a, S> Sources<'a, S> {
    pub(crate) fn new(
        set: &'a SourceSet<S>,
        timeout: Duration,
        concurrency: usize,
        health: &'a SourceHealthBook,
    ) -> Self {
        Sources {
            set,
            timeout,
            concurrency,
            health,
        }
    }

    /// The shared set itself, e.g. to keep it in the state.
    pub fn set(&self) -> &'a SourceSet<S> {
        self.set
    }

    /// Calls `poll` for every source, at most `source_concurrency` at a time,
    /// each bounded by `source_timeout` (see
    /// [`ObservationConfig`](super::ObservationConfig)), and returns one
    /// result per source in source order. Every result, success, error or
    /// timeout, is recorded in the per-source health that
    /// [`ObservationHandle::source_health`](super::ObservationHandle::source_health)
    /// reports. A failing source is not a failed cycle: the observer decides
    /// what it means.
    pub fn poll_each<T, E, F, Fut>(
        &self,
        mut poll: F,
    ) -> impl Future<Output = Vec<SourcePoll<'a, S, T, E>>> + use<'a, S, T, E, F, Fut>
    where
        F: FnMut(&'a ObservedSource<S>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Display,
    {
        // The calls are made here, before the returned future runs, so that
        // it does not hold `poll`: a closure held across an await trips the
        // compiler's `Send` check inside `#[async_trait]` methods.
        let timeout = self.timeout;
        let calls: Vec<_> = self
            .set
            .iter()
            .map(|source| timed(source, poll(source), timeout))
            .collect();
        let (concurrency, health) = (self.concurrency, self.health);
        async move {
            let polls: Vec<SourcePoll<'a, S, T, E>> = futures::stream::iter(calls)
                .buffered(concurrency)
                .collect()
                .await;
            let outcomes = polls
                .iter()
                .map(|p| SourceOutcome {
                    name: p.source.name.clone(),
                    latency: p.latency,
                    error: p.result.as_ref().err().map(ToString::to_string),
                })
                .collect();
            health.record(outcomes, Instant::now());
            polls
        }
    }
}

/// One source's poll, bounded by `timeout` and timed.
async fn timed<'a, S, T, E>(
    source: &'a ObservedSource<S>,
    call: impl Future<Output = Result<T, E>>,
    timeout: Duration,
) -> SourcePoll<'a, S, T, E> {
    let started = Instant::now();
    let result = match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(SourceFailure::Error(error)),
        Err(_) => Err(SourceFailure::TimedOut(timeout)),
    };
    SourcePoll {
        source,
        latency: started.elapsed(),
        result,
    }
}

impl<S> Deref for Sources<'_, S> {
    type Target = [ObservedSource<S>];

    fn deref(&self) -> &Self::Target {
        self.set
    }
}

/// One source's result from [`Sources::poll_each`].
#[derive(Debug)]
pub struct SourcePoll<'a, S, T, E> {
    /// The source that was polled.
    pub source: &'a ObservedSource<S>,
    /// How long the poll took (up to the timeout).
    pub latency: Duration,
    /// What it returned.
    pub result: Result<T, SourceFailure<E>>,
}

/// Why polling one source failed.
#[derive(Debug)]
pub enum SourceFailure<E> {
    /// The poll returned an error.
    Error(E),
    /// The poll did not finish within the per-source timeout.
    TimedOut(Duration),
}

impl<E: fmt::Display> fmt::Display for SourceFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceFailure::Error(error) => error.fmt(f),
            SourceFailure::TimedOut(after) => write!(f, "no answer within {after:?}"),
        }
    }
}

impl<E: fmt::Display + fmt::Debug> std::error::Error for SourceFailure<E> {}
