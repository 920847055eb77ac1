//! Judging a scenario's expectations, the same way in a live run and in a
//! replay: always and eventually checks run during the window, a check that
//! ignores the end of the window is cut off after a grace period, and the
//! end checks run after it, one by one in the order they were added.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};

use super::{Application, Expectation, RunContext, Violation};
use crate::observation::panic_message;
use crate::report::Timing;

/// Extra time an eventually-check gets past its bound before it is given up.
const EVENTUALLY_GRACE: Duration = Duration::from_secs(2);
/// Upper bound of one end check.
const END_CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long always-checks get to return after the run window.
pub(crate) const CHECK_GRACE: Duration = Duration::from_secs(10);

/// One expectation's name and outcome.
pub(crate) type Judged = (String, Result<(), Violation>);

/// The expectations of one run (or replay), being judged.
pub(crate) struct Judge<A: Application> {
    ctx: Arc<RunContext<A>>,
    during: JoinSet<Judged>,
    /// Names of the during-checks not yet decided.
    pending: Vec<String>,
    at_end: Vec<Arc<dyn Expectation<A>>>,
}

impl<A: Application> Judge<A> {
    /// Starts the always and eventually checks of `expectations`; the end
    /// checks wait for [`at_end`](Self::at_end).
    pub(crate) fn start(
        expectations: Vec<Arc<dyn Expectation<A>>>,
        ctx: &Arc<RunContext<A>>,
    ) -> Self {
        let mut judge = Judge {
            ctx: Arc::clone(ctx),
            during: JoinSet::new(),
            pending: Vec::new(),
            at_end: Vec::new(),
        };
        for expectation in expectations {
            if expectation.timing() == Timing::AtEnd {
                judge.at_end.push(expectation);
            } else {
                judge.pending.push(expectation.name().to_owned());
                judge.during.spawn(judge_one(expectation, Arc::clone(ctx)));
            }
        }
        judge
    }

    /// How many end checks wait.
    pub(crate) fn end_checks(&self) -> usize {
        self.at_end.len()
    }

    /// The next during-check to decide; pending forever when none is left,
    /// so that it can sit in a `select!` with the window's end.
    pub(crate) async fn next(&mut self) -> Judged {
        match self.during.join_next().await {
            Some(joined) => self.joined(joined),
            None => std::future::pending().await,
        }
    }

    fn joined(&mut self, joined: Result<Judged, tokio::task::JoinError>) -> Judged {
        let verdict = joined.unwrap_or_else(|e| {
            (
                "?".into(),
                Err(Violation::new(format!("the check panicked: {e}"))),
            )
        });
        self.pending.retain(|name| *name != verdict.0);
        verdict
    }

    /// Stops the during-checks (the run stopped early); they stay undecided.
    pub(crate) fn abandon_during(&mut self) {
        self.during.abort_all();
        self.pending.clear();
    }

    /// After the window closed: lets the during-checks return within
    /// [`CHECK_GRACE`], and fails those that do not.
    pub(crate) async fn finish_during(&mut self) -> Vec<Judged> {
        let mut verdicts = Vec::new();
        let grace = Instant::now() + CHECK_GRACE;
        while let Ok(Some(joined)) = timeout_at(grace, self.during.join_next()).await {
            verdicts.push(self.joined(joined));
        }
        self.during.abort_all();
        for name in self.pending.drain(..) {
            verdicts.push((
                name,
                Err(Violation::new(format!(
                    "the check did not return within {CHECK_GRACE:?} after the run window"
                ))),
            ));
        }
        verdicts
    }

    /// Runs the end checks in the order they were added: a later check may
    /// rely on an earlier one having waited (convergence before reading
    /// every node). `decide` gets each verdict as it comes.
    pub(crate) async fn at_end(self, mut decide: impl FnMut(Judged)) {
        for expectation in self.at_end {
            decide(judge_one(expectation, Arc::clone(&self.ctx)).await);
        }
    }
}

/// Judges one expectation, bounding the eventually and end checks and
/// turning a panic into a failure.
async fn judge_one<A: Application>(
    expectation: Arc<dyn Expectation<A>>,
    ctx: Arc<RunContext<A>>,
) -> Judged {
    let name = expectation.name().to_owned();
    let bound = match expectation.timing() {
        Timing::Always => None,
        Timing::Eventually(within) => Some(ctx.started + within + EVENTUALLY_GRACE),
        Timing::AtEnd => Some(Instant::now() + END_CHECK_TIMEOUT),
    };
    let check = async {
        AssertUnwindSafe(expectation.check(&ctx))
            .catch_unwind()
            .await
            .unwrap_or_else(|panic| {
                Err(Violation::new(format!(
                    "the check panicked: {}",
                    panic_message(panic.as_ref())
                )))
            })
    };
    let outcome = match bound {
        None => check.await,
        Some(deadline) => timeout_at(deadline, check)
            .await
            .unwrap_or_else(|_| Err(Violation::new("the check did not finish in time"))),
    };
    (name, outcome)
}
