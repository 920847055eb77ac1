//! `tf-k8s`: the Kubernetes deployer, on the Kubernetes API (`kube`,
//! `k8s-openapi`).
//!
//! This first slice plans a run: every object the deployer creates, built
//! as `k8s-openapi` types from the same [`DeploymentRequest`] the local and
//! compose deployers take, and written as YAML for review
//! (`scenarios run raft-failover --deployer k8s --dry-run`). Creating them
//! on a cluster, watching pods, port-forwards and node control are the next
//! slices (see the README).
//!
//! [`DeploymentRequest`]: tf_core::scenario::DeploymentRequest

mod names;
mod objects;
mod partition;
mod pod_state;
mod settings;

pub use names::{label_value, namespace_of};
pub use objects::{Object, Plan, plan};
pub use partition::{CUT, SIDE, partition_policies};
pub use pod_state::{PodState, pod_state};
pub use settings::{K8sSettings, Resources};
