//! What a Raft key-value cluster must satisfy.

use std::time::Duration;

use async_trait::async_trait;
use tf_core::report::Timing;
use tf_core::scenario::{
    Always, Expectation, RecoversWithin, RunContext, SettlesWithin, Violation,
};

use crate::{DEPOSED_KEY, RaftKv, RaftSnapshot};

/// Safety: never two leaders in one term (checked on every snapshot).
pub fn one_leader_per_term() -> impl Expectation<RaftKv> {
    Always::new("at most one leader per term", |s: &RaftSnapshot| {
        match s.split_terms().first() {
            Some((term, ids)) => Err(format!("term {term} had leaders {ids:?}")),
            None => Ok(()),
        }
    })
}

/// Liveness: whenever the cluster has no leader, one appears within
/// `within` (checked on every snapshot).
pub fn leader_within(within: Duration) -> impl Expectation<RaftKv> {
    RecoversWithin::new(
        "a leader within the bound after each failover",
        within,
        |s: &RaftSnapshot| s.leader.is_some(),
    )
}

/// At the end, every node is reachable with the same key-value state
/// within `within`.
pub fn converged(within: Duration) -> impl Expectation<RaftKv> {
    SettlesWithin::new(
        "all nodes converge on the same key-value state",
        within,
        RaftSnapshot::converged,
    )
}

/// Safety under a partition: a leader cut off from the majority commits
/// nothing. Fails if the history shows a write to a deposed leader (keys
/// `deposed-N`, from [`DeposedLeaderWrites`](crate::DeposedLeaderWrites))
/// acknowledged, or none tried (the check would have proved nothing).
pub struct DeposedLeaderCommitsNothing;

#[async_trait]
impl Expectation<RaftKv> for DeposedLeaderCommitsNothing {
    fn name(&self) -> &str {
        "a cut-off leader acknowledges no write"
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<RaftKv>) -> Result<(), Violation> {
        let ops = ctx
            .history()
            .operations()
            .map_err(|e| Violation::new(format!("the client history cannot be judged: {e}")))?;
        let deposed: Vec<_> = ops
            .iter()
            .filter(|op| {
                op.f == "write"
                    && op.input[0]
                        .as_str()
                        .is_some_and(|key| key.starts_with(DEPOSED_KEY))
            })
            .collect();
        let acked: Vec<String> = deposed
            .iter()
            .filter(|op| op.is_ok())
            .map(|op| op.describe())
            .collect();
        if !acked.is_empty() {
            return Err(Violation::new(format!(
                "{} of {} writes sent to a deposed leader were acknowledged",
                acked.len(),
                deposed.len()
            ))
            .observed(acked.join("\n")));
        }
        if deposed.is_empty() {
            return Err(Violation::new(
                "no deposed leader was observed, so no write could be tried on one: the partition never left the old leader believing it leads",
            ));
        }
        Ok(())
    }
}
