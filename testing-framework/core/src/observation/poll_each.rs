//! Polling every source of a cycle concurrently, each with its own timeout,
//! so that observers never write their own join/timeout loops.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use super::contact::{Contact, describe};
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
    /// result per source in source order. A slow source holds up only its
    /// own slot. Every result, success, error or timeout, is recorded in the
    /// per-source health that
    /// [`ObservationHandle::source_health`](super::ObservationHandle::source_health)
    /// reports; if the cycle times out first, the sources that had not
    /// answered are recorded as failed. A failing source is not a failed
    /// cycle: the observer decides what it means.
    pub fn poll_each<T, E, F, Fut>(
        &self,
        mut poll: F,
    ) -> impl Future<Output = Vec<SourcePoll<'a, S, T, E>>> + use<'a, S, T, E, F, Fut>
    where
        F: FnMut(&'a ObservedSource<S>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Display + 'static,
    {
        // The calls are made here, before the returned future runs, so that
        // it does not hold `poll`: a closure held across an await trips the
        // compiler's `Send` check inside `#[async_trait]` methods.
        let timeout = self.timeout;
        let calls: Vec<_> = self
            .set
            .iter()
            .enumerate()
            .map(|(index, source)| {
                let call = poll(source);
                async move { (index, timed(source, call, timeout).await) }
            })
            .collect();
        let (set, health, concurrency) = (self.set, self.health, self.concurrency);
        async move {
            let mut recorder = Recorder::new(set, health);
            let mut slots: Vec<Option<SourcePoll<'a, S, T, E>>> = Vec::with_capacity(calls.len());
            slots.resize_with(calls.len(), || None);
            let mut answers = futures::stream::iter(calls).buffer_unordered(concurrency);
            while let Some((index, polled)) = answers.next().await {
                recorder.answered(index, &polled);
                slots[index] = Some(polled);
            }
            slots.into_iter().flatten().collect()
        }
    }
}

/// Collects one cycle's per-source outcomes and records them in one go when
/// dropped: after the last answer, or when the cycle timeout drops the poll
/// halfway, in which case the sources still unanswered count as failed.
struct Recorder<'a, S> {
    set: &'a SourceSet<S>,
    health: &'a SourceHealthBook,
    started: Instant,
    outcomes: Vec<Option<SourceOutcome>>,
}

impl<'a, S> Recorder<'a, S> {
    fn new(set: &'a SourceSet<S>, health: &'a SourceHealthBook) -> Self {
        let mut outcomes = Vec::with_capacity(set.len());
        outcomes.resize_with(set.len(), || None);
        Recorder {
            set,
            health,
            started: Instant::now(),
            outcomes,
        }
    }

    fn answered<T, E: fmt::Display + 'static>(
        &mut self,
        index: usize,
        polled: &SourcePoll<'_, S, T, E>,
    ) {
        let failed = polled.result.as_ref().err().map(SourceFailure::describe);
        self.outcomes[index] = Some(SourceOutcome {
            name: polled.source.name.clone(),
            latency: polled.latency,
            contact: failed.as_ref().map_or(Contact::Unknown, |(_, c)| *c),
            error: failed.map(|(text, _)| text),
        });
    }
}

impl<S> Drop for Recorder<'_, S> {
    fn drop(&mut self) {
        let cut_off = self.started.elapsed();
        let outcomes = std::mem::take(&mut self.outcomes)
            .into_iter()
            .zip(self.set.iter())
            .map(|(outcome, source)| {
                outcome.unwrap_or_else(|| SourceOutcome {
                    name: source.name.clone(),
                    latency: cut_off,
                    error: Some("no answer before the cycle timed out".to_owned()),
                    contact: Contact::Unreachable,
                })
            })
            .collect();
        self.health.record(outcomes, Instant::now());
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

impl<E: fmt::Display + 'static> SourceFailure<E> {
    /// The failure for people, with every cause its error type lets us
    /// walk, and what it says about the contact with the source.
    pub fn describe(&self) -> (String, Contact) {
        match self {
            SourceFailure::Error(error) => describe(error),
            SourceFailure::TimedOut(after) => {
                (format!("no answer within {after:?}"), Contact::Unreachable)
            }
        }
    }
}

/// With every cause the error's type lets us walk: a boxed error, an I/O
/// or HTTP error (an error type of the app's own shows as it displays
/// itself).
impl<E: fmt::Display + 'static> fmt::Display for SourceFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe().0)
    }
}

impl<E: fmt::Display + fmt::Debug + 'static> std::error::Error for SourceFailure<E> {}
