//! Expectations with a grace period, the two patterns every app wrote by
//! hand: "at the end, P holds within D" and "whenever P breaks, it holds
//! again within D".

use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::expectation::{check_each_observation, describe};
use super::{Application, Expectation, RunContext, Violation};
use crate::observation::Observer;
use crate::observation::stream::Cursor;
use crate::report::Timing;

/// A named condition on observer `O`'s snapshots with a time bound.
struct Bounded<O: Observer, F> {
    name: String,
    within: Duration,
    condition: F,
    _observer: PhantomData<fn() -> O>,
}

impl<O: Observer, F> Bounded<O, F> {
    fn new(name: impl Into<String>, within: Duration, condition: F) -> Self {
        Bounded {
            name: name.into(),
            within,
            condition,
            _observer: PhantomData,
        }
    }
}

/// At the end of the run, a condition on observer `O`'s snapshot holds
/// within a bound (nodes converge, a final block is shared).
pub struct SettlesWithin<O: Observer, F>(Bounded<O, F>);

impl<O: Observer, F> SettlesWithin<O, F>
where
    F: Fn(&O::Snapshot) -> bool + Send + Sync + 'static,
{
    /// Holds once `condition` is true of a snapshot within `within` after
    /// the cooldown.
    pub fn new(name: impl Into<String>, within: Duration, condition: F) -> Self {
        SettlesWithin(Bounded::new(name, within, condition))
    }
}

#[async_trait]
impl<A, O, F> Expectation<A> for SettlesWithin<O, F>
where
    A: Application,
    O: Observer,
    F: Fn(&O::Snapshot) -> bool + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.0.name
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = ctx.observer::<O>()?;
        handle
            .wait_until(|s| (self.0.condition)(s), self.0.within)
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

/// While the run lasts, whenever a condition on observer `O`'s snapshot
/// stops holding, it holds again within a bound (a leader is elected after
/// each failover).
pub struct RecoversWithin<O: Observer, F>(Bounded<O, F>);

impl<O: Observer, F> RecoversWithin<O, F>
where
    F: Fn(&O::Snapshot) -> bool + Send + Sync + 'static,
{
    /// Fails when `condition` stays false for longer than `within`.
    pub fn new(name: impl Into<String>, within: Duration, condition: F) -> Self {
        RecoversWithin(Bounded::new(name, within, condition))
    }
}

#[async_trait]
impl<A, O, F> Expectation<A> for RecoversWithin<O, F>
where
    A: Application,
    O: Observer,
    F: Fn(&O::Snapshot) -> bool + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.0.name
    }

    fn timing(&self) -> Timing {
        Timing::Always
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = ctx.observer::<O>()?;
        let mut broken_since: Option<Instant> = None;
        check_each_observation(ctx, &handle, Cursor::START, |observation| {
            if (self.0.condition)(&observation.snapshot) {
                broken_since = None;
                return Ok(());
            }
            let since = *broken_since.get_or_insert(observation.observed_at);
            let broken_for = observation.observed_at - since;
            if broken_for <= self.0.within {
                return Ok(());
            }
            Err(Violation::new(format!(
                "did not hold for {} (bound {})",
                humantime::format_duration(broken_for),
                humantime::format_duration(self.0.within)
            ))
            .observed(describe(observation)))
        })
        .await
    }
}
