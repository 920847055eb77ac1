//! What a chain must satisfy.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chain_node::tx::TxId;
use tf_core::report::Timing;
use tf_core::scenario::{
    Always, AtEnd, Eventually, Expectation, RunContext, SettlesWithin, Violation,
};

use crate::{ChainApp, ChainObserver, ChainSnapshot, Inclusion, TransferLog};

/// Safety, on every snapshot: no node's final block is ever reverted, and no
/// two nodes finalize different blocks at the same height.
pub fn safety() -> impl Expectation<ChainApp> {
    Always::new(
        "no final block is reverted or contradicted",
        |s: &ChainSnapshot| {
            if let Some(reverted) = s.finality_reverted.first() {
                return Err(format!("finality reverted: {reverted}"));
            }
            match s.final_conflicts.first() {
                Some(conflict) => Err(format!("two final blocks at one height: {conflict}")),
                None => Ok(()),
            }
        },
    )
}

/// At the end, the observer saw at least one fork: for runs meant to prove
/// something across forks.
pub fn forks_happened() -> impl Expectation<ChainApp> {
    AtEnd::new("forks happened", |s: &ChainSnapshot| {
        if s.fork_points > 0 {
            Ok(())
        } else {
            Err(format!("no fork among {} blocks", s.blocks_seen))
        }
    })
}

/// At the end, some node gave up at least `depth` blocks of its branch:
/// after a partition, the side whose branch lost reorganized onto the
/// other (ordinary forks reorganize a block or two).
pub fn reorganized(depth: u64) -> impl Expectation<ChainApp> {
    AtEnd::new(
        format!("the losing side reorganized (a reorg of {depth}+ blocks)"),
        move |s: &ChainSnapshot| {
            if s.max_reorg_depth >= depth {
                Ok(())
            } else {
                Err(format!(
                    "the deepest reorg left {} block(s) ({} reorgs, {} fork points among {} blocks)",
                    s.max_reorg_depth, s.reorgs, s.fork_points, s.blocks_seen
                ))
            }
        },
    )
}

/// At the end, the nodes other than `skewed` held (or refused) blocks
/// from the future (the skewed node's, while its clock ran ahead): the
/// chain's check of block times took effect.
pub fn held_blocks_from_the_future(skewed: String) -> impl Expectation<ChainApp> {
    AtEnd::new(
        format!("the nodes other than {skewed} held its blocks from the future"),
        move |s: &ChainSnapshot| {
            let refused: Vec<String> = s
                .nodes
                .iter()
                .filter(|(name, _)| **name != skewed)
                .map(|(name, v)| format!("{name} {}", v.from_the_future))
                .collect();
            let any = s
                .nodes
                .iter()
                .any(|(name, v)| *name != skewed && v.from_the_future > 0);
            if any {
                Ok(())
            } else {
                Err(format!(
                    "no node held a block from the future (held or refused: {})",
                    refused.join(", ")
                ))
            }
        },
    )
}

/// Liveness: every node reaches `height` within `within`.
pub fn liveness(height: u64, within: Duration) -> impl Expectation<ChainApp> {
    Eventually::new(
        format!("every node reaches height {height}"),
        within,
        move |s: &ChainSnapshot| {
            !s.nodes.is_empty() && s.nodes.values().all(|n| n.height >= height)
        },
    )
}

/// Convergence: after the run, within `within`, every node's final block
/// is under every head (see [`ChainSnapshot::finals_converged`]): nodes
/// polled a moment apart need not report the same final block.
pub fn final_convergence(within: Duration) -> impl Expectation<ChainApp> {
    SettlesWithin::new(
        "all nodes share a final block",
        within,
        |s: &ChainSnapshot| s.finals_converged(),
    )
}

/// Conservation, on every snapshot: the total value at every observed head
/// equals the genesis supply, and every block's transactions add up on
/// their branch (per the observer's wallet projection).
pub fn conservation() -> impl Expectation<ChainApp> {
    Always::new(
        "total value at every head equals the genesis supply",
        |s: &ChainSnapshot| {
            if let Some(anomaly) = s.ledger_anomalies.first() {
                return Err(format!(
                    "{anomaly} ({} anomalies in all)",
                    s.ledger_anomalies.len()
                ));
            }
            for (node, view) in &s.nodes {
                if let Some(supply) = view.supply.filter(|v| *v != s.genesis_supply) {
                    return Err(format!(
                        "{node}'s head (height {}) holds {supply} in total, genesis created {}",
                        view.height, s.genesis_supply
                    ));
                }
            }
            Ok(())
        },
    )
}

/// Inclusion: after the run, every transfer a node accepted is included at
/// `inclusion`'s depth on its nodes within the bound, and no node refused a
/// transfer.
pub struct TransfersIncluded {
    /// What the transfers workload recorded.
    pub log: Arc<TransferLog>,
    /// Depth and nodes.
    pub inclusion: Inclusion,
    /// How long after the run they may take.
    pub within: Duration,
}

#[async_trait]
impl Expectation<ChainApp> for TransfersIncluded {
    fn name(&self) -> &str {
        "every accepted transfer is included"
    }

    /// It needs what the transfers workload submitted during the run.
    fn replayable(&self) -> bool {
        false
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<ChainApp>) -> Result<(), Violation> {
        let rejected = self.log.rejected();
        if let Some(first) = rejected.first() {
            return Err(Violation::new(format!(
                "{} transfer(s) built from final outputs were refused; the first: {first}",
                rejected.len()
            )));
        }
        let accepted: Vec<TxId> = self.log.accepted().iter().map(|t| t.id).collect();
        if accepted.is_empty() {
            return Err(Violation::new(format!(
                "no transfer was accepted, so inclusion proves nothing ({})",
                self.log.summary()
            )));
        }
        let chain = ctx.observer::<ChainObserver>()?;
        self.inclusion
            .wait(&chain, &accepted, self.within)
            .await
            .map_err(|e| {
                Violation::new(format!(
                    "{} of {} accepted transfers are not included at depth {}",
                    e.count, e.total, e.depth
                ))
                .observed(e.to_string())
            })
    }
}
