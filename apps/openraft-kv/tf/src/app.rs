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
    /// Election timeout range; failover takes about this long. Each node
    /// gets a window of its own inside it (see [`RaftKv::election_window`]).
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

impl RaftKv {
    /// The election timeout window of node `index` among `nodes`: the
    /// first half of slice `index` of [`RaftKv::election_timeout`] cut in
    /// `nodes` slices, so that no two nodes' windows meet.
    ///
    /// openraft 0.9 draws a node's election timeout once, when the node
    /// starts. In standard Raft (one leader per term), two nodes that drew
    /// about the same timeout start their elections together, each votes
    /// for itself and rejects the other, and they do it again every round:
    /// seen here as a paused leader's two followers going through five
    /// terms in 3 s without a leader, 4 ms apart each time. With windows
    /// apart, the node with the earlier window asks first and the other
    /// grants its vote.
    ///
    /// Windows lie apart for nodes numbered below `nodes`, with at least
    /// 2 ms of the range per node; a node numbered past the cluster's size
    /// (added later) is placed among `index + 1` slices and may meet
    /// another's window (the app's clusters have fixed members).
    pub fn election_window(&self, index: usize, nodes: usize) -> (Duration, Duration) {
        // Whole milliseconds: the node takes them as such.
        let (min, max) = self.election_timeout;
        let slices = nodes.max(index + 1) as u64;
        let slice = (max.saturating_sub(min).as_millis() as u64 / slices).max(2);
        let start = min.as_millis() as u64 + slice * index as u64;
        (
            Duration::from_millis(start),
            Duration::from_millis(start + slice / 2),
        )
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
        let (min, max) = self.election_timeout;
        if min >= max || self.heartbeat >= min {
            return Err(format!(
                "the election timeout range {min:?}..{max:?} must be increasing and above the heartbeat ({:?})",
                self.heartbeat
            )
            .into());
        }
        let window = self.election_window(node.index, topology.len());
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
            window.0.as_millis().to_string(),
            "--election-max-ms".to_owned(),
            window.1.as_millis().to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_windows_lie_apart_inside_the_range() {
        let app = RaftKv::default();
        let (min, max) = app.election_timeout;
        for nodes in 1..=9 {
            let windows: Vec<_> = (0..nodes).map(|i| app.election_window(i, nodes)).collect();
            for (i, &(low, high)) in windows.iter().enumerate() {
                assert!(
                    min <= low && low < high && high <= max,
                    "{nodes}: {windows:?}"
                );
                if let Some(&(next, _)) = windows.get(i + 1) {
                    // A gap as wide as a window between neighbours.
                    assert!(next - high >= high - low, "{nodes}: {windows:?}");
                }
            }
        }
        assert_eq!(
            app.election_window(1, 3),
            (Duration::from_millis(533), Duration::from_millis(599))
        );
    }
}
