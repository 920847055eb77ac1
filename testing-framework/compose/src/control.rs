//! Node control of a compose cluster: start, stop, kill, pause, clocks
//! and link faults of its node containers, and partitions of its networks
//! (confirmed in `partition.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use tf_core::deployer_kit::NodeTable;
use tf_core::fault::{ClockFault, Impaired, Link, LinkFault};
use tf_core::report::NodeExit;
use tf_core::scenario::deploy::{Capabilities, ControlError, NodeControl};
use tf_netfault::driver::{Helpers, LinkFaults};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::links::{HelperPool, Nodes};
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
    /// The nodes cut off, while a partition lasts. Partition and heal hold
    /// it throughout, so they never interleave.
    pub(crate) cut: AsyncMutex<Vec<String>>,
    /// The faults in force on links.
    pub(crate) links: LinkFaults,
    /// Link fault helpers.
    pub(crate) helpers: HelperPool,
    /// What the deployer declared its nodes can be put through.
    pub(crate) capabilities: Capabilities,
}

impl ComposeControl {
    pub(crate) fn node(&self, name: &str) -> Result<Arc<NodeContainer>, ControlError> {
        self.nodes.get(name)
    }

    /// The same nodes of the same run through `docker`, another connection
    /// to the engine (removal on drop runs on a runtime of its own, which
    /// the cluster's connection does not belong to); no partition or link
    /// fault is known to it.
    pub(crate) fn reconnected(&self, docker: Docker) -> ComposeControl {
        ComposeControl {
            docker: docker.clone(),
            run: self.run.clone(),
            nodes: NodeTable::new(
                self.nodes
                    .all()
                    .iter()
                    .map(|n| n.with_docker(docker.clone()))
                    .collect(),
                |n| &n.name,
            ),
            crashes: Arc::clone(&self.crashes),
            stop_grace: self.stop_grace,
            labels: HashMap::new(),
            cut: AsyncMutex::new(Vec::new()),
            links: LinkFaults::default(),
            helpers: HelperPool::default(),
            capabilities: self.capabilities,
        }
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
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn start(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .start()
            .await
            .map_err(ControlError::failed("start", node))?;
        // A new life, a new network namespace: its fence goes back first
        // if it is on the cut side (its old helper is gone with the old
        // namespace), then its link faults.
        let cut_off = self.cut.lock().await.iter().any(|n| n == node);
        if cut_off {
            let fenced = match self.link_nodes().renew(node).await {
                Ok(()) => self.fence(&[node.to_owned()]).await,
                Err(error) => Err(error),
            };
            fenced.map_err(ControlError::failed("start", node))?;
        }
        self.links
            .node_started(&self.link_nodes(), node)
            .await
            .map_err(ControlError::failed("start", node))
    }

    async fn set_clock(&self, node: &str, clock: &ClockFault) -> Result<(), ControlError> {
        let container = self.node(node)?;
        tf_core::deployer_kit::clock::set(container.clock.as_ref(), *clock)
            .map_err(ControlError::failed("set the clock of", node))
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
        let refuse = ControlError::failed("partition", &who);
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
        let moved = match self.fence(side).await {
            Ok(()) => self.move_nodes(side, Net::Peers, Net::Cut).await,
            Err(reason) => Err(reason),
        };
        let moved = match moved {
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
        Err(ControlError::failed("heal", &who)(problems.join("; ")))
    }

    fn unexpected_exits(&self) -> watch::Receiver<Vec<NodeExit>> {
        self.crashes.subscribe()
    }
}
