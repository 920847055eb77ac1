//! `tf-k8s`: the Kubernetes deployer, on the Kubernetes API (`kube`,
//! `k8s-openapi`); no kubectl or helm at run time.
//!
//! [`K8sDeployer`] runs a scenario's nodes as pods in a namespace of the
//! run's own:
//! - [`plan`]: every object it creates, as `k8s-openapi` types, from the
//!   same [`DeploymentRequest`] the local and compose deployers take;
//!   written as YAML into the run directory (and alone by `scenarios run
//!   <scenario> --deployer k8s --dry-run`);
//! - [`pods::RunWatch`]: the run's pods followed through one watch; every
//!   wait (deploy, stop, start, cleanup) is on it, and [`pod_state`] turns
//!   a pod's status into what to tell a user;
//! - [`forward`]: the runner reaches each node's ports on 127.0.0.1
//!   through the API's port-forward, a tunnel per connection, so a
//!   restarted pod or a dropped tunnel costs one connection and nothing
//!   has to be re-established;
//! - node control by deleting and creating pods (data stays in each
//!   node's claim); partitions as [`partition_policies`];
//! - logs streamed into `<run>/node-N/node.log`;
//! - [`api`]: connecting and creating a run in order, with every refusal
//!   explained; [`sweep`]: deleting what killed runs left;
//! - [`runner`]: the runner itself as a Job inside the cluster, reaching
//!   nodes by service DNS ([`Access::ServiceDns`]), for clusters too big
//!   for port-forwards;
//! - [`K8sAttach`]: observe and drive a deployment someone else made,
//!   picked by labels, without creating or deleting it.
//!
//! [`DeploymentRequest`]: tf_core::scenario::deploy::DeploymentRequest

mod access;
pub mod api;
mod attach;
mod cluster;
mod control;
mod deployer;
pub mod forward;
pub mod links;
mod logs;
mod names;
mod objects;
mod partition;
mod pod_state;
pub mod pods;
mod probe;
pub mod runner;
mod settings;
pub mod sweep;

pub use access::{Access, node_port_service};
pub use attach::K8sAttach;
pub use cluster::K8sCluster;
pub use deployer::K8sDeployer;
pub use k8s_openapi::api::core::v1::Service;
pub use links::{KubeExec, PodExec, default_netfault_image};
pub use names::{label_value, namespace_of};
pub use objects::{Object, Plan, node_objects, node_spec, plan};
pub use partition::{CUT, SIDE, partition_policies};
pub use pod_state::{PodState, pod_state};
pub use probe::{BLIND, REACHED, default_probe_image};
pub use settings::{K8sSettings, Resources, default_image};
