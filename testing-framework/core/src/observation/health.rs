//! Health of the runtime (failed cycles, by stage) and of each source
//! (successes, failures, poll latency).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::time::Instant;

use super::{Reachability, SourceName, SourceSet};

/// Reachability changes kept for the next publication while cycles fail.
const MAX_PENDING_CHANGES: usize = 4096;

/// How many failed cycles [`RuntimeHealth::recent_failures`] keeps.
pub(crate) const RECENT_FAILURES: usize = 32;

/// Where in a cycle something went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureStage {
    /// The provider's `sources()` failed, timed out, panicked, or returned
    /// duplicate names.
    SourceRefresh,
    /// The observer's `init` failed or timed out.
    Init,
    /// The observer's `poll` returned an error.
    Poll,
    /// The observer's `poll` did not finish within the cycle timeout.
    PollTimeout,
    /// Observer code (`init`, `poll` or `snapshot`) panicked.
    ObserverPanic,
}

impl fmt::Display for FailureStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureStage::SourceRefresh => "source refresh",
            FailureStage::Init => "init",
            FailureStage::Poll => "poll",
            FailureStage::PollTimeout => "poll timeout",
            FailureStage::ObserverPanic => "observer panic",
        })
    }
}

/// One failed cycle.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CycleFailure {
    /// The stage that failed.
    pub stage: FailureStage,
    /// What went wrong, for people.
    pub message: String,
    /// The cycle number (counting every cycle, failed or not).
    pub cycle: u64,
    /// When it failed.
    pub at: Instant,
    /// When it failed, by the wall clock (for reports).
    pub at_wall: SystemTime,
    /// Failed cycles in a row, this one included.
    pub consecutive: u64,
    /// When a cycle last succeeded before this failure, if ever.
    pub last_success: Option<Instant>,
}

impl fmt::Display for CycleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed in cycle {} ({} in a row): {}",
            self.stage, self.cycle, self.consecutive, self.message
        )
    }
}

/// The runtime's own health: how its cycles went.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RuntimeHealth {
    /// Cycles attempted.
    pub cycles: u64,
    /// Cycles that published an observation.
    pub successes: u64,
    /// Cycles that failed, ever; recovery does not reset it.
    pub failures: u64,
    /// Cycles failed since the last success.
    pub consecutive_failures: u64,
    /// When the last cycle succeeded.
    pub last_success: Option<Instant>,
    /// The current error: set by a failed cycle, cleared by a successful one.
    pub last_error: Option<CycleFailure>,
    /// The most recent failures, oldest first, kept after recovery.
    pub recent_failures: Vec<CycleFailure>,
}

/// Online mean and variance of a source's poll latency (Welford).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencyStats {
    count: u64,
    mean_secs: f64,
    m2: f64,
    last: Option<Duration>,
}

impl LatencyStats {
    pub(crate) fn record(&mut self, latency: Duration) {
        let x = latency.as_secs_f64();
        self.count += 1;
        let delta = x - self.mean_secs;
        self.mean_secs += delta / self.count as f64;
        self.m2 += delta * (x - self.mean_secs);
        self.last = Some(latency);
    }

    /// Polls measured.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean latency; zero before the first poll.
    pub fn mean(&self) -> Duration {
        Duration::from_secs_f64(self.mean_secs.max(0.0))
    }

    /// Population variance in seconds squared; zero below two polls.
    pub fn variance_secs2(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            self.m2 / self.count as f64
        }
    }

    /// Standard deviation of the latency.
    pub fn std_dev(&self) -> Duration {
        Duration::from_secs_f64(self.variance_secs2().max(0.0).sqrt())
    }

    /// The latest latency measured.
    pub fn last(&self) -> Option<Duration> {
        self.last
    }
}

/// The last error of one source.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SourceError {
    /// What went wrong.
    pub message: String,
    /// When.
    pub at: Instant,
}

/// Health of one source, as seen through [`Sources::poll_each`](super::Sources::poll_each).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SourceHealth {
    /// The source.
    pub name: SourceName,
    /// Polls that succeeded.
    pub successes: u64,
    /// Polls that failed or timed out.
    pub failures: u64,
    /// Polls failed since the last success.
    pub consecutive_failures: u64,
    /// When a poll last succeeded.
    pub last_success: Option<Instant>,
    /// The last failure; kept after recovery, compare with `last_success`.
    pub last_error: Option<SourceError>,
    /// Poll latency, successes and failures alike.
    pub latency: LatencyStats,
}

impl SourceHealth {
    fn new(name: SourceName) -> Self {
        SourceHealth {
            name,
            successes: 0,
            failures: 0,
            consecutive_failures: 0,
            last_success: None,
            last_error: None,
            latency: LatencyStats::default(),
        }
    }

    /// Whether the latest poll of this source failed.
    pub fn is_failing(&self) -> bool {
        self.consecutive_failures > 0
    }
}

/// One source's result in a cycle, as recorded.
pub(crate) struct SourceOutcome {
    pub(crate) name: SourceName,
    pub(crate) latency: Duration,
    pub(crate) error: Option<String>,
    /// What the error says about the contact, when there is one.
    pub(crate) contact: super::Contact,
}

/// Per-source health of the current source set, and the reachability
/// changes not yet published.
#[derive(Default)]
pub(crate) struct SourceHealthBook {
    by_name: Mutex<HashMap<SourceName, SourceHealth>>,
    changes: Mutex<Vec<Reachability>>,
}

impl SourceHealthBook {
    /// Follows the source set: new sources start as never polled, removed
    /// ones are forgotten.
    pub(crate) fn follow<S>(&self, set: &SourceSet<S>, removed: &[SourceName]) {
        let mut book = self.by_name.lock();
        for name in removed {
            book.remove(name);
        }
        for source in set.iter() {
            book.entry(source.name.clone())
                .or_insert_with(|| SourceHealth::new(source.name.clone()));
        }
    }

    pub(crate) fn record(&self, outcomes: Vec<SourceOutcome>, at: Instant) {
        let mut book = self.by_name.lock();
        let mut changes = Vec::new();
        for outcome in outcomes {
            let health = book
                .entry(outcome.name.clone())
                .or_insert_with(|| SourceHealth::new(outcome.name));
            health.latency.record(outcome.latency);
            // A first failure (also of a source never reached) and a first
            // success after failures are the changes worth telling.
            let was_failing = health.consecutive_failures > 0;
            match (&outcome.error, was_failing) {
                (Some(error), false) => changes.push(Reachability {
                    source: health.name.to_string(),
                    reachable: false,
                    error: Some(error.clone()),
                    contact: outcome.contact,
                }),
                (None, true) => changes.push(Reachability {
                    source: health.name.to_string(),
                    reachable: true,
                    error: None,
                    contact: super::Contact::Unknown,
                }),
                _ => {}
            }
            match outcome.error {
                None => {
                    health.successes += 1;
                    health.consecutive_failures = 0;
                    health.last_success = Some(at);
                }
                Some(message) => {
                    health.failures += 1;
                    health.consecutive_failures += 1;
                    health.last_error = Some(SourceError { message, at });
                }
            }
        }
        drop(book);
        if !changes.is_empty() {
            let mut pending = self.changes.lock();
            pending.extend(changes);
            // Cycles that keep failing publish nothing: keep the newest.
            let excess = pending.len().saturating_sub(MAX_PENDING_CHANGES);
            pending.drain(..excess);
        }
    }

    /// The reachability changes since the last call, oldest first.
    pub(crate) fn take_changes(&self) -> Vec<Reachability> {
        std::mem::take(&mut *self.changes.lock())
    }

    /// Every known source, sorted by name.
    pub(crate) fn list(&self) -> Vec<SourceHealth> {
        let mut list: Vec<SourceHealth> = self.by_name.lock().values().cloned().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }
}

/// The runtime's cycle accounting.
#[derive(Default)]
pub(crate) struct CycleBook {
    inner: Mutex<CycleBookInner>,
}

#[derive(Default)]
struct CycleBookInner {
    health: RuntimeHealth,
    recent: VecDeque<CycleFailure>,
}

impl CycleBook {
    pub(crate) fn success(&self, at: Instant) {
        let mut inner = self.inner.lock();
        let health = &mut inner.health;
        health.cycles += 1;
        health.successes += 1;
        health.consecutive_failures = 0;
        health.last_success = Some(at);
        health.last_error = None;
    }

    pub(crate) fn failure(&self, stage: FailureStage, message: String, cycle: u64, at: Instant) {
        let mut inner = self.inner.lock();
        inner.health.cycles += 1;
        inner.health.failures += 1;
        inner.health.consecutive_failures += 1;
        let failure = CycleFailure {
            stage,
            message,
            cycle,
            at,
            at_wall: SystemTime::now(),
            consecutive: inner.health.consecutive_failures,
            last_success: inner.health.last_success,
        };
        tracing::warn!(%failure, "observation cycle failed");
        if inner.recent.len() == RECENT_FAILURES {
            inner.recent.pop_front();
        }
        inner.recent.push_back(failure.clone());
        inner.health.last_error = Some(failure);
    }

    pub(crate) fn last_error(&self) -> Option<CycleFailure> {
        self.inner.lock().health.last_error.clone()
    }

    pub(crate) fn health(&self) -> RuntimeHealth {
        let inner = self.inner.lock();
        RuntimeHealth {
            recent_failures: inner.recent.iter().cloned().collect(),
            ..inner.health.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_mean_and_variance_match_the_textbook() {
        let mut stats = LatencyStats::default();
        for ms in [2u64, 4, 4, 4, 5, 5, 7, 9] {
            stats.record(Duration::from_millis(ms));
        }
        assert_eq!(stats.count(), 8);
        assert!((stats.mean().as_secs_f64() - 0.005).abs() < 1e-9);
        // population variance 4 ms^2, standard deviation 2 ms
        assert!((stats.variance_secs2() - 4e-6).abs() < 1e-12);
        assert!((stats.std_dev().as_secs_f64() - 0.002).abs() < 1e-9);
    }

    #[test]
    fn recent_failures_are_bounded_and_survive_recovery() {
        let book = CycleBook::default();
        let now = Instant::now();
        for cycle in 0..(RECENT_FAILURES as u64 + 5) {
            book.failure(FailureStage::Poll, format!("boom {cycle}"), cycle, now);
        }
        book.success(now);
        let health = book.health();
        assert!(health.last_error.is_none());
        assert_eq!(health.failures, RECENT_FAILURES as u64 + 5);
        assert_eq!(health.recent_failures.len(), RECENT_FAILURES);
        assert_eq!(health.recent_failures[0].message, "boom 5");
    }
}
