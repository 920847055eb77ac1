//! The k8s deployer: a run's nodes as pods in a namespace of their own,
//! created and watched through the Kubernetes API.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use kube::Client;
use parking_lot::Mutex;
use tf_core::deployer_kit::labels::{RUN_DIR, RUNNER};
use tf_core::deployer_kit::{self, DeployerSettings, NodeTable};
use tf_core::scenario::deploy::{Capabilities, Cluster, DeployError, DeploymentRequest};
use tf_core::scenario::{Deployer, NodeAction};
use tokio::sync::{Mutex as AsyncMutex, watch};

use crate::access::Access;
use crate::cluster::K8sCluster;
use crate::control::{K8sControl, report_exits};
use crate::forward::{PodDialer, PortForwardDialer};
use crate::links::{HelperSet, KubeExec, PodExec};
use crate::pods::{RunWatch, run_selector};
use crate::settings::default_image;
use crate::{K8sSettings, Object, api, plan};
use tf_netfault::driver::LinkFaults;

/// Starts clusters as pods on the Kubernetes cluster the kubeconfig points
/// at (`KUBECONFIG`, `~/.kube/config`, or the service account in a pod).
#[derive(Clone)]
pub struct K8sDeployer {
    settings: DeployerSettings,
    image: Option<String>,
    group_images: BTreeMap<String, String>,
    ready_timeout: Duration,
    access: Access,
    stream_logs: bool,
    probe_image: Option<String>,
    client: Option<Client>,
    dialer: Option<Arc<dyn PodDialer>>,
    netfault_image: Option<String>,
    exec: Option<Arc<dyn PodExec>>,
}

/// What a cluster is assembled from: where its pods are (or go) and how
/// they are picked, and whose they are.
pub(crate) struct Assembly<'a> {
    pub(crate) client: Client,
    /// Whether the client came from the kubeconfig (drop connects anew).
    pub(crate) reconnect: bool,
    pub(crate) namespace: String,
    pub(crate) run: String,
    pub(crate) selector: String,
    pub(crate) run_dir: PathBuf,
    pub(crate) request: &'a DeploymentRequest,
    pub(crate) settings: K8sSettings,
    /// Someone else's pods (attach mode): never created or deleted.
    pub(crate) attached: bool,
    /// What the cluster's nodes can be put through.
    pub(crate) capabilities: Capabilities,
}

impl K8sDeployer {
    /// The client to use, and whether it came from the kubeconfig.
    pub(crate) async fn client(&self) -> Result<(Client, bool), DeployError> {
        Ok(match &self.client {
            Some(client) => (client.clone(), false),
            None => (api::connect().await?, true),
        })
    }

    /// A cluster of no nodes yet over the pods `assembly` says, watched.
    pub(crate) fn assemble(&self, assembly: Assembly<'_>) -> K8sCluster {
        let Assembly {
            client,
            reconnect,
            namespace,
            run,
            selector,
            run_dir,
            request,
            settings,
            attached,
            capabilities,
        } = assembly;
        let watch = RunWatch::start(&client, &namespace, &selector);
        let dialer = self.dialer.clone().unwrap_or_else(|| {
            Arc::new(PortForwardDialer::new(client.clone(), &namespace)) as Arc<dyn PodDialer>
        });
        let exec = self
            .exec
            .clone()
            .unwrap_or_else(|| Arc::new(KubeExec(client.clone())) as Arc<dyn PodExec>);
        let control = Arc::new(K8sControl {
            client,
            namespace,
            run,
            watch,
            nodes: NodeTable::new(Vec::new(), |n| &n.name),
            down: Mutex::new(BTreeSet::new()),
            cut: AsyncMutex::new(Vec::new()),
            crashes: Arc::new(watch::channel(Vec::new()).0),
            stop_grace: self.settings.stop_grace,
            ready_timeout: self.ready_timeout,
            probe_image: if attached {
                None
            } else {
                self.probe_image.clone()
            },
            attached,
            capabilities,
            netfault_image: if attached {
                None
            } else {
                self.netfault_image.clone()
            },
            exec,
            links: LinkFaults::default(),
            helpers: HelperSet::default(),
        });
        K8sCluster {
            control,
            run_dir,
            endpoints: Vec::new(),
            specs: Vec::new(),
            numbering: tf_core::deployer_kit::Numbering::after(request),
            request: request.clone(),
            settings,
            dialer,
            access: self.access.resolve(),
            owned: !attached,
            exits: None,
            stream_logs: self.stream_logs,
            cleaned: false,
            reconnect,
        }
    }

    /// Where runs go.
    pub(crate) fn runs_root(&self) -> PathBuf {
        self.settings.runs_root()
    }

    /// How the runner reaches nodes.
    pub(crate) fn access(&self) -> &Access {
        &self.access
    }
}

impl Default for K8sDeployer {
    fn default() -> Self {
        K8sDeployer {
            settings: DeployerSettings::default(),
            image: None,
            group_images: BTreeMap::new(),
            ready_timeout: Duration::from_secs(120),
            access: Access::Auto,
            stream_logs: true,
            probe_image: crate::default_probe_image(),
            client: None,
            dialer: None,
            netfault_image: crate::links::default_netfault_image(),
            exec: None,
        }
    }
}

impl K8sDeployer {
    /// Node images are `$TF_K8S_IMAGE`, else `tf-<binary>:latest`; runs go
    /// under `target/tf-runs/` (or `$TF_RUNS_DIR`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Nodes run `image`.
    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// Runs the nodes of `group` (a group after the first) from `image`;
    /// by default the first group's image when it runs the same binary,
    /// else `tf-<binary>:latest` (what `scenarios image` builds).
    pub fn with_group_image(mut self, group: impl Into<String>, image: impl Into<String>) -> Self {
        self.group_images.insert(group.into(), image.into());
        self
    }

    /// Runs go under `root` instead.
    pub fn with_runs_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.settings.runs_root = Some(root.into());
        self
    }

    /// How long a stop gives a node after SIGTERM (the pod's grace
    /// period; default 5 s).
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.settings.stop_grace = grace;
        self
    }

    /// How long a pod may take to run, image pull included (default
    /// 120 s). A pod that cannot run fails sooner, with its reason.
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Reaches nodes as `access` says (default: [`Access::Auto`]).
    /// [`Access::NodePort`] adds a NodePort Service per node.
    pub fn with_access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }

    /// The image of the probe that confirms each partition (default:
    /// `$TF_K8S_PROBE_IMAGE`, else the runner's `tf-scenarios:latest`);
    /// `None` leaves partitions unconfirmed.
    pub fn with_probe_image(mut self, image: Option<String>) -> Self {
        self.probe_image = image;
        self
    }

    /// Whether node logs are streamed while the run goes (the default).
    /// Without, no stream per node is held open on the API server (at a
    /// few hundred nodes, the one cost that grows with the cluster) and
    /// each node's log is fetched once at the end, and when it ends
    /// unexpectedly; a restarted node's earlier pods' logs are then lost.
    pub fn with_log_streams(mut self, stream: bool) -> Self {
        self.stream_logs = stream;
        self
    }

    /// Talks to the API through `client` instead of the kubeconfig's.
    /// Dropping a cluster without cleaning it up then deletes its
    /// namespace through this client from another thread, which needs the
    /// runtime that made the client to keep running (a multi-threaded
    /// one); the kubeconfig's client is made anew for that.
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Reaches pods through `dialer` instead of the API's port-forward.
    pub fn with_dialer(mut self, dialer: Arc<dyn PodDialer>) -> Self {
        self.dialer = Some(dialer);
        self
    }

    /// The image of the link fault helper each shaped node's pod gets as
    /// an ephemeral container (default: `$TF_K8S_NETFAULT_IMAGE`, else
    /// `tf-netfault:latest`); `None` turns link faults off.
    pub fn with_netfault_image(mut self, image: Option<String>) -> Self {
        self.netfault_image = image;
        self
    }

    /// Runs requests in the helpers through `exec` instead of the API's
    /// exec.
    pub fn with_exec(mut self, exec: Arc<dyn PodExec>) -> Self {
        self.exec = Some(exec);
        self
    }

    /// The settings a run of `request` uses.
    pub fn settings_for(&self, request: &DeploymentRequest) -> K8sSettings {
        let mut groups = request.groups.iter();
        let first = groups
            .next()
            .map(|g| g.binary.name.as_str())
            .unwrap_or_default();
        let mut settings =
            K8sSettings::for_image(self.image.clone().unwrap_or_else(|| default_image(first)));
        // Another group's image: as given, else the first group's when it
        // runs the same binary (validators and RPC nodes), else its
        // binary's own.
        for group in groups {
            let image = match self.group_images.get(&group.name) {
                Some(image) => image.clone(),
                None if group.binary.name == first => settings.image.clone(),
                None => format!(
                    "{}:latest",
                    tf_core::deployer_kit::image_name(&group.binary.name)
                ),
            };
            settings.group_images.insert(group.name.clone(), image);
        }
        settings
    }
}

#[async_trait]
impl Deployer for K8sDeployer {
    fn name(&self) -> &str {
        "k8s"
    }

    fn capabilities(&self) -> Capabilities {
        let capabilities = Capabilities::BASIC
            // Two NetworkPolicies.
            .with(NodeAction::Partition)
            .without_because(
                NodeAction::Pause,
                "Kubernetes has no way to freeze a container through its API; run pause scenarios on the local or compose deployer",
            )
            // Not yet: libfaketime would have to be in the image.
            .without(NodeAction::Clock);
        // The helper runs as an ephemeral container in the pod.
        match self.netfault_image {
            Some(_) => capabilities.with(NodeAction::Links),
            None => capabilities.without_because(
                NodeAction::Links,
                "link faults are off (TF_K8S_NETFAULT_IMAGE=off); set it to the helper's image, or run them on compose (--deployer compose)",
            ),
        }
    }

    async fn deploy(&self, request: &DeploymentRequest) -> Result<Box<dyn Cluster>, DeployError> {
        request.check()?;
        let (client, reconnect) = self.client().await?;
        let run = deployer_kit::run_id();
        let run_dir = deployer_kit::run_dir(
            request.run_dir.as_deref(),
            &self.settings.runs_root(),
            &request.scenario,
        )?;
        let settings = self.settings_for(request);
        let mut plan = plan(request, &run, &settings)?;
        // Whose run it is, so that a sweep leaves a live runner's alone.
        if let Some(Object::Namespace(namespace)) = plan.objects.first_mut() {
            namespace.metadata.annotations = Some(BTreeMap::from([
                (RUNNER.to_owned(), crate::runner::identity()),
                (RUN_DIR.to_owned(), run_dir.display().to_string()),
            ]));
        }
        // What is created, for review after the run.
        plan.write(&run_dir)?;
        // Groups start in stages: the run's own objects and the first
        // stage's nodes now, each later stage once the one before is ready.
        let stages = request.stages()?;
        let in_stage =
            |object: &Object, stage: &[&str]| object.group().is_some_and(|g| stage.contains(&g));
        let first = stages.first().cloned().unwrap_or_default();
        api::create_objects(
            &client,
            &plan.namespace,
            plan.objects
                .iter()
                .filter(|o| o.group().is_none() || in_stage(o, &first)),
        )
        .await?;
        // From here on, dropping the cluster deletes the namespace.
        let mut cluster = self.assemble(Assembly {
            client,
            reconnect,
            namespace: plan.namespace.clone(),
            run: run.clone(),
            selector: run_selector(&run),
            run_dir,
            request,
            settings,
            attached: false,
            capabilities: self.capabilities(),
        });
        let control = Arc::clone(&cluster.control);
        let started = async {
            let last = stages.len().saturating_sub(1);
            for (i, stage) in stages.iter().enumerate() {
                if i > 0 {
                    let objects = plan.objects.iter().filter(|o| in_stage(o, stage));
                    for object in objects {
                        api::create_one(&control.client, &plan.namespace, object)
                            .await
                            .map_err(|e| api::api_error(&format!("create {}", object.id()), &e))?;
                    }
                }
                let pods = plan.objects.iter().filter_map(|o| match o {
                    Object::Pod(p) if in_stage(o, stage) => Some(p.as_ref().clone()),
                    _ => None,
                });
                let specs = plan
                    .nodes
                    .iter()
                    .filter(|n| stage.contains(&n.group.as_str()));
                let mut endpoints = Vec::new();
                for (spec, pod) in specs.clone().zip(pods) {
                    endpoints.push(cluster.track(spec, pod).await?);
                }
                let names = specs.map(|n| n.name.clone()).collect();
                cluster.wait_running(&names).await?;
                if i < last {
                    request
                        .wait_ready(&endpoints, |node| cluster.log_path(node))
                        .await?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(error) = started {
            let cleanup = cluster.cleanup().await;
            if !cleanup.problems.is_empty() {
                tracing::error!(%run, problems = ?cleanup.problems, "a failed deploy left its namespace; `scenarios cleanup` deletes it");
            }
            return Err(error);
        }
        cluster.exits = Some(report_exits(&control));
        tracing::info!(%run, namespace = %plan.namespace, image = %cluster.settings.image, nodes = request.nodes(), "k8s cluster started");
        Ok(Box::new(cluster))
    }
}
