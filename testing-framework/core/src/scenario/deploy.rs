//! What a deployer gives the runner: a running cluster, its node clients,
//! control over its nodes (see `control.rs`), and cleanup.

pub use super::control::{Capabilities, ControlError, NodeControl};
pub use super::group::{GroupRequest, NodeProbe};
pub use super::readiness::{ProbeReadiness, Readiness, ReadinessObserver};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::control::NodeAction;
use super::group;
use super::{Application, NodeCommand, NodeEndpoint, NodeSpec, PortSpec};
use crate::report::CleanupReport;

/// What to deploy: groups of nodes, each of its own app, and everything a
/// deployer needs of each app to start them (its binary, ports and
/// commands).
#[derive(Clone)]
pub struct DeploymentRequest {
    /// The scenario's name (names the run directory).
    pub scenario: String,
    /// The first group's app's name.
    pub app: String,
    /// The groups, in the order their nodes are numbered.
    pub groups: Vec<GroupRequest>,
    /// Where the run's artifacts go; the deployer picks one when `None`.
    pub run_dir: Option<PathBuf>,
    /// Start every node under a clock that [`NodeControl::set_clock`] can
    /// set off (the runner asks when a workload needs
    /// [`NodeAction::Clock`]); off, nodes run as they are.
    pub clock_faults: bool,
    /// How long a group may take to become ready before the groups that
    /// start after it (see [`GroupRequest::after`]).
    pub ready_timeout: Duration,
    /// How node binaries that are workspace packages get built.
    pub build: NodeBuild,
    /// Where to say what the deploy is doing that takes a while (building
    /// a node binary); the runner passes its [`RunOptions::progress`](super::RunOptions::progress).
    pub progress: Option<super::Progress>,
}

impl fmt::Debug for DeploymentRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeploymentRequest")
            .field("scenario", &self.scenario)
            .field("app", &self.app)
            .field("groups", &self.groups)
            .field("run_dir", &self.run_dir)
            .field("clock_faults", &self.clock_faults)
            .field("ready_timeout", &self.ready_timeout)
            .field("build", &self.build)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// How the framework builds a node binary that is a package of the
/// workspace (see [`NodeBinary::cargo_package`](super::NodeBinary::cargo_package))
/// when it is not built yet or older than its sources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeBuild {
    /// Build it optimized (`cargo build --release`, run from
    /// `target/release`): the first build takes longer, every node after
    /// costs a fraction of the CPU (clusters of 50 nodes on one machine).
    pub release: bool,
    /// A package built in the same cargo invocation, normally the runner's
    /// own (`scenarios`): cargo then compiles the dependencies the two
    /// share with the features it already built the runner with, and the
    /// node costs a link instead of a second build of them.
    pub along_with: Option<String>,
    /// The features `along_with` was built with (`scenarios/k8s`): the
    /// same features, the same dependencies.
    pub features: Vec<String>,
}

impl NodeBuild {
    /// The same build, never optimized: for the framework's own binaries
    /// that run beside the nodes and mostly sit idle (a reaper, a link
    /// fault agent). They are still built along with the runner.
    pub fn unoptimized(&self) -> NodeBuild {
        NodeBuild {
            release: false,
            ..self.clone()
        }
    }
}

/// One node of a request, before a deployer places it.
#[derive(Clone, Copy, Debug)]
pub struct NodeSlot<'a> {
    /// Its group.
    pub group: &'a GroupRequest,
    /// Its position in the whole topology, from 0.
    pub index: usize,
    /// Its position in its group, from 0.
    pub ordinal: usize,
}

impl NodeSlot<'_> {
    /// Its name (`rpc-1`).
    pub fn name(&self) -> String {
        self.group.node_name(self.ordinal)
    }
}

impl DeploymentRequest {
    /// A request for `nodes` nodes of `app`, in one group named
    /// [`DEFAULT_GROUP`](super::DEFAULT_GROUP).
    pub fn new<A: Application>(app: Arc<A>, scenario: impl Into<String>, nodes: usize) -> Self {
        Self::of_groups(
            scenario,
            vec![GroupRequest::new(super::DEFAULT_GROUP, app, nodes)],
        )
    }

    /// A request for `groups`, numbered in this order.
    pub fn of_groups(scenario: impl Into<String>, groups: Vec<GroupRequest>) -> Self {
        DeploymentRequest {
            scenario: scenario.into(),
            app: groups.first().map(|g| g.app.clone()).unwrap_or_default(),
            groups,
            run_dir: None,
            clock_faults: false,
            ready_timeout: Duration::from_secs(30),
            build: NodeBuild::default(),
            progress: None,
        }
    }

    /// With node binaries built as `build` says.
    pub fn with_build(mut self, build: NodeBuild) -> Self {
        self.build = build;
        self
    }

    /// With progress messages going to `progress`.
    pub fn with_progress(mut self, progress: Option<super::Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Says `message` to the run's progress (and the log).
    pub fn say(&self, message: &str) {
        super::runner::say(self.progress.as_ref(), message);
    }

    /// With every node's clock ready for clock faults (or not).
    pub fn with_clock_faults(mut self, clock_faults: bool) -> Self {
        self.clock_faults = clock_faults;
        self
    }

    /// With the run's artifacts in `dir`.
    pub fn with_run_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.run_dir = dir;
        self
    }

    /// With groups given `timeout` to become ready before the next start.
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// How many nodes in all.
    pub fn nodes(&self) -> usize {
        self.groups.iter().map(|g| g.nodes).sum()
    }

    /// The group called `name`.
    pub fn group(&self, name: &str) -> Option<&GroupRequest> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The ports `group`'s app declares (the first group's for a group the
    /// request does not name: an attached endpoint's).
    pub fn ports_of(&self, group: &str) -> &[PortSpec] {
        self.group(group)
            .or(self.groups.first())
            .map(|g| g.ports.as_slice())
            .unwrap_or_default()
    }

    /// The group a new node joins: `name`, or the first when `None`.
    pub fn group_to_join(&self, name: Option<&str>) -> Result<&GroupRequest, DeployError> {
        match name {
            None => self
                .groups
                .first()
                .ok_or_else(|| DeployError::Other("the request has no group".into())),
            Some(name) => self.group(name).ok_or_else(|| {
                DeployError::Other(format!(
                    "no group `{name}` to join (groups: {})",
                    self.group_names()
                ))
            }),
        }
    }

    /// The groups' names, `a, b`.
    pub fn group_names(&self) -> String {
        self.groups
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every node, in topology order: the groups in turn.
    pub fn slots(&self) -> Vec<NodeSlot<'_>> {
        let mut slots = Vec::with_capacity(self.nodes());
        for group in &self.groups {
            for ordinal in 0..group.nodes {
                slots.push(NodeSlot {
                    group,
                    index: slots.len(),
                    ordinal,
                });
            }
        }
        slots
    }

    /// The order of start: stages of group names, each starting once every
    /// node of the stages before is ready ([`wait_ready`](Self::wait_ready)).
    /// One stage when no group waits for another.
    pub fn stages(&self) -> Result<Vec<Vec<&str>>, DeployError> {
        // A cluster to grow: nothing starts now.
        if self.nodes() == 0 {
            return Ok(Vec::new());
        }
        let stages = group::stages(&self.groups, &[])
            .map_err(|error| DeployError::Other(error.to_string()))?;
        Ok(stages
            .into_iter()
            .map(|stage| {
                stage
                    .into_iter()
                    .map(|i| self.groups[i].name.as_str())
                    .collect()
            })
            .collect())
    }

    /// The command that starts `node` of `topology`; an error (the app asked
    /// for a port it did not declare, or a group there is not) is a deploy
    /// error naming the node.
    pub fn command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, DeployError> {
        let group = self
            .group(&node.group)
            .ok_or_else(|| DeployError::BadCommand {
                node: node.name.clone(),
                reason: format!(
                    "its group `{}` is not one of this deployment's ({})",
                    node.group,
                    self.group_names()
                ),
            })?;
        group
            .command(node, topology)
            .map_err(|error| DeployError::BadCommand {
                node: node.name.clone(),
                reason: crate::ErrorChain(&*error).to_string(),
            })
    }

    /// Waits, through an observation runtime of each node's readiness
    /// probe, until every node at `endpoints` is ready, for at most
    /// [`ready_timeout`](Self::ready_timeout). Deployers call it between
    /// [`stages`](Self::stages). The error names a node that is not ready
    /// and shows the end of its log (`log_of`).
    pub async fn wait_ready(
        &self,
        endpoints: &[NodeEndpoint],
        log_of: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<(), DeployError> {
        if endpoints.is_empty() {
            return Ok(());
        }
        super::readiness::wait_ready(self, endpoints, self.ready_timeout)
            .await
            .map_err(|(node, reason)| match log_of(&node) {
                Some(log) => DeployError::node_failed(&node, reason, &log),
                None => DeployError::Other(format!("node {node} did not become ready: {reason}")),
            })
    }

    /// Starts the nodes stage by stage ([`stages`](Self::stages)): `start`
    /// starts every node of the groups it is given, then, while stages are
    /// left, the nodes of those groups among `endpoints` must become ready
    /// ([`wait_ready`](Self::wait_ready)) before the next stage starts.
    pub async fn start_in_stages<F, Fut>(
        &self,
        endpoints: &[NodeEndpoint],
        log_of: impl Fn(&str) -> Option<PathBuf>,
        mut start: F,
    ) -> Result<(), DeployError>
    where
        F: FnMut(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Result<(), DeployError>>,
    {
        let stages = self.stages()?;
        let last = stages.len().saturating_sub(1);
        for (i, stage) in stages.into_iter().enumerate() {
            let groups: Vec<String> = stage.into_iter().map(str::to_owned).collect();
            start(groups.clone()).await?;
            if i < last {
                let started: Vec<NodeEndpoint> = endpoints
                    .iter()
                    .filter(|e| groups.contains(&e.group))
                    .cloned()
                    .collect();
                tracing::info!(groups = %groups.join(", "), nodes = started.len(), "waiting for a stage to be ready before the next");
                self.wait_ready(&started, &log_of).await?;
            }
        }
        Ok(())
    }

    /// Checks what the apps declared and the groups: at least one port per
    /// app, no name twice, one observed port at most; group names, sizes
    /// and a start order without cycles. A request for zero nodes is a
    /// cluster to grow with [`Cluster::add_node`].
    pub fn check(&self) -> Result<(), DeployError> {
        if self.groups.is_empty() {
            return Err(DeployError::Other(
                "the request has no group of nodes".into(),
            ));
        }
        for group in &self.groups {
            check_ports(group)?;
        }
        if self.nodes() > 0 {
            self.stages()?;
        }
        Ok(())
    }
}

/// At least one port, one observed at most, no name twice.
fn check_ports(group: &GroupRequest) -> Result<(), DeployError> {
    let app = &group.app;
    if group.ports.is_empty() {
        return Err(DeployError::Other(format!(
            "app `{app}` declares no port; Application::ports must name at least its API port"
        )));
    }
    let observed: Vec<&str> = group
        .ports
        .iter()
        .filter(|p| p.observed)
        .map(|p| p.name.as_str())
        .collect();
    if observed.len() > 1 {
        return Err(DeployError::Other(format!(
            "app `{app}` marks {} ports observed ({}); the framework reaches a node at one: mark one with PortSpec::observed",
            observed.len(),
            observed.join(", ")
        )));
    }
    let mut names: Vec<&str> = group.ports.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(DeployError::Other(format!(
            "app `{app}` declares port `{}` twice in Application::ports",
            twice[0]
        )));
    }
    Ok(())
}

/// Starts clusters of an app's nodes somewhere (local processes,
/// containers, pods). It knows the app only through the request.
#[async_trait]
pub trait Deployer: Send + Sync {
    /// The deployer's name, for reports (`local`).
    fn name(&self) -> &str;

    /// What its clusters can do to nodes, and why not the rest: the one
    /// declaration, which [`supports`](Self::supports) answers from and
    /// which the deployer hands its clusters' [`NodeControl`]
    /// ([`NodeControl::capabilities`]). Start, stop and kill unless said
    /// otherwise.
    fn capabilities(&self) -> Capabilities {
        Capabilities::BASIC
    }

    /// Whether its clusters can do `action`, as its
    /// [`capabilities`](Self::capabilities) say; the runner refuses a
    /// scenario that needs what the deployer cannot do before any node
    /// starts.
    fn supports(&self, action: NodeAction) -> bool {
        self.capabilities().supports(action)
    }

    /// Starts every node. On error nothing is left running.
    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError>;
}

/// A running cluster.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// Every node's endpoint, in topology order. The framework makes the
    /// app's clients from them; they stay valid across restarts.
    fn endpoints(&self) -> Vec<NodeEndpoint>;

    /// Start, stop, restart, kill and pause nodes.
    fn control(&self) -> Arc<dyn NodeControl>;

    /// The run directory holding logs and data.
    fn run_dir(&self) -> &Path;

    /// A node's log file, if the deployer keeps one.
    fn log_path(&self, node: &str) -> Option<PathBuf>;

    /// Starts one more node in [`NewNode::group`], named after it with the
    /// group's next number (`node-3`), and returns its endpoint. It is given `node`'s peers; the nodes already
    /// running keep theirs (an app that needs to be told of a new member,
    /// such as a Raft cluster's membership, is told by the test).
    async fn add_node(&mut self, node: NewNode) -> Result<NodeEndpoint, DeployError> {
        let _ = node;
        Err(DeployError::Other(
            "this deployer cannot add nodes to a running cluster".into(),
        ))
    }

    /// Stops `node` and forgets it: it leaves [`endpoints`](Self::endpoints)
    /// and node control. Its log and data stay in the run directory.
    async fn remove_node(&mut self, node: &str) -> Result<(), ControlError> {
        Err(ControlError::unsupported("remove", node))
    }

    /// Stops every node and releases what the cluster holds. Idempotent.
    async fn cleanup(&mut self) -> CleanupReport;
}

/// A node to add to a running cluster.
#[derive(Clone, Debug, Default)]
pub struct NewNode {
    /// The group it joins; `None`: the first.
    pub group: Option<String>,
    /// Its peers among the cluster's nodes, by name; `None`: every node.
    pub peers: Option<Vec<String>>,
    /// Peers outside the cluster (another network's nodes), as the new
    /// node reaches them: their endpoints must be reachable from where the
    /// deployer runs it.
    pub external_peers: Vec<NodeEndpoint>,
}

impl NewNode {
    /// Refuses external peers on the runner's loopback, which nodes running
    /// `where_` (`a container`, `a pod`) cannot reach: 127.0.0.1 there is
    /// the node itself.
    pub fn refuse_loopback_peers(&self, where_: &str) -> Result<(), DeployError> {
        match self
            .external_peers
            .iter()
            .find(|p| p.host == "127.0.0.1" || p.host == "localhost")
        {
            Some(peer) => Err(DeployError::Other(format!(
                "external peer {} is at {} on the runner's loopback, which {where_} cannot reach; give external peers an address {where_} can reach, or add this node on the local deployer",
                peer.name, peer.address
            ))),
            None => Ok(()),
        }
    }

    /// The topology `node`'s command is built from: its chosen peers among
    /// `cluster`, the external peers, and itself. External peers carry
    /// indices from `usize::MAX` down, which no cluster node has.
    pub fn topology(
        &self,
        node: &NodeSpec,
        cluster: &[NodeSpec],
    ) -> Result<Vec<NodeSpec>, DeployError> {
        let mut topology: Vec<NodeSpec> = match &self.peers {
            None => cluster.to_vec(),
            Some(names) => names
                .iter()
                .map(|name| {
                    cluster.iter().find(|s| &s.name == name).cloned().ok_or_else(|| {
                        DeployError::Other(format!(
                            "cannot add {}: its peer `{name}` is not a node of this cluster (nodes: {})",
                            node.name,
                            cluster.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        topology.extend(
            self.external_peers
                .iter()
                .enumerate()
                .map(|(i, peer)| NodeSpec {
                    index: usize::MAX - i,
                    name: peer.name.clone(),
                    group: peer.group.clone(),
                    host: peer.host.clone(),
                    bind_host: peer.host.clone(),
                    ports: peer.ports.clone(),
                    data_dir: PathBuf::new(),
                }),
        );
        topology.push(node.clone());
        Ok(topology)
    }
}

/// A cluster could not be deployed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The node binary is missing.
    #[error("node binary `{binary}` not found; looked at:{looked}\nto fix: {hint}")]
    BinaryNotFound {
        /// The binary's file name.
        binary: String,
        /// Every place looked, one `\n  - place` each.
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
    /// The app could not say how to start a node.
    #[error("cannot build the command of {node}: {reason}")]
    BadCommand {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// The scenario needs something the deployer cannot do.
    #[error(
        "the {deployer} deployer cannot {action} nodes, which {needed_by} needs; {remedy}",
        remedy = action.remedy()
    )]
    Unsupported {
        /// The deployer.
        deployer: String,
        /// What it cannot do.
        action: NodeAction,
        /// The workload that needs it.
        needed_by: String,
    },
    /// Anything else (I/O, a bad request).
    #[error("{0}")]
    Other(String),
}

impl DeployError {
    /// `node` did not come up, for `reason`; the message shows the end of
    /// its log at `log`.
    pub fn node_failed(node: &str, reason: String, log: &Path) -> Self {
        DeployError::NodeFailed {
            node: node.to_owned(),
            reason,
            log: log.display().to_string(),
            log_tail: crate::deployer_kit::log_tail(log),
        }
    }
}
