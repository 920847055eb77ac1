//! The read side: [`ObservationHandle`], cheap to clone, never waits on a
//! cycle in progress.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::diagnostics::{Diagnostics, LatestSummary};
use super::shared::Shared;
use super::stream::{Cursor, Subscription};
use super::{CycleFailure, Lifecycle, ObservationOf, Observer, RuntimeHealth, SourceHealth};

/// Reads what an [`ObservationRuntime`](super::ObservationRuntime) observed:
/// the latest snapshot, the stream and history of observations, errors,
/// per-source health, and waits on all of it.
pub struct ObservationHandle<O: Observer> {
    pub(crate) shared: Arc<Shared<O>>,
}

impl<O: Observer> Clone for ObservationHandle<O> {
    fn clone(&self) -> Self {
        ObservationHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<O: Observer> fmt::Debug for ObservationHandle<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservationHandle")
            .field("observer", &self.shared.observer_name)
            .field("lifecycle", &self.lifecycle())
            .field("cursor", &self.cursor())
            .finish()
    }
}

/// The latest observation, borrowed without locking and without touching a
/// shared reference count (a read costs a few nanoseconds even while other
/// threads read). Meant to be short-lived: to keep it, call
/// [`into_arc`](Latest::into_arc).
pub struct Latest<O: Observer>(arc_swap::Guard<Option<Arc<ObservationOf<O>>>>);

impl<O: Observer> Latest<O> {
    /// An owned reference to the observation.
    pub fn into_arc(self) -> Arc<ObservationOf<O>> {
        arc_swap::Guard::into_inner(self.0).expect("a Latest always holds an observation")
    }
}

impl<O: Observer> Deref for Latest<O> {
    type Target = ObservationOf<O>;

    fn deref(&self) -> &Self::Target {
        self.0
            .as_deref()
            .expect("a Latest always holds an observation")
    }
}

impl<O: Observer> fmt::Debug for Latest<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// How old the latest observation is, against a maximum age.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Observed within the maximum age.
    Fresh {
        /// Its age.
        age: Duration,
    },
    /// Older than the maximum age: cycles are failing or the runtime stopped.
    Stale {
        /// Its age.
        age: Duration,
    },
    /// Nothing observed yet.
    NeverObserved,
}

impl<O: Observer> ObservationHandle<O> {
    pub(crate) fn new(shared: Arc<Shared<O>>) -> Self {
        ObservationHandle { shared }
    }

    /// The observer's name, as used in messages.
    pub fn observer_name(&self) -> &str {
        &self.shared.observer_name
    }

    /// The newest observation (snapshot, cycle, time, source count), or
    /// `None` before the first successful cycle. Never waits.
    pub fn latest_snapshot(&self) -> Option<Latest<O>> {
        let guard = self.shared.latest.load();
        guard.is_some().then(|| Latest(guard))
    }

    /// The position of the newest observation, taken now: subscribe from
    /// it to get everything published after now, or wait on it for state
    /// observed by cycles that begin after now.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            position: self.shared.history.read().next_position() - 1,
            since: Some(tokio::time::Instant::now()),
        }
    }

    /// Observations published from now on.
    pub fn subscribe(&self) -> Subscription<O> {
        self.subscribe_from(self.cursor())
    }

    /// The retained observations after `cursor`, then live ones, with no gap
    /// and no duplicate. [`Cursor::START`] replays the whole retained
    /// history; if part of what follows `cursor` was already trimmed, the
    /// first item says how much.
    pub fn subscribe_from(&self, cursor: Cursor) -> Subscription<O> {
        Subscription::new(Arc::clone(&self.shared), cursor)
    }

    /// The retained observations, oldest first.
    pub fn history(&self) -> Vec<Arc<ObservationOf<O>>> {
        self.shared.history.read().to_vec()
    }

    /// The current error: set by a failed cycle, cleared by the next
    /// successful one. Past failures stay in [`health`](Self::health).
    pub fn last_error(&self) -> Option<CycleFailure> {
        self.shared.cycles.last_error()
    }

    /// Counters, the current error and recent failures of the runtime.
    pub fn health(&self) -> RuntimeHealth {
        self.shared.cycles.health()
    }

    /// Health of each current source, by name; filled by
    /// [`Sources::poll_each`](super::Sources::poll_each).
    pub fn source_health(&self) -> Vec<SourceHealth> {
        self.shared.sources.list()
    }

    /// Where the runtime is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        self.shared.lifecycle()
    }

    /// The age of the latest observation, if any.
    pub fn age(&self) -> Option<Duration> {
        self.latest_snapshot().map(|latest| latest.age())
    }

    /// Whether the latest observation is at most `max_age` old.
    pub fn freshness(&self, max_age: Duration) -> Freshness {
        match self.age() {
            None => Freshness::NeverObserved,
            Some(age) if age <= max_age => Freshness::Fresh { age },
            Some(age) => Freshness::Stale { age },
        }
    }

    /// A picture of what was observed: the latest snapshot, errors and
    /// per-source health. Its `Display` is what wait timeouts print.
    pub fn diagnostics(&self) -> Diagnostics {
        self.diagnostics_of_wait(None, 0)
    }

    pub(crate) fn diagnostics_of_wait(
        &self,
        events_seen: Option<(u64, Vec<String>)>,
        missed_while_waiting: u64,
    ) -> Diagnostics {
        let latest = self.latest_snapshot().map(|latest| {
            LatestSummary::new(
                latest.cursor,
                latest.cycle,
                latest.observed_at,
                latest.source_count,
                &latest.snapshot,
            )
        });
        Diagnostics {
            observer: self.shared.observer_name.clone(),
            lifecycle: self.lifecycle(),
            latest,
            runtime: self.health(),
            sources: self.source_health(),
            events_seen,
            missed_while_waiting,
            taken_at: Instant::now(),
        }
    }
}
