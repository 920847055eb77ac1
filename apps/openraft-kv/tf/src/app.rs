//! The Raft key-value node as an [`Application`].

use std::time::Duration;

use async_trait::async_trait;
use openraft_kv_node::client::KvClient;
use tf_core::BoxError;
use tf_core::scenario::{API_PORT, Application, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec};

/// How the nodes of a cluster are started.
#[derive(Clone, Debug)]
pub struct RaftKv {
    /// Raft heartbeat interval.
    pub heartbeat: Duration,
    /// Election timeout range; failover takes about this long.
    pub election_timeout: (Duration, Duration),
    /// The deliberate bug (`--stale-reads`): every node answers
    /// linearizable reads from its local state without asking the leader.
    /// Tests that the linearizability checker catches it.
    pub stale_reads: bool,
    http: reqwest::Client,
}

impl Default for RaftKv {
    fn default() -> Self {
        RaftKv {
            heartbeat: Duration::from_millis(100),
            election_timeout: (Duration::from_millis(400), Duration::from_millis(800)),
            stale_reads: false,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(1))
                .connect_timeout(Duration::from_millis(500))
                .no_proxy()
                .build()
                .unwrap_or_default(),
        }
    }
}

/// Node `index` has Raft id `index`.
pub fn node_id(node: &str) -> Option<u64> {
    node.strip_prefix("node-")?.parse().ok()
}

/// The name of the node with Raft id `id`.
pub fn node_name(id: u64) -> String {
    format!("node-{id}")
}

#[async_trait]
impl Application for RaftKv {
    type Client = KvClient;

    fn name(&self) -> &str {
        "openraft-kv"
    }

    fn binary(&self) -> NodeBinary {
        NodeBinary::named("openraft-kv-node", "OPENRAFT_KV_NODE_BIN").from_workspace(
            "openraft-kv-node",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../node"),
        )
    }

    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        let mut args = vec![
            "--id".to_owned(),
            node.index.to_string(),
            "--addr".to_owned(),
            node.bind_address(API_PORT)?,
            "--advertise".to_owned(),
            node.address(API_PORT)?,
            "--data-dir".to_owned(),
            node.data_dir.display().to_string(),
            "--heartbeat-ms".to_owned(),
            self.heartbeat.as_millis().to_string(),
            "--election-min-ms".to_owned(),
            self.election_timeout.0.as_millis().to_string(),
            "--election-max-ms".to_owned(),
            self.election_timeout.1.as_millis().to_string(),
        ];
        for peer in topology.iter().filter(|p| p.index != node.index) {
            args.push("--peer".to_owned());
            args.push(format!("{}={}", peer.index, peer.address(API_PORT)?));
        }
        if self.stale_reads {
            args.push("--stale-reads".to_owned());
        }
        // One node forms the cluster; on a restart it finds its log and skips it.
        if node.index == 0 {
            args.push("--init".to_owned());
        }
        Ok(NodeCommand::args(args))
    }

    fn client(&self, endpoint: &NodeEndpoint) -> Result<KvClient, BoxError> {
        Ok(KvClient::with_http(
            endpoint.address.clone(),
            self.http.clone(),
        ))
    }

    /// Ready once the node answers and knows a leader: a cluster that has
    /// formed, not just processes that listen.
    async fn ready(&self, client: &KvClient) -> Result<(), BoxError> {
        let state = client.state().await?;
        match state.leader {
            Some(_) => Ok(()),
            None => Err(format!(
                "node {} (term {}) knows no leader yet",
                state.id, state.term
            )
            .into()),
        }
    }
}
