//! What a pod's status says about its node, in the words a cluster user
//! needs: a node up, on its way, or stuck, with the reason and what to do.
//! The deployer's pod watch feeds each pod it sees through [`pod_state`].

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// A node's pod as its status tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodState {
    /// Not scheduled or not started yet, for no reason to worry about.
    Starting,
    /// Not scheduled yet for a reason that may pass (no room now, a claim
    /// not bound yet, an autoscaler adding nodes): the message says why,
    /// and a wait that gives up shows it.
    Waiting(String),
    /// Its container runs.
    Running,
    /// It cannot go on by itself; the message names the pod, the reason
    /// and what to do.
    Stuck(String),
    /// Its container exited (the framework reports it as a node exit).
    Exited {
        /// The exit code.
        code: i32,
        /// The kubelet's reason (`Error`, `OOMKilled`, `Completed`).
        reason: String,
    },
}

/// What `pod`'s status says about its node.
pub fn pod_state(pod: &Pod) -> PodState {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let Some(status) = &pod.status else {
        return PodState::Starting;
    };
    let image = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    if status.reason.as_deref() == Some("Evicted") {
        return PodState::Stuck(format!(
            "pod {name} was evicted: {}; the cluster's node ran short of resources, free some or lower the requests",
            status.message.as_deref().unwrap_or("no message")
        ));
    }
    for container in status.container_statuses.iter().flatten() {
        if let Some(state) = container_state(name, &image, container) {
            return state;
        }
    }
    let unschedulable = status.conditions.iter().flatten().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    if let Some(condition) = unschedulable {
        // Often passing: a claim bound a moment after its pod was made,
        // nodes being added. A wait that gives up says this.
        return PodState::Waiting(format!(
            "pod {name} cannot be scheduled yet: {}; if it stays so, lower the nodes' resource requests or give the cluster more room",
            condition.message.as_deref().unwrap_or("no message")
        ));
    }
    match status.phase.as_deref() {
        Some("Failed") => PodState::Stuck(format!(
            "pod {name} failed: {}",
            status
                .message
                .as_deref()
                .or(status.reason.as_deref())
                .unwrap_or("no message")
        )),
        _ => PodState::Starting,
    }
}

/// What one container's status says, when it says something: stuck on its
/// image or its start, exited, or running.
fn container_state(name: &str, image: &str, container: &ContainerStatus) -> Option<PodState> {
    let state = container.state.as_ref();
    if let Some(waiting) = state.and_then(|s| s.waiting.as_ref()) {
        let reason = waiting.reason.as_deref().unwrap_or_default();
        let message = waiting.message.as_deref().unwrap_or("no message");
        match reason {
            "ErrImagePull" | "ImagePullBackOff" | "ErrImageNeverPull" | "InvalidImageName" => {
                return Some(PodState::Stuck(format!(
                    "pod {name} cannot get its image {image} ({reason}: {message}); load it into the cluster (`kind load docker-image {image}`, `k3d image import {image}`, `minikube image load {image}`) or push it to a registry the cluster pulls from and pass --image"
                )));
            }
            "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError" => {
                return Some(PodState::Stuck(format!(
                    "pod {name} cannot start its container ({reason}): {message}"
                )));
            }
            _ => {}
        }
    }
    if let Some(done) = state.and_then(|s| s.terminated.as_ref()) {
        return Some(PodState::Exited {
            code: done.exit_code,
            reason: done.reason.clone().unwrap_or_default(),
        });
    }
    state
        .is_some_and(|s| s.running.is_some())
        .then_some(PodState::Running)
}

/// The state of each ephemeral container of `pod` (a link fault helper),
/// by name; one with no status yet is starting.
pub fn ephemeral_states(pod: &Pod) -> BTreeMap<String, PodState> {
    let name = pod.metadata.name.as_deref().unwrap_or("?");
    let statuses = pod
        .status
        .iter()
        .flat_map(|s| s.ephemeral_container_statuses.iter().flatten());
    pod.spec
        .iter()
        .flat_map(|s| s.ephemeral_containers.iter().flatten())
        .map(|container| {
            let image = container.image.clone().unwrap_or_default();
            let state = statuses
                .clone()
                .find(|s| s.name == container.name)
                .and_then(|status| container_state(name, &image, status))
                .unwrap_or(PodState::Starting);
            (container.name.clone(), state)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
        ContainerStateWaiting, ContainerStatus, PodCondition, PodSpec, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn pod(status: PodStatus) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("node-1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "node".into(),
                    image: Some("tf-raft:1".into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(status),
        }
    }

    fn with_container(state: ContainerState) -> Pod {
        pod(PodStatus {
            phase: Some("Pending".into()),
            container_statuses: Some(vec![ContainerStatus {
                name: "node".into(),
                state: Some(state),
                ..ContainerStatus::default()
            }]),
            ..PodStatus::default()
        })
    }

    fn waiting(reason: &str, message: &str) -> Pod {
        with_container(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: Some(message.into()),
            }),
            ..ContainerState::default()
        })
    }

    fn stuck(state: PodState) -> String {
        match state {
            PodState::Stuck(message) => message,
            other => panic!("not stuck: {other:?}"),
        }
    }

    #[test]
    fn an_image_that_cannot_be_pulled_says_how_to_load_it() {
        let message = stuck(pod_state(&waiting(
            "ImagePullBackOff",
            "Back-off pulling image",
        )));
        assert!(
            message.starts_with("pod node-1 cannot get its image tf-raft:1"),
            "{message}"
        );
        assert!(
            message.contains("kind load docker-image tf-raft:1"),
            "{message}"
        );
    }

    #[test]
    fn an_unschedulable_pod_waits_with_the_scheduler_reason() {
        let state = pod_state(&pod(PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some("0/1 nodes are available: 1 Insufficient cpu.".into()),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }));
        let PodState::Waiting(message) = state else {
            panic!("not waiting: {state:?}");
        };
        assert!(
            message.contains("Insufficient cpu") && message.contains("resource requests"),
            "{message}"
        );
    }

    #[test]
    fn evictions_and_config_errors_are_stuck_exits_are_exits() {
        let evicted = pod(PodStatus {
            phase: Some("Failed".into()),
            reason: Some("Evicted".into()),
            message: Some("The node was low on resource: memory.".into()),
            ..PodStatus::default()
        });
        assert!(stuck(pod_state(&evicted)).contains("evicted: The node was low"));
        let config = waiting(
            "CreateContainerConfigError",
            "configmap \"node-1-env\" not found",
        );
        assert!(stuck(pod_state(&config)).contains("node-1-env"));
        let oom = with_container(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: 137,
                reason: Some("OOMKilled".into()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        });
        assert_eq!(
            pod_state(&oom),
            PodState::Exited {
                code: 137,
                reason: "OOMKilled".into()
            }
        );
        let running = with_container(ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..ContainerState::default()
        });
        assert_eq!(pod_state(&running), PodState::Running);
        assert_eq!(pod_state(&pod(PodStatus::default())), PodState::Starting);
        assert_eq!(
            pod_state(&waiting("ContainerCreating", "")),
            PodState::Starting
        );
    }
}
