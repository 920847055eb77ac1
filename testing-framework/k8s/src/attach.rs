//! Attach mode: observe and drive a deployment someone else made (a
//! StatefulSet of your nodes, say), picked by a label selector, without
//! creating or deleting anything of it. Its pods are the nodes, under
//! their own names; the runner reaches them as it reaches its own (a
//! forward per port, or service DNS inside the cluster). A node can be
//! killed or restarted, which deletes its pod for its controller to
//! replace; starting, stopping, partitions and new nodes are refused,
//! since they belong to whoever owns the deployment.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use parking_lot::Mutex;
use tf_core::host::{self, DeployerSettings, NodeTable};
use tf_core::scenario::{
    Cluster, DeployError, Deployer, DeploymentRequest, NodeAction, NodeSpec, PortMap,
};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::access::Access;
use crate::cluster::K8sCluster;
use crate::control::{K8sControl, report_exits};
use crate::forward::{PodDialer, PortForwardDialer};
use crate::names::port_name;
use crate::pods::RunWatch;
use crate::{K8sSettings, api};

/// A deployer that attaches to the pods `selector` picks in `namespace`.
#[derive(Clone)]
pub struct K8sAttach {
    namespace: String,
    selector: String,
    settings: DeployerSettings,
    ready_timeout: Duration,
    access: Access,
    client: Option<Client>,
    dialer: Option<Arc<dyn PodDialer>>,
}

impl K8sAttach {
    /// The pods of `namespace` that `selector` (`app=raft,tier=db`) picks.
    pub fn new(namespace: impl Into<String>, selector: impl Into<String>) -> Self {
        K8sAttach {
            namespace: namespace.into(),
            selector: selector.into(),
            settings: DeployerSettings::default(),
            ready_timeout: Duration::from_secs(120),
            access: Access::Auto,
            client: None,
            dialer: None,
        }
    }

    /// Runs go under `root`.
    pub fn with_runs_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.settings.runs_root = Some(root.into());
        self
    }

    /// How long a restart gives a pod to stop (its grace period).
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.settings.stop_grace = grace;
        self
    }

    /// How long the pods (and a replaced one) may take to run.
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Reaches the pods as `access` says.
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// Talks to the API through `client`.
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Reaches pods through `dialer`.
    pub fn with_dialer(mut self, dialer: Arc<dyn PodDialer>) -> Self {
        self.dialer = Some(dialer);
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

    fn supports(&self, action: NodeAction) -> bool {
        // A kill deletes the pod; its controller brings it back.
        matches!(action, NodeAction::Kill)
    }

    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError> {
        request.check()?;
        if let Access::NodePort { .. } = self.access {
            return Err(DeployError::Other(
                "attach mode reaches someone else's pods by port-forward or service DNS; NodePort services of your own deployment are its owner's to make".into(),
            ));
        }
        let (client, reconnect) = match &self.client {
            Some(client) => (client.clone(), false),
            None => (api::connect().await?, true),
        };
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
        let run = host::run_id();
        let run_dir = host::run_dir(
            request.run_dir.as_deref(),
            &self.settings.runs_root(),
            &request.scenario,
        )?;
        let mut specs = Vec::new();
        for (index, pod) in found.iter().enumerate() {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let mut ports = Vec::new();
            for (place, port) in request.ports.iter().enumerate() {
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
                host,
                bind_host: "0.0.0.0".into(),
                ports: PortMap::new(ports),
                data_dir: PathBuf::new(),
            });
        }
        let watch = RunWatch::start(&client, namespace, selector);
        let control = Arc::new(K8sControl {
            client: client.clone(),
            namespace: namespace.clone(),
            run: run.clone(),
            watch,
            nodes: NodeTable::new(Vec::new(), |n| &n.name),
            down: Mutex::new(BTreeSet::new()),
            cut: AsyncMutex::new(Vec::new()),
            crashes: Arc::new(watch::channel(Vec::new()).0),
            stop_grace: self.settings.stop_grace,
            ready_timeout: self.ready_timeout,
            probe_image: None,
            attached: true,
        });
        let dialer = self.dialer.clone().unwrap_or_else(|| {
            Arc::new(PortForwardDialer::new(client.clone(), namespace)) as Arc<dyn PodDialer>
        });
        let mut cluster = K8sCluster {
            control: Arc::clone(&control),
            run_dir,
            endpoints: Vec::new(),
            specs: Vec::new(),
            next_index: specs.len(),
            request: request.clone(),
            settings: K8sSettings::for_image(""),
            dialer,
            access: self.access.resolve(),
            owned: false,
            exits: None,
            cleaned: false,
            reconnect,
        };
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
