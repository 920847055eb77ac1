//! The loop: refresh sources, init if needed, poll, snapshot, publish,
//! wait for the next tick. Every async stage is bounded by the cycle
//! deadline and every call into app code is guarded against panics.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

use super::shared::{Lifecycle, Published, Shared, StoppedOnDrop};
use super::source::{SourceChanges, duplicate_name, same_names};
use super::{FailureStage, ObservationConfig, Observer, SourceProvider, SourceSet, Sources};

/// `from + duration`, or a far-off instant where that would overflow (a
/// `Duration::MAX` timeout means "no timeout", not a panic).
pub(crate) fn deadline_after(from: Instant, duration: Duration) -> Instant {
    const FAR_OFF: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    from.checked_add(duration).unwrap_or_else(|| from + FAR_OFF)
}

/// Why a stage did not produce its value.
enum StageError {
    TimedOut,
    Panicked(String),
    Failed(String),
}

/// Runs `stage` until `deadline`, turning a panic into a value.
async fn guarded<T, E: std::fmt::Display>(
    deadline: Instant,
    stage: impl Future<Output = Result<T, E>>,
) -> Result<T, StageError> {
    match timeout_at(deadline, AssertUnwindSafe(stage).catch_unwind()).await {
        Err(_) => Err(StageError::TimedOut),
        Ok(Err(panic)) => Err(StageError::Panicked(panic_message(panic.as_ref()))),
        Ok(Ok(Err(error))) => Err(StageError::Failed(error.to_string())),
        Ok(Ok(Ok(value))) => Ok(value),
    }
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_owned())
}

/// A failed stage, ready to be recorded.
struct Failure(FailureStage, String);

pub(crate) struct CycleLoop<O: Observer, P> {
    shared: Arc<Shared<O>>,
    observer: O,
    provider: P,
    config: watch::Receiver<ObservationConfig>,
    state: Option<O::State>,
    /// The set the last published observation was made from.
    published_sources: SourceSet<O::Source>,
    /// The last refreshed set with valid names: the per-source health
    /// follows it, and a set with the same names needs no duplicate check.
    followed_sources: SourceSet<O::Source>,
    /// Events of a cycle whose snapshot panicked: published with the next
    /// observation rather than lost.
    carried_events: Vec<O::Event>,
    cycle: u64,
}

impl<O: Observer, P: SourceProvider<O::Source>> CycleLoop<O, P> {
    pub(crate) fn new(
        shared: Arc<Shared<O>>,
        observer: O,
        provider: P,
        config: watch::Receiver<ObservationConfig>,
    ) -> Self {
        CycleLoop {
            shared,
            observer,
            provider,
            config,
            state: None,
            published_sources: SourceSet::empty(),
            followed_sources: SourceSet::empty(),
            carried_events: Vec::new(),
            cycle: 0,
        }
    }

    /// Cycles until `stop`; `_stopped` marks the runtime stopped when this
    /// future ends or is dropped.
    pub(crate) async fn run(mut self, stop: CancellationToken, _stopped: StoppedOnDrop<O>) {
        while !stop.is_cancelled() {
            let config = self.config.borrow_and_update().clone();
            let started = Instant::now();
            self.cycle += 1;
            if let Err(Failure(stage, message)) = self.run_cycle(&config, started).await {
                self.shared
                    .cycles
                    .failure(stage, message, self.cycle, Instant::now());
            }
            if self.cycle == 1 {
                self.shared.set_lifecycle(Lifecycle::Running);
            }
            if !self.wait_for_next_cycle(started, &stop).await {
                break;
            }
        }
    }

    /// Waits until one interval after `started`, following interval changes.
    /// Returns false when the loop should end.
    async fn wait_for_next_cycle(&mut self, started: Instant, stop: &CancellationToken) -> bool {
        loop {
            let next = deadline_after(started, self.config.borrow().poll_interval);
            if Instant::now() >= next {
                // Behind schedule: run at once, but let other tasks in.
                tokio::task::yield_now().await;
                return !stop.is_cancelled();
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => return false,
                // A new interval: recompute the deadline.
                changed = self.config.changed() => {
                    if changed.is_err() {
                        return false;
                    }
                }
                () = tokio::time::sleep_until(next) => return true,
            }
        }
    }

    async fn run_cycle(
        &mut self,
        config: &ObservationConfig,
        started: Instant,
    ) -> Result<(), Failure> {
        let deadline = deadline_after(started, config.cycle_timeout);
        let sources = self.refresh_sources(deadline, config.cycle_timeout).await?;
        if !same_names(&self.followed_sources, &sources) {
            let changes = SourceChanges::between(&self.followed_sources, &sources);
            self.shared.sources.follow(&sources, &changes.removed);
            self.followed_sources = sources.clone();
        }
        let view = Sources::new(
            &sources,
            config.source_timeout,
            config.source_concurrency,
            &self.shared.sources,
        );

        let state = match self.state.take() {
            Some(state) => state,
            None => guarded(deadline, self.observer.init(&view))
                .await
                .map_err(|error| {
                    stage_failure(error, FailureStage::Init, "init", config.cycle_timeout)
                })?,
        };
        let state = self.state.insert(state);

        let events = match guarded(deadline, self.observer.poll(&view, state)).await {
            Ok(events) => events,
            Err(error) => {
                if matches!(error, StageError::TimedOut | StageError::Panicked(_)) {
                    self.after_interrupt();
                }
                return Err(stage_failure(
                    error,
                    FailureStage::Poll,
                    "poll",
                    config.cycle_timeout,
                ));
            }
        };

        let snapshot = std::panic::catch_unwind(AssertUnwindSafe(|| self.observer.snapshot(state)));
        let snapshot = match snapshot {
            Ok(snapshot) => snapshot,
            Err(panic) => {
                self.carried_events.extend(events);
                self.after_interrupt();
                return Err(Failure(
                    FailureStage::ObserverPanic,
                    format!("snapshot panicked: {}", panic_message(panic.as_ref())),
                ));
            }
        };

        let changes = SourceChanges::between(&self.published_sources, &sources);
        self.publish(sources, changes, events, snapshot, started);
        Ok(())
    }

    /// After observer code was cut off halfway: drop the state unless the
    /// observer vouches for it (a panic in that check counts as "no").
    fn after_interrupt(&mut self) {
        let keep = self.state.as_ref().is_some_and(|state| {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.observer.keep_state_after_interrupt(state)
            }))
            .unwrap_or(false)
        });
        if !keep {
            self.state = None;
        }
    }

    async fn refresh_sources(
        &mut self,
        deadline: Instant,
        cycle_timeout: Duration,
    ) -> Result<SourceSet<O::Source>, Failure> {
        let sources = guarded(deadline, self.provider.sources())
            .await
            .map_err(|error| {
                let message = match error {
                    StageError::TimedOut => format!(
                        "the source provider did not answer within the cycle timeout ({cycle_timeout:?})"
                    ),
                    StageError::Panicked(panic) => format!("the source provider panicked: {panic}"),
                    StageError::Failed(error) => error,
                };
                Failure(FailureStage::SourceRefresh, message)
            })?;
        // Names identical to the last valid set cannot hold a duplicate.
        if !same_names(&self.followed_sources, &sources) {
            if let Some(name) = duplicate_name(&sources) {
                return Err(Failure(
                    FailureStage::SourceRefresh,
                    format!(
                        "the source provider returned two sources named `{name}`; source names must be unique"
                    ),
                ));
            }
        }
        Ok(sources)
    }

    fn publish(
        &mut self,
        sources: SourceSet<O::Source>,
        changes: SourceChanges,
        mut events: Vec<O::Event>,
        snapshot: O::Snapshot,
        began_at: Instant,
    ) {
        if !self.carried_events.is_empty() {
            events.splice(0..0, self.carried_events.drain(..));
        }
        self.shared.publish(Published {
            cycle: self.cycle,
            began_at,
            source_count: sources.len(),
            sources_added: changes.added,
            sources_removed: changes.removed,
            events,
            reachability: self.shared.sources.take_changes(),
            snapshot,
        });
        self.published_sources = sources;
    }
}

/// Names what went wrong in an observer stage.
fn stage_failure(
    error: StageError,
    failed: FailureStage,
    what: &str,
    cycle_timeout: Duration,
) -> Failure {
    match error {
        StageError::TimedOut => {
            let stage = if failed == FailureStage::Poll {
                FailureStage::PollTimeout
            } else {
                failed
            };
            Failure(
                stage,
                format!("{what} did not finish within the cycle timeout ({cycle_timeout:?})"),
            )
        }
        StageError::Panicked(panic) => Failure(
            FailureStage::ObserverPanic,
            format!("{what} panicked: {panic}"),
        ),
        // The stage already says what failed.
        StageError::Failed(error) => Failure(failed, error),
    }
}
