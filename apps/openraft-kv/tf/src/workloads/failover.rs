//! Leader failover: take the current leader down, confirm through
//! observation that it really went down and that another node took over,
//! bring it back, repeat.

use std::time::Duration;

use async_trait::async_trait;
use tf_core::observation::{BoxError, Cursor, ObservationHandle};
use tf_core::scenario::{RunContext, Workload};

use crate::{Leader, RaftEvent, RaftKv, RaftObserver};

/// How the leader is taken down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL, then start it again.
    Kill,
    /// SIGTERM (graceful), then start it again.
    Restart,
}

/// Takes the leader down every `every`, at most `max_failovers` times.
pub struct LeaderFailover {
    /// Kill or graceful restart.
    pub fault: Fault,
    /// Pause between failovers (from one leader back to the next fault).
    pub every: Duration,
    /// Upper bound of failovers in one run.
    pub max_failovers: usize,
    /// How long the downed node stays down.
    pub down_for: Duration,
    /// How long each confirmation may take.
    pub confirm_within: Duration,
}

impl Default for LeaderFailover {
    fn default() -> Self {
        LeaderFailover {
            fault: Fault::Kill,
            every: Duration::from_secs(4),
            max_failovers: 3,
            down_for: Duration::from_secs(1),
            confirm_within: Duration::from_secs(10),
        }
    }
}

impl LeaderFailover {
    /// Confirms through observation that `old` went down and another node
    /// took over.
    async fn confirm_takeover(
        &self,
        ctx: &RunContext<RaftKv>,
        raft: &ObservationHandle<RaftObserver>,
        old: &Leader,
        cursor: Cursor,
    ) -> Result<(), BoxError> {
        let down = |e: &RaftEvent| matches!(e, RaftEvent::NodeUnreachable { node, .. } if *node == old.node);
        raft.wait_for_event_from(cursor, down, self.confirm_within)
            .await
            .map_err(|e| {
                format!(
                    "{} was taken down but the observer still reaches it: {e}",
                    old.node
                )
            })?;
        let took_over = raft
            .wait_until(
                |s| {
                    s.leader
                        .as_ref()
                        .is_some_and(|l| l.id != old.id && l.term > old.term)
                },
                self.confirm_within,
            )
            .await
            .map_err(|e| {
                format!(
                    "no other node took over from {} within {:?}: {e}",
                    old.node, self.confirm_within
                )
            })?;
        if let Some(new) = &took_over.snapshot.leader {
            ctx.record(
                self.name(),
                format!("observed new leader {} (term {})", new.node, new.term),
            );
        }
        // Keep it down for a while: part of the fault.
        tokio::time::sleep(self.down_for).await;
        Ok(())
    }
}

#[async_trait]
impl Workload<RaftKv> for LeaderFailover {
    fn name(&self) -> &str {
        "leader-failover"
    }

    async fn run(&self, ctx: &RunContext<RaftKv>) -> Result<(), BoxError> {
        let raft = ctx.observer::<RaftObserver>()?;
        for _ in 0..self.max_failovers {
            // The fault schedule itself, not a wait for state.
            tokio::select! {
                () = ctx.over() => return Ok(()),
                () = tokio::time::sleep(self.every) => {}
            }
            let settled = tokio::select! {
                () = ctx.over() => return Ok(()),
                settled = raft.wait_until(|s| s.leader.is_some() && s.unreachable().is_empty(), self.confirm_within) => settled?,
            };
            let Some(old) = settled.snapshot.leader.clone() else {
                continue;
            };
            let cursor = raft.cursor();
            let fault = match self.fault {
                Fault::Kill => {
                    ctx.record(
                        self.name(),
                        format!("kill {} (leader, term {})", old.node, old.term),
                    );
                    let fault = ctx.begin_fault(self.name(), format!("{} killed", old.node));
                    ctx.control().kill(&old.node).await?;
                    fault
                }
                Fault::Restart => {
                    ctx.record(
                        self.name(),
                        format!("stop {} (leader, term {})", old.node, old.term),
                    );
                    let fault = ctx.begin_fault(self.name(), format!("{} stopped", old.node));
                    ctx.control().stop(&old.node).await?;
                    fault
                }
            };
            // The window may close meanwhile: stop confirming, but always
            // bring the node back so the end checks see the whole cluster.
            let confirmed = tokio::select! {
                () = ctx.over() => Ok(()),
                confirmed = self.confirm_takeover(ctx, &raft, &old, cursor) => confirmed,
            };
            ctx.record(self.name(), format!("start {}", old.node));
            ctx.control().start(&old.node).await?;
            ctx.end_fault(fault);
            confirmed?;
            raft.wait_until(
                |s| s.nodes.get(&old.node).is_some_and(|v| v.reachable()),
                self.confirm_within,
            )
            .await
            .map_err(|e| format!("{} did not come back: {e}", old.node))?;
            ctx.record(self.name(), format!("observed {} back", old.node));
        }
        Ok(())
    }
}
