//! What an app tells the framework about its nodes. Deployers use only this
//! to start nodes; the framework never learns what a leader or a key is.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::observation::BoxError;

/// One node of a planned topology, as a deployer placed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    /// Position in the topology, from 0.
    pub index: usize,
    /// Its name in reports, logs and sources (`node-0`, ...).
    pub name: String,
    /// Host other nodes and the framework reach it at.
    pub host: String,
    /// Port of its API.
    pub port: u16,
    /// Directory that survives restarts of this node.
    pub data_dir: PathBuf,
}

impl NodeSpec {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Where a running node is reached.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeEndpoint {
    /// The node's name.
    pub name: String,
    /// `host:port` of its API.
    pub address: String,
}

/// How to start one node: its arguments and extra environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeCommand {
    /// Arguments after the binary.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// The node binary of an app and how a user gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBinary {
    /// File name of the binary (`openraft-kv-node`).
    pub name: String,
    /// Environment variable that overrides where it is.
    pub env_override: String,
    /// Cargo package that builds it, when it is in this workspace.
    pub cargo_package: Option<String>,
    /// The package's directory: a binary older than any file in it is
    /// rebuilt (with `cargo_package`) rather than run stale.
    pub source_dir: Option<std::path::PathBuf>,
}

/// An app under test, as deployers see it.
#[async_trait]
pub trait Application: Send + Sync + 'static {
    /// The app's client of one node; cheap to clone. It is also the source
    /// type of the app's observers.
    type Client: Clone + Send + Sync + 'static;

    /// The app's name, for reports.
    fn name(&self) -> &str;

    /// The binary that runs a node.
    fn binary(&self) -> NodeBinary;

    /// How to start `node`, given every node of the topology (`node`
    /// included; the others are its peers).
    fn node_command(&self, node: &NodeSpec, topology: &[NodeSpec]) -> NodeCommand;

    /// A client of the node at `endpoint`.
    fn client(&self, endpoint: &NodeEndpoint) -> Self::Client;

    /// Whether the node behind `client` is ready to serve. Polled through
    /// an observation runtime until every node is ready.
    async fn ready(&self, client: &Self::Client) -> Result<(), BoxError>;
}
