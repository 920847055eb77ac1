//! Every object of a run, as `k8s-openapi` types: a namespace, and per
//! node a ConfigMap (its environment), a PersistentVolumeClaim
//! (its data directory) and a Pod; a headless Service gives each node its
//! DNS name.
//!
//! One Pod per node rather than a StatefulSet: each node has its own
//! command (a Raft node's id and whether it forms the cluster), and the
//! node images are `FROM scratch`, with no shell to pick a command by
//! ordinal. Each node's data lives in its own claim, so deleting its pod
//! (a kill or a restart) keeps the data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapEnvSource, ConfigMapVolumeSource, Container, ContainerPort, EnvFromSource,
    Namespace, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
    Pod, PodSpec, ResourceRequirements, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tf_core::deployer_kit::labels::{MANAGED, NODE, RUN, SCENARIO};
use tf_core::scenario::deploy::{DeployError, DeploymentRequest, GroupRequest};
use tf_core::scenario::{NodeSpec, PortMap, PortSpec, Protocol};

use crate::names::{label_value, namespace_of, port_names};
use crate::settings::{K8sSettings, Resources};

/// The headless Service every node is a host of.
const SERVICE: &str = "nodes";
/// Where a node's data directory is in its container.
const DATA_DIR: &str = "/data";
/// Where the node binary is in the image.
const BINARY_DIR: &str = "/usr/local/bin";

/// The group of a node's objects (a label only the k8s deployer puts).
pub(crate) const GROUP: &str = "dev.tf.group";

/// One object of a run.
// A plan holds a few objects per node, built once per run: their sizes do
// not matter, and boxing each would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// The run's namespace.
    Namespace(Namespace),
    /// A node's environment.
    ConfigMap(ConfigMap),
    /// A node's data volume.
    Claim(PersistentVolumeClaim),
    /// A node.
    Pod(Box<Pod>),
    /// The headless Service naming the nodes.
    Service(Service),
    /// The in-cluster runner's identity.
    ServiceAccount(ServiceAccount),
    /// What the in-cluster runner may do.
    ClusterRole(ClusterRole),
    /// The in-cluster runner given its rights.
    ClusterRoleBinding(ClusterRoleBinding),
    /// The in-cluster runner.
    Job(Box<Job>),
}

impl Object {
    /// `kind/name`.
    pub fn id(&self) -> String {
        let (kind, meta) = self.kind_and_meta();
        format!("{kind}/{}", meta.name.as_deref().unwrap_or_default())
    }

    /// The group of a node's object; `None` for the run's own objects.
    pub fn group(&self) -> Option<&str> {
        let (_, meta) = self.kind_and_meta();
        meta.labels.as_ref()?.get(GROUP).map(String::as_str)
    }

    fn kind_and_meta(&self) -> (&'static str, &ObjectMeta) {
        match self {
            Object::Namespace(o) => ("namespace", &o.metadata),
            Object::ConfigMap(o) => ("configmap", &o.metadata),
            Object::Claim(o) => ("persistentvolumeclaim", &o.metadata),
            Object::Pod(o) => ("pod", &o.metadata),
            Object::Service(o) => ("service", &o.metadata),
            Object::ServiceAccount(o) => ("serviceaccount", &o.metadata),
            Object::ClusterRole(o) => ("clusterrole", &o.metadata),
            Object::ClusterRoleBinding(o) => ("clusterrolebinding", &o.metadata),
            Object::Job(o) => ("job", &o.metadata),
        }
    }

    /// The object as YAML, `apiVersion` and `kind` first.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        match self {
            Object::Namespace(o) => serde_yaml::to_string(o),
            Object::ConfigMap(o) => serde_yaml::to_string(o),
            Object::Claim(o) => serde_yaml::to_string(o),
            Object::Pod(o) => serde_yaml::to_string(o),
            Object::Service(o) => serde_yaml::to_string(o),
            Object::ServiceAccount(o) => serde_yaml::to_string(o),
            Object::ClusterRole(o) => serde_yaml::to_string(o),
            Object::ClusterRoleBinding(o) => serde_yaml::to_string(o),
            Object::Job(o) => serde_yaml::to_string(o),
        }
    }
}

/// Everything a run creates, in creation order.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The run's id.
    pub run: String,
    /// Its namespace.
    pub namespace: String,
    /// Every node as its peers see it.
    pub nodes: Vec<NodeSpec>,
    /// The objects, namespace first.
    pub objects: Vec<Object>,
}

impl Plan {
    /// Every object as one multi-document YAML file.
    pub fn to_yaml(&self) -> Result<String, DeployError> {
        let mut out = format!(
            "# Every object the k8s deployer creates for run {} (namespace {}), in order.\n",
            self.run, self.namespace
        );
        for object in &self.objects {
            out.push_str("---\n");
            out.push_str(&object.to_yaml().map_err(|e| {
                DeployError::Other(format!("cannot write {} as YAML: {e}", object.id()))
            })?);
        }
        Ok(out)
    }

    /// Writes `objects.yaml` (all of them), one file per object, and
    /// `on-partition.yaml` (the NetworkPolicies a partition adds) under
    /// `dir/k8s/`; returns the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, DeployError> {
        let io = |path: &Path, e| tf_core::deployer_kit::io_error("write", path, e);
        let k8s = dir.join("k8s");
        std::fs::create_dir_all(&k8s).map_err(|e| io(&k8s, e))?;
        let mut written = Vec::new();
        let all = k8s.join("objects.yaml");
        std::fs::write(&all, self.to_yaml()?).map_err(|e| io(&all, e))?;
        written.push(all);
        // Created only while a scenario partitions the network.
        let mut policies = format!(
            "# Created when a scenario partitions run {} (the cut side's pods labelled {}={}), deleted when it heals.\n",
            self.run,
            crate::SIDE,
            crate::CUT
        );
        for policy in crate::partition_policies(&self.run) {
            policies.push_str("---\n");
            policies.push_str(&serde_yaml::to_string(&policy).map_err(|e| {
                DeployError::Other(format!("cannot write a partition policy as YAML: {e}"))
            })?);
        }
        let on_partition = k8s.join("on-partition.yaml");
        std::fs::write(&on_partition, policies).map_err(|e| io(&on_partition, e))?;
        written.push(on_partition);
        for (i, object) in self.objects.iter().enumerate() {
            let path = k8s.join(format!("{i:02}-{}.yaml", object.id().replace('/', "-")));
            let text = object
                .to_yaml()
                .map_err(|e| DeployError::Other(format!("cannot write {}: {e}", object.id())))?;
            std::fs::write(&path, text).map_err(|e| io(&path, e))?;
            written.push(path);
        }
        Ok(written)
    }
}

pub(crate) fn labels(run: &str, scenario: &str, node: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (MANAGED.to_owned(), "true".to_owned()),
        (RUN.to_owned(), label_value(run)),
        (SCENARIO.to_owned(), label_value(scenario)),
    ]);
    if let Some(node) = node {
        labels.insert(NODE.to_owned(), label_value(node));
    }
    labels
}

pub(crate) fn meta(
    name: &str,
    namespace: Option<&str>,
    labels: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

pub(crate) fn quantities(resources: &Resources) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(resources.cpu.clone())),
        ("memory".to_owned(), Quantity(resources.memory.clone())),
    ])
}

fn protocol(protocol: Protocol) -> String {
    match protocol {
        Protocol::Tcp => "TCP".into(),
        Protocol::Udp => "UDP".into(),
    }
}

/// An app's ports as Kubernetes port names, valid and distinct.
fn declared_port_names(ports: &[PortSpec]) -> Vec<String> {
    let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
    port_names(&names)
}

/// The ports of `group`'s nodes: the same numbers on every node of every
/// group (each pod has its own address).
fn group_ports(group: &GroupRequest, settings: &K8sSettings) -> PortMap {
    PortMap::new(
        group
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), settings.first_port + i as u16)),
    )
}

/// Node `index` of run `run`, the `ordinal`-th of `group`, as its peers
/// see it: `rpc-1`, at `rpc-1.nodes.tf-<run>.svc.cluster.local`, on the
/// same port numbers as every other node (each pod has its own address).
pub fn node_spec(
    group: &GroupRequest,
    run: &str,
    settings: &K8sSettings,
    index: usize,
    ordinal: usize,
) -> NodeSpec {
    let name = group.node_name(ordinal);
    NodeSpec {
        index,
        group: group.name.clone(),
        ports: group_ports(group, settings),
        host: format!(
            "{name}.{SERVICE}.{}.svc.{}",
            namespace_of(run),
            settings.cluster_domain
        ),
        name,
        bind_host: "0.0.0.0".into(),
        data_dir: PathBuf::from(DATA_DIR),
    }
}

/// The objects of run `run` for `request`: its nodes are named after their
/// group (`node-N`, `rpc-N`) and reach each other at
/// `<node>.nodes.tf-<run>.svc.cluster.local`. One headless service serves
/// every group: a pod's DNS name then does not depend on its group, and
/// each node object carries its group as a label.
pub fn plan(
    request: &DeploymentRequest,
    run: &str,
    settings: &K8sSettings,
) -> Result<Plan, DeployError> {
    request.check()?;
    let namespace = namespace_of(run);
    let ns = Some(namespace.as_str());
    let nodes: Vec<NodeSpec> = request
        .slots()
        .iter()
        .map(|s| node_spec(s.group, run, settings, s.index, s.ordinal))
        .collect();
    // Every group's ports, each number once (a service refuses a number
    // twice; its ports only name them, DNS needs none).
    let mut service_ports: Vec<ServicePort> = Vec::new();
    for group in &request.groups {
        let numbers = group_ports(group, settings);
        for (p, name) in group.ports.iter().zip(declared_port_names(&group.ports)) {
            let port = i32::from(numbers.get(&p.name).unwrap_or_default());
            let protocol = protocol(p.protocol);
            let taken = service_ports.iter().any(|s| {
                s.port == port && s.protocol.as_deref() == Some(protocol.as_str())
                    || s.name.as_deref() == Some(name.as_str())
            });
            if !taken {
                service_ports.push(ServicePort {
                    name: Some(name),
                    port,
                    protocol: Some(protocol),
                    ..ServicePort::default()
                });
            }
        }
    }
    let mut objects = vec![Object::Namespace(Namespace {
        metadata: meta(&namespace, None, labels(run, &request.scenario, None)),
        ..Namespace::default()
    })];
    objects.push(Object::Service(Service {
        metadata: meta(SERVICE, ns, labels(run, &request.scenario, None)),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            // Peers must find each other before they are ready.
            publish_not_ready_addresses: Some(true),
            selector: Some(BTreeMap::from([(RUN.to_owned(), label_value(run))])),
            ports: Some(service_ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }));
    for node in &nodes {
        objects.extend(node_objects(request, run, settings, node, &nodes)?);
    }
    Ok(Plan {
        run: run.to_owned(),
        namespace,
        nodes,
        objects,
    })
}

/// A node's own objects, in creation order: its ConfigMap (environment),
/// the ConfigMap of its files when it has any ([`NodeCommand::file`], each
/// mounted read-only at its path in the data directory), its
/// PersistentVolumeClaim (data) and its Pod, started with `topology`
/// as the cluster it knows.
pub fn node_objects(
    request: &DeploymentRequest,
    run: &str,
    settings: &K8sSettings,
    node: &NodeSpec,
    topology: &[NodeSpec],
) -> Result<Vec<Object>, DeployError> {
    let namespace = namespace_of(run);
    let ns = Some(namespace.as_str());
    let group = request.group(&node.group).ok_or_else(|| {
        DeployError::Other(format!(
            "{} is in group `{}`, which the request does not have (groups: {})",
            node.name,
            node.group,
            request.group_names()
        ))
    })?;
    // The image holds the binary under its file name, as the compose
    // deployer's images do.
    let binary = &group.binary.name;
    let container_ports: Vec<ContainerPort> = group
        .ports
        .iter()
        .zip(declared_port_names(&group.ports))
        .map(|(p, name)| ContainerPort {
            name: Some(name),
            container_port: i32::from(node.ports.get(&p.name).unwrap_or_default()),
            protocol: Some(protocol(p.protocol)),
            ..ContainerPort::default()
        })
        .collect();
    let command = request.command(node, topology)?;
    let mut node_labels = labels(run, &request.scenario, Some(&node.name));
    node_labels.insert(GROUP.to_owned(), label_value(&node.group));
    let env_map = format!("{}-env", node.name);
    let claim = format!("{}-data", node.name);
    // The node's environment; its command line is in the pod.
    let data: BTreeMap<String, String> = command.env.iter().cloned().collect();
    let config = Object::ConfigMap(ConfigMap {
        metadata: meta(&env_map, ns, node_labels.clone()),
        data: Some(data),
        ..ConfigMap::default()
    });
    let volume = Object::Claim(PersistentVolumeClaim {
        metadata: meta(&claim, ns, node_labels.clone()),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(settings.storage.clone()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    });
    // Its files: keys `file-N` (a key cannot hold `/`), each mounted at its
    // path under the data directory.
    let files_map = format!("{}-files", node.name);
    let files = (!command.files.is_empty()).then(|| {
        Object::ConfigMap(ConfigMap {
            metadata: meta(&files_map, ns, node_labels.clone()),
            data: Some(
                command
                    .files
                    .iter()
                    .enumerate()
                    .map(|(i, (_, text))| (format!("file-{i}"), text.clone()))
                    .collect(),
            ),
            ..ConfigMap::default()
        })
    });
    let mut mounts = vec![VolumeMount {
        name: "data".into(),
        mount_path: DATA_DIR.into(),
        ..VolumeMount::default()
    }];
    let mut volumes = vec![Volume {
        name: "data".into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.clone(),
            read_only: Some(false),
        }),
        ..Volume::default()
    }];
    if files.is_some() {
        volumes.push(Volume {
            name: "files".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: files_map,
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        });
        for (i, (path, _)) in command.files.iter().enumerate() {
            mounts.push(VolumeMount {
                name: "files".into(),
                mount_path: format!("{DATA_DIR}/{path}"),
                sub_path: Some(format!("file-{i}")),
                read_only: Some(true),
                ..VolumeMount::default()
            });
        }
    }
    let pod = Object::Pod(Box::new(Pod {
        metadata: meta(&node.name, ns, node_labels),
        spec: Some(PodSpec {
            hostname: Some(node.name.clone()),
            subdomain: Some(SERVICE.into()),
            // The framework restarts nodes itself and reports every
            // exit it did not ask for; the kubelet must not hide one.
            restart_policy: Some("Never".into()),
            containers: vec![Container {
                name: "node".into(),
                image: Some(settings.image_of(&node.group).to_owned()),
                image_pull_policy: Some("IfNotPresent".into()),
                command: Some(vec![format!("{BINARY_DIR}/{binary}")]),
                args: Some(command.args.clone()),
                env_from: Some(vec![EnvFromSource {
                    config_map_ref: Some(ConfigMapEnvSource {
                        name: env_map.clone(),
                        optional: Some(false),
                    }),
                    ..EnvFromSource::default()
                }]),
                ports: Some(container_ports),
                resources: Some(ResourceRequirements {
                    requests: Some(quantities(&settings.requests)),
                    limits: Some(quantities(&settings.limits)),
                    ..ResourceRequirements::default()
                }),
                volume_mounts: Some(mounts),
                ..Container::default()
            }],
            volumes: Some(volumes),
            ..PodSpec::default()
        }),
        ..Pod::default()
    }));
    Ok([Some(config), files, Some(volume), Some(pod)]
        .into_iter()
        .flatten()
        .collect())
}
