//! A node container as the deployer and a growing cluster both place and
//! create it: its spec and data directory, its endpoint, its clock, the
//! port link fault probes use, and its container, created on the run's
//! networks and started.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::CreateContainerOptions;
use tf_core::deployer_kit::{self, clock::NodeClock};
use tf_core::report::NodeExit;
use tf_core::scenario::deploy::DeployError;
use tf_core::scenario::{NodeCommand, NodeEndpoint, NodeSpec, PortMap, PortSpec, Protocol};
use tokio::sync::watch;

use crate::compose_file::port_key;
use crate::control::ComposeControl;
use crate::engine::describe;
use crate::image::NodeImage;
use crate::labels;
use crate::network::{self, Net};
use crate::node::NodeContainer;

/// Where a node's data directory is inside its container.
const DATA_DIR: &str = "/data";
/// Ports are published on, and the runner reaches nodes at, loopback.
const HOST: &str = "127.0.0.1";

/// What every node container of a run is made from, beside its own plan.
pub(crate) struct Recipe {
    /// Each group's image.
    pub(crate) images: HashMap<String, NodeImage>,
    /// libfaketime (its path here and in the image), when the nodes run
    /// under it for clock faults.
    pub(crate) faketime: Option<PathBuf>,
    /// The user containers run as (the run directory's owner).
    pub(crate) owner: String,
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
    std::fs::create_dir_all(&data).map_err(|e| deployer_kit::io_error("create", &data, e))?;
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
    let file = deployer_kit::clock::file_of(run_dir, &spec.name);
    NodeClock::create(file.clone())
        .map(Some)
        .map_err(|e| deployer_kit::io_error("create", &file, e))
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

/// Creates `node`'s container on the access network, then puts it on the
/// peers network under its name; it is not started.
pub(crate) async fn create_node(
    control: &ComposeControl,
    recipe: &Recipe,
    declared: &[PortSpec],
    node: &NodeContainer,
    planned: &Planned,
) -> Result<(), DeployError> {
    let docker = &control.docker;
    let failed = |reason: String| DeployError::node_failed(&node.name, reason, &node.log);
    let image = recipe.images.get(&planned.spec.group).ok_or_else(|| {
        failed(format!(
            "no image was built for its group `{}`",
            planned.spec.group
        ))
    })?;
    let ports = planned.ports(declared);
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
    if let (Some(library), Some(clock)) = (&recipe.faketime, &node.clock) {
        let dir = clock.file().parent().unwrap_or(clock.file());
        binds.push(format!("{}:{CLOCK_DIR}", dir.display()));
        env.extend(deployer_kit::clock::environment(
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
        user: Some(recipe.owner.clone()),
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

/// Starts `node` for the first time; a failure names it and shows its log.
pub(crate) async fn start_node(node: &Arc<NodeContainer>) -> Result<(), DeployError> {
    node.start()
        .await
        .map_err(|reason| DeployError::node_failed(&node.name, reason, &node.log))
}
