//! A run's networks: `peers` for the nodes, `access` for the runner, and
//! `cut` while a partition lasts.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};

use crate::engine::{describe, is_not_found};

/// Which of a run's networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net {
    /// The runner's: ports are published through it; containers cannot
    /// reach each other on it.
    Access,
    /// The nodes': internal, each node under its name.
    Peers,
    /// The cut-off side of a partition: internal.
    Cut,
}

impl Net {
    /// The engine's name of this network of run `run`.
    pub(crate) fn name(self, run: &str) -> String {
        // `access` sorts first, so it is the network the engine publishes
        // ports through: a partition never takes the runner's way in.
        match self {
            Net::Access => format!("tf-{run}-0-access"),
            Net::Peers => format!("tf-{run}-1-peers"),
            Net::Cut => format!("tf-{run}-2-cut"),
        }
    }
}

/// Creates network `net` of run `run`.
pub(crate) async fn create(
    docker: &Docker,
    run: &str,
    net: Net,
    labels: &HashMap<String, String>,
) -> Result<String, String> {
    let name = net.name(run);
    let (internal, options) = match net {
        Net::Access => (
            false,
            HashMap::from([(
                "com.docker.network.bridge.enable_icc".to_owned(),
                "false".to_owned(),
            )]),
        ),
        Net::Peers | Net::Cut => (true, HashMap::new()),
    };
    docker
        .create_network(NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            internal: Some(internal),
            options: Some(options),
            labels: Some(labels.clone()),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create network {name}: {}", describe(&e)))?;
    Ok(name)
}

/// Network `name`'s IPv4 subnet (`172.20.0.0/16`).
pub(crate) async fn subnet(docker: &Docker, name: &str) -> Result<String, String> {
    let network = docker
        .inspect_network(
            name,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .map_err(|e| format!("cannot inspect network {name}: {}", describe(&e)))?;
    network
        .ipam
        .and_then(|ipam| ipam.config)
        .into_iter()
        .flatten()
        .filter_map(|config| config.subnet)
        .find(|subnet| !subnet.contains(':'))
        .ok_or_else(|| format!("network {name} has no IPv4 subnet"))
}

/// Removes a network; one already gone is fine.
pub(crate) async fn remove(docker: &Docker, name: &str) -> Result<(), String> {
    match docker.remove_network(name).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(format!("cannot remove network {name}: {}", describe(&e))),
    }
}

/// Attaches `container` to `network`, reachable there as `alias`.
pub(crate) async fn connect(
    docker: &Docker,
    network: &str,
    container: &str,
    alias: Option<&str>,
) -> Result<(), String> {
    docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: Some(container.to_owned()),
                endpoint_config: Some(EndpointSettings {
                    aliases: alias.map(|a| vec![a.to_owned()]),
                    ..Default::default()
                }),
            },
        )
        .await
        .map_err(|e| format!("cannot connect {container} to {network}: {}", describe(&e)))
}

/// Detaches `container` from `network`.
pub(crate) async fn disconnect(
    docker: &Docker,
    network: &str,
    container: &str,
) -> Result<(), String> {
    docker
        .disconnect_network(
            network,
            NetworkDisconnectRequest {
                container: Some(container.to_owned()),
                force: Some(true),
            },
        )
        .await
        .map_err(|e| {
            format!(
                "cannot disconnect {container} from {network}: {}",
                describe(&e)
            )
        })
}
