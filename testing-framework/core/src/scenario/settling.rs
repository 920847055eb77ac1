//! Expectations with a grace period, the two patterns every app wrote by
//! hand: "at the end, P holds within D" and "whenever P breaks, it holds
//! again within D".

use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::expectation::check_each_observation;
use super::reads::Reads;
use super::{Application, Expectation, RunContext, Violation};
use crate::observation::Observer;
use crate::observation::stream::Cursor;
use crate::report::Timing;

/// A named condition on snapshots of type `S` with a time bound.
struct Bounded<S, F> {
    name: String,
    within: Duration,
    condition: F,
    reads: Reads<S>,
}

impl<S: 'static, F> Bounded<S, F> {
    fn new(name: impl Into<String>, within: Duration, condition: F) -> Self {
        Bounded {
            name: name.into(),
            within,
            condition,
            reads: Reads::state(),
        }
    }
}

/// At the end of the run, a condition on the snapshot of type `S` holds
/// within a bound (nodes converge, a final block is shared). The observer
/// publishing snapshots of type `S` is found by that type.
pub struct SettlesWithin<S, F>(Bounded<S, F>);

impl<S: 'static, F> SettlesWithin<S, F>
where
    F: Fn(&S) -> bool + Send + Sync + 'static,
{
    /// Holds once `condition` is true of a snapshot within `within` after
    /// the cooldown.
    pub fn new(name: impl Into<String>, within: Duration, condition: F) -> Self {
        SettlesWithin(Bounded::new(name, within, condition))
    }

    /// Reads observer `O`: needed only when several observers of the
    /// scenario publish snapshots of type `S`.
    pub fn observed_by<O: Observer<Snapshot = S>>(mut self) -> Self {
        self.0.reads.observed_by::<O>();
        self
    }
}

#[async_trait]
impl<A, S, F> Expectation<A> for SettlesWithin<S, F>
where
    A: Application,
    S: Send + Sync + 'static,
    F: Fn(&S) -> bool + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.0.name
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = self.0.reads.handle(ctx)?;
        handle
            .wait_until(None, &|s| (self.0.condition)(s), self.0.within)
            .await
            .map(|_| ())
            .map_err(|e| {
                Violation::new(format!(
                    "did not hold within {} after the run",
                    humantime::format_duration(self.0.within)
                ))
                .observed(e.to_string())
            })
    }
}

/// While the run lasts, whenever a condition on the snapshot of type `S`
/// stops holding, it holds again within a bound (a leader is elected after
/// each failover). The observer publishing snapshots of type `S` is found
/// by that type.
pub struct RecoversWithin<S, F>(Bounded<S, F>);

impl<S: 'static, F> RecoversWithin<S, F>
where
    F: Fn(&S) -> bool + Send + Sync + 'static,
{
    /// Fails when `condition` stays false for longer than `within`.
    pub fn new(name: impl Into<String>, within: Duration, condition: F) -> Self {
        RecoversWithin(Bounded::new(name, within, condition))
    }

    /// Reads observer `O`: needed only when several observers of the
    /// scenario publish snapshots of type `S`.
    pub fn observed_by<O: Observer<Snapshot = S>>(mut self) -> Self {
        self.0.reads.observed_by::<O>();
        self
    }
}

#[async_trait]
impl<A, S, F> Expectation<A> for RecoversWithin<S, F>
where
    A: Application,
    S: Send + Sync + 'static,
    F: Fn(&S) -> bool + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.0.name
    }

    fn timing(&self) -> Timing {
        Timing::Always
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = self.0.reads.handle(ctx)?;
        let mut broken_since: Option<Instant> = None;
        check_each_observation(ctx, &*handle, Cursor::START, |observation| {
            if (self.0.condition)(observation.snapshot()) {
                broken_since = None;
                return Ok(());
            }
            let since = *broken_since.get_or_insert(observation.observed_at());
            let broken_for = observation.observed_at() - since;
            if broken_for <= self.0.within {
                return Ok(());
            }
            Err(Violation::new(format!(
                "did not hold for {} (bound {})",
                humantime::format_duration(broken_for),
                humantime::format_duration(self.0.within)
            ))
            .observed(observation.describe()))
        })
        .await
    }
}
