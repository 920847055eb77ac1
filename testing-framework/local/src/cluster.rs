//! A cluster of local node processes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tf_core::deployer_kit::NodeTable;
use tf_core::fault::ClockFault;
use tf_core::report::{CleanupReport, NodeExit};
use tf_core::scenario::deploy::{
    Capabilities, Cluster, ControlError, DeployError, DeploymentRequest, NewNode, NodeControl,
};
use tf_core::scenario::{NodeEndpoint, NodeSpec};
use tokio::sync::watch;

use crate::node::{endpoint, node_process, node_spec, spawn};
use crate::process::NodeProcess;

/// Nodes by name, and how long a stop waits before it kills.
pub(crate) struct LocalControl {
    pub(crate) nodes: NodeTable<NodeProcess>,
    pub(crate) crashes: Arc<watch::Sender<Vec<NodeExit>>>,
    pub(crate) stop_grace: Duration,
    /// What the deployer declared its nodes can be put through.
    pub(crate) capabilities: Capabilities,
}

impl LocalControl {
    fn node(&self, name: &str) -> Result<Arc<NodeProcess>, ControlError> {
        self.nodes.get(name)
    }

    fn kill_all_now(&self) {
        for node in self.nodes.all() {
            node.kill_now();
        }
    }
}

#[async_trait]
impl NodeControl for LocalControl {
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn start(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .spawn()
            .map_err(ControlError::failed("start", node))
    }

    async fn set_clock(&self, node: &str, clock: &ClockFault) -> Result<(), ControlError> {
        let process = self.node(node)?;
        tf_core::deployer_kit::clock::set(process.clock.as_ref(), *clock)
            .map_err(ControlError::failed("set the clock of", node))
    }

    async fn stop(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .stop(self.stop_grace)
            .await
            .map(|_| ())
            .map_err(ControlError::failed("stop", node))
    }

    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .kill()
            .await
            .map_err(ControlError::failed("kill", node))
    }

    async fn pause(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .pause()
            .map_err(ControlError::failed("pause", node))
    }

    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .resume()
            .map_err(ControlError::failed("resume", node))
    }

    fn unexpected_exits(&self) -> watch::Receiver<Vec<NodeExit>> {
        self.crashes.subscribe()
    }
}

/// Local node processes under one run directory. Dropping it kills every
/// node still running, so a panic or an abandoned run leaves nothing behind.
pub struct LocalCluster {
    pub(crate) run_dir: PathBuf,
    pub(crate) endpoints: Vec<NodeEndpoint>,
    /// Every node as its peers see it, in the order they were added.
    pub(crate) specs: Vec<NodeSpec>,
    /// The numbers the next added node gets.
    pub(crate) numbering: tf_core::deployer_kit::Numbering,
    /// Each group's node binary.
    pub(crate) binaries: HashMap<String, PathBuf>,
    /// libfaketime, when the nodes run under it for clock faults.
    pub(crate) faketime: Option<PathBuf>,
    pub(crate) request: DeploymentRequest,
    pub(crate) control: Arc<LocalControl>,
}

impl LocalCluster {
    /// Process ids of the running nodes, by name (for tests and tools).
    pub fn pids(&self) -> Vec<(String, Option<u32>)> {
        self.control
            .nodes
            .all()
            .iter()
            .map(|n| (n.name.clone(), n.pid()))
            .collect()
    }
}

#[async_trait]
impl Cluster for LocalCluster {
    fn endpoints(&self) -> Vec<NodeEndpoint> {
        self.endpoints.clone()
    }

    fn control(&self) -> Arc<dyn NodeControl> {
        Arc::clone(&self.control) as Arc<dyn NodeControl>
    }

    fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    fn log_path(&self, node: &str) -> Option<PathBuf> {
        self.control.node(node).ok().map(|n| n.log.clone())
    }

    async fn add_node(&mut self, node: NewNode) -> Result<NodeEndpoint, DeployError> {
        let group = self.request.group_to_join(node.group.as_deref())?;
        let taken: Vec<u16> = self.specs.iter().flat_map(|s| s.ports.numbers()).collect();
        let ports = tf_core::deployer_kit::port_maps_except(&group.ports, 1, &taken)?
            .pop()
            .unwrap_or_default();
        let mut numbering = self.numbering.clone();
        let (index, ordinal) = numbering.next(&group.name);
        let spec = node_spec(&self.run_dir, index, &group.name, ordinal, ports)?;
        let topology = node.topology(&spec, &self.specs)?;
        let command = self.request.command(&spec, &topology)?;
        let process = node_process(
            &spec,
            &self.run_dir,
            &self.binaries[&group.name],
            command,
            self.faketime.as_deref(),
            &self.control.crashes,
        )?;
        self.numbering = numbering;
        spawn(&process)?;
        self.control.nodes.push(process);
        let endpoint = endpoint(&spec);
        self.specs.push(spec);
        self.endpoints.push(endpoint.clone());
        tracing::info!(node = %endpoint.name, "node added");
        Ok(endpoint)
    }

    async fn remove_node(&mut self, node: &str) -> Result<(), ControlError> {
        let process = self.control.node(node)?;
        if process.pid().is_some() {
            process
                .stop(self.control.stop_grace)
                .await
                .map_err(ControlError::failed("remove", node))?;
        }
        self.control.nodes.remove(node)?;
        self.specs.retain(|s| s.name != node);
        self.endpoints.retain(|e| e.name != node);
        tracing::info!(node, "node removed");
        Ok(())
    }

    async fn cleanup(&mut self) -> CleanupReport {
        let grace = self.control.stop_grace;
        let running: Vec<_> = self
            .control
            .nodes
            .all()
            .into_iter()
            .filter(|n| n.pid().is_some())
            .collect();
        let stops = running
            .iter()
            .map(|node| async move { (node.name.clone(), node.stop(grace).await) });
        // Nodes stop in parallel: each stop is mostly waiting.
        let mut report =
            tf_core::deployer_kit::stopped_report(grace, futures::future::join_all(stops).await);
        for node in self.control.nodes.all() {
            if let Some(pid) = node.pid() {
                report.problems.push(format!(
                    "{} (pid {pid}) is still running after cleanup",
                    node.name
                ));
            }
        }
        report
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.control.kill_all_now();
    }
}
