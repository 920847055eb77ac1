//! The run window, one engine for a scenario run, a replay and a manual
//! cluster's drive: workloads run as tasks (a panic is a failure, not a
//! crash of the runner), the always and eventually checks judge, and the
//! window ends at its length, on cancel, or when the caller stops it. Then
//! the workloads get a grace period to return (one that ignores the end of
//! its window is cut off and fails), and the checks are settled: the
//! during-checks collected, the end checks run after the cooldown.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

use super::judge::{Judge, Judged};
use super::{Application, Expectation, RunContext, Workload};
use crate::observation::panic_message;
use crate::report::NodeExit;
use crate::report::WorkloadFailure;

/// How long workloads get to return after the run window closes.
pub(crate) const WORKLOAD_GRACE: Duration = Duration::from_secs(10);

/// What happened in the window, for the caller to act on.
pub(crate) enum WindowEvent {
    /// An always or eventually check was decided.
    Verdict(Judged),
    /// A workload returned an error or panicked.
    WorkloadFailed(WorkloadFailure),
    /// The nodes that exited on their own so far.
    Exits(Vec<NodeExit>),
}

/// Whether the window goes on after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Why the window ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WindowEnd {
    /// Its length passed.
    Elapsed,
    /// The cancel token fired (Ctrl-C).
    Cancelled,
    /// The caller stopped it after an event.
    Stopped,
}

/// An open run window.
pub(crate) struct Window<A: Application> {
    ctx: Arc<RunContext<A>>,
    workloads: JoinSet<(String, Result<(), String>)>,
    /// Workloads not yet returned: their tasks and names.
    running: Vec<(tokio::task::Id, String)>,
    judge: Judge<A>,
}

impl<A: Application> Window<A> {
    /// Starts `workloads` and the always and eventually checks of
    /// `expectations` on `ctx`, whose window opened at `ctx.started`.
    pub(crate) fn open(
        ctx: &Arc<RunContext<A>>,
        workloads: &[Arc<dyn Workload<A>>],
        expectations: Vec<Arc<dyn Expectation<A>>>,
    ) -> Self {
        let mut tasks = JoinSet::new();
        let mut running = Vec::new();
        for workload in workloads {
            let name = workload.name().to_owned();
            let (workload, ctx) = (Arc::clone(workload), Arc::clone(ctx));
            let task = tasks.spawn(async move {
                let result = match AssertUnwindSafe(workload.run(&ctx)).catch_unwind().await {
                    Ok(result) => result.map_err(|e| crate::ErrorChain(&*e).to_string()),
                    Err(panic) => Err(format!("panicked: {}", panic_message(panic.as_ref()))),
                };
                (workload.name().to_owned(), result)
            });
            running.push((task.id(), name));
        }
        Window {
            ctx: Arc::clone(ctx),
            workloads: tasks,
            running,
            judge: Judge::start(expectations, ctx),
        }
    }

    /// How many end checks wait for [`settle`](Self::settle).
    pub(crate) fn end_checks(&self) -> usize {
        self.judge.end_checks()
    }

    /// Runs the window until `length` after it opened, `cancel`, or `on`
    /// says stop; `exits`, if given, reports nodes that exit on their own.
    pub(crate) async fn run(
        &mut self,
        length: Duration,
        cancel: &CancellationToken,
        mut exits: Option<&mut watch::Receiver<Vec<NodeExit>>>,
        mut on: impl FnMut(WindowEvent) -> Flow,
    ) -> WindowEnd {
        let end = self.ctx.started + length;
        loop {
            let event = tokio::select! {
                () = tokio::time::sleep_until(end) => return WindowEnd::Elapsed,
                () = cancel.cancelled() => return WindowEnd::Cancelled,
                verdict = self.judge.next() => WindowEvent::Verdict(verdict),
                Some(joined) = self.workloads.join_next() => match self.returned(joined) {
                    Some(failure) => WindowEvent::WorkloadFailed(failure),
                    None => continue,
                },
                Some(exited) = changed(&mut exits) => WindowEvent::Exits(exited),
            };
            if on(event) == Flow::Stop {
                return WindowEnd::Stopped;
            }
        }
    }

    /// Closes the window ([`RunContext::over`]) and gives the workloads
    /// [`WORKLOAD_GRACE`] to return: the failures, including each workload
    /// that did not return in time (it is cut off).
    pub(crate) async fn close(&mut self) -> Vec<WorkloadFailure> {
        let _ = self.ctx.closed_after.set(self.ctx.elapsed());
        self.ctx.over.cancel();
        let mut failures = Vec::new();
        let grace = Instant::now() + WORKLOAD_GRACE;
        while let Ok(Some(joined)) = timeout_at(grace, self.workloads.join_next()).await {
            failures.extend(self.returned(joined));
        }
        self.workloads.abort_all();
        for (_, name) in self.running.drain(..) {
            failures.push(WorkloadFailure {
                name,
                error: format!(
                    "did not stop within {WORKLOAD_GRACE:?} of the end of the run window; it was cut off (a workload must return once RunContext::is_over)"
                ),
            });
        }
        failures
    }

    /// Settles the checks after [`close`](Self::close): with a `cooldown`,
    /// waits it out (unless `cancel` fires: then this returns false and
    /// only the during-checks are collected), collects the always and
    /// eventually checks, and runs the end checks in order; without one
    /// (the run stopped early), abandons the during-checks and runs no end
    /// check. `decide` gets each verdict as it comes.
    pub(crate) async fn settle(
        mut self,
        cooldown: Option<Duration>,
        cancel: &CancellationToken,
        mut decide: impl FnMut(Judged),
    ) -> bool {
        let mut completed = cooldown.is_some();
        if let Some(cooldown) = cooldown {
            tokio::select! {
                () = tokio::time::sleep(cooldown) => {}
                () = cancel.cancelled() => completed = false,
            }
        }
        if !completed {
            self.judge.abandon_during();
        }
        // Always-checks return once the window is over; eventually-checks
        // at their bound. A check that ignores both is cut off and fails.
        for verdict in self.judge.finish_during().await {
            decide(verdict);
        }
        if completed {
            self.judge.at_end(decide).await;
        }
        completed
    }

    /// A workload task ended: its failure, if it failed.
    fn returned(
        &mut self,
        joined: Result<(String, Result<(), String>), tokio::task::JoinError>,
    ) -> Option<WorkloadFailure> {
        match joined {
            Ok((name, result)) => {
                if let Some(i) = self.running.iter().position(|(_, n)| *n == name) {
                    self.running.remove(i);
                }
                result.err().map(|error| WorkloadFailure { name, error })
            }
            Err(error) => {
                let name = match self.running.iter().position(|(id, _)| *id == error.id()) {
                    Some(i) => self.running.remove(i).1,
                    None => "?".to_owned(),
                };
                Some(WorkloadFailure {
                    name,
                    error: format!("its task ended abnormally: {error}"),
                })
            }
        }
    }
}

/// The exits after the next change, if there is a receiver and it lives.
async fn changed(exits: &mut Option<&mut watch::Receiver<Vec<NodeExit>>>) -> Option<Vec<NodeExit>> {
    match exits {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}
