//! A run's pods as a [`Cluster`]: endpoints through the runner's
//! forwards, node control, nodes added and removed, and cleanup that
//! deletes the namespace (on drop too, so a panic leaves nothing).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use tf_core::report::CleanupReport;
use tf_core::scenario::deploy::{
    Cluster, ControlError, DeployError, DeploymentRequest, NewNode, NodeControl,
};
use tf_core::scenario::{NodeEndpoint, NodeSpec, PortMap, Protocol};
use tokio::task::JoinHandle;

use crate::access::{Access, open_node_ports};
use crate::control::{K8sControl, K8sNode};
use crate::forward::{Forward, PodDialer};
use crate::pods::WaitEnd;
use crate::{K8sSettings, Object, PodState, api, logs, node_objects, node_port_service, node_spec};

/// Node pods in the run's own namespace. Dropping it deletes the
/// namespace (blocking), so a panic or an abandoned run leaves nothing.
pub struct K8sCluster {
    pub(crate) control: Arc<K8sControl>,
    pub(crate) run_dir: PathBuf,
    pub(crate) endpoints: Vec<NodeEndpoint>,
    /// Every node as its peers see it, in the order they were added.
    pub(crate) specs: Vec<NodeSpec>,
    /// The numbers the next added node gets.
    pub(crate) numbering: tf_core::deployer_kit::Numbering,
    pub(crate) request: DeploymentRequest,
    pub(crate) settings: K8sSettings,
    pub(crate) dialer: Arc<dyn PodDialer>,
    /// How the runner reaches the nodes (resolved: never `Auto`).
    pub(crate) access: Access,
    /// The namespace is the run's own: cleanup deletes it. Attached
    /// deployments are left as they were found.
    pub(crate) owned: bool,
    pub(crate) exits: Option<JoinHandle<()>>,
    /// Node logs are streamed as they are written; otherwise each node's
    /// log is fetched once, at cleanup (and when it ends unexpectedly).
    pub(crate) stream_logs: bool,
    pub(crate) cleaned: bool,
    /// Drop connects anew (the cluster's client belongs to the runtime
    /// being dropped), unless the client was given.
    pub(crate) reconnect: bool,
}

impl K8sCluster {
    /// The run's id, as its namespace's name and its labels carry it.
    pub fn run_id(&self) -> &str {
        &self.control.run
    }

    /// The run's namespace.
    pub fn namespace(&self) -> &str {
        &self.control.namespace
    }

    /// Tunnels opened and connections refused so far, by node: how the
    /// runner's way in has fared.
    pub fn tunnels(&self) -> Vec<(String, u64, u64)> {
        self.control
            .nodes
            .all()
            .iter()
            .map(|n| {
                let (opened, failed) = n
                    .forwards
                    .iter()
                    .fold((0, 0), |(o, f), w| (o + w.tunnels(), f + w.failures()));
                (n.name.clone(), opened, failed)
            })
            .collect()
    }

    /// Makes node `spec` known to the cluster: its log follower and the
    /// runner's forwards to its ports. Its pod may not exist yet.
    pub(crate) async fn track(
        &mut self,
        spec: &NodeSpec,
        pod: Pod,
    ) -> Result<NodeEndpoint, DeployError> {
        let dir = self.run_dir.join(&spec.name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| tf_core::deployer_kit::io_error("create", &dir, e))?;
        let log = dir.join("node.log");
        let mut forwards = Vec::new();
        let mut local = Vec::new();
        let mut host = "127.0.0.1".to_owned();
        match &self.access {
            Access::ServiceDns | Access::Auto => {
                host.clone_from(&spec.host);
                local = spec.ports.iter().map(|(n, p)| (n.to_owned(), p)).collect();
            }
            Access::NodePort { host: at } => {
                host.clone_from(at);
                let service = node_port_service(&self.request, &self.control.run, spec);
                let declared = self.request.ports_of(&spec.group);
                local = open_node_ports(&self.control.client, declared, &service).await?;
            }
            Access::PortForward => {
                for port in self.request.ports_of(&spec.group) {
                    let number = spec.ports.get(&port.name).unwrap_or_default();
                    if port.protocol == Protocol::Udp {
                        // A port-forward carries TCP only; the number stays
                        // so the endpoint names every port.
                        tracing::warn!(node = %spec.name, port = %port.name, "UDP ports are not reachable from outside the cluster");
                        local.push((port.name.clone(), number));
                        continue;
                    }
                    let forward = Forward::start(Arc::clone(&self.dialer), &spec.name, number)
                        .await
                        .map_err(|e| {
                            DeployError::Other(format!(
                                "cannot listen on 127.0.0.1 for {}'s port {}: {e}",
                                spec.name, port.name
                            ))
                        })?;
                    local.push((port.name.clone(), forward.local));
                    forwards.push(forward);
                }
            }
        }
        let follower = self.stream_logs.then(|| {
            logs::follow(
                Api::namespaced(self.control.client.clone(), &self.control.namespace),
                spec.name.clone(),
                log.clone(),
                self.control.watch.pods(),
            )
        });
        self.control.nodes.push(Arc::new(K8sNode {
            name: spec.name.clone(),
            pod,
            address: format!("{}:{}", spec.host, spec.ports.api().unwrap_or_default()),
            log,
            forwards,
            follower,
        }));
        let ports = PortMap::new(local);
        let endpoint = NodeEndpoint {
            name: spec.name.clone(),
            group: spec.group.clone(),
            address: format!("{host}:{}", ports.api().unwrap_or_default()),
            host,
            ports,
        };
        self.specs.push(spec.clone());
        self.endpoints.push(endpoint.clone());
        Ok(endpoint)
    }

    /// Fetches every node's log once, 16 at a time.
    async fn fetch_logs(&self) {
        let pods: Api<Pod> = Api::namespaced(self.control.client.clone(), &self.control.namespace);
        let nodes = self.control.nodes.all();
        futures::stream::iter(nodes.iter())
            .for_each_concurrent(16, |node| {
                let pods = &pods;
                async move {
                    logs::fetch_once(pods, &node.name, &node.log).await;
                }
            })
            .await;
    }

    /// Forgets node `name`: its forwards and follower end.
    fn untrack(&mut self, name: &str) {
        let _ = self.control.nodes.remove(name);
        self.specs.retain(|s| s.name != name);
        self.endpoints.retain(|e| e.name != name);
    }

    /// Waits until the pods `names` run; a pod that exited at start has
    /// its log fetched, so the error shows why.
    pub(crate) async fn wait_running(&self, names: &BTreeSet<String>) -> Result<(), DeployError> {
        let waited = self
            .control
            .watch
            .wait_running(names, self.control.ready_timeout)
            .await;
        let Err(error) = waited else {
            return Ok(());
        };
        let now = self.control.watch.pods().borrow().clone();
        for name in names {
            let Some(PodState::Exited { code, reason }) = now.pods.get(name).map(|s| &s.state)
            else {
                continue;
            };
            let Ok(node) = self.control.nodes.get(name) else {
                continue;
            };
            let pods: Api<Pod> =
                Api::namespaced(self.control.client.clone(), &self.control.namespace);
            logs::fetch_once(&pods, name, &node.log).await;
            return Err(DeployError::node_failed(
                name,
                format!("its pod exited at start with code {code} ({reason})"),
                &node.log,
            ));
        }
        Err(error)
    }
}

/// Deletes `namespace`, and waits (on the pod watch) until no pod of the
/// run is left.
async fn delete_run(control: &K8sControl, wait: Duration) -> Vec<String> {
    for node in control.nodes.all() {
        control.down.lock().insert(node.name.clone());
    }
    if let Err(error) = api::delete_namespace(&control.client, &control.namespace).await {
        return vec![error.to_string()];
    }
    let gone = control
        .watch
        .wait(wait, |p| p.synced && p.pods.is_empty())
        .await;
    match gone {
        Ok(_) | Err(WaitEnd::Ended) => Vec::new(),
        Err(WaitEnd::TimedOut) => vec![format!(
            "pods of namespace {} were still there {wait:?} after it was deleted: {:?}; `scenarios cleanup` deletes it again",
            control.namespace,
            control
                .watch
                .pods()
                .borrow()
                .pods
                .keys()
                .collect::<Vec<_>>()
        )],
    }
}

#[async_trait]
impl Cluster for K8sCluster {
    fn endpoints(&self) -> Vec<NodeEndpoint> {
        self.endpoints.clone()
    }

    fn control(&self) -> Arc<dyn NodeControl> {
        Arc::clone(&self.control) as Arc<dyn NodeControl>
    }

    fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    fn log_path(&self, node: &str) -> Option<PathBuf> {
        self.control.nodes.get(node).ok().map(|n| n.log.clone())
    }

    async fn add_node(&mut self, node: NewNode) -> Result<NodeEndpoint, DeployError> {
        if !self.owned {
            return Err(DeployError::Other(
                "an attached deployment grows through its own controller (scale it); the framework adds nodes only to clusters it deployed".into(),
            ));
        }
        node.refuse_loopback_peers("a pod")?;
        let group = self.request.group_to_join(node.group.as_deref())?;
        let mut numbering = self.numbering.clone();
        let (index, ordinal) = numbering.next(&group.name);
        let spec = node_spec(group, &self.control.run, &self.settings, index, ordinal);
        let topology = node.topology(&spec, &self.specs)?;
        let objects = node_objects(
            &self.request,
            &self.control.run,
            &self.settings,
            &spec,
            &topology,
        )?;
        self.numbering = numbering;
        let Some(pod) = objects.iter().find_map(|o| match o {
            Object::Pod(p) => Some(p.as_ref().clone()),
            _ => None,
        }) else {
            return Err(DeployError::Other("a node's objects hold no pod".into()));
        };
        let endpoint = self.track(&spec, pod).await?;
        let created = async {
            for object in &objects {
                api::create_one(&self.control.client, &self.control.namespace, object)
                    .await
                    .map_err(|e| api::api_error(&format!("create {}", object.id()), &e))?;
            }
            self.wait_running(&BTreeSet::from([spec.name.clone()]))
                .await
        }
        .await;
        if let Err(error) = created {
            let _ = self.control.kill(&spec.name).await;
            self.untrack(&spec.name);
            return Err(error);
        }
        tracing::info!(run = %self.control.run, node = %spec.name, "node added");
        Ok(endpoint)
    }

    async fn remove_node(&mut self, node: &str) -> Result<(), ControlError> {
        self.control.stop(node).await?;
        self.control.cut.lock().await.retain(|n| n != node);
        self.untrack(node);
        tracing::info!(run = %self.control.run, node, "node removed");
        Ok(())
    }

    async fn cleanup(&mut self) -> CleanupReport {
        if self.cleaned {
            return CleanupReport::default();
        }
        if let Some(exits) = self.exits.take() {
            exits.abort();
        }
        let running = self.control.running();
        if !self.owned {
            // Someone else's pods: only the forwards and log followers
            // end, with the nodes' entries; the pods run on.
            for node in self.control.nodes.all() {
                let _ = self.control.nodes.remove(&node.name);
            }
            self.cleaned = true;
            return CleanupReport {
                left_running: running,
                ..CleanupReport::default()
            };
        }
        if !self.stream_logs {
            self.fetch_logs().await;
        }
        // Each running node stopped as a stop does, in parallel (each stop
        // is mostly waiting on the watch); then the namespace goes.
        let control = &self.control;
        let stops = running.into_iter().map(|node| async move {
            let stopped = control.stop_at_cleanup(&node).await;
            (node, stopped)
        });
        let grace = Duration::from_secs(u64::from(control.grace()));
        let mut report =
            tf_core::deployer_kit::stopped_report(grace, futures::future::join_all(stops).await);
        let wait = self.control.stop_grace + Duration::from_secs(60);
        report
            .problems
            .extend(delete_run(&self.control, wait).await);
        self.cleaned = report.problems.is_empty();
        report
    }
}

impl Drop for K8sCluster {
    fn drop(&mut self) {
        if self.cleaned || !self.owned {
            return;
        }
        if let Some(exits) = self.exits.take() {
            exits.abort();
        }
        let namespace = self.control.namespace.clone();
        let given = (!self.reconnect).then(|| self.control.client.clone());
        let _ = tf_core::deployer_kit::drop_cleanup(
            &self.control.run,
            "namespace",
            "the API server",
            move || async move {
                let client: Client = match given {
                    Some(client) => client,
                    None => api::connect().await.map_err(|e| e.to_string())?,
                };
                api::delete_namespace(&client, &namespace)
                    .await
                    .map_err(|e| e.to_string())
            },
        );
    }
}
