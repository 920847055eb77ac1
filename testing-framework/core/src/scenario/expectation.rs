//! Expectations judge a run through its observers, each with a time
//! semantic: always (an invariant on every snapshot), eventually within a
//! bound, or at the end.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;

use super::reads::Reads;
use super::{Application, RunContext};
use crate::observation::stream::Cursor;
use crate::observation::{Observer, SeenArc, StateHandle};
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
pub(crate) async fn check_each_observation<A, S, F>(
    ctx: &RunContext<A>,
    handle: &dyn StateHandle<S>,
    cursor: Cursor,
    mut check: F,
) -> Result<(), Violation>
where
    A: Application,
    F: FnMut(&SeenArc<S>) -> Result<(), Violation>,
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

/// An invariant on every snapshot of type `S`: the observer publishing
/// them is found by that type (see [`observed_by`](Self::observed_by)).
pub struct Always<S, F> {
    name: String,
    check: F,
    /// Snapshots observed during a fault, or within this long after one
    /// ended, are not checked.
    outside_faults: Option<Duration>,
    /// Snapshots observed earlier than this into the run window are not
    /// checked.
    after: Duration,
    reads: Reads<S>,
}

impl<S: 'static, F> Always<S, F>
where
    F: Fn(&S) -> Result<(), String> + Send + Sync + 'static,
{
    /// `check` returns why a snapshot breaks the invariant.
    pub fn new(name: impl Into<String>, check: F) -> Self {
        Always {
            name: name.into(),
            check,
            outside_faults: None,
            after: Duration::ZERO,
            reads: Reads::state(),
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

    /// Reads observer `O`: needed only when several observers of the
    /// scenario publish snapshots of type `S`.
    pub fn observed_by<O: Observer<Snapshot = S>>(mut self) -> Self {
        self.reads.observed_by::<O>();
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
impl<A, S, F> Expectation<A> for Always<S, F>
where
    A: Application,
    S: Send + Sync + 'static,
    F: Fn(&S) -> Result<(), String> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::Always
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = self.reads.handle(ctx)?;
        let skipped = |observation: &SeenArc<S>| {
            let at = observation
                .observed_at()
                .saturating_duration_since(ctx.started);
            at < self.after
                || self
                    .outside_faults
                    .is_some_and(|grace| during_fault(ctx, at.as_millis() as u64, grace))
        };
        let mut cursor = Cursor::START;
        if let Some(latest) = handle.latest() {
            if !skipped(&latest) {
                (self.check)(latest.snapshot())
                    .map_err(|reason| Violation::new(reason).observed(latest.describe()))?;
            }
            cursor = latest.cursor();
        }
        check_each_observation(ctx, &*handle, cursor, |observation| {
            if skipped(observation) {
                return Ok(());
            }
            (self.check)(observation.snapshot())
                .map_err(|reason| Violation::new(reason).observed(observation.describe()))
        })
        .await
    }
}

/// A condition on snapshots of type `S` that must hold within a bound.
pub struct Eventually<S, F> {
    name: String,
    within: Duration,
    condition: F,
    reads: Reads<S>,
}

impl<S: 'static, F> Eventually<S, F>
where
    F: Fn(&S) -> bool + Send + Sync + 'static,
{
    /// Holds once `condition` is true of a snapshot within `within`.
    pub fn new(name: impl Into<String>, within: Duration, condition: F) -> Self {
        Eventually {
            name: name.into(),
            within,
            condition,
            reads: Reads::state(),
        }
    }

    /// Reads observer `O`: needed only when several observers of the
    /// scenario publish snapshots of type `S`.
    pub fn observed_by<O: Observer<Snapshot = S>>(mut self) -> Self {
        self.reads.observed_by::<O>();
        self
    }
}

#[async_trait]
impl<A, S, F> Expectation<A> for Eventually<S, F>
where
    A: Application,
    S: Send + Sync + 'static,
    F: Fn(&S) -> bool + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::Eventually(self.within)
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = self.reads.handle(ctx)?;
        let remaining = self.within.saturating_sub(ctx.elapsed());
        handle
            .wait_until(None, &|snapshot| (self.condition)(snapshot), remaining)
            .await
            .map(|_| ())
            .map_err(|error| {
                Violation::new(format!("did not hold within {:?}", self.within))
                    .observed(error.to_string())
            })
    }
}

/// A condition on the latest snapshot of type `S` after the cooldown.
pub struct AtEnd<S, F> {
    name: String,
    check: F,
    reads: Reads<S>,
}

impl<S: 'static, F> AtEnd<S, F>
where
    F: Fn(&S) -> Result<(), String> + Send + Sync + 'static,
{
    /// `check` returns why the final snapshot fails.
    pub fn new(name: impl Into<String>, check: F) -> Self {
        AtEnd {
            name: name.into(),
            check,
            reads: Reads::state(),
        }
    }

    /// Reads observer `O`: needed only when several observers of the
    /// scenario publish snapshots of type `S`.
    pub fn observed_by<O: Observer<Snapshot = S>>(mut self) -> Self {
        self.reads.observed_by::<O>();
        self
    }
}

#[async_trait]
impl<A, S, F> Expectation<A> for AtEnd<S, F>
where
    A: Application,
    S: Send + Sync + 'static,
    F: Fn(&S) -> Result<(), String> + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let handle = self.reads.handle(ctx)?;
        let Some(latest) = handle.latest() else {
            return Err(
                Violation::new("nothing was observed").observed(handle.diagnostics().to_string())
            );
        };
        (self.check)(latest.snapshot())
            .map_err(|reason| Violation::new(reason).observed(latest.describe()))
    }
}
