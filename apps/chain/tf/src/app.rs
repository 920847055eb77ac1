//! The chain node as an [`Application`].

use async_trait::async_trait;
use chain_node::client::ChainClient;
use chain_node::ledger::DEFAULT_WALLETS;
use tf_core::BoxError;
use tf_core::scenario::{
    API_PORT, Application, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec, Topology,
};

/// How chain nodes are started.
#[derive(Clone, Debug)]
pub struct ChainApp {
    /// Slot length in milliseconds.
    pub slot_ms: u64,
    /// Chance that some node wins a slot; high values make forks frequent.
    pub coefficient: f64,
    /// Blocks become final this deep.
    pub k: u64,
    /// Genesis wallets `wallet-0..wallets`.
    pub wallets: usize,
    /// Keep each node's chain in redb in its data directory (a restarted
    /// node resumes from it); `false` keeps it in memory (a restarted node
    /// starts from genesis and catches up from its peers).
    pub persistent: bool,
    /// An RPC node's validators' group: its nodes follow the chain from
    /// them and serve it, never produce, and relay the transactions
    /// submitted to them (`--follow`); `None`: a validator.
    pub follows: Option<String>,
    http: reqwest::Client,
}

impl Default for ChainApp {
    fn default() -> Self {
        ChainApp {
            slot_ms: 100,
            coefficient: 0.7,
            k: 6,
            wallets: DEFAULT_WALLETS,
            persistent: true,
            follows: None,
            http: ChainClient::default_http(),
        }
    }
}

impl ChainApp {
    /// RPC nodes of the validators in group `validators`, with this app's
    /// other settings.
    pub fn rpc_of(&self, validators: impl Into<String>) -> Self {
        ChainApp {
            follows: Some(validators.into()),
            ..self.clone()
        }
    }
}

#[async_trait]
impl Application for ChainApp {
    type Client = ChainClient;

    fn name(&self) -> &str {
        "chain"
    }

    fn binary(&self) -> NodeBinary {
        NodeBinary::named("chain-node", "CHAIN_NODE_BIN").from_workspace(
            "chain-node",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../node"),
        )
    }

    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        let mut args = vec![
            "--name".to_owned(),
            node.name.clone(),
            // Peers are given their addresses; this one is only bound.
            "--addr".to_owned(),
            node.bind_address(API_PORT)?,
            "--slot-ms".to_owned(),
            self.slot_ms.to_string(),
            "--coefficient".to_owned(),
            self.coefficient.to_string(),
            "--k".to_owned(),
            self.k.to_string(),
            "--wallets".to_owned(),
            self.wallets.to_string(),
        ];
        if self.persistent {
            args.push("--data-dir".to_owned());
            args.push(node.data_dir.display().to_string());
        }
        let peers: Vec<&NodeSpec> = match &self.follows {
            // An RPC node hears from the validators only.
            Some(validators) => {
                args.push("--follow".to_owned());
                topology.group(validators)?
            }
            None => {
                // Stake is shared among the producers: this node's group.
                if topology.groups().len() > 1 {
                    let producers = topology.group(&node.group)?.len();
                    args.push("--stake".to_owned());
                    args.push((1.0 / producers as f64).to_string());
                }
                topology.iter().collect()
            }
        };
        for peer in peers.into_iter().filter(|p| p.index != node.index) {
            args.push("--peer".to_owned());
            args.push(peer.address(API_PORT)?);
        }
        Ok(NodeCommand::args(args))
    }

    fn client(&self, endpoint: &NodeEndpoint) -> Result<ChainClient, BoxError> {
        Ok(ChainClient::new(
            endpoint.address.clone(),
            self.http.clone(),
        ))
    }

    async fn ready(&self, client: &ChainClient) -> Result<(), BoxError> {
        client.info().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology() -> Vec<NodeSpec> {
        (0..3)
            .map(|index| NodeSpec {
                index,
                name: format!("node-{index}"),
                group: "node".into(),
                host: "127.0.0.1".into(),
                bind_host: "127.0.0.1".into(),
                ports: tf_core::scenario::PortMap::new([("api".to_owned(), 7000 + index as u16)]),
                data_dir: format!("/tmp/run/node-{index}/data").into(),
            })
            .collect()
    }

    #[test]
    fn the_command_names_peers_genesis_and_storage() {
        let nodes = topology();
        let app = ChainApp::default();
        let args = app.node_command(&nodes[1], &nodes).unwrap().args.join(" ");
        assert!(args.contains("--addr 127.0.0.1:7001"), "{args}");
        assert!(
            args.contains("--peer 127.0.0.1:7000 --peer 127.0.0.1:7002"),
            "{args}"
        );
        assert!(!args.contains("7001 --peer"), "{args}");
        assert!(
            args.contains(&format!("--wallets {DEFAULT_WALLETS}")),
            "{args}"
        );
        assert!(args.contains("--data-dir /tmp/run/node-1/data"), "{args}");

        let in_memory = ChainApp {
            persistent: false,
            ..ChainApp::default()
        };
        let args = in_memory
            .node_command(&nodes[1], &nodes)
            .unwrap()
            .args
            .join(" ");
        assert!(!args.contains("--data-dir"), "{args}");
    }

    #[test]
    fn an_rpc_node_follows_the_validators_and_validators_share_the_stake() {
        let mut nodes = topology();
        for (node, (group, ordinal)) in
            nodes
                .iter_mut()
                .zip([("validator", 0), ("validator", 1), ("rpc", 0)])
        {
            node.group = group.into();
            node.name = format!("{group}-{ordinal}");
        }
        let app = ChainApp::default();
        let rpc = app.rpc_of("validator");
        let args = rpc.node_command(&nodes[2], &nodes).unwrap().args.join(" ");
        assert!(args.contains("--follow"), "{args}");
        assert!(
            args.ends_with("--peer 127.0.0.1:7000 --peer 127.0.0.1:7001"),
            "an RPC node's peers are the validators: {args}"
        );
        let args = app.node_command(&nodes[0], &nodes).unwrap().args.join(" ");
        assert!(!args.contains("--follow"), "{args}");
        assert!(
            args.contains("--stake 0.5"),
            "two validators share it: {args}"
        );
        assert!(
            args.ends_with("--peer 127.0.0.1:7001 --peer 127.0.0.1:7002"),
            "a validator announces to the RPC nodes too: {args}"
        );
        let lost = app.rpc_of("producers");
        let error = lost
            .node_command(&nodes[2], &nodes)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "no group `producers` in this topology (groups: validator, rpc)"
        );
    }
}
