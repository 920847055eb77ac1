//! One node of a local cluster, as both the deployer and a growing
//! cluster make it: where it is (its spec, its endpoint), its process, and
//! its first start.

use std::path::Path;
use std::sync::Arc;

use tf_core::deployer_kit::{self, clock::NodeClock};
use tf_core::report::NodeExit;
use tf_core::scenario::deploy::DeployError;
use tf_core::scenario::{NodeCommand, NodeEndpoint, NodeSpec, PortMap};
use tokio::sync::watch;

use crate::process::NodeProcess;

/// Nodes bind and are reached on loopback.
const HOST: &str = "127.0.0.1";

/// Node `index` of a cluster whose run directory is `run_dir`, the
/// `ordinal`-th of `group`, its data directory created.
pub(crate) fn node_spec(
    run_dir: &Path,
    index: usize,
    group: &str,
    ordinal: usize,
    ports: PortMap,
) -> Result<NodeSpec, DeployError> {
    let name = tf_core::scenario::node_name(group, ordinal);
    let data_dir = run_dir.join(&name).join("data");
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| deployer_kit::io_error("create", &data_dir, e))?;
    Ok(NodeSpec {
        index,
        name,
        group: group.to_owned(),
        host: HOST.into(),
        bind_host: HOST.into(),
        ports,
        data_dir,
    })
}

/// Where the runner reaches the node of `spec`: where its peers do.
pub(crate) fn endpoint(spec: &NodeSpec) -> NodeEndpoint {
    NodeEndpoint::loopback(&spec.name, &spec.ports).in_group(&spec.group)
}

/// The process of the node of `spec`, not started; under libfaketime when
/// `faketime` is given, its clock set in `<run>/<node>/clock/spec`.
pub(crate) fn node_process(
    spec: &NodeSpec,
    run_dir: &Path,
    binary: &Path,
    mut command: NodeCommand,
    faketime: Option<&Path>,
    crashes: &Arc<watch::Sender<Vec<NodeExit>>>,
) -> Result<Arc<NodeProcess>, DeployError> {
    deployer_kit::write_node_files(&spec.name, &spec.data_dir, &command)?;
    let clock = match faketime {
        Some(library) => {
            let file = deployer_kit::clock::file_of(run_dir, &spec.name);
            let clock = NodeClock::create(file.clone())
                .map_err(|e| deployer_kit::io_error("create", &file, e))?;
            command.env.extend(deployer_kit::clock::environment(
                &library.display().to_string(),
                &file.display().to_string(),
            ));
            Some(clock)
        }
        None => None,
    };
    Ok(NodeProcess::new(
        spec.name.clone(),
        binary.to_owned(),
        command,
        run_dir.join(&spec.name).join("node.log"),
        clock,
        Arc::clone(crashes),
    ))
}

/// Starts `node` for the first time; a failure names it and shows its log.
pub(crate) fn spawn(node: &Arc<NodeProcess>) -> Result<(), DeployError> {
    node.spawn()
        .map_err(|reason| DeployError::node_failed(&node.name, reason, &node.log))
}
