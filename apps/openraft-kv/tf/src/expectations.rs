//! What a Raft key-value cluster must satisfy.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use tf_core::observation::Cursor;
use tf_core::scenario::{Always, Expectation, RunContext, Timing, Violation};
use tokio::time::Instant;

use crate::{AckLog, RaftKv, RaftObserver, RaftSnapshot};

/// Safety: never two leaders in one term (checked on every snapshot).
pub fn one_leader_per_term() -> impl Expectation<RaftKv> {
    Always::<RaftObserver, _>::new("at most one leader per term", |s: &RaftSnapshot| {
        match s.split_terms().first() {
            Some((term, ids)) => Err(format!("term {term} had leaders {ids:?}")),
            None => Ok(()),
        }
    })
}

/// Liveness: whenever the cluster has no leader, one appears within
/// `within`.
pub struct LeaderWithin(pub Duration);

#[async_trait]
impl Expectation<RaftKv> for LeaderWithin {
    fn name(&self) -> &str {
        "a leader within the bound after each failover"
    }

    fn timing(&self) -> Timing {
        Timing::Always
    }

    async fn check(&self, ctx: &RunContext<RaftKv>) -> Result<(), Violation> {
        let raft = ctx.observer::<RaftObserver>()?;
        let mut observations = raft.subscribe_from(Cursor::START);
        let mut leaderless_since: Option<Instant> = None;
        loop {
            let next = tokio::select! {
                () = ctx.over() => return Ok(()),
                next = observations.next() => next,
            };
            let observation = match next {
                Some(Ok(observation)) => observation,
                Some(Err(lagged)) => {
                    return Err(Violation::new(format!(
                        "could not check every snapshot: {lagged}"
                    )));
                }
                None if ctx.is_over() => return Ok(()),
                None => {
                    return Err(Violation::new(
                        "the observer stopped before the run window ended",
                    ));
                }
            };
            match (&observation.snapshot.leader, leaderless_since) {
                (Some(_), _) => leaderless_since = None,
                (None, None) => leaderless_since = Some(observation.observed_at),
                (None, Some(since)) if observation.observed_at - since > self.0 => {
                    return Err(Violation::new(format!(
                        "no leader for {:?} (bound {:?})",
                        observation.observed_at - since,
                        self.0
                    ))
                    .observed(format!("{:#?}", observation.snapshot)));
                }
                (None, Some(_)) => {}
            }
        }
    }
}

/// At the end, every node reachable with the same key-value state.
pub struct Converged(pub Duration);

#[async_trait]
impl Expectation<RaftKv> for Converged {
    fn name(&self) -> &str {
        "all nodes converge on the same key-value state"
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<RaftKv>) -> Result<(), Violation> {
        let raft = ctx.observer::<RaftObserver>()?;
        raft.wait_until(RaftSnapshot::converged, self.0)
            .await
            .map(|_| ())
            .map_err(|e| {
                Violation::new(format!("nodes did not converge within {:?}", self.0))
                    .observed(e.to_string())
            })
    }
}

/// At the end, every acknowledged write is readable from every node.
pub struct NoAckedWriteLost(pub Arc<AckLog>);

#[async_trait]
impl Expectation<RaftKv> for NoAckedWriteLost {
    fn name(&self) -> &str {
        "no acknowledged write is lost"
    }

    /// It reads every node and the writes acknowledged during the run.
    fn replayable(&self) -> bool {
        false
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<RaftKv>) -> Result<(), Violation> {
        let acked = self.0.acked();
        if acked.is_empty() {
            return Err(Violation::new(
                "no write was acknowledged, so nothing was checked",
            ));
        }
        let mut problems = Vec::new();
        for node in ctx.nodes().iter() {
            match node.source.all().await {
                Err(error) => {
                    problems.push(format!("{}: cannot read its state: {error}", node.name))
                }
                Ok(map) => {
                    let missing: Vec<&str> = acked
                        .iter()
                        .filter(|(k, v)| map.get(k) != Some(v))
                        .map(|(k, _)| k.as_str())
                        .collect();
                    if !missing.is_empty() {
                        let shown: Vec<&str> = missing.iter().take(10).copied().collect();
                        problems.push(format!(
                            "{}: {} of {} acknowledged writes missing, e.g. {shown:?}",
                            node.name,
                            missing.len(),
                            acked.len()
                        ));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Violation::new(format!(
                "acknowledged writes are missing on {} node(s)",
                problems.len()
            ))
            .observed(problems.join("\n")))
        }
    }
}
