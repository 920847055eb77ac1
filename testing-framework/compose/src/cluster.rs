//! A running cluster of node containers, its node control and partitions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use tf_core::fault::{ClockFault, Impaired, Link, LinkFault};
use tf_core::host::NodeTable;
use tf_core::report::{CleanupReport, NodeExit};
use tf_core::scenario::{
    Cluster, ControlError, DeployError, DeploymentRequest, NewNode, NodeControl, NodeEndpoint,
};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::compose_file::{self, Service};
use crate::deployer::{Planned, container_of, create_node, endpoint, plan, start_node};
use crate::image::NodeImage;
use crate::links::{HelperPool, Nodes};
use crate::network::{self, Net};
use crate::node::{NodeContainer, remove_container};
use crate::reaper::Reaper;
use tf_netfault::driver::LinkFaults;

/// Nodes by name, the run's networks, and the partition in force.
pub(crate) struct ComposeControl {
    pub(crate) docker: Docker,
    pub(crate) run: String,
    pub(crate) nodes: NodeTable<NodeContainer>,
    pub(crate) crashes: Arc<watch::Sender<Vec<NodeExit>>>,
    pub(crate) stop_grace: Duration,
    pub(crate) labels: HashMap<String, String>,
    /// The nodes cut off, while a partition lasts. Partition and heal hold
    /// it throughout, so they never interleave.
    pub(crate) cut: AsyncMutex<Vec<String>>,
    /// The faults in force on links.
    pub(crate) links: LinkFaults,
    /// Link fault helpers.
    pub(crate) helpers: HelperPool,
}

impl ComposeControl {
    pub(crate) fn node(&self, name: &str) -> Result<Arc<NodeContainer>, ControlError> {
        self.nodes.get(name)
    }

    /// What link faults need of the nodes.
    pub(crate) fn link_nodes(&self) -> Nodes<'_> {
        Nodes {
            docker: &self.docker,
            run: &self.run,
            labels: &self.labels,
            containers: self
                .nodes
                .all()
                .iter()
                .map(|n| (n.name.clone(), (n.container.clone(), n.probe_port)))
                .collect(),
            answering: self
                .nodes
                .all()
                .iter()
                .filter(|n| n.is_answering())
                .map(|n| n.name.clone())
                .collect(),
            pool: &self.helpers,
        }
    }

    /// Moves `nodes` from network `from` to `to`, under their names; stops
    /// at the first failure.
    async fn move_nodes(&self, nodes: &[String], from: Net, to: Net) -> Result<(), String> {
        let (from, to) = (from.name(&self.run), to.name(&self.run));
        for name in nodes {
            let node = self.node(name).map_err(|e| e.to_string())?;
            network::disconnect(&self.docker, &from, &node.container).await?;
            network::connect(&self.docker, &to, &node.container, Some(name)).await?;
        }
        Ok(())
    }

    /// Puts `name` back on the peers network, whatever state a failed
    /// partition left it in (still on peers, on cut, on neither).
    pub(crate) async fn rejoin(&self, name: &str) -> Result<(), String> {
        let node = self.node(name).map_err(|e| e.to_string())?;
        let container = &node.container;
        // Not connected to the cut network is fine.
        let _ = network::disconnect(&self.docker, &Net::Cut.name(&self.run), container).await;
        match network::connect(
            &self.docker,
            &Net::Peers.name(&self.run),
            container,
            Some(name),
        )
        .await
        {
            Err(error) if !error.contains("already exists") => Err(error),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl NodeControl for ComposeControl {
    async fn start(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .start()
            .await
            .map_err(ControlError::failed("start", node))?;
        // A new life, a new network namespace: its link faults go back.
        self.links
            .node_started(&self.link_nodes(), node)
            .await
            .map_err(ControlError::failed("start", node))
    }

    async fn set_clock(&self, node: &str, clock: &ClockFault) -> Result<(), ControlError> {
        let container = self.node(node)?;
        let failed = ControlError::failed("set the clock of", node);
        match container.clock.as_ref() {
            Some(node_clock) => node_clock.set(*clock).map_err(failed),
            None => Err(failed(
                tf_core::host::clock::NOT_DEPLOYED_WITH_CLOCKS.into(),
            )),
        }
    }

    async fn impair(&self, links: &[Link], fault: &LinkFault) -> Result<Impaired, ControlError> {
        let who = Link::list(links);
        let impaired = self
            .links
            .impair(&self.link_nodes(), links, fault)
            .await
            .map_err(ControlError::failed("impair", &who))?;
        tracing::info!(links = %who, %fault, "links impaired");
        Ok(impaired)
    }

    async fn restore(&self, id: u64) -> Result<Vec<String>, ControlError> {
        self.links
            .restore(&self.link_nodes(), id)
            .await
            .map_err(ControlError::failed(
                "restore the links of",
                &format!("impairment {id}"),
            ))
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
            .await
            .map_err(ControlError::failed("pause", node))
    }

    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .resume()
            .await
            .map_err(ControlError::failed("resume", node))
    }

    async fn partition(&self, side: &[String]) -> Result<(), ControlError> {
        let who = side.join(", ");
        let refuse = |reason: String| ControlError::Failed {
            action: "partition",
            node: who.clone(),
            reason,
        };
        for name in side {
            self.node(name)?;
        }
        let mut cut = self.cut.lock().await;
        ControlError::check_partition(side, self.nodes.len(), &cut).map_err(&refuse)?;
        // A cut network a failed heal left behind is removed first.
        let _ = network::remove(&self.docker, &Net::Cut.name(&self.run)).await;
        network::create(&self.docker, &self.run, Net::Cut, &self.labels)
            .await
            .map_err(&refuse)?;
        // Recorded before the moves: a failed move is undone by heal.
        *cut = side.to_vec();
        let moved = match self.move_nodes(side, Net::Peers, Net::Cut).await {
            Ok(()) => self.confirm_cut(side).await,
            Err(reason) => Err(reason),
        };
        drop(cut);
        match moved {
            Ok(confirmed) => {
                tracing::info!(side = %who, ?confirmed, "partitioned");
                Ok(())
            }
            Err(reason) => {
                let _ = self.heal().await;
                Err(refuse(reason))
            }
        }
    }

    async fn heal(&self) -> Result<(), ControlError> {
        let mut cut = self.cut.lock().await;
        if cut.is_empty() {
            return Ok(());
        }
        let who = cut.join(", ");
        // Every node is tried; those that could not rejoin stay listed, so
        // that another heal tries them again.
        let mut problems = Vec::new();
        let mut still_cut = Vec::new();
        for name in cut.iter() {
            if let Err(problem) = self.rejoin(name).await {
                problems.push(problem);
                still_cut.push(name.clone());
            }
        }
        if still_cut.is_empty() {
            if let Err(problem) = network::remove(&self.docker, &Net::Cut.name(&self.run)).await {
                problems.push(problem);
            }
        }
        let healed: Vec<String> = cut
            .iter()
            .filter(|n| !still_cut.contains(n))
            .cloned()
            .collect();
        *cut = still_cut;
        // Confirmed under the lock, so no partition starts meanwhile; a
        // heal that did not take keeps its nodes listed for the next heal.
        if problems.is_empty() {
            match self.confirm_healed(&healed).await {
                Ok(confirmed) => {
                    tracing::info!(side = %who, ?confirmed, "healed");
                    return Ok(());
                }
                Err(problem) => {
                    *cut = healed;
                    problems.push(problem);
                }
            }
        }
        drop(cut);
        Err(ControlError::Failed {
            action: "heal",
            node: who,
            reason: problems.join("; "),
        })
    }

    fn unexpected_exits(&self) -> watch::Receiver<Vec<NodeExit>> {
        self.crashes.subscribe()
    }
}

/// Node containers on the run's own networks. Dropping it removes them
/// (blocking), so a panic or an abandoned run leaves nothing behind.
pub struct ComposeCluster {
    pub(crate) run_dir: PathBuf,
    pub(crate) endpoints: Vec<NodeEndpoint>,
    pub(crate) control: Arc<ComposeControl>,
    pub(crate) cleaned: bool,
    /// Every node as placed, in the order they were added.
    pub(crate) planned: Vec<Planned>,
    /// The numbers the next added node gets.
    pub(crate) numbering: tf_core::host::Numbering,
    /// Each group's image.
    pub(crate) images: HashMap<String, NodeImage>,
    /// libfaketime (its path here and in the image), when the nodes run
    /// under it for clock faults.
    pub(crate) faketime: Option<PathBuf>,
    /// The user containers run as (the run directory's owner).
    pub(crate) owner: String,
    pub(crate) request: DeploymentRequest,
    /// The connection to the run's reaper, held while the cluster lives
    /// (fields are dropped after `Drop::drop`, so after its removal).
    pub(crate) _reaper: Option<Reaper>,
}

impl ComposeCluster {
    /// Writes the run's `docker-compose.yml`: the cluster as it is now.
    pub(crate) fn write_compose_file(&self) -> Result<(), DeployError> {
        let services: Vec<Service<'_>> = self
            .planned
            .iter()
            .map(|p| Service {
                spec: &p.spec,
                command: &p.command,
                data: &p.data,
                ports: p.ports(self.request.ports_of(&p.spec.group)),
                image: &self.images[&p.spec.group],
            })
            .collect();
        let text = compose_file::render(&self.control.run, &self.owner, &services);
        let path = self.run_dir.join("docker-compose.yml");
        std::fs::write(&path, text).map_err(|e| tf_core::host::io_error("write", &path, e))
    }

    /// The run's id, as its containers' and networks' names and labels
    /// carry it.
    pub fn run_id(&self) -> &str {
        &self.control.run
    }

    /// The container of each node, by node name.
    pub fn containers(&self) -> Vec<(String, String)> {
        self.control
            .nodes
            .all()
            .iter()
            .map(|n| (n.name.clone(), n.container.clone()))
            .collect()
    }

    /// Removes every container and network of the run, reporting what went
    /// wrong. Stops nothing gracefully: for errors and drops.
    pub(crate) async fn remove_all(control: &ComposeControl) -> Vec<String> {
        // Their ends are asked for, not crashes.
        for node in control.nodes.all() {
            node.expect_exit();
        }
        let mut problems = crate::sweep::remove_run(&control.docker, &control.run)
            .await
            .problems;
        // The reaper last, and only once the rest is gone: otherwise it
        // tries again when the runner lets go of it.
        if problems.is_empty() {
            let reaper = crate::reaper::container_name(&control.run);
            if let Err(problem) = remove_container(&control.docker, &reaper).await {
                problems.push(problem);
            }
        }
        problems
    }
}

#[async_trait]
impl Cluster for ComposeCluster {
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
        node.refuse_loopback_peers("a container")?;
        let taken: Vec<u16> = self
            .planned
            .iter()
            .flat_map(|p| p.spec.ports.numbers())
            .collect();
        let group = self.request.group_to_join(node.group.as_deref())?;
        let ports = tf_core::host::port_maps_except(&group.ports, 1, &taken)?
            .pop()
            .unwrap_or_default();
        let mut numbering = self.numbering.clone();
        let (index, ordinal) = numbering.next(&group.name);
        let mut planned = plan(&self.run_dir, index, &group.name, ordinal, ports)?;
        let specs: Vec<_> = self.planned.iter().map(|p| p.spec.clone()).collect();
        let topology = node.topology(&planned.spec, &specs)?;
        planned.command = self.request.command(&planned.spec, &topology)?;
        tf_core::host::write_node_files(&planned.spec.name, &planned.data, &planned.command)?;
        let probe = crate::deployer::probe_port(&group.ports, &planned.spec);
        self.numbering = numbering;
        let control = &self.control;
        let container = container_of(
            &control.docker,
            &control.run,
            &self.run_dir,
            &planned.spec,
            probe,
            crate::deployer::clock_of(&self.run_dir, &planned.spec, self.faketime.is_some())?,
            &control.crashes,
        );
        // In the table before it exists, so that cleanup (and drop) removes
        // whatever part of it a failure leaves; a failed node is taken out
        // again right away.
        control.nodes.push(Arc::clone(&container));
        let created = match create_node(self, &container, &planned).await {
            Ok(()) => start_node(&container).await,
            Err(error) => Err(error),
        };
        if let Err(error) = created {
            if container.remove().await.is_ok() {
                let _ = control.nodes.remove(&container.name);
            }
            return Err(error);
        }
        let endpoint = endpoint(&planned.spec);
        self.planned.push(planned);
        self.endpoints.push(endpoint.clone());
        if let Err(error) = self.write_compose_file() {
            tracing::warn!(%error, "docker-compose.yml not rewritten");
        }
        tracing::info!(run = %control.run, node = %endpoint.name, "node added");
        Ok(endpoint)
    }

    async fn remove_node(&mut self, node: &str) -> Result<(), ControlError> {
        let container = self.control.node(node)?;
        if container.is_running() {
            container
                .stop(self.control.stop_grace)
                .await
                .map_err(ControlError::failed("remove", node))?;
        }
        container
            .remove()
            .await
            .map_err(ControlError::failed("remove", node))?;
        self.control.nodes.remove(node)?;
        self.control.cut.lock().await.retain(|n| n != node);
        self.control.helpers.forget(node).await;
        self.planned.retain(|p| p.spec.name != node);
        self.endpoints.retain(|e| e.name != node);
        if let Err(error) = self.write_compose_file() {
            tracing::warn!(%error, "docker-compose.yml not rewritten");
        }
        tracing::info!(run = %self.control.run, node, "node removed");
        Ok(())
    }

    async fn cleanup(&mut self) -> CleanupReport {
        let grace = self.control.stop_grace;
        if self.cleaned {
            return CleanupReport::default();
        }
        let running: Vec<_> = self
            .control
            .nodes
            .all()
            .into_iter()
            .filter(|n| n.is_running())
            .collect();
        // Stopped first, so that each node shuts down as it would in
        // production, then removed.
        let stops = running
            .iter()
            .map(|node| async move { (node.name.clone(), node.stop(grace).await) });
        let mut report =
            tf_core::host::stopped_report(grace, futures::future::join_all(stops).await);
        report
            .problems
            .extend(Self::remove_all(&self.control).await);
        // With problems, dropping the cluster tries the removal once more.
        self.cleaned = report.problems.is_empty();
        report
    }
}

impl Drop for ComposeCluster {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        // No await in drop: a thread with its own runtime and its own
        // connection (the cluster's belongs to the runtime being dropped).
        for node in self.control.nodes.all() {
            node.expect_exit();
        }
        let control = Arc::clone(&self.control);
        let removal = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let removal = async {
                let docker = crate::engine::connect().await.map_err(|e| e.to_string())?;
                let control = ComposeControl {
                    docker: docker.clone(),
                    run: control.run.clone(),
                    nodes: NodeTable::new(
                        control
                            .nodes
                            .all()
                            .iter()
                            .map(|n| n.with_docker(docker.clone()))
                            .collect(),
                        |n| &n.name,
                    ),
                    crashes: Arc::clone(&control.crashes),
                    stop_grace: control.stop_grace,
                    labels: HashMap::new(),
                    cut: AsyncMutex::new(Vec::new()),
                    links: LinkFaults::default(),
                    helpers: HelperPool::default(),
                };
                let problems = ComposeCluster::remove_all(&control).await;
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems.join("; "))
                }
            };
            // A hung engine must not hold the dropping thread for long.
            runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(30), removal)
                    .await
                    .unwrap_or_else(|_| Err("the engine did not answer within 30 s".into()))
            })
        });
        match removal.join() {
            Ok(Ok(())) => tracing::info!(run = %self.control.run, "containers removed on drop"),
            Ok(Err(problem)) => {
                tracing::error!(run = %self.control.run, %problem, "containers left after drop; `scenarios cleanup` removes them")
            }
            Err(_) => {
                tracing::error!(run = %self.control.run, "removing containers on drop panicked; `scenarios cleanup` removes them")
            }
        }
    }
}
