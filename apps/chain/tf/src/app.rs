//! The chain node as an [`Application`].

use async_trait::async_trait;
use chain_node::client::ChainClient;
use chain_node::ledger::DEFAULT_WALLETS;
use tf_core::observation::BoxError;
use tf_core::scenario::{Application, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec};

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
    http: reqwest::Client,
}

impl Default for ChainApp {
    fn default() -> Self {
        ChainApp {
            slot_ms: 100,
            coefficient: 0.7,
            k: 6,
            wallets: DEFAULT_WALLETS,
            http: ChainClient::default_http(),
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
        NodeBinary {
            name: "chain-node".into(),
            env_override: "CHAIN_NODE_BIN".into(),
            cargo_package: Some("chain-node".into()),
            source_dir: Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../node").into()),
        }
    }

    fn node_command(&self, node: &NodeSpec, topology: &[NodeSpec]) -> NodeCommand {
        let mut args = vec![
            "--name".to_owned(),
            node.name.clone(),
            "--addr".to_owned(),
            node.address(),
            "--data-dir".to_owned(),
            node.data_dir.display().to_string(),
            "--slot-ms".to_owned(),
            self.slot_ms.to_string(),
            "--coefficient".to_owned(),
            self.coefficient.to_string(),
            "--k".to_owned(),
            self.k.to_string(),
            "--wallets".to_owned(),
            self.wallets.to_string(),
        ];
        for peer in topology.iter().filter(|p| p.index != node.index) {
            args.push("--peer".to_owned());
            args.push(peer.address());
        }
        NodeCommand {
            args,
            env: Vec::new(),
        }
    }

    fn client(&self, endpoint: &NodeEndpoint) -> ChainClient {
        ChainClient::new(endpoint.address.clone(), self.http.clone())
    }

    async fn ready(&self, client: &ChainClient) -> Result<(), BoxError> {
        client.info().await?;
        Ok(())
    }
}
