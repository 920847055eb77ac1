//! What a Raft key-value cluster must satisfy.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tf_core::scenario::{
    Always, Expectation, RecoversWithin, RunContext, SettlesWithin, Timing, Violation,
};

use crate::{AckLog, DeposedLog, RaftKv, RaftObserver, RaftSnapshot};

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
/// `within` (checked on every snapshot).
pub fn leader_within(within: Duration) -> impl Expectation<RaftKv> {
    RecoversWithin::<RaftObserver, _>::new(
        "a leader within the bound after each failover",
        within,
        |s: &RaftSnapshot| s.leader.is_some(),
    )
}

/// At the end, every node is reachable with the same key-value state
/// within `within`.
pub fn converged(within: Duration) -> impl Expectation<RaftKv> {
    SettlesWithin::<RaftObserver, _>::new(
        "all nodes converge on the same key-value state",
        within,
        RaftSnapshot::converged,
    )
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

/// Safety under a partition: a leader cut off from the majority commits
/// nothing. Fails if a write sent to a deposed leader was acknowledged, or
/// if no write reached one (the check would have proved nothing).
pub struct DeposedLeaderCommitsNothing(pub Arc<DeposedLog>);

#[async_trait]
impl Expectation<RaftKv> for DeposedLeaderCommitsNothing {
    fn name(&self) -> &str {
        "a cut-off leader acknowledges no write"
    }

    /// It judges the writes tried during the run.
    fn replayable(&self) -> bool {
        false
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, _: &RunContext<RaftKv>) -> Result<(), Violation> {
        let (tried, acked) = (self.0.tried(), self.0.acked());
        if !acked.is_empty() {
            return Err(Violation::new(format!(
                "{} of {} writes sent to a deposed leader were acknowledged",
                acked.len(),
                tried.len()
            ))
            .observed(acked.join("\n")));
        }
        if tried.is_empty() {
            return Err(Violation::new(
                "no deposed leader was observed, so no write could be tried on one: the partition never left the old leader believing it leads",
            ));
        }
        Ok(())
    }
}
