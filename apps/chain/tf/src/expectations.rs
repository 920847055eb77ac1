//! What a chain must satisfy.

use std::time::Duration;

use async_trait::async_trait;
use tf_core::scenario::{Always, Eventually, Expectation, RunContext, Timing, Violation};

use crate::{ChainApp, ChainObserver, ChainSnapshot};

/// Safety, on every snapshot: no node's final block is ever reverted, and no
/// two nodes finalize different blocks at the same height.
pub fn safety() -> impl Expectation<ChainApp> {
    Always::<ChainObserver, _>::new(
        "no final block is reverted or contradicted",
        |s: &ChainSnapshot| {
            if let Some(reverted) = s.finality_reverted.first() {
                return Err(format!("finality reverted: {reverted}"));
            }
            match s.finals_by_height.iter().find(|(_, ids)| ids.len() > 1) {
                Some((height, ids)) => Err(format!(
                    "nodes finalized {} different blocks at height {height}",
                    ids.len()
                )),
                None => Ok(()),
            }
        },
    )
}

/// Liveness: every node reaches `height` within `within`.
pub fn liveness(height: u64, within: Duration) -> impl Expectation<ChainApp> {
    Eventually::<ChainObserver, _>::new(
        format!("every node reaches height {height}"),
        within,
        move |s: &ChainSnapshot| {
            !s.nodes.is_empty() && s.nodes.values().all(|n| n.height >= height)
        },
    )
}

/// Convergence: after the run, every node shares one final block within the
/// bound.
pub struct FinalConvergence(pub Duration);

#[async_trait]
impl Expectation<ChainApp> for FinalConvergence {
    fn name(&self) -> &str {
        "all nodes share a final block"
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<ChainApp>) -> Result<(), Violation> {
        let chain = ctx.observer::<ChainObserver>()?;
        let cursor = chain.cursor();
        chain
            .wait_until_after(
                cursor,
                |s| {
                    let mut finals = s.nodes.values().map(|n| n.final_id);
                    finals
                        .next()
                        .is_some_and(|first| finals.all(|f| f == first))
                },
                self.0,
            )
            .await
            .map(|_| ())
            .map_err(|e| {
                Violation::new(format!(
                    "final blocks still differ {:?} after the run",
                    self.0
                ))
                .observed(e.to_string())
            })
    }
}
