//! Link faults on Kubernetes: the framework's `tf-netfault` helper runs as
//! an ephemeral container in the node's pod (the ephemeral containers
//! subresource), where it shares the pod's network namespace, with
//! `NET_ADMIN`; it is driven through the pod's exec subresource, one
//! request a call. The node's own container needs no capability. What the
//! helper does, and how each fault is confirmed, is the same as on compose
//! (`tf_netfault::driver`).
//!
//! Ephemeral containers cannot be removed: the helper stays in the pod
//! until the pod goes (a restart, the run's cleanup), idle once its faults
//! are removed. A restarted node is a new pod: it gets a new helper and
//! its faults are put back.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{AttachParams, Patch, PatchParams};
use kube::{Api, Client};
use tf_netfault::driver::Helpers;
use tf_netfault::{Request, Response};
use tokio::io::AsyncReadExt;
use tokio::sync::Mutex as AsyncMutex;

use crate::PodState;
use crate::control::K8sControl;
use crate::pods::WaitEnd;

/// The helper's container name in each pod.
pub const HELPER: &str = "tf-netfault";
/// How long one request to a helper may take (probes of cut links wait
/// for their connects to time out).
const EXEC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The helper image when none is given: `$TF_K8S_NETFAULT_IMAGE`, else
/// `tf-netfault:latest` (`scenarios image --netfault` builds it); `off`
/// turns link faults off.
pub fn default_netfault_image() -> Option<String> {
    crate::settings::image_from_env("TF_K8S_NETFAULT_IMAGE", tf_netfault::BINARY)
}

/// Runs a command in a container of a pod, through the API's exec.
#[async_trait]
pub trait PodExec: Send + Sync + 'static {
    /// What `command` printed on its standard output in `container` of
    /// `pod` in `namespace`, or why it could not run.
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
    ) -> Result<String, String>;
}

/// Exec through the API server (`pods/exec`, over a websocket).
pub struct KubeExec(pub Client);

#[async_trait]
impl PodExec for KubeExec {
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
    ) -> Result<String, String> {
        let pods: Api<Pod> = Api::namespaced(self.0.clone(), namespace);
        let params = AttachParams::default()
            .container(container)
            .stdin(false)
            .stdout(true)
            .stderr(false);
        let mut process = pods
            .exec(pod, command, &params)
            .await
            .map_err(|e| denied("run a request in", pod, &e))?;
        let mut out = String::new();
        if let Some(mut stdout) = process.stdout() {
            stdout
                .read_to_string(&mut out)
                .await
                .map_err(|e| format!("reading the helper's answer in {pod}: {e}"))?;
        }
        let _ = process.join().await;
        Ok(out)
    }
}

/// The helpers of a run's pods: which nodes' current pods have one.
#[derive(Default)]
pub(crate) struct HelperSet {
    started: AsyncMutex<BTreeSet<String>>,
}

impl HelperSet {
    /// Forgets `node`'s helper: its pod is gone, the helper with it.
    pub(crate) async fn forget(&self, node: &str) {
        self.started.lock().await.remove(node);
    }
}

/// What link faults need of a Kubernetes cluster.
pub(crate) struct PodHelpers<'a> {
    pub(crate) control: &'a K8sControl,
    pub(crate) image: &'a str,
    pub(crate) exec: &'a Arc<dyn PodExec>,
}

impl PodHelpers<'_> {
    /// Adds the helper to `node`'s pod unless its current pod has one, and
    /// waits until it runs.
    async fn ensure(&self, node: &str) -> Result<(), String> {
        let control = self.control;
        if control.helpers.started.lock().await.contains(node) {
            return Ok(());
        }
        let running = |ephemeral: Option<&PodState>| matches!(ephemeral, Some(PodState::Running));
        let present = control
            .watch
            .pods()
            .borrow()
            .pods
            .get(node)
            .is_some_and(|s| s.ephemeral.contains_key(HELPER));
        if !present {
            let patch = serde_json::json!({
                "spec": { "ephemeralContainers": [{
                    "name": HELPER,
                    "image": self.image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": [tf_netfault::IN_IMAGE, "agent"],
                    "env": [{ "name": "XTABLES_LIBDIR", "value": tf_netfault::EXTENSIONS }],
                    "securityContext": { "capabilities": { "add": ["NET_ADMIN"] } },
                }]}
            });
            let pods: Api<Pod> = Api::namespaced(control.client.clone(), &control.namespace);
            pods.patch_ephemeral_containers(
                node,
                &PatchParams::default(),
                &Patch::Strategic(patch),
            )
            .await
            .map_err(|e| denied("add the link fault helper to", node, &e))?;
        }
        let seen = control
            .watch
            .wait(control.ready_timeout, |p| {
                p.pods.get(node).is_some_and(|s| {
                    !matches!(
                        s.ephemeral.get(HELPER),
                        None | Some(PodState::Starting | PodState::Waiting(_))
                    )
                })
            })
            .await;
        let state = match seen {
            Ok(pods) => pods.pods[node].ephemeral.get(HELPER).cloned(),
            Err(WaitEnd::Ended) => return Err("the watch of the run's pods ended".into()),
            Err(WaitEnd::TimedOut) => {
                return Err(format!(
                    "the link fault helper in pod {node} did not start within {:?}; is its image {} in the cluster? (`scenarios image --netfault` builds it; load it as the node images)",
                    control.ready_timeout, self.image
                ));
            }
        };
        if !running(state.as_ref()) {
            return Err(match state {
                Some(PodState::Stuck(why)) => format!(
                    "the link fault helper in pod {node} cannot start: {why} (its image {}: `scenarios image --netfault` builds it)",
                    self.image
                ),
                other => format!("the link fault helper in pod {node} ended: {other:?}"),
            });
        }
        control.helpers.started.lock().await.insert(node.to_owned());
        Ok(())
    }
}

#[async_trait]
impl Helpers for PodHelpers<'_> {
    async fn ask(&self, node: &str, request: &Request) -> Result<Response, String> {
        self.ensure(node).await?;
        let json = serde_json::to_string(request).map_err(|e| e.to_string())?;
        let command = vec![tf_netfault::IN_IMAGE.to_owned(), "ctl".to_owned(), json];
        let asked = self
            .exec
            .exec(&self.control.namespace, node, HELPER, command);
        let out = tokio::time::timeout(EXEC_TIMEOUT, asked)
            .await
            .map_err(|_| {
                format!(
                    "the link fault helper in pod {node} did not answer within {EXEC_TIMEOUT:?}"
                )
            })??;
        serde_json::from_str(out.trim()).map_err(|e| {
            format!(
                "the link fault helper in pod {node} answered something else than a response ({e}): {}",
                out.trim()
            )
        })
    }

    async fn has_helper(&self, node: &str) -> bool {
        self.control.helpers.started.lock().await.contains(node)
    }

    async fn address(&self, node: &str) -> Result<SocketAddr, String> {
        let port = self
            .control
            .nodes
            .get(node)
            .map_err(|e| e.to_string())?
            .address
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .ok_or_else(|| format!("{node} has no port to probe"))?;
        let ip = self
            .control
            .watch
            .pods()
            .borrow()
            .pods
            .get(node)
            .and_then(|s| s.ip.clone())
            .ok_or_else(|| format!("pod {node} has no address (is it running?)"))?;
        let ip: std::net::IpAddr = ip
            .parse()
            .map_err(|e| format!("pod {node}'s address {ip} is not an address: {e}"))?;
        Ok(SocketAddr::new(ip, port))
    }

    fn is_node(&self, node: &str) -> bool {
        self.control.nodes.get(node).is_ok()
    }

    fn answering(&self) -> Vec<String> {
        let down = self.control.down.lock().clone();
        self.control
            .nodes
            .all()
            .iter()
            .map(|n| n.name.clone())
            .filter(|n| !down.contains(n))
            .collect()
    }

    async fn renew(&self, node: &str) -> Result<(), String> {
        self.control.helpers.forget(node).await;
        Ok(())
    }
}

/// What the API said when asked to `what` `pod`, naming the permission a
/// refusal lacks.
fn denied(what: &str, pod: &str, error: &kube::Error) -> String {
    let kube::Error::Api(status) = error else {
        return format!("cannot {what} pod {pod}: {error}");
    };
    let message = &status.message;
    match status.code {
        403 if message.contains("PodSecurity") || message.contains("violates") => format!(
            "cannot {what} pod {pod}: the namespace's pod security forbids it ({message}); the helper needs the NET_ADMIN capability, which the `baseline` and `restricted` levels refuse: label the run's namespaces `pod-security.kubernetes.io/enforce=privileged`, or run link faults on compose (--deployer compose)"
        ),
        403 => format!(
            "cannot {what} pod {pod}: forbidden ({message}); link faults on Kubernetes need `patch` on `pods/ephemeralcontainers` and `create` on `pods/exec` in the run's namespace: grant them to the account in your kubeconfig (a Role), or run link faults on compose (--deployer compose)"
        ),
        404 if what.starts_with("add") => format!(
            "cannot {what} pod {pod}: the cluster has no ephemeral containers ({message}); they need Kubernetes 1.25 or later"
        ),
        code => format!(
            "cannot {what} pod {pod}: {code} {}: {message}",
            status.reason
        ),
    }
}
