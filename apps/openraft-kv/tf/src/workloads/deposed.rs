//! Writes sent straight to a leader that has been deposed without knowing
//! it (cut off by a partition while the majority elected another): none may
//! be acknowledged, since it cannot reach a majority to commit. Each try is
//! recorded in the run's history (keys `deposed-N`), where the final reads
//! and the checks see them too.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tf_core::BoxError;
use tf_core::scenario::{RunContext, Workload};
use tf_core::workloads::KvError;

use crate::kv::outcome;
use crate::{RaftKv, RaftObserver};

/// The key prefix of the writes tried on deposed leaders.
pub const DEPOSED_KEY: &str = "deposed-";

/// Whenever the observer sees a deposed leader, writes one key to it.
pub struct DeposedLeaderWrites;

#[async_trait]
impl Workload<RaftKv> for DeposedLeaderWrites {
    fn name(&self) -> &str {
        "deposed-leader-writes"
    }

    async fn run(&self, ctx: &RunContext<RaftKv>) -> Result<(), BoxError> {
        let handle = ctx.observer::<RaftObserver>()?;
        let mut history = ctx.history().client_for(self.name());
        let (mut tried, mut acked) = (0u64, 0u64);
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
            tried += 1;
            let (key, value) = (
                format!("{DEPOSED_KEY}{tried}"),
                format!("must-not-commit-{tried}"),
            );
            let op = history.invoke("write", json!([key, value]));
            match client.write(&key, &value).await {
                Ok(index) => {
                    op.ok(json!([key, value]));
                    acked += 1;
                    ctx.record(
                        self.name(),
                        format!("{key} on {node} was ACKNOWLEDGED at index {index}"),
                    );
                }
                Err(error) => {
                    if tried == 1 {
                        ctx.record(self.name(), format!("{key} on {node} refused: {error}"));
                    }
                    match outcome(error) {
                        KvError::Indeterminate(why) => op.unknown(why),
                        other => op.fail(other),
                    }
                }
            }
            // One try per observation at most: wait for a fresh one.
            let _ = tokio::select! {
                () = ctx.over() => break,
                next = handle.wait_until_after(seen.cursor, |_| true, Duration::from_secs(5)) => next,
            };
        }
        ctx.record(
            self.name(),
            format!("{tried} writes tried on deposed leaders, {acked} acknowledged"),
        );
        Ok(())
    }
}
