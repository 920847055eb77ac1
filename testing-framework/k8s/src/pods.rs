//! Following a run's pods through a watch (kube-runtime's watcher, with
//! its backoff), not by polling: the run goes on once every pod runs, and
//! a pod that cannot (an image that cannot be pulled, no room to schedule
//! it, an eviction, a container that exits at start) stops the wait at once
//! with the pod and the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tf_core::scenario::DeployError;
use tokio::time::{Instant, timeout_at};

use crate::names::label_value;
use crate::{Plan, PodState, pod_state};

/// Waits until every pod of `plan` runs, for at most `timeout`.
pub async fn wait_running(
    client: &Client,
    plan: &Plan,
    timeout: Duration,
) -> Result<(), DeployError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &plan.namespace);
    let selector = format!("dev.tf.run={}", label_value(&plan.run));
    let want: BTreeSet<String> = plan.nodes.iter().map(|n| n.name.clone()).collect();
    let mut seen: BTreeMap<String, PodState> = BTreeMap::new();
    let mut last_error = None;
    let events = watcher(pods, watcher::Config::default().labels(&selector))
        .default_backoff()
        .applied_objects();
    let mut events = std::pin::pin!(events);
    let deadline = Instant::now() + timeout;
    loop {
        let running: BTreeSet<&String> = seen
            .iter()
            .filter(|(_, s)| **s == PodState::Running)
            .map(|(n, _)| n)
            .collect();
        if want.iter().all(|n| running.contains(n)) {
            return Ok(());
        }
        let next = match timeout_at(deadline, events.try_next()).await {
            Err(_) => return Err(timed_out(timeout, &want, &seen, last_error)),
            Ok(Ok(Some(pod))) => pod,
            Ok(Ok(None)) => {
                return Err(DeployError::Other(
                    "the watch of the run's pods ended before every pod ran".into(),
                ));
            }
            // The watcher retries with backoff; the last error is kept for
            // the timeout's message.
            Ok(Err(error)) => {
                last_error = Some(error.to_string());
                continue;
            }
        };
        let name = next.metadata.name.clone().unwrap_or_default();
        match pod_state(&next) {
            PodState::Stuck(message) => return Err(DeployError::Other(message)),
            PodState::Exited { code, reason } => {
                return Err(DeployError::Other(format!(
                    "pod {name} exited at start with code {code} ({reason}); its log tells why"
                )));
            }
            state => {
                seen.insert(name, state);
            }
        }
    }
}

fn timed_out(
    timeout: Duration,
    want: &BTreeSet<String>,
    seen: &BTreeMap<String, PodState>,
    last_error: Option<String>,
) -> DeployError {
    let states: Vec<String> = want
        .iter()
        .map(|n| match seen.get(n) {
            Some(state) => format!("{n}: {state:?}"),
            None => format!("{n}: not seen"),
        })
        .collect();
    DeployError::Other(format!(
        "the run's pods did not all run within {timeout:?}: {}{}",
        states.join(", "),
        last_error
            .map(|e| format!("; the watch's last error: {e}"))
            .unwrap_or_default()
    ))
}
