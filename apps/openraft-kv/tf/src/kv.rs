//! The Raft node as a key-value store for the framework's key-value
//! workload: linearizable reads on any node (a follower refuses them),
//! writes and compare-and-sets through the observed leader.

use async_trait::async_trait;
use openraft_kv_node::client::{ClientError, KvClient};
use tf_core::scenario::RunContext;
use tf_core::workloads::{KeyValueStore, KvError, KvRequest};

use crate::{RaftKv, RaftObserver};

#[async_trait]
impl KeyValueStore for RaftKv {
    async fn kv_read(&self, client: &KvClient, key: &str) -> Result<Option<String>, KvError> {
        client
            .read_linearizable(key)
            .await
            .map_err(|e| KvError::Refused(e.to_string()))
    }

    async fn kv_write(&self, client: &KvClient, key: &str, value: &str) -> Result<(), KvError> {
        client.write(key, value).await.map(|_| ()).map_err(outcome)
    }

    async fn kv_cas(
        &self,
        client: &KvClient,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, KvError> {
        client.cas(key, expected, new).await.map_err(outcome)
    }

    /// Reads go to any node: a correct follower refuses a linearizable
    /// read (and a node with the stale-reads bug answers it). Writes go to
    /// the observed leader.
    fn kv_route(&self, ctx: &RunContext<Self>, request: KvRequest) -> Option<String> {
        if request == KvRequest::Read {
            return None;
        }
        let handle = ctx.observer::<RaftObserver>().ok()?;
        let latest = handle.latest_snapshot()?;
        latest.snapshot.leader.as_ref().map(|l| l.node.clone())
    }
}

/// What a failed write or compare-and-set means for its outcome: refused
/// before it could take effect, or perhaps applied.
pub(crate) fn outcome(error: ClientError) -> KvError {
    match &error {
        ClientError::NotLeader { .. }
        | ClientError::Unreachable { .. }
        | ClientError::Build { .. } => KvError::Refused(error.to_string()),
        ClientError::Http { status, .. } if (400..500).contains(status) => {
            KvError::Refused(error.to_string())
        }
        // A timeout, a connection broken after sending, a 503 ("did not
        // finish in time; its outcome is unknown"), a garbled answer.
        _ => KvError::Indeterminate(error.to_string()),
    }
}
