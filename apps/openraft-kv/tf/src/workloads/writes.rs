//! Key-value writes at a steady rate, through the observed leader, recording
//! every write the cluster acknowledged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use openraft_kv_node::client::ClientError;
use parking_lot::Mutex;
use tf_core::observation::BoxError;
use tf_core::scenario::{RunContext, Workload};

use crate::{RaftKv, RaftObserver};

/// Writes the cluster acknowledged, shared with the expectation that none
/// is lost.
#[derive(Debug, Default)]
pub struct AckLog {
    acked: Mutex<Vec<(String, String)>>,
    failed: Mutex<u64>,
}

impl AckLog {
    /// A new, shared log.
    pub fn shared() -> Arc<Self> {
        Arc::new(AckLog::default())
    }

    /// Every acknowledged `(key, value)`.
    pub fn acked(&self) -> Vec<(String, String)> {
        self.acked.lock().clone()
    }

    /// Records a write the cluster acknowledged outside the workload (a
    /// test's own write).
    pub fn record(&self, key: String, value: String) {
        self.acked.lock().push((key, value));
    }

    /// Writes that were not acknowledged (no leader, a node down).
    pub fn failed(&self) -> u64 {
        *self.failed.lock()
    }
}

/// Writes `key-N = value-N` at `rate` per second while the run lasts.
pub struct KvWrites {
    /// Writes per second.
    pub rate: u32,
    /// Where acknowledged writes are recorded.
    pub acks: Arc<AckLog>,
}

impl KvWrites {
    async fn write_once(
        ctx: &RunContext<RaftKv>,
        key: &str,
        value: &str,
    ) -> Result<u64, ClientError> {
        let leader = ctx
            .observer::<RaftObserver>()
            .ok()
            .and_then(|h| h.latest_snapshot().and_then(|s| s.snapshot.leader.clone()));
        let first = leader
            .and_then(|l| ctx.client(&l.node).cloned())
            .or_else(|| ctx.nodes().first().map(|n| n.source.clone()));
        let Some(client) = first else {
            return Err(ClientError::Unreachable {
                addr: "-".into(),
                message: "no nodes".into(),
            });
        };
        match client.write(key, value).await {
            // The observed leader is stale: follow the node's hint once. By
            // id (the node's index), not address: the address is the one
            // peers use, which the runner may not reach (in containers).
            Err(ClientError::NotLeader {
                leader_id: Some(id),
                leader_addr,
            }) => match ctx.nodes().get(id as usize) {
                Some(leader) => leader.source.write(key, value).await,
                None => Err(ClientError::NotLeader {
                    leader_id: Some(id),
                    leader_addr,
                }),
            },
            other => other,
        }
    }
}

#[async_trait]
impl Workload<RaftKv> for KvWrites {
    fn name(&self) -> &str {
        "kv-writes"
    }

    async fn run(&self, ctx: &RunContext<RaftKv>) -> Result<(), BoxError> {
        let mut ticks = tokio::time::interval(Duration::from_secs(1) / self.rate.max(1));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut n = 0u64;
        loop {
            tokio::select! {
                () = ctx.over() => break,
                _ = ticks.tick() => {}
            }
            n += 1;
            let (key, value) = (format!("key-{n}"), format!("value-{n}"));
            match Self::write_once(ctx, &key, &value).await {
                Ok(_) => self.acks.record(key, value),
                // Failures are expected while there is no leader.
                Err(error) => {
                    *self.acks.failed.lock() += 1;
                    tracing::debug!(%key, %error, "write not acknowledged");
                }
            }
        }
        let (acked, failed) = (self.acks.acked.lock().len(), self.acks.failed());
        ctx.record(
            self.name(),
            format!("{acked} writes acknowledged, {failed} not"),
        );
        Ok(())
    }
}
