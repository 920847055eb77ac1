//! The compose deployer: a run's nodes as containers on its own networks.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::CreateContainerOptions;
use tf_core::host::clock::NodeClock;
use tf_core::host::{self, DeployerSettings, NodeTable};
use tf_core::report::NodeExit;
use tf_core::scenario::{
    Cluster, DeployError, Deployer, DeploymentRequest, NodeAction, NodeCommand, NodeEndpoint,
    NodeSpec, PortMap, PortSpec, Protocol,
};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::cluster::{ComposeCluster, ComposeControl};
use crate::compose_file::port_key;
use crate::engine::describe;
use crate::image::{NodeImage, build_image_with};
use crate::network::{self, Net};
use crate::node::NodeContainer;
use crate::reaper::Reaper;
use crate::{engine, labels};

/// Where a node's data directory is inside its container.
const DATA_DIR: &str = "/data";
/// Ports are published on, and the runner reaches nodes at, loopback.
const HOST: &str = "127.0.0.1";

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

    fn supports(&self, action: NodeAction) -> bool {
        match action {
            NodeAction::StartStop
            | NodeAction::Kill
            | NodeAction::Pause
            | NodeAction::Partition
            | NodeAction::Links
            | NodeAction::Clock => true,
        }
    }

    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError> {
        request.check()?;
        let docker = engine::connect().await?;
        // One image per binary; groups of one binary share it.
        let mut images: HashMap<String, NodeImage> = HashMap::new();
        let mut by_binary: HashMap<PathBuf, NodeImage> = HashMap::new();
        let mut faketime = None;
        for (group, binary) in host::binary::resolve_groups(request).await? {
            faketime = host::clock::for_request(request, &binary)?;
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
        let run_dir = host::run_dir(
            request.run_dir.as_deref(),
            &self.settings.runs_root(),
            &request.scenario,
        )?;
        let run = host::run_id();
        let labels = labels::of_run(&run, &request.scenario, &run_dir);
        // First, so that whatever is created next has someone to remove it
        // if the runner is killed.
        let reaper = Reaper::start(&docker, &run, &labels).await?;

        // Ports are the same inside the container and on the host, so one
        // port map serves peers and the runner.
        let mut planned = Vec::with_capacity(request.nodes());
        for (slot, ports) in host::slots_with_ports(request)? {
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
            host::write_node_files(&node.spec.name, &node.data, &node.command)?;
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
            helpers: Default::default(),
        });
        // From here on, dropping the cluster removes whatever was created.
        let mut cluster = ComposeCluster {
            run_dir,
            endpoints: planned.iter().map(|p| endpoint(&p.spec)).collect(),
            control: Arc::clone(&control),
            cleaned: false,
            numbering: host::Numbering::after(request),
            planned,
            images,
            faketime,
            owner,
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

/// A node as the deployer places it: where peers reach it, its command,
/// and its data directory on this machine.
pub(crate) struct Planned {
    pub(crate) spec: NodeSpec,
    pub(crate) command: NodeCommand,
    pub(crate) data: PathBuf,
}

impl Planned {
    /// Its port numbers, with the protocol each was declared with.
    pub(crate) fn ports(&self, declared: &[PortSpec]) -> Vec<(u16, Protocol)> {
        declared
            .iter()
            .map(|p| (self.spec.ports.get(&p.name).unwrap_or_default(), p.protocol))
            .collect()
    }
}

/// Node `index` of the run in `run_dir`, the `ordinal`-th of `group`, its
/// data directory created; its command is built once the topology is
/// known.
pub(crate) fn plan(
    run_dir: &Path,
    index: usize,
    group: &str,
    ordinal: usize,
    ports: PortMap,
) -> Result<Planned, DeployError> {
    let name = tf_core::scenario::node_name(group, ordinal);
    let data = run_dir.join(&name).join("data");
    std::fs::create_dir_all(&data).map_err(|e| host::io_error("create", &data, e))?;
    Ok(Planned {
        spec: NodeSpec {
            index,
            // Peers reach it by name on the peers network.
            host: name.clone(),
            name,
            group: group.to_owned(),
            bind_host: "0.0.0.0".into(),
            ports,
            data_dir: PathBuf::from(DATA_DIR),
        },
        command: NodeCommand::default(),
        data,
    })
}

/// Where the runner reaches a node: its published ports on loopback, the
/// same numbers as inside.
pub(crate) fn endpoint(spec: &NodeSpec) -> NodeEndpoint {
    NodeEndpoint::loopback(&spec.name, &spec.ports).in_group(&spec.group)
}

/// The container of node `spec` of run `run`, not created yet.
pub(crate) fn container_of(
    docker: &Docker,
    run: &str,
    run_dir: &Path,
    spec: &NodeSpec,
    probe_port: u16,
    clock: Option<NodeClock>,
    crashes: &Arc<watch::Sender<Vec<NodeExit>>>,
) -> Arc<NodeContainer> {
    NodeContainer::new(
        spec.name.clone(),
        format!("tf-{run}-{}", spec.name),
        run_dir.join(&spec.name).join("node.log"),
        probe_port,
        clock,
        docker.clone(),
        Arc::clone(crashes),
    )
}

/// Where a node's clock setting is inside its container (its directory is
/// mounted from `<run>/<node>/clock`).
const CLOCK_DIR: &str = "/tf-clock";

/// The clock of the node of `spec`, when the nodes run under libfaketime.
pub(crate) fn clock_of(
    run_dir: &Path,
    spec: &NodeSpec,
    faketime: bool,
) -> Result<Option<NodeClock>, DeployError> {
    if !faketime {
        return Ok(None);
    }
    let file = host::clock::file_of(run_dir, &spec.name);
    NodeClock::create(file.clone())
        .map(Some)
        .map_err(|e| host::io_error("create", &file, e))
}

/// The TCP port of `spec` that link fault probes connect to: the first
/// TCP port the app declares (the observed one when it is TCP).
pub(crate) fn probe_port(declared: &[PortSpec], spec: &NodeSpec) -> u16 {
    declared
        .iter()
        .find(|p| p.protocol == Protocol::Tcp)
        .and_then(|p| spec.ports.get(&p.name))
        .unwrap_or_default()
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
        create_node(cluster, node, planned).await?;
    }
    Ok(())
}

/// Creates `node`'s container on the access network, then puts it on the
/// peers network under its name; it is not started.
pub(crate) async fn create_node(
    cluster: &ComposeCluster,
    node: &NodeContainer,
    planned: &Planned,
) -> Result<(), DeployError> {
    let control = &cluster.control;
    let image = &cluster.images[&planned.spec.group];
    let docker = &control.docker;
    let failed = |reason: String| DeployError::node_failed(&node.name, reason, &node.log);
    let ports = planned.ports(cluster.request.ports_of(&planned.spec.group));
    let access = Net::Access.name(&control.run);
    let mut node_labels = control.labels.clone();
    node_labels.insert(labels::NODE.to_owned(), node.name.clone());
    let mut command = vec![image.binary.clone()];
    command.extend(planned.command.args.iter().cloned());
    let mut env: Vec<(String, String)> = planned.command.env.clone();
    let mut binds = vec![format!(
        "{}:{}",
        planned.data.display(),
        planned.spec.data_dir.display()
    )];
    if let (Some(library), Some(clock)) = (&cluster.faketime, &node.clock) {
        let dir = clock.file().parent().unwrap_or(clock.file());
        binds.push(format!("{}:{CLOCK_DIR}", dir.display()));
        env.extend(host::clock::environment(
            &library.display().to_string(),
            &format!("{CLOCK_DIR}/spec"),
        ));
    }
    let exposed = ports
        .iter()
        .map(|&(port, protocol)| (port_key(port, protocol, ""), HashMap::new()))
        .collect();
    let bindings = ports
        .iter()
        .map(|&(port, protocol)| {
            (
                port_key(port, protocol, ""),
                Some(vec![PortBinding {
                    host_ip: Some(HOST.into()),
                    host_port: Some(port.to_string()),
                }]),
            )
        })
        .collect();
    let body = ContainerCreateBody {
        image: Some(image.tag.clone()),
        entrypoint: Some(command),
        env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: Some(cluster.owner.clone()),
        labels: Some(node_labels),
        exposed_ports: Some(exposed),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            binds: Some(binds),
            network_mode: Some(access.clone()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(access, EndpointSettings::default())])),
        }),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(node.container.clone()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| failed(format!("cannot create its container: {}", describe(&e))))?;
    // The peers network second: the access network stays the one the
    // engine publishes ports through.
    network::connect(
        docker,
        &Net::Peers.name(&control.run),
        &node.container,
        Some(&node.name),
    )
    .await
    .map_err(failed)
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

/// Starts `node` for the first time; a failure names it and shows its log.
pub(crate) async fn start_node(node: &Arc<NodeContainer>) -> Result<(), DeployError> {
    node.start()
        .await
        .map_err(|reason| DeployError::node_failed(&node.name, reason, &node.log))
}
