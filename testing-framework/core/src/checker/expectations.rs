//! The checkers as expectations: judged at the end of a run (and again by
//! a replay) from the run's client history, like any other expectation.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{CheckOptions, Linearizability, Model, acknowledged_writes, check_linearizable};
use crate::history::Operation;
use crate::report::Timing;
use crate::scenario::{Application, Expectation, RunContext, Violation};

/// The run's history as operations; a violation when it cannot be read.
pub(crate) fn operations_of<A: Application>(
    ctx: &RunContext<A>,
) -> Result<Vec<Operation>, Violation> {
    ctx.history()
        .operations()
        .map_err(|e| Violation::new(format!("the client history cannot be judged: {e}")))
}

/// The run's history as operations, at least one of them successful.
fn history_ops<A: Application>(ctx: &RunContext<A>) -> Result<Vec<Operation>, Violation> {
    let ops = operations_of(ctx)?;
    if !ops.iter().any(Operation::is_ok) {
        return Err(Violation::new(
            "no client operation succeeded, so nothing was checked",
        ));
    }
    Ok(ops)
}

/// What the clients saw is linearizable against `M`.
pub struct Linearizable<M: Model> {
    name: String,
    model: Arc<M>,
    options: CheckOptions,
}

impl<M: Model + 'static> Linearizable<M> {
    /// Checked against `model`, with a deadline of 30 s.
    pub fn new(model: M) -> Self {
        Linearizable {
            name: format!(
                "what the clients saw is linearizable ({} model)",
                model.name()
            ),
            model: Arc::new(model),
            options: CheckOptions::default().with_deadline(Duration::from_secs(30)),
        }
    }

    /// Past `deadline` the answer is unknown, and the expectation fails
    /// saying so. Keep it under the end checks' bound (60 s).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.options.deadline = Some(deadline);
        self
    }
}

#[async_trait]
impl<A: Application, M: Model + 'static> Expectation<A> for Linearizable<M> {
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let ops = history_ops(ctx)?;
        let (model, options) = (Arc::clone(&self.model), self.options.clone());
        let report =
            tokio::task::spawn_blocking(move || check_linearizable(&*model, &ops, &options))
                .await
                .map_err(|e| Violation::new(format!("the check panicked: {e}")))?
                .map_err(|e| Violation::new(e.to_string()))?;
        match &report.result {
            Linearizability::Linearizable => Ok(()),
            Linearizability::NotLinearizable(counterexample) => Err(Violation::new(format!(
                "not linearizable: {}{}",
                counterexample
                    .part
                    .as_ref()
                    .map(|key| format!("key {key}: "))
                    .unwrap_or_default(),
                counterexample.blocked
            ))
            .observed(report.to_string())),
            Linearizability::Unknown(why) => Err(Violation::new(format!(
                "linearizability could not be decided: {why}"
            ))
            .observed(report.to_string())),
        }
    }
}

/// Every write the clients saw acknowledged is in the final reads of its
/// key (see [`acknowledged_writes`]).
pub struct AcknowledgedWritesSurvive;

#[async_trait]
impl<A: Application> Expectation<A> for AcknowledgedWritesSurvive {
    fn name(&self) -> &str {
        "no acknowledged write is lost"
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let ops = history_ops(ctx)?;
        let found = acknowledged_writes(&ops).map_err(Violation::new)?;
        if found.holds() {
            return Ok(());
        }
        let reason = if !found.lost.is_empty() {
            format!(
                "{} of {} acknowledged write(s) lost",
                found.lost.len(),
                found.checked
            )
        } else if found.checked == 0 && found.unchecked.is_empty() {
            "no write was acknowledged, so nothing was checked".to_owned()
        } else {
            format!(
                "{} key(s) with acknowledged writes were never read back after the run",
                found.unchecked.len()
            )
        };
        Err(Violation::new(reason).observed(found.to_string()))
    }
}

/// At most `bound` of the writes the clients saw acknowledged are lost:
/// for systems that acknowledge before they replicate (Redis, which a
/// failover can roll back), whose loss is stated rather than pretended
/// zero. Whether it passes or fails, the run's timeline says how many were
/// lost. See [`acknowledged_writes`].
pub struct AcknowledgedWritesLostAtMost {
    name: String,
    bound: usize,
}

impl AcknowledgedWritesLostAtMost {
    /// At most `bound` acknowledged writes lost.
    pub fn new(bound: usize) -> Self {
        AcknowledgedWritesLostAtMost {
            name: format!("at most {bound} acknowledged write(s) lost"),
            bound,
        }
    }
}

#[async_trait]
impl<A: Application> Expectation<A> for AcknowledgedWritesLostAtMost {
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let ops = history_ops(ctx)?;
        let found = acknowledged_writes(&ops).map_err(Violation::new)?;
        if found.checked == 0 {
            return Err(Violation::new(
                "no write was acknowledged, so nothing was checked",
            ));
        }
        if !found.unchecked.is_empty() {
            return Err(Violation::new(format!(
                "{} key(s) with acknowledged writes were never read back after the run",
                found.unchecked.len()
            ))
            .observed(found.to_string()));
        }
        ctx.record(
            "checker",
            format!(
                "{} of {} acknowledged write(s) lost (at most {} allowed)",
                found.lost.len(),
                found.checked,
                self.bound
            ),
        );
        if found.lost.len() <= self.bound {
            return Ok(());
        }
        Err(Violation::new(format!(
            "{} of {} acknowledged write(s) lost, more than {}",
            found.lost.len(),
            found.checked,
            self.bound
        ))
        .observed(found.to_string()))
    }
}
