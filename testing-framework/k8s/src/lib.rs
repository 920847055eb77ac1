//! `tf-k8s`: the Kubernetes deployer, on the Kubernetes API (`kube`,
//! `k8s-openapi`).
//!
//! Built so far:
//! - [`plan`]: every object the deployer creates, as `k8s-openapi` types
//!   from the same [`DeploymentRequest`] the local and compose deployers
//!   take, written as YAML for review (`scenarios run raft-failover
//!   --deployer k8s --dry-run`);
//! - [`pod_state`]: what a pod's status says about its node;
//! - [`partition_policies`]: a partition as NetworkPolicies;
//! - [`pods::wait_running`]: the run's pods followed through a watch until
//!   they run, or one is stuck;
//! - [`api`]: connecting, creating a run's objects in order and deleting
//!   its namespace, with every refusal explained.
//!
//! A `Deployer` over them (pod watch, port-forwards, node control, logs)
//! is the next slice (see the README).
//!
//! [`DeploymentRequest`]: tf_core::scenario::DeploymentRequest

pub mod api;
mod names;
mod objects;
mod partition;
mod pod_state;
pub mod pods;
mod settings;

pub use names::{label_value, namespace_of};
pub use objects::{Object, Plan, plan};
pub use partition::{CUT, SIDE, partition_policies};
pub use pod_state::{PodState, pod_state};
pub use settings::{K8sSettings, Resources};
