//! The local deployer: nodes as processes on 127.0.0.1, each with its own
//! data directory and log file under one run directory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tf_core::host::{self, DeployerSettings};
use tf_core::scenario::{
    Cluster, DeployError, Deployer, DeploymentRequest, NodeAction, NodeEndpoint, NodeSpec, PortMap,
};
use tokio::sync::watch;

use crate::cluster::{LocalCluster, LocalControl};
use crate::process::NodeProcess;

/// Starts clusters as local processes. Nothing to install: node binaries
/// are found or built by cargo.
#[derive(Clone, Debug, Default)]
pub struct LocalDeployer {
    settings: DeployerSettings,
}

impl LocalDeployer {
    /// Runs go under `target/tf-runs/` (or `$TF_RUNS_DIR`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs go under `root` instead.
    pub fn with_runs_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.settings.runs_root = Some(root.into());
        self
    }

    /// How long a stop waits after SIGTERM before SIGKILL (default 5 s).
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.settings.stop_grace = grace;
        self
    }
}

/// Nodes bind and are reached on loopback.
const HOST: &str = "127.0.0.1";

#[async_trait]
impl Deployer for LocalDeployer {
    fn name(&self) -> &str {
        "local"
    }

    fn supports(&self, action: NodeAction) -> bool {
        match action {
            NodeAction::StartStop | NodeAction::Kill | NodeAction::Pause => true,
            // Processes on one host share its loopback: nothing to cut.
            NodeAction::Partition => false,
        }
    }

    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError> {
        request.check()?;
        let spec = request.binary.clone();
        let binary = tokio::task::spawn_blocking(move || host::binary::resolve(&spec))
            .await
            .map_err(|e| DeployError::Other(format!("finding the node binary failed: {e}")))??;
        let run_dir = host::run_dir(
            request.run_dir.as_deref(),
            &self.settings.runs_root(),
            &request.scenario,
        )?;
        // Every port of every node at once, so that none collide.
        let protocols: Vec<_> = (0..request.nodes)
            .flat_map(|_| request.ports.iter().map(|p| p.protocol))
            .collect();
        let mut numbers = host::ports::free_ports(&protocols)
            .map_err(|e| DeployError::Other(format!("cannot find free ports on {HOST}: {e}")))?
            .into_iter();
        let mut specs = Vec::with_capacity(request.nodes);
        for index in 0..request.nodes {
            let name = format!("node-{index}");
            let data_dir = run_dir.join(&name).join("data");
            std::fs::create_dir_all(&data_dir)
                .map_err(|e| host::io_error("create", &data_dir, e))?;
            let ports = PortMap::new(
                request
                    .ports
                    .iter()
                    .map(|p| (p.name.clone(), numbers.next().unwrap_or_default())),
            );
            specs.push(NodeSpec {
                index,
                name,
                host: HOST.into(),
                bind_host: HOST.into(),
                ports,
                data_dir,
            });
        }

        let crashes = Arc::new(watch::channel(Vec::new()).0);
        let mut nodes = Vec::with_capacity(specs.len());
        for spec in &specs {
            let log = run_dir.join(&spec.name).join("node.log");
            nodes.push(NodeProcess::new(
                spec.name.clone(),
                binary.clone(),
                request.command(spec, &specs)?,
                log,
                Arc::clone(&crashes),
            ));
        }
        let control = Arc::new(LocalControl {
            by_name: nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.clone(), i))
                .collect::<HashMap<_, _>>(),
            nodes,
            crashes,
            stop_grace: self.settings.stop_grace,
        });
        let endpoints: Vec<NodeEndpoint> = specs
            .iter()
            .map(|spec| NodeEndpoint {
                name: spec.name.clone(),
                address: format!("{HOST}:{}", spec.ports.api().unwrap_or_default()),
                host: HOST.into(),
                ports: spec.ports.clone(),
            })
            .collect();
        // From here on, dropping the cluster kills whatever was started.
        let cluster = LocalCluster {
            run_dir,
            endpoints,
            control: Arc::clone(&control),
        };
        for node in &control.nodes {
            node.spawn().map_err(|reason| DeployError::NodeFailed {
                node: node.name.clone(),
                reason,
                log: node.log.display().to_string(),
                log_tail: tf_core::host::log_tail(&node.log),
            })?;
        }
        tracing::info!(run_dir = %cluster.run_dir.display(), nodes = request.nodes, "local cluster started");
        Ok(Box::new(cluster))
    }
}
