//! Expectations judge a run through its observers, each with a time
//! semantic: always (an invariant on every snapshot), eventually within a
//! bound, or at the end.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use super::{Application, RunContext};
use crate::observation::stream::Cursor;
use crate::observation::{Observation, ObservationHandle, ObservationOf, Observer};
use crate::report::Timing;

/// Why an expectation failed, and what was observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// What did not hold.
    pub reason: String,
    /// The observed state that broke it, for people.
    pub observed: Option<String>,
    /// It could not be judged at all (a replay without its observer), as
    /// opposed to judged and failed.
    pub(crate) not_judged: bool,
}

impl Violation {
    /// A violation with a reason and no observed state.
    pub fn new(reason: impl Into<String>) -> Self {
        Violation {
            reason: reason.into(),
            observed: None,
            not_judged: false,
        }
    }

    /// With the observed state that broke it.
    pub fn observed(mut self, observed: impl Into<String>) -> Self {
        self.observed = Some(observed.into());
        self
    }
}

impl From<super::MissingObserver> for Violation {
    fn from(missing: super::MissingObserver) -> Self {
        let not_judged = matches!(missing, super::MissingObserver::NotRecorded(_));
        Violation {
            not_judged,
            ..Violation::new(missing.to_string())
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if let Some(observed) = &self.observed {
            write!(f, "\nobserved:\n{observed}")?;
        }
        Ok(())
    }
}

/// Something a run must satisfy.
#[async_trait]
pub trait Expectation<A: Application>: Send + Sync + 'static {
    /// A name for reports: say what must hold ("at most one leader per term").
    fn name(&self) -> &str;

    /// When it is judged.
    fn timing(&self) -> Timing;

    /// Judges it. For [`Timing::Always`], watch until the run window is over
    /// ([`RunContext::over`]) and return the first violation; for
    /// [`Timing::Eventually`], return once it holds (the runner fails it at
    /// the bound); for [`Timing::AtEnd`], check once.
    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation>;

    /// Whether it can be judged again from a run's recorded observations
    /// alone (`scenarios replay`); false for checks that need the live
    /// cluster, such as reading every node.
    fn replayable(&self) -> bool {
        true
    }
}

/// Hands every observation of `handle` after `cursor` to `check` until the
/// run window is over: the first violation, one it could not check (the
/// check fell behind the history, or the observer stopped early), or `Ok`.
pub(crate) async fn check_each_observation<A, O, F>(
    ctx: &RunContext<A>,
    handle: &ObservationHandle<O>,
    cursor: Cursor,
    mut check: F,
) -> Result<(), Violation>
where
    A: Application,
    O: Observer,
    F: FnMut(&ObservationOf<O>) -> Result<(), Violation>,
{
    let mut observations = handle.subscribe_from(cursor);
    loop {
        tokio::select! {
            () = ctx.over() => return Ok(()),
            next = observations.next() => match next {
                None if ctx.is_over() => return Ok(()),
                None => {
                    return Err(Violation::new(
                        "the observer stopped before the run window ended; the rest was not checked",
                    ));
                }
                Some(Err(lagged)) => {
                    return Err(Violation::new(format!("could not check every snapshot: {lagged}")));
                }
                Some(Ok(observation)) => check(&observation)?,
            },
        }
    }
}

pub(crate) fn describe<Snap: fmt::Debug, E>(observation: &Observation<Snap, E>) -> String {
    format!(
        "cycle {} ({} sources, observed {:?} ago):\n{:#?}",
        observation.cycle,
        observation.source_count,
        observation.age(),
        observation.snapshot
    )
}

/// An invariant on every snapshot of observer `O`.
pub struct Always<O: Observer, F> {
    name: String,
    check: F,
    /// Snapshots observed during a fault, or within this long after one
    /// ended, are not checked.
    outside_faults: Option<Duration>,
    /// Snapshots observed earlier than this into the run window are not
    /// checked.
    after: Duration,
    _observer: PhantomData<fn() -> O>,
}

impl<O: Observer, F> Always<O, F>
where
    F: Fn(&O::Snapshot) -> Result<(), String> + Send + Sync + 'static,
{
    /// `check` returns why a snapshot breaks the invariant.
    pub fn new(name: impl Into<String>, check: F) -> Self {
        Always {
            name: name.into(),
            check,
            outside_faults: None,
            after: Duration::ZERO,
            _observer: PhantomData,
        }
    }

    /// Checks only snapshots observed outside fault windows, and at least
    /// `grace` after each fault ended: an invariant a fault suspends on
    /// purpose ("RPC nodes keep up with the validators", except while they
    /// are cut off from them, and until they have caught up).
    pub fn outside_faults(mut self, grace: Duration) -> Self {
        self.outside_faults = Some(grace);
        self
    }

    /// Checks only snapshots observed at least `after` into the run
    /// window: for an invariant that holds once the cluster has settled in
    /// (nodes started behind the others have caught up).
    pub fn starting_after(mut self, after: Duration) -> Self {
        self.after = after;
        self
    }
}

/// Whether something observed `at_ms` into the run window falls in a
/// fault window or within `grace` after one ended.
fn during_fault<A: Application>(ctx: &RunContext<A>, at_ms: u64, grace: Duration) -> bool {
    let grace = grace.as_millis() as u64;
    ctx.faults()
        .iter()
        .any(|f| f.start_ms <= at_ms && f.end_ms.is_none_or(|end| at_ms <= end + grace))
}

#[async_trait]
impl<A, O, F> Expectation<A> for Always<O, F>
where
    A: Application,
    O: Observer,
    F: Fn(&O::Snapshot) -> Result<(), String> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::Always
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = ctx.observer::<O>()?;
        let skipped = |observation: &ObservationOf<O>| {
            let at = observation
                .observed_at
                .saturating_duration_since(ctx.started);
            at < self.after
                || self
                    .outside_faults
                    .is_some_and(|grace| during_fault(ctx, at.as_millis() as u64, grace))
        };
        let mut cursor = Cursor::START;
        if let Some(latest) = handle.latest_snapshot() {
            if !skipped(&latest) {
                (self.check)(&latest.snapshot)
                    .map_err(|reason| Violation::new(reason).observed(describe(&latest)))?;
            }
            cursor = latest.cursor;
        }
        check_each_observation(ctx, &handle, cursor, |observation| {
            if skipped(observation) {
                return Ok(());
            }
            (self.check)(&observation.snapshot)
                .map_err(|reason| Violation::new(reason).observed(describe(observation)))
        })
        .await
    }
}

/// A condition on observer `O`'s snapshots that must hold within a bound.
pub struct Eventually<O: Observer, F> {
    name: String,
    within: Duration,
    condition: F,
    _observer: PhantomData<fn() -> O>,
}

impl<O: Observer, F> Eventually<O, F>
where
    F: Fn(&O::Snapshot) -> bool + Send + Sync + 'static,
{
    /// Holds once `condition` is true of a snapshot within `within`.
    pub fn new(name: impl Into<String>, within: Duration, condition: F) -> Self {
        Eventually {
            name: name.into(),
            within,
            condition,
            _observer: PhantomData,
        }
    }
}

#[async_trait]
impl<A, O, F> Expectation<A> for Eventually<O, F>
where
    A: Application,
    O: Observer,
    F: Fn(&O::Snapshot) -> bool + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::Eventually(self.within)
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = ctx.observer::<O>()?;
        let remaining = self.within.saturating_sub(ctx.elapsed());
        handle
            .wait_until(|snapshot| (self.condition)(snapshot), remaining)
            .await
            .map(|_| ())
            .map_err(|error| {
                Violation::new(format!("did not hold within {:?}", self.within))
                    .observed(error.to_string())
            })
    }
}

/// A condition on observer `O`'s latest snapshot after the cooldown.
pub struct AtEnd<O: Observer, F> {
    name: String,
    check: F,
    _observer: PhantomData<fn() -> O>,
}

impl<O: Observer, F> AtEnd<O, F>
where
    F: Fn(&O::Snapshot) -> Result<(), String> + Send + Sync + 'static,
{
    /// `check` returns why the final snapshot fails.
    pub fn new(name: impl Into<String>, check: F) -> Self {
        AtEnd {
            name: name.into(),
            check,
            _observer: PhantomData,
        }
    }
}

#[async_trait]
impl<A, O, F> Expectation<A> for AtEnd<O, F>
where
    A: Application,
    O: Observer,
    F: Fn(&O::Snapshot) -> Result<(), String> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = ctx.observer::<O>()?;
        let Some(latest) = handle.latest_snapshot() else {
            return Err(
                Violation::new("nothing was observed").observed(handle.diagnostics().to_string())
            );
        };
        (self.check)(&latest.snapshot)
            .map_err(|reason| Violation::new(reason).observed(describe(&latest)))
    }
}
