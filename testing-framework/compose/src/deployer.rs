//! The compose deployer: a run's nodes as containers on its own networks.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::CreateContainerOptions;
use tf_core::host::{self, DeployerSettings};
use tf_core::scenario::{
    Cluster, DeployError, Deployer, DeploymentRequest, NodeAction, NodeEndpoint, NodeSpec, PortMap,
};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::cluster::{ComposeCluster, ComposeControl};
use crate::compose_file::{self, Service, port_key};
use crate::engine::describe;
use crate::image::{NodeImage, build_image};
use crate::network::{self, Net};
use crate::node::NodeContainer;
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

/// A short id, unique enough to name one run's containers and networks.
fn run_id() -> String {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let hash = RandomState::new().hash_one((
        std::process::id(),
        nanos,
        RUNS.fetch_add(1, Ordering::Relaxed),
    ));
    format!("{:012x}", hash & 0xffff_ffff_ffff)
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
            | NodeAction::Partition => true,
        }
    }

    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError> {
        request.check()?;
        let docker = engine::connect().await?;
        let spec = request.binary.clone();
        let binary = tokio::task::spawn_blocking(move || host::binary::resolve(&spec))
            .await
            .map_err(|e| DeployError::Other(format!("finding the node binary failed: {e}")))??;
        let image = build_image(&docker, &binary).await?;
        let run_dir = host::run_dir(
            request.run_dir.as_deref(),
            &self.settings.runs_root(),
            &request.scenario,
        )?;
        let run = run_id();
        let labels = labels::of_run(&run, &request.scenario, &run_dir);

        // Ports are the same inside the container and on the host, so one
        // port map serves peers and the runner.
        let protocols: Vec<_> = (0..request.nodes)
            .flat_map(|_| request.ports.iter().map(|p| p.protocol))
            .collect();
        let mut numbers = host::ports::free_ports(&protocols)
            .map_err(|e| DeployError::Other(format!("cannot find free ports on {HOST}: {e}")))?
            .into_iter();
        let mut specs = Vec::with_capacity(request.nodes);
        let mut data_dirs = Vec::with_capacity(request.nodes);
        for index in 0..request.nodes {
            let name = format!("node-{index}");
            let data = run_dir.join(&name).join("data");
            std::fs::create_dir_all(&data).map_err(|e| host::io_error("create", &data, e))?;
            data_dirs.push(data);
            let ports = PortMap::new(
                request
                    .ports
                    .iter()
                    .map(|p| (p.name.clone(), numbers.next().unwrap_or_default())),
            );
            specs.push(NodeSpec {
                index,
                // Peers reach it by name on the peers network.
                host: name.clone(),
                name,
                bind_host: "0.0.0.0".into(),
                ports,
                data_dir: PathBuf::from(DATA_DIR),
            });
        }
        let mut commands = Vec::with_capacity(specs.len());
        for spec in &specs {
            commands.push(request.command(spec, &specs)?);
        }
        // Files in the run directory stay the user's.
        let owner = std::fs::metadata(&run_dir)
            .map(|m| format!("{}:{}", m.uid(), m.gid()))
            .unwrap_or_else(|_| "0:0".into());
        let services: Vec<Service<'_>> = specs
            .iter()
            .zip(&commands)
            .zip(&data_dirs)
            .map(|((spec, command), data)| Service {
                spec,
                command,
                data,
                ports: request
                    .ports
                    .iter()
                    .map(|p| (spec.ports.get(&p.name).unwrap_or_default(), p.protocol))
                    .collect(),
            })
            .collect();
        let compose = compose_file::render(&run, &image.tag, &image.binary, &owner, &services);
        let compose_path = run_dir.join("docker-compose.yml");
        std::fs::write(&compose_path, compose)
            .map_err(|e| host::io_error("write", &compose_path, e))?;

        let crashes = Arc::new(watch::channel(Vec::new()).0);
        let nodes: Vec<_> = specs
            .iter()
            .map(|spec| {
                NodeContainer::new(
                    spec.name.clone(),
                    format!("tf-{run}-{}", spec.name),
                    run_dir.join(&spec.name).join("node.log"),
                    docker.clone(),
                    Arc::clone(&crashes),
                )
            })
            .collect();
        let control = Arc::new(ComposeControl {
            docker: docker.clone(),
            run: run.clone(),
            by_name: nodes
                .iter()
                .enumerate()
                .map(|(i, n)| (n.name.clone(), i))
                .collect::<HashMap<_, _>>(),
            nodes,
            crashes,
            stop_grace: self.settings.stop_grace,
            labels: labels.clone(),
            cut: AsyncMutex::new(Vec::new()),
        });
        let endpoints: Vec<NodeEndpoint> = specs
            .iter()
            .map(|spec| NodeEndpoint {
                name: spec.name.clone(),
                address: format!("{HOST}:{}", spec.ports.api().unwrap_or_default()),
                host: HOST.into(),
                ports: spec.ports.clone(),
            })
            .collect();
        // From here on, dropping the cluster removes whatever was created.
        let mut cluster = ComposeCluster {
            run_dir,
            endpoints,
            control: Arc::clone(&control),
            cleaned: false,
        };
        let created = create_all(&docker, &control, &image, &owner, &labels, &services).await;
        let started = match created {
            Ok(()) => start_all(&control).await,
            Err(error) => Err(error),
        };
        if let Err(error) = started {
            let cleanup = cluster.cleanup().await;
            if !cleanup.problems.is_empty() {
                tracing::error!(run = %run, problems = ?cleanup.problems, "a failed deploy left containers or networks; `scenarios cleanup` removes them");
            }
            return Err(error);
        }
        tracing::info!(run = %run, run_dir = %cluster.run_dir.display(), image = %image.tag, nodes = request.nodes, "compose cluster started");
        Ok(Box::new(cluster))
    }
}

/// The run's networks and every node's container, created, not started.
async fn create_all(
    docker: &Docker,
    control: &ComposeControl,
    image: &NodeImage,
    user: &str,
    labels: &HashMap<String, String>,
    services: &[Service<'_>],
) -> Result<(), DeployError> {
    let other = DeployError::Other;
    let access = network::create(docker, &control.run, Net::Access, labels)
        .await
        .map_err(other)?;
    let peers = network::create(docker, &control.run, Net::Peers, labels)
        .await
        .map_err(other)?;
    for (node, service) in control.nodes.iter().zip(services) {
        let failed = |reason: String| DeployError::NodeFailed {
            node: node.name.clone(),
            reason,
            log: node.log.display().to_string(),
            log_tail: host::log_tail(&node.log),
        };
        let mut node_labels = labels.clone();
        node_labels.insert(labels::NODE.to_owned(), node.name.clone());
        let mut command = vec![image.binary.clone()];
        command.extend(service.command.args.iter().cloned());
        let exposed = service
            .ports
            .iter()
            .map(|&(port, protocol)| (port_key(port, protocol, ""), HashMap::new()))
            .collect();
        let bindings = service
            .ports
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
            env: Some(
                service
                    .command
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            user: Some(user.to_owned()),
            labels: Some(node_labels),
            exposed_ports: Some(exposed),
            host_config: Some(HostConfig {
                port_bindings: Some(bindings),
                binds: Some(vec![format!(
                    "{}:{}",
                    service.data.display(),
                    service.spec.data_dir.display()
                )]),
                network_mode: Some(access.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    access.clone(),
                    EndpointSettings::default(),
                )])),
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
        network::connect(docker, &peers, &node.container, Some(&node.name))
            .await
            .map_err(failed)?;
    }
    Ok(())
}

/// Starts every container; the first that fails names its node.
async fn start_all(control: &ComposeControl) -> Result<(), DeployError> {
    for node in &control.nodes {
        node.start()
            .await
            .map_err(|reason| DeployError::NodeFailed {
                node: node.name.clone(),
                reason,
                log: node.log.display().to_string(),
                log_tail: host::log_tail(&node.log),
            })?;
    }
    Ok(())
}
