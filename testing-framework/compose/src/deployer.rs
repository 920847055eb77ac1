//! The compose deployer: a run's nodes as containers on its own networks.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tf_core::deployer_kit::{self, DeployerSettings, NodeTable};
use tf_core::scenario::deploy::{Capabilities, Cluster, DeployError, DeploymentRequest};
use tf_core::scenario::{Deployer, NodeSpec};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::cluster::ComposeCluster;
use crate::control::ComposeControl;
use crate::image::{NodeImage, build_image_with};
use crate::links::HelperPool;
use crate::network::{self, Net};
use crate::placement::{
    Planned, Recipe, clock_of, container_of, endpoint, plan, probe_port, start_node,
};
use crate::reaper::Reaper;
use crate::{engine, labels};

/// Starts clusters as Docker containers, through the engine's API. Needs a
/// running engine and nothing else: images are built here, `FROM scratch`.
#[derive(Clone, Debug, Default)]
pub struct ComposeDeployer {
    settings: DeployerSettings,
}

impl ComposeDeployer {
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

#[async_trait]
impl Deployer for ComposeDeployer {
    fn name(&self) -> &str {
        "compose"
    }

    fn capabilities(&self) -> Capabilities {
        // Every one: pause by the engine, partitions by networks, links by
        // a helper in each node's network namespace, clocks by libfaketime
        // in the image.
        Capabilities::ALL
    }

    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError> {
        request.check()?;
        let docker = engine::connect().await?;
        // One image per binary; groups of one binary share it.
        let mut images: HashMap<String, NodeImage> = HashMap::new();
        let mut by_binary: HashMap<PathBuf, NodeImage> = HashMap::new();
        let mut faketime = None;
        for (group, binary) in deployer_kit::binary::resolve_groups(request).await? {
            faketime = deployer_kit::clock::for_request(request, &binary)?;
            let image = match by_binary.get(&binary) {
                Some(image) => image.clone(),
                None => {
                    let image = build_image_with(&docker, &binary, faketime.as_deref()).await?;
                    by_binary.insert(binary, image.clone());
                    image
                }
            };
            images.insert(group, image);
        }
        let run_dir = deployer_kit::run_dir(
            request.run_dir.as_deref(),
            &self.settings.runs_root(),
            &request.scenario,
        )?;
        let run = deployer_kit::run_id();
        let labels = labels::of_run(&run, &request.scenario, &run_dir);
        // First, so that whatever is created next has someone to remove it
        // if the runner is killed.
        let reaper = Reaper::start(&docker, &run, &labels, request).await?;

        // Ports are the same inside the container and on the host, so one
        // port map serves peers and the runner.
        let mut planned = Vec::with_capacity(request.nodes());
        for (slot, ports) in deployer_kit::slots_with_ports(request)? {
            planned.push(plan(
                &run_dir,
                slot.index,
                &slot.group.name,
                slot.ordinal,
                ports,
            )?);
        }
        let specs: Vec<NodeSpec> = planned.iter().map(|p| p.spec.clone()).collect();
        for node in &mut planned {
            node.command = request.command(&node.spec, &specs)?;
            deployer_kit::write_node_files(&node.spec.name, &node.data, &node.command)?;
        }
        // Files in the run directory stay the user's.
        let owner = std::fs::metadata(&run_dir)
            .map(|m| format!("{}:{}", m.uid(), m.gid()))
            .unwrap_or_else(|_| "0:0".into());
        let crashes = Arc::new(watch::channel(Vec::new()).0);
        let nodes: Vec<_> = planned
            .iter()
            .map(|node| {
                let probe = probe_port(request.ports_of(&node.spec.group), &node.spec);
                let clock = clock_of(&run_dir, &node.spec, faketime.is_some())?;
                Ok(container_of(
                    &docker, &run, &run_dir, &node.spec, probe, clock, &crashes,
                ))
            })
            .collect::<Result<_, DeployError>>()?;
        let control = Arc::new(ComposeControl {
            docker: docker.clone(),
            run: run.clone(),
            nodes: NodeTable::new(nodes, |n| &n.name),
            crashes,
            stop_grace: self.settings.stop_grace,
            labels: labels.clone(),
            cut: AsyncMutex::new(Vec::new()),
            links: Default::default(),
            helpers: HelperPool::for_run(request),
            capabilities: self.capabilities(),
        });
        // From here on, dropping the cluster removes whatever was created.
        let mut cluster = ComposeCluster {
            run_dir,
            endpoints: planned.iter().map(|p| endpoint(&p.spec)).collect(),
            control: Arc::clone(&control),
            cleaned: false,
            numbering: deployer_kit::Numbering::after(request),
            planned,
            recipe: Recipe {
                images,
                faketime,
                owner,
            },
            request: request.clone(),
            _reaper: reaper,
        };
        cluster.write_compose_file()?;
        let created = create_all(&cluster).await;
        let started = match created {
            Ok(()) => {
                let log_of = |node: &str| cluster.log_path(node);
                request
                    .start_in_stages(&cluster.endpoints, log_of, |groups| {
                        start_groups(&control, &cluster.planned, groups)
                    })
                    .await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = started {
            let cleanup = cluster.cleanup().await;
            if !cleanup.problems.is_empty() {
                tracing::error!(run = %run, problems = ?cleanup.problems, "a failed deploy left containers or networks; `scenarios cleanup` removes them");
            }
            return Err(error);
        }
        tracing::info!(run = %run, run_dir = %cluster.run_dir.display(), nodes = request.nodes(), "compose cluster started");
        Ok(Box::new(cluster))
    }
}

/// The run's networks and every node's container, created, not started.
async fn create_all(cluster: &ComposeCluster) -> Result<(), DeployError> {
    let control = &cluster.control;
    let other = DeployError::Other;
    network::create(&control.docker, &control.run, Net::Access, &control.labels)
        .await
        .map_err(other)?;
    network::create(&control.docker, &control.run, Net::Peers, &control.labels)
        .await
        .map_err(other)?;
    for (node, planned) in control.nodes.all().iter().zip(&cluster.planned) {
        cluster.create_node(node, planned).await?;
    }
    Ok(())
}

/// Starts the container of every node of `groups`; the first that fails
/// names its node.
async fn start_groups(
    control: &ComposeControl,
    planned: &[Planned],
    groups: Vec<String>,
) -> Result<(), DeployError> {
    for (node, planned) in control.nodes.all().iter().zip(planned) {
        if groups.contains(&planned.spec.group) {
            start_node(node).await?;
        }
    }
    Ok(())
}
