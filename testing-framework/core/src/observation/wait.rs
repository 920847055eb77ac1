//! Waiting on observed state with a deadline: the only way anything in the
//! framework waits.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::{Instant, timeout_at};

use super::cycle::deadline_after;
use super::diagnostics::{Diagnostics, RECENT_EVENTS, human};
use super::stream::{Cursor, Subscription};
use super::{ObservationHandle, ObservationOf, Observer};

/// A wait that did not see what it waited for. `Display` tells what was
/// observed instead: the last snapshot, its age, the last error and the
/// health of every source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The deadline passed.
    #[error("timed out after {} waiting for {what}\n{diagnostics}", human(*.waited))]
    TimedOut {
        /// How long it waited.
        waited: Duration,
        /// What it waited for.
        what: String,
        /// What was observed.
        diagnostics: Box<Diagnostics>,
    },
    /// The runtime stopped first.
    #[error("the observation runtime stopped while waiting for {what}\n{diagnostics}")]
    Stopped {
        /// What it waited for.
        what: String,
        /// What was observed.
        diagnostics: Box<Diagnostics>,
    },
}

impl WaitError {
    /// What was observed when the wait gave up.
    pub fn diagnostics(&self) -> &Diagnostics {
        match self {
            WaitError::TimedOut { diagnostics, .. } | WaitError::Stopped { diagnostics, .. } => {
                diagnostics
            }
        }
    }
}

/// One step of a wait over the stream of observations.
enum Step<T> {
    Next(T),
    TimedOut,
    Stopped,
}

/// The next observation before `deadline`, counting lags into `missed`.
async fn next_before<O: Observer>(
    observations: &mut Subscription<O>,
    deadline: Instant,
    missed: &mut u64,
) -> Step<Arc<ObservationOf<O>>> {
    loop {
        match timeout_at(deadline, observations.next()).await {
            Err(_) => return Step::TimedOut,
            Ok(None) => return Step::Stopped,
            // Fell behind the history: go on with what is retained.
            Ok(Some(Err(lagged))) => *missed += lagged.missed,
            Ok(Some(Ok(observation))) => return Step::Next(observation),
        }
    }
}

impl<O: Observer> ObservationHandle<O> {
    fn wait_error(
        &self,
        timed_out: Option<Duration>,
        what: String,
        diagnostics: Diagnostics,
    ) -> WaitError {
        let diagnostics = Box::new(diagnostics);
        match timed_out {
            Some(waited) => WaitError::TimedOut {
                waited,
                what,
                diagnostics,
            },
            None => WaitError::Stopped { what, diagnostics },
        }
    }

    /// Waits until a snapshot satisfies `condition`, checking the latest one
    /// first and then every new one (none is skipped while the history holds
    /// them), for at most `timeout`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tf_core::observation::{ObservationHandle, Observer};
    /// # use tf_core::observation::error::{WaitError};
    /// # async fn example<O: Observer<Snapshot = u64>>(handle: ObservationHandle<O>) -> Result<(), WaitError> {
    /// let reached = handle.wait_until(|height| *height >= 20, Duration::from_secs(30)).await?;
    /// println!("height {} in cycle {}", reached.snapshot, reached.cycle);
    /// # Ok(()) }
    /// ```
    pub async fn wait_until<F>(
        &self,
        mut condition: F,
        timeout: Duration,
    ) -> Result<Arc<ObservationOf<O>>, WaitError>
    where
        F: FnMut(&O::Snapshot) -> bool,
    {
        let cursor = match self.latest_snapshot() {
            Some(latest) if condition(&latest.snapshot) => return Ok(latest.into_arc()),
            Some(latest) => latest.cursor,
            None => Cursor::START,
        };
        self.wait_until_after(cursor, condition, timeout).await
    }

    /// Like [`wait_until`](Self::wait_until), but only snapshots published
    /// after `cursor` count: take [`cursor`](Self::cursor) before an action
    /// (a restart) to wait for state observed after it, not a stale
    /// snapshot from before. With a cursor from [`cursor`](Self::cursor),
    /// only cycles that began after it was taken count: one already under
    /// way may have polled before the action.
    pub async fn wait_until_after<F>(
        &self,
        cursor: Cursor,
        mut condition: F,
        timeout: Duration,
    ) -> Result<Arc<ObservationOf<O>>, WaitError>
    where
        F: FnMut(&O::Snapshot) -> bool,
    {
        let deadline = deadline_after(Instant::now(), timeout);
        let mut observations = self.subscribe_from(cursor);
        let mut missed = 0;
        loop {
            let timed_out = match next_before(&mut observations, deadline, &mut missed).await {
                Step::Next(observation)
                    if cursor.began_after(&observation) && condition(&observation.snapshot) =>
                {
                    return Ok(observation);
                }
                Step::Next(_) => continue,
                Step::TimedOut => Some(timeout),
                Step::Stopped => None,
            };
            let what = format!(
                "a snapshot of `{}` matching the condition",
                self.observer_name()
            );
            return Err(self.wait_error(timed_out, what, self.diagnostics_of_wait(None, missed)));
        }
    }

    /// Waits for an event published from now on that satisfies `condition`.
    /// To catch an event caused by something you are about to do, take
    /// [`cursor`](Self::cursor) first and use
    /// [`wait_for_event_from`](Self::wait_for_event_from).
    pub async fn wait_for_event<F>(
        &self,
        condition: F,
        timeout: Duration,
    ) -> Result<O::Event, WaitError>
    where
        F: FnMut(&O::Event) -> bool,
    {
        self.wait_for_event_from(self.cursor(), condition, timeout)
            .await
    }

    /// Waits for an event published after `cursor` that satisfies
    /// `condition`, for at most `timeout`.
    pub async fn wait_for_event_from<F>(
        &self,
        cursor: Cursor,
        condition: F,
        timeout: Duration,
    ) -> Result<O::Event, WaitError>
    where
        F: FnMut(&O::Event) -> bool,
    {
        let what = format!(
            "an event of `{}` matching the condition",
            self.observer_name()
        );
        self.wait_for_item_from(cursor, |o| &o.events, condition, timeout, what)
            .await
    }

    /// Waits for a source to go silent or answer again after `cursor` (see
    /// [`Reachability`](super::Reachability)): `|r| r.is_lost("node-1")`
    /// confirms that a fault took a node down, whatever the observer.
    pub async fn wait_for_reachability_from<F>(
        &self,
        cursor: Cursor,
        condition: F,
        timeout: Duration,
    ) -> Result<super::Reachability, WaitError>
    where
        F: FnMut(&super::Reachability) -> bool,
    {
        let what = format!(
            "a reachability change seen by `{}` matching the condition",
            self.observer_name()
        );
        self.wait_for_item_from(cursor, |o| &o.reachability, condition, timeout, what)
            .await
    }

    /// The first item `pick`ed from an observation after `cursor` that
    /// satisfies `condition`; on timeout, the diagnostics list the last
    /// items seen.
    async fn wait_for_item_from<T, F>(
        &self,
        cursor: Cursor,
        pick: fn(&ObservationOf<O>) -> &Vec<T>,
        mut condition: F,
        timeout: Duration,
        what: String,
    ) -> Result<T, WaitError>
    where
        T: Clone + std::fmt::Debug,
        F: FnMut(&T) -> bool,
    {
        let deadline = deadline_after(Instant::now(), timeout);
        let mut observations = self.subscribe_from(cursor);
        let (mut missed, mut seen) = (0, 0u64);
        let mut recent: VecDeque<String> = VecDeque::with_capacity(RECENT_EVENTS);
        loop {
            let timed_out = match next_before(&mut observations, deadline, &mut missed).await {
                Step::Next(observation) => {
                    for item in pick(&observation) {
                        if condition(item) {
                            return Ok(item.clone());
                        }
                        seen += 1;
                        if recent.len() == RECENT_EVENTS {
                            recent.pop_front();
                        }
                        recent.push_back(format!("cycle {}: {item:?}", observation.cycle));
                    }
                    continue;
                }
                Step::TimedOut => Some(timeout),
                Step::Stopped => None,
            };
            let diagnostics = self.diagnostics_of_wait(Some((seen, recent.into())), missed);
            return Err(self.wait_error(timed_out, what, diagnostics));
        }
    }
}
