//! A running cluster of node containers, its node control and partitions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use tf_core::fault::{ClockFault, Impaired, Link, LinkFault, Links};
use tf_core::host::NodeTable;
use tf_core::scenario::{
    CleanupReport, Cluster, ControlError, DeployError, DeploymentRequest, NewNode, NodeControl,
    NodeEndpoint, NodeExit,
};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::compose_file::{self, Service};
use crate::deployer::{Planned, container_of, create_node, endpoint, plan, start_node};
use crate::image::NodeImage;
use crate::links::{LinkFaults, Nodes};
use crate::network::{self, Net};
use crate::node::NodeContainer;

/// Nodes by name, the run's networks, and the partition in force.
pub(crate) struct ComposeControl {
    pub(crate) docker: Docker,
    pub(crate) run: String,
    pub(crate) nodes: NodeTable<NodeContainer>,
    pub(crate) crashes: Arc<watch::Sender<Vec<NodeExit>>>,
    pub(crate) stop_grace: Duration,
    pub(crate) labels: HashMap<String, String>,
    /// The partition in force: the side cut off, and the cut (a link
    /// fault). Partition and heal hold it throughout, so they never
    /// interleave.
    pub(crate) partition: AsyncMutex<Option<Partitioned>>,
    /// Link fault helpers and the faults in force.
    pub(crate) links: LinkFaults,
}

impl ComposeControl {
    fn node(&self, name: &str) -> Result<Arc<NodeContainer>, ControlError> {
        self.nodes.get(name)
    }

    /// What link faults need of the nodes.
    fn link_nodes(&self) -> Nodes<'_> {
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
        }
    }
}

/// Connects to 127.0.0.1:`port` (a node's published port), a few times
/// if need be: whether the runner reaches the node.
async fn reach(port: u16) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..10 {
        match tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "no answer within 1s".into(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!(
        "the runner cannot reach 127.0.0.1:{port} after the heal: {last}"
    ))
}

/// A partition in force.
pub(crate) struct Partitioned {
    side: Vec<String>,
    /// The impairment that cuts it off.
    id: u64,
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
        let who = links
            .iter()
            .map(Link::to_string)
            .collect::<Vec<_>>()
            .join(", ");
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
        let mut partition = self.partition.lock().await;
        let cut = partition
            .as_ref()
            .map(|p| p.side.clone())
            .unwrap_or_default();
        ControlError::check_partition(side, self.nodes.len(), &cut).map_err(&refuse)?;
        // Both ways between the side and the rest, cut where packets leave:
        // the runner's way in stays, addresses and names stay.
        let names: Vec<String> = self.nodes.all().iter().map(|n| n.name.clone()).collect();
        let links = Links::Halves(side.to_vec())
            .resolve(&names)
            .map_err(&refuse)?;
        let impaired = self
            .links
            .impair(&self.link_nodes(), &links, &LinkFault::cut())
            .await
            .map_err(&refuse)?;
        *partition = Some(Partitioned {
            side: side.to_vec(),
            id: impaired.id,
        });
        tracing::info!(side = %who, "partitioned");
        Ok(())
    }

    async fn heal(&self) -> Result<(), ControlError> {
        let mut partition = self.partition.lock().await;
        let Some(cut) = partition.take() else {
            return Ok(());
        };
        let who = cut.side.join(", ");
        let failed = |reason: String| ControlError::Failed {
            action: "heal",
            node: who.clone(),
            reason,
        };
        // The cut comes off and each side reaches the other again (the
        // links' own check); kept to try again if it did not.
        if let Err(reason) = self.links.restore(&self.link_nodes(), cut.id).await {
            *partition = Some(cut);
            return Err(failed(reason));
        }
        // And the runner still reaches every node of the side.
        for name in &cut.side {
            let node = self.node(name)?;
            if node.is_running() {
                reach(node.probe_port).await.map_err(&failed)?;
            }
        }
        tracing::info!(side = %who, "healed");
        Ok(())
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
    /// The index the next added node gets; indices are never reused.
    pub(crate) next_index: usize,
    pub(crate) image: NodeImage,
    /// libfaketime (its path here and in the image), when the nodes run
    /// under it for clock faults.
    pub(crate) faketime: Option<PathBuf>,
    /// The user containers run as (the run directory's owner).
    pub(crate) owner: String,
    pub(crate) request: DeploymentRequest,
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
                ports: p.ports(&self.request.ports),
            })
            .collect();
        let text = compose_file::render(
            &self.control.run,
            &self.image.tag,
            &self.image.binary,
            &self.owner,
            &services,
        );
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
        // Helpers first: they live in their nodes' network namespaces.
        let mut problems = crate::links::remove_helpers(&control.docker, &control.run).await;
        let nodes = control.nodes.all();
        let removals = nodes.iter().map(|n| n.remove());
        for removed in futures::future::join_all(removals).await {
            if let Err(problem) = removed {
                problems.push(problem);
            }
        }
        for net in [Net::Peers, Net::Access] {
            if let Err(problem) = network::remove(&control.docker, &net.name(&control.run)).await {
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
        let ports = tf_core::host::port_maps_except(&self.request.ports, 1, &taken)?
            .pop()
            .unwrap_or_default();
        let mut planned = plan(&self.run_dir, self.next_index, ports)?;
        let specs: Vec<_> = self.planned.iter().map(|p| p.spec.clone()).collect();
        let topology = node.topology(&planned.spec, &specs)?;
        planned.command = self.request.command(&planned.spec, &topology)?;
        self.next_index += 1;
        let control = &self.control;
        let container = container_of(
            &control.docker,
            &control.run,
            &self.run_dir,
            &planned.spec,
            crate::deployer::probe_port(&self.request.ports, &planned.spec),
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
        if let Some(partition) = self.control.partition.lock().await.as_mut() {
            partition.side.retain(|n| n != node);
        }
        self.control.links.forget(node).await;
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
                    partition: AsyncMutex::new(None),
                    links: LinkFaults::default(),
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
