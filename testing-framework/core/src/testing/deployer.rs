//! A deployer of in-memory nodes, with the control a test can script and
//! inspect.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{FakeNode, FakeNodes};
use crate::report::{CleanupReport, NodeExit};
use crate::scenario::deploy::{
    Capabilities, Cluster, ControlError, DeployError, DeploymentRequest, NodeControl,
};
use crate::scenario::{Deployer, NodeAction, NodeEndpoint, PortMap};

/// Deploys [`FakeNode`]s that grow one height every 100 ms while up.
/// Every control action is logged ([`actions`](Self::actions)); it can be
/// told to fail its deploy or its cleanup, or to lack an action. A node cut
/// off by a partition answers but stops growing.
pub struct FakeDeployer {
    run_dir: PathBuf,
    fail_deploy: Option<String>,
    cleanup_problem: Option<String>,
    capabilities: Capabilities,
    cleaned: Arc<AtomicBool>,
    actions: Arc<Mutex<Vec<String>>>,
    nodes: Arc<Mutex<Vec<Arc<FakeNode>>>>,
}

static DEPLOYS: AtomicU64 = AtomicU64::new(0);

impl FakeDeployer {
    /// Clusters whose run directory is `run_dir`.
    pub fn new(run_dir: impl Into<PathBuf>) -> Self {
        FakeDeployer {
            run_dir: run_dir.into(),
            fail_deploy: None,
            cleanup_problem: None,
            capabilities: Capabilities::ALL,
            cleaned: Arc::new(AtomicBool::new(false)),
            actions: Arc::default(),
            nodes: Arc::default(),
        }
    }

    /// Deploys fail with this message.
    pub fn failing_deploy(mut self, message: impl Into<String>) -> Self {
        self.fail_deploy = Some(message.into());
        self
    }

    /// Cleanup reports this problem.
    pub fn failing_cleanup(mut self, problem: impl Into<String>) -> Self {
        self.cleanup_problem = Some(problem.into());
        self
    }

    /// Like a deployer that cannot pause nodes.
    pub fn without_pause(self) -> Self {
        self.without(NodeAction::Pause)
    }

    /// Like a deployer that cannot do `action`.
    pub fn without(mut self, action: NodeAction) -> Self {
        self.capabilities = self.capabilities.without(action);
        self
    }

    /// Whether a cluster it deployed was cleaned up.
    pub fn cleaned_up(&self) -> bool {
        self.cleaned.load(Ordering::SeqCst)
    }

    /// Every control action so far (`kill node-1`, `start node-1`).
    pub fn actions(&self) -> Vec<String> {
        self.actions.lock().clone()
    }

    /// The nodes of the last cluster deployed.
    pub fn nodes(&self) -> Vec<Arc<FakeNode>> {
        self.nodes.lock().clone()
    }
}

#[async_trait]
impl Deployer for FakeDeployer {
    fn name(&self) -> &str {
        "fake"
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError> {
        request.check()?;
        if let Some(message) = &self.fail_deploy {
            return Err(DeployError::Other(message.clone()));
        }
        std::fs::create_dir_all(&self.run_dir).map_err(|e| {
            DeployError::Other(format!("cannot create {}: {e}", self.run_dir.display()))
        })?;
        let deploy = DEPLOYS.fetch_add(1, Ordering::SeqCst);
        let stop = CancellationToken::new();
        let mut endpoints = Vec::new();
        let mut nodes = Vec::new();
        for slot in request.slots() {
            let (index, name, specs) = (slot.index, slot.name(), &slot.group.ports);
            let host = format!("fake-{deploy}");
            let ports = PortMap::new(
                specs
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p.name.clone(), (index * 16 + i + 1) as u16)),
            );
            let address = format!("{host}:{}", ports.api().unwrap_or_default());
            let node = FakeNode::new(name.clone());
            FakeNodes::insert(address.clone(), Arc::clone(&node));
            let ticking = Arc::clone(&node);
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = ticks.tick() => ticking.tick(),
                    }
                }
            });
            endpoints.push(NodeEndpoint {
                name,
                group: slot.group.name.clone(),
                address,
                host,
                ports,
            });
            nodes.push(node);
        }
        *self.nodes.lock() = nodes.clone();
        Ok(Box::new(FakeCluster {
            run_dir: self.run_dir.clone(),
            endpoints,
            control: Arc::new(FakeControl {
                nodes: nodes
                    .into_iter()
                    .map(|n| (n.name().to_owned(), n))
                    .collect(),
                exits: watch::channel(Vec::new()).0,
                actions: Arc::clone(&self.actions),
                capabilities: self.capabilities,
            }),
            cleanup_problem: self.cleanup_problem.clone(),
            cleaned: Arc::clone(&self.cleaned),
            stop,
        }))
    }
}

struct FakeControl {
    nodes: HashMap<String, Arc<FakeNode>>,
    exits: watch::Sender<Vec<NodeExit>>,
    actions: Arc<Mutex<Vec<String>>>,
    capabilities: Capabilities,
}

impl FakeControl {
    fn act(&self, action: &str, node: &str) -> Result<&Arc<FakeNode>, ControlError> {
        let found = self
            .nodes
            .get(node)
            .ok_or_else(|| ControlError::UnknownNode(node.to_owned()))?;
        self.actions.lock().push(format!("{action} {node}"));
        Ok(found)
    }
}

#[async_trait]
impl NodeControl for FakeControl {
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn start(&self, node: &str) -> Result<(), ControlError> {
        self.act("start", node)?.set_up(true);
        Ok(())
    }

    async fn stop(&self, node: &str) -> Result<(), ControlError> {
        self.act("stop", node)?.set_up(false);
        Ok(())
    }

    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        self.act("kill", node)?.set_up(false);
        Ok(())
    }

    async fn pause(&self, node: &str) -> Result<(), ControlError> {
        self.capabilities.check(NodeAction::Pause, "pause", node)?;
        self.act("pause", node)?.set_paused(true);
        Ok(())
    }

    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        self.capabilities.check(NodeAction::Pause, "resume", node)?;
        self.act("resume", node)?.set_paused(false);
        Ok(())
    }

    async fn partition(&self, side: &[String]) -> Result<(), ControlError> {
        self.capabilities
            .check(NodeAction::Partition, "partition", &side.join(", "))?;
        if let Some(unknown) = side.iter().find(|n| !self.nodes.contains_key(*n)) {
            return Err(ControlError::UnknownNode(unknown.clone()));
        }
        for node in side {
            self.act("partition", node)?;
        }
        for (name, node) in &self.nodes {
            node.set_cut(side.contains(name));
        }
        Ok(())
    }

    async fn heal(&self) -> Result<(), ControlError> {
        self.capabilities
            .check(NodeAction::Partition, "heal", "the cluster")?;
        self.actions.lock().push("heal".into());
        for node in self.nodes.values() {
            node.set_cut(false);
        }
        Ok(())
    }

    fn unexpected_exits(&self) -> watch::Receiver<Vec<NodeExit>> {
        self.exits.subscribe()
    }
}

/// A cluster of [`FakeNode`]s.
pub struct FakeCluster {
    run_dir: PathBuf,
    endpoints: Vec<NodeEndpoint>,
    control: Arc<FakeControl>,
    cleanup_problem: Option<String>,
    cleaned: Arc<AtomicBool>,
    stop: CancellationToken,
}

#[async_trait]
impl Cluster for FakeCluster {
    fn endpoints(&self) -> Vec<NodeEndpoint> {
        self.endpoints.clone()
    }

    fn control(&self) -> Arc<dyn NodeControl> {
        Arc::clone(&self.control) as Arc<dyn NodeControl>
    }

    fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    fn log_path(&self, _: &str) -> Option<PathBuf> {
        None
    }

    async fn cleanup(&mut self) -> CleanupReport {
        self.stop.cancel();
        let mut report = CleanupReport::default();
        for endpoint in &self.endpoints {
            FakeNodes::remove(&endpoint.address);
            report.stopped.push(endpoint.name.clone());
        }
        report.problems.extend(self.cleanup_problem.clone());
        self.cleaned.store(true, Ordering::SeqCst);
        report
    }
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
