//! A running cluster of node containers, its node control and partitions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use tf_core::scenario::{
    CleanupReport, Cluster, ControlError, NodeControl, NodeEndpoint, NodeExit,
};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::network::{self, Net};
use crate::node::NodeContainer;

/// Nodes by name, the run's networks, and the partition in force.
pub(crate) struct ComposeControl {
    pub(crate) docker: Docker,
    pub(crate) run: String,
    pub(crate) nodes: Vec<Arc<NodeContainer>>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) crashes: Arc<watch::Sender<Vec<NodeExit>>>,
    pub(crate) stop_grace: Duration,
    pub(crate) labels: HashMap<String, String>,
    /// The nodes cut off, while a partition lasts. Partition and heal hold
    /// it throughout, so they never interleave.
    pub(crate) cut: AsyncMutex<Vec<String>>,
}

impl ComposeControl {
    fn node(&self, name: &str) -> Result<&Arc<NodeContainer>, ControlError> {
        self.by_name
            .get(name)
            .map(|&i| &self.nodes[i])
            .ok_or_else(|| ControlError::UnknownNode(name.to_owned()))
    }

    /// Moves `nodes` from network `from` to `to`, under their names; stops
    /// at the first failure.
    async fn move_nodes(&self, nodes: &[String], from: Net, to: Net) -> Result<(), String> {
        let (from, to) = (from.name(&self.run), to.name(&self.run));
        for name in nodes {
            let container = &self.node(name).map_err(|e| e.to_string())?.container;
            network::disconnect(&self.docker, &from, container).await?;
            network::connect(&self.docker, &to, container, Some(name)).await?;
        }
        Ok(())
    }

    /// Puts `name` back on the peers network, whatever state a failed
    /// partition left it in (still on peers, on cut, on neither).
    async fn rejoin(&self, name: &str) -> Result<(), String> {
        let container = &self.node(name).map_err(|e| e.to_string())?.container;
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

fn failed<'a>(action: &'static str, node: &'a str) -> impl FnOnce(String) -> ControlError + 'a {
    move |reason| ControlError::Failed {
        action,
        node: node.to_owned(),
        reason,
    }
}

#[async_trait]
impl NodeControl for ComposeControl {
    async fn start(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .start()
            .await
            .map_err(failed("start", node))
    }

    async fn stop(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .stop(self.stop_grace)
            .await
            .map(|_| ())
            .map_err(failed("stop", node))
    }

    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?.kill().await.map_err(failed("kill", node))
    }

    async fn pause(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .pause()
            .await
            .map_err(failed("pause", node))
    }

    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        self.node(node)?
            .resume()
            .await
            .map_err(failed("resume", node))
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
        if side.is_empty() || side.len() >= self.nodes.len() {
            return Err(refuse(format!(
                "a side must hold at least one node and leave at least one of the {} on the other",
                self.nodes.len()
            )));
        }
        let mut cut = self.cut.lock().await;
        if !cut.is_empty() {
            return Err(refuse(format!(
                "{} is cut off already; heal first",
                cut.join(", ")
            )));
        }
        // A cut network a failed heal left behind is removed first.
        let _ = network::remove(&self.docker, &Net::Cut.name(&self.run)).await;
        network::create(&self.docker, &self.run, Net::Cut, &self.labels)
            .await
            .map_err(&refuse)?;
        // Recorded before the moves: a failed move is undone by heal.
        *cut = side.to_vec();
        let moved = self.move_nodes(side, Net::Peers, Net::Cut).await;
        drop(cut);
        if let Err(reason) = moved {
            let _ = self.heal().await;
            return Err(refuse(reason));
        }
        tracing::info!(side = %who, "partitioned");
        Ok(())
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
        *cut = still_cut;
        drop(cut);
        if !problems.is_empty() {
            return Err(ControlError::Failed {
                action: "heal",
                node: who,
                reason: problems.join("; "),
            });
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
}

impl ComposeCluster {
    /// The run's id, as its containers' and networks' names and labels
    /// carry it.
    pub fn run_id(&self) -> &str {
        &self.control.run
    }

    /// The container of each node, by node name.
    pub fn containers(&self) -> Vec<(String, String)> {
        self.control
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.container.clone()))
            .collect()
    }

    /// Removes every container and network of the run, reporting what went
    /// wrong. Stops nothing gracefully: for errors and drops.
    pub(crate) async fn remove_all(control: &ComposeControl) -> Vec<String> {
        let mut problems = Vec::new();
        let removals = control.nodes.iter().map(|n| n.remove());
        for removed in futures::future::join_all(removals).await {
            if let Err(problem) = removed {
                problems.push(problem);
            }
        }
        for net in [Net::Cut, Net::Peers, Net::Access] {
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

    async fn cleanup(&mut self) -> CleanupReport {
        let grace = self.control.stop_grace;
        if self.cleaned {
            return CleanupReport::default();
        }
        let running: Vec<_> = self
            .control
            .nodes
            .iter()
            .filter(|n| n.is_running())
            .cloned()
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
        for node in &self.control.nodes {
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
                    nodes: control
                        .nodes
                        .iter()
                        .map(|n| n.with_docker(docker.clone()))
                        .collect(),
                    by_name: HashMap::new(),
                    crashes: Arc::clone(&control.crashes),
                    stop_grace: control.stop_grace,
                    labels: HashMap::new(),
                    cut: AsyncMutex::new(Vec::new()),
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
