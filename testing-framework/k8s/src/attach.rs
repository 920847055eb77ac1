//! Attach mode: observe and drive a deployment someone else made (a
//! StatefulSet of your nodes, say), picked by a label selector, without
//! creating or deleting anything of it. Its pods are the nodes, under
//! their own names; the runner reaches them as it reaches its own (a
//! forward per port, or service DNS inside the cluster). A node can be
//! killed or restarted, which deletes its pod for its controller to
//! replace; starting, stopping, partitions and new nodes are refused,
//! since they belong to whoever owns the deployment.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use tf_core::deployer_kit;
use tf_core::scenario::deploy::{Capabilities, Cluster, DeployError, DeploymentRequest};
use tf_core::scenario::{Deployer, NodeAction, NodeSpec, PortMap};

use crate::access::Access;
use crate::control::report_exits;
use crate::deployer::{Assembly, K8sDeployer};
use crate::names::port_name;
use crate::{K8sSettings, api};

/// A deployer that attaches to the pods `selector` picks in `namespace`.
#[derive(Clone)]
pub struct K8sAttach {
    namespace: String,
    selector: String,
    /// Everything else as the k8s deployer has it.
    base: K8sDeployer,
}

impl K8sAttach {
    /// The pods of `namespace` that `selector` (`app=raft,tier=db`) picks.
    pub fn new(namespace: impl Into<String>, selector: impl Into<String>) -> Self {
        K8sAttach {
            namespace: namespace.into(),
            selector: selector.into(),
            base: K8sDeployer::new(),
        }
    }

    /// With the k8s deployer's settings `change` makes: runs root, stop
    /// grace, ready timeout, access, client, dialer
    /// (`.with(|d| d.with_ready_timeout(t))`).
    pub fn with(mut self, change: impl FnOnce(K8sDeployer) -> K8sDeployer) -> Self {
        self.base = change(self.base);
        self
    }
}

/// The number of the port the app calls `name` in `pod`: the container
/// port of that name, else the one at the same place as the app declares
/// it.
fn port_of(pod: &Pod, name: &str, place: usize) -> Option<u16> {
    let ports = pod.spec.as_ref()?.containers.first()?.ports.as_ref()?;
    let by_name = ports
        .iter()
        .find(|p| p.name.as_deref() == Some(port_name(name).as_str()));
    by_name
        .or_else(|| ports.get(place))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

#[async_trait]
impl Deployer for K8sAttach {
    fn name(&self) -> &str {
        "k8s-attach"
    }

    fn capabilities(&self) -> Capabilities {
        // A kill deletes the pod; its controller brings it back. The rest
        // is the deployment owner's.
        self.base
            .capabilities()
            .without_because(
                NodeAction::StartStop,
                "the pods of an attached deployment belong to their controller, which starts them: kill or restart them (their controller replaces them), or deploy the cluster with the framework",
            )
            .without_because(
                NodeAction::Partition,
                "an attached deployment's pods do not carry the run labels a partition's policies select; partition clusters the framework deploys",
            )
            .without_because(
                NodeAction::Links,
                "an attached deployment's pods are someone else's: link faults add a helper container to the pods the framework deploys",
            )
    }

    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError> {
        request.check()?;
        if let Access::NodePort { .. } = self.base.access() {
            return Err(DeployError::Other(
                "attach mode reaches someone else's pods by port-forward or service DNS; NodePort services of your own deployment are its owner's to make".into(),
            ));
        }
        let (client, reconnect) = self.base.client().await?;
        let (namespace, selector) = (&self.namespace, &self.selector);
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let mut found = pods
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(|e| api::api_error(&format!("list the pods {selector} picks"), &e))?
            .items;
        if found.is_empty() {
            return Err(DeployError::Other(format!(
                "no pod in namespace {namespace} matches the selector `{selector}`; check both with `kubectl get pods -n {namespace} -l '{selector}'`"
            )));
        }
        found.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let run = deployer_kit::run_id();
        let run_dir = deployer_kit::run_dir(
            request.run_dir.as_deref(),
            &self.base.runs_root(),
            &request.scenario,
        )?;
        // Someone else's pods are one group: the request's first.
        let group = request
            .groups
            .first()
            .ok_or_else(|| DeployError::Other("the request has no group of nodes".into()))?;
        let mut specs = Vec::new();
        for (index, pod) in found.iter().enumerate() {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let mut ports = Vec::new();
            for (place, port) in group.ports.iter().enumerate() {
                let number = port_of(pod, &port.name, place).ok_or_else(|| {
                    DeployError::Other(format!(
                        "pod {name} has no container port for the app's port `{}`; name its container ports as the app names its ports",
                        port.name
                    ))
                })?;
                ports.push((port.name.clone(), number));
            }
            // A StatefulSet's pod keeps its DNS name across replacements;
            // a pod without one is reached at its address of the moment.
            let spec = pod.spec.as_ref();
            let host = match (
                spec.and_then(|s| s.hostname.as_deref()),
                spec.and_then(|s| s.subdomain.as_deref()),
            ) {
                (Some(host), Some(domain)) => {
                    format!(
                        "{host}.{domain}.{namespace}.svc.{}",
                        crate::settings::cluster_domain()
                    )
                }
                _ => pod
                    .status
                    .as_ref()
                    .and_then(|s| s.pod_ip.clone())
                    .unwrap_or_else(|| name.clone()),
            };
            specs.push(NodeSpec {
                index,
                name,
                group: group.name.clone(),
                host,
                bind_host: "0.0.0.0".into(),
                ports: PortMap::new(ports),
                data_dir: PathBuf::new(),
            });
        }
        let mut cluster = self.base.assemble(Assembly {
            client,
            reconnect,
            namespace: namespace.clone(),
            run,
            selector: selector.clone(),
            run_dir,
            request,
            settings: K8sSettings::for_image(""),
            attached: true,
            capabilities: self.capabilities(),
        });
        let control = Arc::clone(&cluster.control);
        for (spec, pod) in specs.iter().zip(found) {
            cluster.track(spec, pod).await?;
        }
        let names = specs.iter().map(|s| s.name.clone()).collect();
        if let Err(error) = cluster.wait_running(&names).await {
            cluster.cleanup().await;
            return Err(error);
        }
        cluster.exits = Some(report_exits(&control));
        tracing::info!(%namespace, %selector, nodes = specs.len(), "attached");
        Ok(Box::new(cluster))
    }
}
