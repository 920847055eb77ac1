//! A cluster that grows and shrinks as the test goes.

use std::any::TypeId;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::journal::Journal;
use super::sources::{ClusterSources, SourcesTx};
use crate::fault::{ClockFault, Impaired, LinkFault, Links};
use crate::history::{HISTORY_FILE, History};
use crate::observation::error::{StartError, WaitError};
use crate::observation::{
    ObservationConfig, ObservationHandle, ObservationOf, ObservationRuntime, ObservedSource,
    Observer, SourceSet,
};
use crate::report::{CleanupReport, FaultWindow};
use crate::scenario::clients::NodeClients;
use crate::scenario::deploy::{
    Capabilities, Cluster, ControlError, DeployError, DeploymentRequest, GroupRequest, NewNode,
    NodeControl, Readiness, ReadinessObserver,
};
use crate::scenario::window::{Flow, Window, WindowEvent};
use crate::scenario::{
    Application, Deployer, Expectation, NodeAction, NodeEndpoint, ObserverEntry, RunContext,
    Violation, Workload,
};

/// What a manual cluster refused or failed to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManualError {
    /// Deploying or adding a node failed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// Controlling a node failed.
    #[error(transparent)]
    Control(#[from] ControlError),
    /// The deployer cannot do what was asked.
    #[error(
        "the {deployer} deployer cannot {action} nodes; run this on a deployer that can (the compose deployer partitions and shapes links)"
    )]
    Unsupported {
        /// The deployer.
        deployer: String,
        /// What it cannot do.
        action: NodeAction,
    },
    /// The node is an attached external endpoint: the test observes it but
    /// does not control it.
    #[error(
        "{0} is an external source attached to this cluster; the test observes it but cannot control it"
    )]
    External(String),
    /// A name given twice.
    #[error("a source named `{0}` is already part of this cluster")]
    NameTaken(String),
    /// Anything the test itself asked wrongly.
    #[error("{0}")]
    Invalid(String),
    /// A wait did not see what it waited for.
    #[error(transparent)]
    Wait(#[from] WaitError),
    /// A wait for something a step named did not see it.
    #[error("waiting for {what}: {source}")]
    WaitFor {
        /// What was waited for.
        what: String,
        /// What was observed instead.
        source: WaitError,
    },
    /// An observer did not start.
    #[error("cannot start observer: {0}")]
    Start(#[from] StartError),
    /// The app could not make a client of a node.
    #[error("cannot make a client of {node}: {reason}; see the app's Application::client")]
    Client {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
}

/// `app`'s client of `endpoint`, as a source named after it.
fn source_of<A: Application>(
    app: &A,
    endpoint: &NodeEndpoint,
) -> Result<ObservedSource<A::Client>, ManualError> {
    app.client(endpoint)
        .map(|client| ObservedSource::new(endpoint.name.clone(), client))
        .map_err(|error| ManualError::Client {
            node: endpoint.name.clone(),
            reason: crate::ErrorChain(&*error).to_string(),
        })
}

/// The app of `group`'s nodes (`first` for a group it does not know: an
/// attached endpoint).
fn app_of<A>(apps: &[(String, Arc<A>)], first: &Arc<A>, group: &str) -> Arc<A> {
    apps.iter()
        .find(|(g, _)| g == group)
        .map_or_else(|| Arc::clone(first), |(_, app)| Arc::clone(app))
}

/// One group of a manual cluster of one app type: its name, its app (its
/// settings: validators and RPC nodes of one chain), its size, and the
/// groups it starts after.
#[derive(Clone, Debug)]
pub struct GroupOf<A> {
    /// Its name; its nodes are `name-0`, `name-1`, ...
    pub name: String,
    /// Its nodes' app.
    pub app: Arc<A>,
    /// How many nodes.
    pub nodes: usize,
    /// Groups whose nodes must be ready before this group starts.
    pub after: Vec<String>,
}

impl<A> GroupOf<A> {
    /// A group `name` of `nodes` nodes of `app`, starting at once.
    pub fn new(name: impl Into<String>, app: A, nodes: usize) -> Self {
        GroupOf {
            name: name.into(),
            app: Arc::new(app),
            nodes,
            after: Vec::new(),
        }
    }

    /// Starts once every node of `group` is ready.
    pub fn after(mut self, group: impl Into<String>) -> Self {
        self.after.push(group.into());
        self
    }
}

/// A started observer's handle, re-boxed for each run context.
type HandleFn = Box<dyn Fn() -> ObserverEntry + Send + Sync>;
/// Stops a started observer's runtime.
type StopFn = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// A cluster of `A`'s nodes on any deployer, driven step by step.
///
/// Dropping it without [`cleanup`](Self::cleanup) still removes every node
/// (the deployers' clusters do so on drop); `cleanup` stops them
/// gracefully and reports.
pub struct ManualCluster<A: Application> {
    app: Arc<A>,
    /// Each group's app (its settings), by group; the first is `app`.
    apps: Vec<(String, Arc<A>)>,
    deployer: String,
    capabilities: Capabilities,
    cluster: Option<Box<dyn Cluster>>,
    control: Arc<dyn NodeControl>,
    /// The cluster's own nodes, each with its client.
    nodes: Vec<(NodeEndpoint, ObservedSource<A::Client>)>,
    /// Attached endpoints the test does not control.
    external: Vec<(NodeEndpoint, ObservedSource<A::Client>)>,
    sources: SourcesTx<A::Client>,
    readiness: ObservationHandle<ReadinessObserver<A>>,
    handles: HashMap<TypeId, HandleFn>,
    stops: Vec<StopFn>,
    journal: Journal,
    run_dir: PathBuf,
    history: History,
    /// When the history began: its times, and the faults', count from it.
    origin: Instant,
    /// The faults the drives marked, from `origin`.
    faults: Mutex<Vec<FaultWindow>>,
    cleaned: Option<CleanupReport>,
}

impl<A: Application> ManualCluster<A> {
    /// Deploys `nodes` nodes of `app` (zero: a cluster to grow) on
    /// `deployer`, its run directory named after `name`, and starts
    /// observing their readiness. Returns once deployed, not once ready:
    /// see [`wait_ready`](Self::wait_ready).
    pub async fn start(
        app: Arc<A>,
        deployer: &dyn Deployer,
        name: &str,
        nodes: usize,
    ) -> Result<Self, ManualError> {
        Self::start_in(app, deployer, name, nodes, None).await
    }

    /// Like [`start`](Self::start), with the run directory given.
    pub async fn start_in(
        app: Arc<A>,
        deployer: &dyn Deployer,
        name: &str,
        nodes: usize,
        run_dir: Option<PathBuf>,
    ) -> Result<Self, ManualError> {
        let request = DeploymentRequest::new(Arc::clone(&app), name, nodes).with_run_dir(run_dir);
        Self::start_request(app, None, deployer, request).await
    }

    /// Like [`start`](Self::start), every node under a clock that
    /// [`set_clock`](Self::set_clock) can set off (it needs libfaketime and
    /// a dynamically linked node binary).
    pub async fn start_with_clocks(
        app: Arc<A>,
        deployer: &dyn Deployer,
        name: &str,
        nodes: usize,
    ) -> Result<Self, ManualError> {
        let request = DeploymentRequest::new(Arc::clone(&app), name, nodes).with_clock_faults(true);
        Self::start_request(app, None, deployer, request).await
    }

    /// Deploys what `request` asks for (its app must be `app`).
    /// Deploys `groups` on `deployer`, each group after the ones it waits
    /// for, its run directory named after `name`, and starts observing
    /// their readiness (every node probed by the first group's app). The
    /// generic steps and [`add_node`](Self::add_node) (with
    /// [`NewNode::group`]) work across groups.
    pub async fn start_groups(
        deployer: &dyn Deployer,
        name: &str,
        groups: Vec<GroupOf<A>>,
        clocks: bool,
    ) -> Result<Self, ManualError> {
        let first = groups
            .first()
            .map(|g| Arc::clone(&g.app))
            .ok_or_else(|| ManualError::Invalid("a cluster needs at least one group".into()))?;
        let requests = groups
            .iter()
            .map(|g| {
                let mut request = GroupRequest::new(&g.name, Arc::clone(&g.app), g.nodes);
                request.after.clone_from(&g.after);
                request
            })
            .collect();
        let request = DeploymentRequest::of_groups(name, requests).with_clock_faults(clocks);
        let apps = groups.into_iter().map(|g| (g.name, g.app)).collect();
        Self::start_request(first, Some(apps), deployer, request).await
    }

    async fn start_request(
        app: Arc<A>,
        apps: Option<Vec<(String, Arc<A>)>>,
        deployer: &dyn Deployer,
        request: DeploymentRequest,
    ) -> Result<Self, ManualError> {
        let nodes = request.nodes();
        request.check()?;
        let apps: Vec<(String, Arc<A>)> = match apps {
            Some(apps) => apps,
            None => request
                .groups
                .iter()
                .map(|g| (g.name.clone(), Arc::clone(&app)))
                .collect(),
        };
        let mut cluster = deployer.deploy(&request).await?;
        let mut sources_of_nodes = Vec::new();
        for endpoint in cluster.endpoints() {
            match source_of(&*app_of(&apps, &app, &endpoint.group), &endpoint) {
                Ok(source) => sources_of_nodes.push((endpoint, source)),
                Err(error) => {
                    cluster.cleanup().await;
                    return Err(error);
                }
            }
        }
        let run_dir = cluster.run_dir().to_owned();
        let journal = Journal::open(&run_dir.join("steps.log"));
        journal.write(&format!(
            "deployed {nodes} node(s) of {} on the {} deployer",
            app.name(),
            deployer.name()
        ));
        let history_path = run_dir.join(HISTORY_FILE);
        let origin = Instant::now();
        let history = History::to_file(&history_path, origin).unwrap_or_else(|error| {
            journal.write(&format!(
                "the client history is kept in memory only: cannot create {}: {error}",
                history_path.display()
            ));
            History::in_memory()
        });
        let sources = SourcesTx::new();
        let readiness = ObservationRuntime::start(
            sources.provider(),
            ReadinessObserver::new(Arc::clone(&app)),
            readiness_config(),
        )?;
        let mut manual = ManualCluster {
            deployer: deployer.name().to_owned(),
            capabilities: deployer.capabilities(),
            control: cluster.control(),
            nodes: sources_of_nodes,
            cluster: Some(cluster),
            external: Vec::new(),
            sources,
            readiness: readiness.handle(),
            handles: HashMap::new(),
            stops: Vec::new(),
            journal,
            run_dir,
            history,
            origin,
            faults: Mutex::new(Vec::new()),
            cleaned: None,
            app,
            apps,
        };
        manual
            .stops
            .push(Box::new(move || Box::pin(readiness.stop())));
        manual.publish();
        Ok(manual)
    }

    /// The app.
    pub fn app(&self) -> &Arc<A> {
        &self.app
    }

    /// The cluster's own nodes of `group`, in order.
    pub fn group(&self, group: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(e, _)| e.group == group)
            .map(|(e, _)| e.name.clone())
            .collect()
    }

    /// Its groups, in order.
    pub fn groups(&self) -> Vec<String> {
        self.apps.iter().map(|(g, _)| g.clone()).collect()
    }

    /// The deployer's name.
    pub fn deployer(&self) -> &str {
        &self.deployer
    }

    /// Whether the deployer can do `action`.
    pub fn supports(&self, action: NodeAction) -> bool {
        self.capabilities.supports(action)
    }

    /// The run directory: node logs, `steps.log`.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The journal of actions and waits (`steps.log`).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The cluster's own nodes, in the order they were added.
    pub fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(|(e, _)| e.name.clone()).collect()
    }

    /// The attached external sources.
    pub fn external(&self) -> Vec<String> {
        self.external.iter().map(|(e, _)| e.name.clone()).collect()
    }

    /// Where the framework reaches `node` (own or external).
    pub fn endpoint(&self, node: &str) -> Option<&NodeEndpoint> {
        self.nodes
            .iter()
            .chain(&self.external)
            .map(|(e, _)| e)
            .find(|e| e.name == node)
    }

    /// Every own node's endpoint.
    pub fn endpoints(&self) -> Vec<NodeEndpoint> {
        self.nodes.iter().map(|(e, _)| e.clone()).collect()
    }

    /// `node`'s client (own or external).
    pub fn client(&self, node: &str) -> Option<&A::Client> {
        self.nodes
            .iter()
            .chain(&self.external)
            .find(|(e, _)| e.name == node)
            .map(|(_, s)| &s.source)
    }

    /// `node`'s log file, if the deployer keeps one.
    pub fn log_path(&self, node: &str) -> Option<PathBuf> {
        self.cluster.as_ref()?.log_path(node)
    }

    /// The provider of the cluster's current sources (own nodes, then
    /// external ones): a runtime started over it follows every change.
    pub fn sources(&self) -> ClusterSources<A::Client> {
        self.sources.provider()
    }

    /// Starts observing the cluster with `observer`; the runtime follows
    /// the source set and stops at cleanup. Workloads and expectations run
    /// through [`drive`](Self::drive) and [`check`](Self::check) find it by
    /// type, as in a scenario.
    pub fn observe<O>(
        &mut self,
        observer: O,
        config: ObservationConfig,
    ) -> Result<ObservationHandle<O>, ManualError>
    where
        O: Observer<Source = A::Client>,
    {
        let runtime = ObservationRuntime::start(self.sources.provider(), observer, config)?;
        let handle = runtime.handle();
        self.journal
            .write(&format!("observing with {}", handle.observer_name()));
        let boxed = handle.clone();
        self.handles.insert(
            TypeId::of::<O>(),
            Box::new(move || ObserverEntry::of(boxed.clone())),
        );
        self.stops.push(Box::new(move || Box::pin(runtime.stop())));
        Ok(handle)
    }

    /// The handle of the observer of type `O` started with
    /// [`observe`](Self::observe).
    pub fn observer<O: Observer>(&self) -> Option<ObservationHandle<O>> {
        (self.handles.get(&TypeId::of::<O>())?)().handle::<O>()
    }

    /// The readiness of every source, observed with the app's probe.
    pub fn readiness(&self) -> &ObservationHandle<ReadinessObserver<A>> {
        &self.readiness
    }

    /// Waits until `condition` holds on a snapshot of `handle` whose cycle
    /// began after this call (an older one, from before the step's action,
    /// does not count), for at most `timeout`, and writes the outcome into
    /// `steps.log`: the snapshot that satisfied it, or what was observed
    /// instead.
    pub async fn wait_until<O, F>(
        &self,
        handle: &ObservationHandle<O>,
        what: &str,
        timeout: Duration,
        condition: F,
    ) -> Result<Arc<ObservationOf<O>>, ManualError>
    where
        O: Observer,
        F: FnMut(&O::Snapshot) -> bool,
    {
        self.journal.write(&format!(
            "waiting up to {:.1}s for {what} ({})",
            timeout.as_secs_f64(),
            handle.observer_name()
        ));
        let started = Instant::now();
        // Only what cycles that begin from now on observe counts: a
        // snapshot from before the step (before the last write, say) must
        // not satisfy it.
        match handle
            .wait_until_after(handle.cursor(), condition, timeout)
            .await
        {
            Ok(reached) => {
                self.journal
                    .waited(what, started.elapsed(), &reached.snapshot);
                Ok(reached)
            }
            Err(error) => {
                self.journal.write(&format!("FAILED: {what}: {error}"));
                Err(ManualError::WaitFor {
                    what: what.to_owned(),
                    source: error,
                })
            }
        }
    }

    /// Waits until every own node passes the app's readiness probe.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), ManualError> {
        let nodes = self.nodes();
        self.wait_nodes_ready(&nodes, timeout).await
    }

    /// Waits until each of `nodes` (own or external) passes the app's
    /// readiness probe.
    pub async fn wait_nodes_ready(
        &self,
        nodes: &[String],
        timeout: Duration,
    ) -> Result<(), ManualError> {
        self.known(nodes)?;
        let what = format!("{} to be ready", nodes.join(", "));
        self.wait_until(&self.readiness, &what, timeout, |r: &Readiness| {
            nodes.iter().all(|n| r.ready.contains(n))
        })
        .await
        .map(|_| ())
    }

    /// Waits until `node`'s readiness probe fails (it is down, frozen or
    /// cut off from the runner).
    pub async fn wait_not_ready(&self, node: &str, timeout: Duration) -> Result<(), ManualError> {
        self.known(&[node.to_owned()])?;
        let what = format!("{node} to stop answering its readiness probe");
        self.wait_until(&self.readiness, &what, timeout, |r: &Readiness| {
            r.not_ready.contains_key(node)
        })
        .await
        .map(|_| ())
    }

    /// Starts one more node (`node-N`, the next index) with `node`'s peers,
    /// and returns its name; observers see it from their next cycle.
    pub async fn add_node(&mut self, node: NewNode) -> Result<String, ManualError> {
        if let Some(peers) = &node.peers {
            for peer in peers {
                if self.external.iter().any(|(e, _)| &e.name == peer) {
                    return Err(ManualError::Invalid(format!(
                        "`{peer}` is an external source: give its endpoint in NewNode::external_peers"
                    )));
                }
            }
        }
        let described = describe_peers(&node);
        let cluster = self.cluster_mut()?;
        let endpoint = match cluster.add_node(node).await {
            Ok(endpoint) => endpoint,
            Err(error) => {
                return Err(self.failed(&format!("add a node (peers: {described})"), error.into()));
            }
        };
        let name = endpoint.name.clone();
        let source = match source_of(&*app_of(&self.apps, &self.app, &endpoint.group), &endpoint) {
            Ok(source) => source,
            Err(error) => {
                // A node the test cannot reach is no use: take it out again.
                let _ = self.cluster_mut()?.remove_node(&name).await;
                return Err(self.failed(&format!("add {name}"), error));
            }
        };
        self.journal
            .write(&format!("added {name} (peers: {described})"));
        self.nodes.push((endpoint, source));
        self.publish();
        Ok(name)
    }

    /// Stops `node` and removes it from the cluster and its sources.
    pub async fn remove_node(&mut self, node: &str) -> Result<(), ManualError> {
        self.own(node)?;
        self.cluster_mut()?.remove_node(node).await?;
        self.nodes.retain(|(e, _)| e.name != node);
        self.journal.write(&format!("removed {node}"));
        self.publish();
        Ok(())
    }

    /// Attaches an endpoint the test does not control (a node of a public
    /// network, another team's deployment) as a source called `name`.
    pub fn attach(&mut self, name: &str, endpoint: NodeEndpoint) -> Result<(), ManualError> {
        if self.endpoint(name).is_some() {
            return Err(ManualError::NameTaken(name.to_owned()));
        }
        // `<group>-N` is how the cluster names the nodes it adds.
        if self.apps.iter().any(|(group, _)| {
            name.strip_prefix(group.as_str())
                .and_then(|n| n.strip_prefix('-'))
                .is_some_and(|n| n.parse::<usize>().is_ok())
        }) {
            return Err(ManualError::Invalid(format!(
                "`{name}` is a name this cluster gives its own nodes; attach external sources under another (`public-{name}`, say)"
            )));
        }
        let endpoint = NodeEndpoint {
            name: name.to_owned(),
            ..endpoint
        };
        let source = source_of(&*self.app, &endpoint)?;
        self.journal
            .write(&format!("attached {name} at {}", endpoint.address));
        self.external.push((endpoint, source));
        self.publish();
        Ok(())
    }

    /// Detaches an external source.
    pub fn detach(&mut self, name: &str) -> Result<(), ManualError> {
        let before = self.external.len();
        self.external.retain(|(e, _)| e.name != name);
        if self.external.len() == before {
            return Err(ManualError::Invalid(format!(
                "no external source named `{name}` is attached"
            )));
        }
        self.journal.write(&format!("detached {name}"));
        self.publish();
        Ok(())
    }

    /// Stops `node` (SIGTERM, then SIGKILL after the grace period).
    pub async fn stop(&self, node: &str) -> Result<(), ManualError> {
        self.act("stop", node, NodeAction::StartStop, self.control.stop(node))
            .await
    }

    /// Starts a stopped `node` again, with its data.
    pub async fn start_node(&self, node: &str) -> Result<(), ManualError> {
        self.act(
            "start",
            node,
            NodeAction::StartStop,
            self.control.start(node),
        )
        .await
    }

    /// Stops, then starts `node`.
    pub async fn restart(&self, node: &str) -> Result<(), ManualError> {
        self.act(
            "restart",
            node,
            NodeAction::StartStop,
            self.control.restart(node),
        )
        .await
    }

    /// Kills `node` at once.
    pub async fn kill(&self, node: &str) -> Result<(), ManualError> {
        self.act("kill", node, NodeAction::Kill, self.control.kill(node))
            .await
    }

    /// Freezes `node`.
    pub async fn pause(&self, node: &str) -> Result<(), ManualError> {
        self.act("pause", node, NodeAction::Pause, self.control.pause(node))
            .await
    }

    /// Thaws a frozen `node`.
    pub async fn resume(&self, node: &str) -> Result<(), ManualError> {
        self.act("resume", node, NodeAction::Pause, self.control.resume(node))
            .await
    }

    /// Cuts `side` off from the rest of the cluster.
    pub async fn partition(&self, side: &[String]) -> Result<(), ManualError> {
        self.supported(NodeAction::Partition)?;
        for node in side {
            self.own(node)?;
        }
        let what = format!("partition {} from the rest", side.join(", "));
        self.journal.write(&what);
        self.control
            .partition(side)
            .await
            .map_err(|e| self.failed(&what, e.into()))
    }

    /// Ends the partition.
    pub async fn heal(&self) -> Result<(), ManualError> {
        self.supported(NodeAction::Partition)?;
        self.journal.write("heal the partition");
        self.control
            .heal()
            .await
            .map_err(|e| self.failed("heal", e.into()))
    }

    /// Applies `fault` to `links` (see [`crate::fault`]); the confirmation
    /// goes into the journal. Other impairments stay in force until
    /// [`restore`](Self::restore)d; cleanup removes whatever is left.
    pub async fn impair(&self, links: &Links, fault: &LinkFault) -> Result<Impaired, ManualError> {
        self.supported(NodeAction::Links)?;
        fault.check().map_err(ManualError::Invalid)?;
        let resolved = links.resolve(&self.nodes()).map_err(ManualError::Invalid)?;
        let what = format!("{fault} on {links}");
        self.journal.write(&what);
        let impaired = self
            .control
            .impair(&resolved, fault)
            .await
            .map_err(|e| self.failed(&what, e.into()))?;
        for line in &impaired.confirmed {
            self.journal.write(&format!("  confirmed {line}"));
        }
        Ok(impaired)
    }

    /// Sets `node`'s wall clock to `clock` (the default: the true time);
    /// the cluster must have been started
    /// [`with clocks`](Self::start_with_clocks).
    pub async fn set_clock(&self, node: &str, clock: &ClockFault) -> Result<(), ManualError> {
        self.supported(NodeAction::Clock)?;
        self.own(node)?;
        clock.check().map_err(ManualError::Invalid)?;
        let what = format!("set {node}'s clock: {clock}");
        self.journal.write(&what);
        self.control
            .set_clock(node, clock)
            .await
            .map_err(|e| self.failed(&what, e.into()))
    }

    /// Removes impairment `id`; returns what it did, as the journal does.
    pub async fn restore(&self, id: u64) -> Result<Vec<String>, ManualError> {
        self.supported(NodeAction::Links)?;
        self.journal.write(&format!("restore impairment {id}"));
        let lines = self
            .control
            .restore(id)
            .await
            .map_err(|e| self.failed("restore", e.into()))?;
        for line in &lines {
            self.journal.write(&format!("  {line}"));
        }
        Ok(lines)
    }

    /// Node control, for workloads and tools that take it directly.
    pub fn control(&self) -> &Arc<dyn NodeControl> {
        &self.control
    }

    /// What workloads and expectations see of this cluster now: the own
    /// nodes, node control, every observer started with
    /// [`observe`](Self::observe) and the cluster's client history; its
    /// window closes with `over`.
    pub fn context(&self, over: CancellationToken) -> RunContext<A> {
        let mut ctx = RunContext::new(
            Arc::clone(&self.app),
            self.nodes.iter().map(|(_, s)| s.clone()).collect(),
            Arc::clone(&self.control),
            self.handles.iter().map(|(id, h)| (*id, h())).collect(),
            self.history.clone(),
        )
        .with_clients(NodeClients::typed(
            self.nodes
                .iter()
                .map(|(e, s)| (e.name.clone(), e.group.clone(), s.source.clone())),
        ));
        ctx.over = over;
        ctx
    }

    /// What the clients of this cluster saw, across every
    /// [`drive`](Self::drive): it streams to `history.jsonl` in the run
    /// directory.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Runs `workloads` together for `window`, as a scenario's run window
    /// does: a workload that fails or panics ends the drive with its error,
    /// and one that does not return within 10 s of the window's end is cut
    /// off and fails. What they did goes into `steps.log`.
    pub async fn drive(
        &self,
        workloads: &[Arc<dyn Workload<A>>],
        window: Duration,
    ) -> Result<(), ManualError> {
        let names = self.nodes();
        for workload in workloads {
            for action in workload.needs() {
                self.supported(action)?;
            }
            workload.check(&names).map_err(|reason| {
                ManualError::Invalid(format!(
                    "workload `{}` cannot run: {reason}",
                    workload.name()
                ))
            })?;
        }
        let names: Vec<_> = workloads.iter().map(|w| w.name()).collect();
        self.journal.write(&format!(
            "driving {} for {:.1}s",
            names.join(", "),
            window.as_secs_f64()
        ));
        let ctx = Arc::new(self.context(CancellationToken::new()));
        let mut running = Window::open(&ctx, workloads, Vec::new());
        let mut failures = Vec::new();
        running
            .run(window, &CancellationToken::new(), None, |event| {
                if let WindowEvent::WorkloadFailed(failure) = event {
                    failures.push(failure);
                    return Flow::Stop;
                }
                Flow::Continue
            })
            .await;
        failures.extend(running.close().await);
        // The faults, on the history's clock, for later checks.
        let offset = ctx
            .started
            .saturating_duration_since(self.origin)
            .as_millis() as u64;
        self.faults
            .lock()
            .extend(ctx.faults().into_iter().map(|f| FaultWindow {
                start_ms: f.start_ms + offset,
                end_ms: f.end_ms.map(|end| end + offset),
                ..f
            }));
        for entry in ctx.timeline.lock().iter() {
            self.journal.write(&format!(
                "  at +{:.3}s of the window: {}: {}",
                entry.at_ms as f64 / 1000.0,
                entry.source,
                entry.what
            ));
        }
        match failures.into_iter().next() {
            None => Ok(()),
            Some(failure) => {
                let error = ManualError::Invalid(format!(
                    "workload `{}` failed: {}",
                    failure.name, failure.error
                ));
                self.journal.write(&format!("FAILED: {error}"));
                Err(error)
            }
        }
    }

    /// Judges `expectation` now, on the cluster as it is (the window of an
    /// `Always` expectation is already closed: it checks what was observed
    /// so far). Its window is the cluster's life so far, with the faults
    /// every drive marked, so objectives over the history judge it all.
    pub async fn check(&self, expectation: &dyn Expectation<A>) -> Result<(), Violation> {
        let over = CancellationToken::new();
        over.cancel();
        let ctx = self
            .context(over)
            .with_timeline(self.origin, Arc::new(Mutex::new(Vec::new())))
            .with_faults(self.faults.lock().clone());
        let outcome = expectation.check(&ctx).await;
        match &outcome {
            Ok(()) => self
                .journal
                .write(&format!("holds: {}", expectation.name())),
            Err(violation) => self
                .journal
                .write(&format!("FAILED: {}: {violation}", expectation.name())),
        }
        outcome
    }

    /// Stops every observer and every node, gracefully, and reports.
    /// Idempotent.
    pub async fn cleanup(&mut self) -> CleanupReport {
        if let Some(report) = &self.cleaned {
            return report.clone();
        }
        for stop in self.stops.drain(..) {
            stop().await;
        }
        for note in self.history.finish() {
            self.journal.write(&note);
        }
        let report = match self.cluster.as_mut() {
            Some(cluster) => cluster.cleanup().await,
            None => CleanupReport::default(),
        };
        self.journal.write(&format!(
            "cleaned up: {} node(s) stopped{}{}",
            report.stopped.len(),
            if report.left_running.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} left running (not the framework's to stop)",
                    report.left_running.len()
                )
            },
            if report.problems.is_empty() {
                String::new()
            } else {
                format!("; problems: {}", report.problems.join("; "))
            }
        ));
        self.cleaned = Some(report.clone());
        report
    }

    fn cluster_mut(&mut self) -> Result<&mut Box<dyn Cluster>, ManualError> {
        match (&self.cleaned, self.cluster.as_mut()) {
            (None, Some(cluster)) => Ok(cluster),
            _ => Err(ManualError::Invalid(
                "the cluster has been cleaned up".into(),
            )),
        }
    }

    fn publish(&self) {
        let set: SourceSet<A::Client> = self
            .nodes
            .iter()
            .chain(&self.external)
            .map(|(_, s)| s.clone())
            .collect();
        self.sources.set(set);
    }

    /// Every name in `nodes` is a source of this cluster.
    fn known(&self, nodes: &[String]) -> Result<(), ManualError> {
        match nodes.iter().find(|n| self.endpoint(n).is_none()) {
            None => Ok(()),
            Some(unknown) => Err(self.unknown(unknown)),
        }
    }

    /// `node` is one of the cluster's own nodes.
    fn own(&self, node: &str) -> Result<(), ManualError> {
        if self.nodes.iter().any(|(e, _)| e.name == node) {
            Ok(())
        } else if self.external.iter().any(|(e, _)| e.name == node) {
            Err(ManualError::External(node.to_owned()))
        } else {
            Err(self.unknown(node))
        }
    }

    fn unknown(&self, node: &str) -> ManualError {
        let mut names = self.nodes();
        names.extend(self.external());
        ManualError::Control(ControlError::Failed {
            action: "find",
            node: node.to_owned(),
            reason: format!(
                "no such node in this cluster (it has: {})",
                if names.is_empty() {
                    "no nodes".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        })
    }

    fn supported(&self, action: NodeAction) -> Result<(), ManualError> {
        if self.supports(action) {
            Ok(())
        } else {
            Err(ManualError::Unsupported {
                deployer: self.deployer.clone(),
                action,
            })
        }
    }

    fn failed(&self, what: &str, error: ManualError) -> ManualError {
        self.journal.write(&format!("FAILED: {what}: {error}"));
        error
    }

    async fn act(
        &self,
        verb: &str,
        node: &str,
        needs: NodeAction,
        action: impl Future<Output = Result<(), ControlError>>,
    ) -> Result<(), ManualError> {
        self.supported(needs)?;
        self.own(node)?;
        self.journal.write(&format!("{verb} {node}"));
        action
            .await
            .map_err(|e| self.failed(&format!("{verb} {node}"), e.into()))
    }
}

fn describe_peers(node: &NewNode) -> String {
    let mut peers = match &node.peers {
        None => vec!["every node".to_owned()],
        Some(names) if names.is_empty() && node.external_peers.is_empty() => {
            vec!["none".to_owned()]
        }
        Some(names) => names.clone(),
    };
    peers.extend(
        node.external_peers
            .iter()
            .map(|e| format!("{} (external)", e.name)),
    );
    peers.join(", ")
}

/// Readiness is probed often: steps wait on it.
fn readiness_config() -> ObservationConfig {
    ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(100))
        .with_source_timeout(Duration::from_secs(1))
}
