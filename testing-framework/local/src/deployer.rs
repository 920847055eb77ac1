//! The local deployer: nodes as processes on 127.0.0.1, each with its own
//! data directory and log file under one run directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tf_core::deployer_kit::{self, DeployerSettings, NodeTable};
use tf_core::scenario::deploy::{Capabilities, Cluster, DeployError, DeploymentRequest};
use tf_core::scenario::{Deployer, NodeAction};
use tokio::sync::watch;

use crate::cluster::{LocalCluster, LocalControl};
use crate::node::{endpoint, node_process, node_spec, spawn};
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

/// What local clusters can do to nodes.
const CAPABILITIES: Capabilities = Capabilities::BASIC
    // SIGSTOP and SIGCONT.
    .with(NodeAction::Pause)
    // libfaketime, preloaded into each node.
    .with(NodeAction::Clock)
    // Processes on one host share its loopback: nothing to cut or shape
    // without touching the host's own traffic.
    .without(NodeAction::Partition)
    .without(NodeAction::Links);

#[async_trait]
impl Deployer for LocalDeployer {
    fn name(&self) -> &str {
        "local"
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError> {
        request.check()?;
        let binaries = deployer_kit::binary::resolve_groups(request).await?;
        let run_dir = deployer_kit::run_dir(
            request.run_dir.as_deref(),
            &self.settings.runs_root(),
            &request.scenario,
        )?;
        // Every port of every node at once, so that none collide.
        let mut specs = Vec::with_capacity(request.nodes());
        for (slot, ports) in deployer_kit::slots_with_ports(request)? {
            specs.push(node_spec(
                &run_dir,
                slot.index,
                &slot.group.name,
                slot.ordinal,
                ports,
            )?);
        }
        let mut faketime = None;
        for binary in binaries.values() {
            faketime = deployer_kit::clock::for_request(request, binary)?;
        }
        let crashes = Arc::new(watch::channel(Vec::new()).0);
        // Every command before any node starts: a bad one starts nothing.
        let mut nodes = Vec::with_capacity(specs.len());
        for spec in &specs {
            nodes.push(node_process(
                spec,
                &run_dir,
                &binaries[&spec.group],
                request.command(spec, &specs)?,
                faketime.as_deref(),
                &crashes,
            )?);
        }
        let control = Arc::new(LocalControl {
            nodes: NodeTable::new(nodes, |n| &n.name),
            crashes,
            stop_grace: self.settings.stop_grace,
            capabilities: self.capabilities(),
        });
        // From here on, dropping the cluster kills whatever was started.
        let cluster = LocalCluster {
            endpoints: specs.iter().map(endpoint).collect(),
            numbering: deployer_kit::Numbering::after(request),
            specs,
            run_dir,
            binaries,
            faketime,
            request: request.clone(),
            control: Arc::clone(&control),
        };
        let log_of = |node: &str| cluster.log_path(node);
        request
            .start_in_stages(&cluster.endpoints, log_of, |groups| {
                let (control, specs) = (&control, &cluster.specs);
                async move {
                    let in_stage = |node: &NodeProcess| {
                        specs
                            .iter()
                            .any(|s| s.name == node.name && groups.contains(&s.group))
                    };
                    for node in control.nodes.all().iter().filter(|n| in_stage(n)) {
                        spawn(node)?;
                    }
                    Ok(())
                }
            })
            .await?;
        tracing::info!(run_dir = %cluster.run_dir.display(), nodes = request.nodes(), "local cluster started");
        Ok(Box::new(cluster))
    }
}
