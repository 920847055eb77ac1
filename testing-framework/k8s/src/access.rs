//! How the runner reaches the nodes: port-forwards from outside, service
//! DNS from inside the cluster, or NodePorts on a cluster node's address.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use kube::api::PostParams;
use kube::{Api, Client};
use tf_core::deployer_kit::labels::{NODE, RUN};
use tf_core::scenario::deploy::{DeployError, DeploymentRequest};
use tf_core::scenario::{NodeSpec, PortSpec, Protocol};

use crate::names::{label_value, port_names};
use crate::objects::{labels, meta};

/// How the runner reaches the nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// By service DNS inside a pod (the in-cluster runner), through
    /// port-forwards outside.
    #[default]
    Auto,
    /// Through the API's port-forward, from outside the cluster.
    PortForward,
    /// By each node's service DNS name: the runner runs in the cluster.
    ServiceDns,
    /// Through a NodePort Service per node, at `host` (the address of a
    /// cluster node the runner can reach: a kind node's container address,
    /// a k3d load balancer's published ports, a cloud node's address).
    /// During a partition, NetworkPolicies may cut the runner off the cut
    /// side too, since they see the cluster node's address.
    NodePort {
        /// Where the runner reaches the cluster's nodes.
        host: String,
    },
}

impl Access {
    /// What `Auto` means here: inside a pod (the service host set), DNS.
    pub(crate) fn resolve(&self) -> Access {
        match self {
            Access::Auto if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                Access::ServiceDns
            }
            Access::Auto => Access::PortForward,
            chosen => chosen.clone(),
        }
    }
}

/// The NodePort Service of node `node` of run `run`: the app's TCP ports,
/// on ports the cluster assigns.
pub fn node_port_service(request: &DeploymentRequest, run: &str, node: &NodeSpec) -> Service {
    let namespace = crate::namespace_of(run);
    let tcp: Vec<_> = request
        .ports_of(&node.group)
        .iter()
        .filter(|p| p.protocol == Protocol::Tcp)
        .collect();
    let names = port_names(&tcp.iter().map(|p| p.name.as_str()).collect::<Vec<_>>());
    Service {
        metadata: meta(&format!("{}-access", node.name), Some(&namespace), {
            let mut labels = labels(run, &request.scenario, Some(&node.name));
            labels.insert(crate::objects::GROUP.to_owned(), label_value(&node.group));
            labels
        }),
        spec: Some(ServiceSpec {
            type_: Some("NodePort".into()),
            selector: Some(BTreeMap::from([
                (RUN.to_owned(), label_value(run)),
                (NODE.to_owned(), label_value(&node.name)),
            ])),
            ports: Some(
                tcp.iter()
                    .zip(names)
                    .map(|(p, name)| ServicePort {
                        name: Some(name),
                        port: i32::from(node.ports.get(&p.name).unwrap_or_default()),
                        protocol: Some("TCP".into()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// Creates `service` and returns the node port the cluster gave each of
/// the app's ports, by the app's port name.
pub(crate) async fn open_node_ports(
    client: &Client,
    declared: &[PortSpec],
    service: &Service,
) -> Result<Vec<(String, u16)>, DeployError> {
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let name = service.metadata.name.clone().unwrap_or_default();
    let services: Api<Service> = Api::namespaced(client.clone(), &namespace);
    let created = services
        .create(&PostParams::default(), service)
        .await
        .map_err(|e| crate::api::api_error(&format!("create service/{name}"), &e))?;
    let given: Vec<Option<u16>> = created
        .spec
        .and_then(|s| s.ports)
        .unwrap_or_default()
        .iter()
        .map(|p| p.node_port.and_then(|n| u16::try_from(n).ok()))
        .collect();
    let tcp = declared.iter().filter(|p| p.protocol == Protocol::Tcp);
    tcp.zip(given)
        .map(|(port, node_port)| {
            node_port.map(|n| (port.name.clone(), n)).ok_or_else(|| {
                DeployError::Other(format!(
                    "service/{name} was given no node port for `{}`; does the cluster allow NodePort services?",
                    port.name
                ))
            })
        })
        .collect()
}
