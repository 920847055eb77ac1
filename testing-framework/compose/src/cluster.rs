//! A running cluster of node containers: its endpoints, nodes added and
//! removed, and cleanup (on drop too).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use tf_core::report::CleanupReport;
use tf_core::scenario::NodeEndpoint;
use tf_core::scenario::deploy::{
    Cluster, ControlError, DeployError, DeploymentRequest, NewNode, NodeControl,
};

use crate::compose_file::{self, Service};
use crate::control::ComposeControl;
use crate::node::{NodeContainer, remove_container};
use crate::placement::{
    Planned, Recipe, clock_of, container_of, create_node, endpoint, plan, probe_port, start_node,
};
use crate::reaper::Reaper;

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
    pub(crate) numbering: tf_core::deployer_kit::Numbering,
    /// What its node containers are made from.
    pub(crate) recipe: Recipe,
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
                image: &self.recipe.images[&p.spec.group],
            })
            .collect();
        let text = compose_file::render(&self.control.run, &self.recipe.owner, &services);
        let path = self.run_dir.join("docker-compose.yml");
        std::fs::write(&path, text).map_err(|e| tf_core::deployer_kit::io_error("write", &path, e))
    }

    /// Creates `node`'s container as `planned` says, on the run's
    /// networks; it is not started.
    pub(crate) async fn create_node(
        &self,
        node: &NodeContainer,
        planned: &Planned,
    ) -> Result<(), DeployError> {
        let declared = self.request.ports_of(&planned.spec.group);
        create_node(&self.control, &self.recipe, declared, node, planned).await
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
        let ports = tf_core::deployer_kit::port_maps_except(&group.ports, 1, &taken)?
            .pop()
            .unwrap_or_default();
        let mut numbering = self.numbering.clone();
        let (index, ordinal) = numbering.next(&group.name);
        let mut planned = plan(&self.run_dir, index, &group.name, ordinal, ports)?;
        let specs: Vec<_> = self.planned.iter().map(|p| p.spec.clone()).collect();
        let topology = node.topology(&planned.spec, &specs)?;
        planned.command = self.request.command(&planned.spec, &topology)?;
        tf_core::deployer_kit::write_node_files(
            &planned.spec.name,
            &planned.data,
            &planned.command,
        )?;
        let probe = probe_port(&group.ports, &planned.spec);
        self.numbering = numbering;
        let control = &self.control;
        let container = container_of(
            &control.docker,
            &control.run,
            &self.run_dir,
            &planned.spec,
            probe,
            clock_of(&self.run_dir, &planned.spec, self.recipe.faketime.is_some())?,
            &control.crashes,
        );
        // In the table before it exists, so that cleanup (and drop) removes
        // whatever part of it a failure leaves; a failed node is taken out
        // again right away.
        control.nodes.push(Arc::clone(&container));
        let created = match self.create_node(&container, &planned).await {
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
            tf_core::deployer_kit::stopped_report(grace, futures::future::join_all(stops).await);
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
        // Their ends are asked for, not crashes.
        for node in self.control.nodes.all() {
            node.expect_exit();
        }
        let control = Arc::clone(&self.control);
        // Its own connection to the engine: the cluster's belongs to the
        // runtime being dropped.
        let _ = tf_core::deployer_kit::drop_cleanup(
            &self.control.run,
            "containers",
            "the engine",
            move || async move {
                let docker = crate::engine::connect().await.map_err(|e| e.to_string())?;
                let problems = ComposeCluster::remove_all(&control.reconnected(docker)).await;
                if problems.is_empty() {
                    Ok(())
                } else {
                    Err(problems.join("; "))
                }
            },
        );
    }
}
