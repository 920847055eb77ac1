//! Writes sent straight to a leader that has been deposed without knowing
//! it (cut off by a partition while the majority elected another): none may
//! be acknowledged, since it cannot reach a majority to commit.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tf_core::observation::BoxError;
use tf_core::scenario::{RunContext, Workload};

use crate::{RaftKv, RaftObserver};

/// The writes tried on deposed leaders, shared with the expectation.
#[derive(Debug, Default)]
pub struct DeposedLog {
    tried: Mutex<Vec<String>>,
    acked: Mutex<Vec<String>>,
}

impl DeposedLog {
    /// A new, shared log.
    pub fn shared() -> Arc<Self> {
        Arc::new(DeposedLog::default())
    }

    /// Every write tried (`key on node`).
    pub fn tried(&self) -> Vec<String> {
        self.tried.lock().clone()
    }

    /// The writes a deposed leader acknowledged: each one a safety bug.
    pub fn acked(&self) -> Vec<String> {
        self.acked.lock().clone()
    }
}

/// Whenever the observer sees a deposed leader, writes one key to it and
/// records whether it was acknowledged.
pub struct DeposedLeaderWrites {
    /// Where tries and acknowledgements are recorded.
    pub log: Arc<DeposedLog>,
}

#[async_trait]
impl Workload<RaftKv> for DeposedLeaderWrites {
    fn name(&self) -> &str {
        "deposed-leader-writes"
    }

    async fn run(&self, ctx: &RunContext<RaftKv>) -> Result<(), BoxError> {
        let handle = ctx.observer::<RaftObserver>()?;
        let mut n = 0u64;
        loop {
            let seen = tokio::select! {
                () = ctx.over() => break,
                seen = handle.wait_until(|s| !s.deposed_leaders().is_empty(), Duration::from_secs(3600)) => seen?,
            };
            let Some(node) = seen
                .snapshot
                .deposed_leaders()
                .first()
                .map(|(n, _)| (*n).to_owned())
            else {
                continue;
            };
            let Some(client) = ctx.client(&node).cloned() else {
                continue;
            };
            n += 1;
            let key = format!("deposed-{n}");
            let tried = format!("{key} on {node}");
            self.log.tried.lock().push(tried.clone());
            match client.write(&key, "must-not-commit").await {
                Ok(index) => {
                    ctx.record(
                        self.name(),
                        format!("{tried} was ACKNOWLEDGED at index {index}"),
                    );
                    self.log.acked.lock().push(tried);
                }
                Err(error) => {
                    if n == 1 {
                        ctx.record(self.name(), format!("{tried} refused: {error}"));
                    }
                    tracing::debug!(%tried, %error, "write on a deposed leader refused");
                }
            }
            // One try per observation at most: wait for a fresh one.
            let _ = tokio::select! {
                () = ctx.over() => break,
                next = handle.wait_until_after(seen.cursor, |_| true, Duration::from_secs(5)) => next,
            };
        }
        let (tried, acked) = (self.log.tried.lock().len(), self.log.acked.lock().len());
        ctx.record(
            self.name(),
            format!("{tried} writes tried on deposed leaders, {acked} acknowledged"),
        );
        Ok(())
    }
}
