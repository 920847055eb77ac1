//! Whether a partition took: NetworkPolicies are only objects, and a
//! cluster whose network plugin does not enforce them accepts them and
//! cuts nothing. After a partition, a probe pod on the cut side (the
//! runner's image, `scenarios probe`) tries to reach a node of the other
//! side; the partition stands only if it cannot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use tf_core::deployer_kit::labels::{MANAGED, ROLE, RUN};

use crate::names::label_value;
use crate::objects::meta;
use crate::pods::{RunWatch, WaitEnd};
use crate::{CUT, PodState, SIDE};

/// How long the probe tries to connect before it counts the cut as real.
const WITHIN_SECS: u64 = 5;
/// The probe's exit code when it reached the other side.
pub const REACHED: i32 = 3;
/// The probe's exit code when it could not reach its own side either: the
/// probe proves nothing (the network, or the probe, is broken).
pub const BLIND: i32 = 4;

/// The probe image when none is given: `$TF_K8S_PROBE_IMAGE`, else the
/// runner's image; `off` turns the check off.
pub fn default_probe_image() -> Option<String> {
    crate::settings::image_from_env("TF_K8S_PROBE_IMAGE", "scenarios")
}

static PROBES: AtomicU64 = AtomicU64::new(0);

/// Runs a probe on the cut side of run `run` against `target`
/// (`host:port` of a node on the other side); `Ok` when it could not get
/// through but did reach `control` (a node on its own side), when there is
/// one to try.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn confirm_cut(
    client: &Client,
    namespace: &str,
    run: &str,
    watch: &RunWatch,
    image: &str,
    target: &str,
    control: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let name = format!("tf-probe-{}", PROBES.fetch_add(1, Ordering::Relaxed) + 1);
    let labels = BTreeMap::from([
        (MANAGED.to_owned(), "true".to_owned()),
        (RUN.to_owned(), label_value(run)),
        (SIDE.to_owned(), CUT.to_owned()),
        (ROLE.to_owned(), "probe".to_owned()),
    ]);
    let pod = Pod {
        metadata: meta(&name, Some(namespace), labels),
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            containers: vec![Container {
                name: "probe".into(),
                image: Some(image.into()),
                image_pull_policy: Some("IfNotPresent".into()),
                command: Some(vec!["/usr/local/bin/scenarios".into()]),
                args: Some(
                    [
                        vec![
                            "probe".into(),
                            "--connect".into(),
                            target.into(),
                            "--within".into(),
                            WITHIN_SECS.to_string(),
                        ],
                        control
                            .map(|c| vec!["--control".into(), c.into()])
                            .unwrap_or_default(),
                    ]
                    .concat(),
                ),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    pods.create(&PostParams::default(), &pod)
        .await
        .map_err(|e| crate::api::api_error(&format!("create pod/{name}"), &e).to_string())?;
    let ended = watch
        .wait(timeout + Duration::from_secs(WITHIN_SECS), |p| {
            p.pods
                .get(&name)
                .is_some_and(|s| matches!(s.state, PodState::Exited { .. } | PodState::Stuck(_)))
        })
        .await
        .map(|p| p.pods[&name].state.clone());
    let _ = pods
        .delete(&name, &DeleteParams::default().grace_period(0))
        .await;
    match ended {
        Ok(PodState::Exited { code: 0, .. }) => Ok(()),
        Ok(PodState::Exited { code: REACHED, .. }) => Err(format!(
            "the cluster's network plugin does not enforce NetworkPolicies: a pod on the cut side still reached {target}; use a plugin that does (Calico, Cilium; k3s enforces them out of the box), or run partitions on the compose deployer"
        )),
        Ok(PodState::Exited { code: BLIND, .. }) => Err(format!(
            "the partition could not be confirmed: the probe on the cut side could not reach {} on its own side either, so its failure to reach {target} proves nothing",
            control.unwrap_or("its own side")
        )),
        Ok(PodState::Stuck(message)) => Err(format!(
            "the partition could not be confirmed: {message}; `scenarios image --runner` builds the probe's image, or TF_K8S_PROBE_IMAGE=off skips the check"
        )),
        Ok(state) => Err(format!(
            "the partition could not be confirmed: the probe {name} ended as {state:?}"
        )),
        Err(WaitEnd::Ended) => Err("the watch of the run's pods ended".into()),
        Err(WaitEnd::TimedOut) => Err(format!(
            "the partition could not be confirmed: the probe {name} did not finish within {timeout:?}"
        )),
    }
}
