//! What a deployer gives the runner: a running cluster, its node clients,
//! control over its nodes, and cleanup.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use tokio::sync::watch;

use super::{Application, NodeEndpoint};
use crate::observation::SourceSet;

/// What to deploy.
#[derive(Clone, Debug)]
pub struct DeploymentRequest {
    /// The scenario's name (names the run directory).
    pub scenario: String,
    /// How many nodes.
    pub nodes: usize,
    /// Where the run's artifacts go; the deployer picks one when `None`.
    pub run_dir: Option<PathBuf>,
}

/// Starts clusters of an app's nodes somewhere (local processes,
/// containers, pods).
#[async_trait]
pub trait Deployer<A: Application>: Send + Sync {
    /// The deployer's name, for reports (`local`).
    fn name(&self) -> &str;

    /// Starts every node. On error nothing is left running.
    async fn deploy(
        &self,
        app: Arc<A>,
        request: &DeploymentRequest,
    ) -> Result<Box<dyn Cluster<A>>, DeployError>;
}

/// A running cluster.
#[async_trait]
pub trait Cluster<A: Application>: Send + Sync {
    /// Every node's endpoint, in topology order.
    fn endpoints(&self) -> Vec<NodeEndpoint>;

    /// The node clients as an observation source set; it stays valid across
    /// restarts (a stopped node is still a source whose polls fail).
    fn sources(&self) -> SourceSet<A::Client>;

    /// Start, stop, restart and kill nodes.
    fn control(&self) -> Arc<dyn NodeControl>;

    /// The run directory holding logs and data.
    fn run_dir(&self) -> &Path;

    /// A node's log file, if the deployer keeps one.
    fn log_path(&self, node: &str) -> Option<PathBuf>;

    /// Stops every node and releases what the cluster holds. Idempotent.
    async fn cleanup(&mut self) -> CleanupReport;
}

/// Control over a cluster's nodes, by name.
#[async_trait]
pub trait NodeControl: Send + Sync {
    /// Starts a stopped node again, with its data.
    async fn start(&self, node: &str) -> Result<(), ControlError>;
    /// Asks the node to stop (SIGTERM or the backend's equivalent), then
    /// forces it after a grace period.
    async fn stop(&self, node: &str) -> Result<(), ControlError>;
    /// Stops, then starts with the same data.
    async fn restart(&self, node: &str) -> Result<(), ControlError> {
        self.stop(node).await?;
        self.start(node).await
    }
    /// Kills the node at once (SIGKILL or the backend's equivalent).
    async fn kill(&self, node: &str) -> Result<(), ControlError>;
    /// Every exit of a node that was not asked for, so far; changes as
    /// nodes crash.
    fn unexpected_exits(&self) -> watch::Receiver<Vec<NodeExit>>;
}

/// A node that exited on its own.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeExit {
    /// The node.
    pub node: String,
    /// How it ended (`exit code 101`, `signal 9`).
    pub status: String,
    /// When it was noticed.
    #[serde(with = "super::report::rfc3339")]
    pub at: SystemTime,
    /// The end of its log.
    pub log_tail: String,
}

/// What cleanup did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct CleanupReport {
    /// Nodes stopped by cleanup.
    pub stopped: Vec<String>,
    /// Nodes that ignored the polite stop and had to be killed (worth a
    /// look: a node that does not shut down cleanly).
    pub forced: Vec<String>,
    /// Problems met (a process that would not die, a directory that could
    /// not be removed); any problem makes the run an error.
    pub problems: Vec<String>,
}

/// A cluster could not be deployed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The node binary is missing.
    #[error("node binary `{binary}` not found ({looked}); {hint}")]
    BinaryNotFound {
        /// The binary's file name.
        binary: String,
        /// Where it was looked for.
        looked: String,
        /// How to get it.
        hint: String,
    },
    /// A node did not come up.
    #[error("node {node} failed to start: {reason}\n--- last lines of {log} ---\n{log_tail}")]
    NodeFailed {
        /// The node.
        node: String,
        /// Why.
        reason: String,
        /// Its log file.
        log: String,
        /// The end of its log.
        log_tail: String,
    },
    /// Anything else (I/O, a bad request).
    #[error("{0}")]
    Other(String),
}

/// A node could not be controlled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No node by that name.
    #[error("no node named `{0}` in this cluster")]
    UnknownNode(String),
    /// The action failed.
    #[error("{action} {node} failed: {reason}")]
    Failed {
        /// What was attempted.
        action: &'static str,
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
}
