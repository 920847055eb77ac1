//! Node control on Kubernetes: a node is stopped or killed by deleting its
//! pod (with the grace period, or none) and started by creating it again
//! from the same object; its data stays in its claim. A partition labels
//! one side and adds the two NetworkPolicies. Every wait is on the run's
//! pod watch.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use parking_lot::Mutex;
use tf_core::deployer_kit::{NodeTable, Stopped};
use tf_core::fault::{Impaired, Link, LinkFault};
use tf_core::report::NodeExit;
use tf_core::scenario::NodeAction;
use tf_core::scenario::deploy::{Capabilities, ControlError, NodeControl};
use tf_netfault::driver::LinkFaults;
use tokio::sync::{Mutex as AsyncMutex, watch};
use tokio::task::JoinHandle;

use crate::forward::Forward;
use crate::links::{HelperSet, PodExec, PodHelpers};
use crate::pods::{Pods, RunWatch};
use crate::{CUT, PodState, SIDE, partition_policies};

/// A node of the run: the pod it is started from, where its log goes, and
/// the runner's way in.
pub(crate) struct K8sNode {
    pub(crate) name: String,
    pub(crate) pod: Pod,
    /// `host:port` of its API, as the other pods reach it.
    pub(crate) address: String,
    pub(crate) log: PathBuf,
    pub(crate) forwards: Vec<Forward>,
    /// The task streaming its log; `None` when the run does not stream
    /// logs (they are fetched at its end).
    pub(crate) follower: Option<JoinHandle<()>>,
}

impl Drop for K8sNode {
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
    }
}

/// The run's nodes and what node control needs of the cluster.
pub(crate) struct K8sControl {
    pub(crate) client: Client,
    pub(crate) namespace: String,
    pub(crate) run: String,
    pub(crate) watch: RunWatch,
    pub(crate) nodes: NodeTable<K8sNode>,
    /// Nodes the framework took down: their pods' ends are not crashes.
    pub(crate) down: Mutex<BTreeSet<String>>,
    /// The nodes cut off while a partition lasts; partition and heal hold
    /// it throughout.
    pub(crate) cut: AsyncMutex<Vec<String>>,
    pub(crate) crashes: Arc<watch::Sender<Vec<NodeExit>>>,
    pub(crate) stop_grace: Duration,
    pub(crate) ready_timeout: Duration,
    /// The image a partition's probe runs; `None`: partitions are not
    /// confirmed.
    pub(crate) probe_image: Option<String>,
    /// The pods belong to someone else (attach mode): they are never
    /// created, and a deleted one is replaced by its controller.
    pub(crate) attached: bool,
    /// What the deployer declared its nodes can be put through (less in
    /// attach mode).
    pub(crate) capabilities: Capabilities,
    /// The link fault helper's image; `None`: no link faults.
    pub(crate) netfault_image: Option<String>,
    /// How requests reach the helpers.
    pub(crate) exec: Arc<dyn PodExec>,
    /// The faults in force on links.
    pub(crate) links: LinkFaults,
    /// The nodes whose current pod has a helper.
    pub(crate) helpers: HelperSet,
}

/// The grace period of a kill. Zero would be a forced deletion: the pod
/// object goes at once, before the kubelet has stopped the container, and
/// a node started again at once would share its data with the old one
/// still running. One second is the least the kubelet honours; Kubernetes
/// has no way to send SIGKILL through its API.
pub(crate) const KILL_GRACE: u32 = 1;

impl K8sControl {
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The link fault helpers, or why there are none.
    fn pod_helpers(
        &self,
        action: &'static str,
        node: &str,
    ) -> Result<PodHelpers<'_>, ControlError> {
        self.capabilities.check(NodeAction::Links, action, node)?;
        match &self.netfault_image {
            Some(image) => Ok(PodHelpers {
                control: self,
                image,
                exec: &self.exec,
            }),
            None => Err(ControlError::unsupported(action, node)),
        }
    }

    /// Deletes `node`'s pod with `grace`, the framework's doing (not a
    /// crash); whether there was one.
    async fn delete_pod(&self, node: &str, grace: u32) -> Result<bool, String> {
        self.down.lock().insert(node.to_owned());
        // Its helper goes with the pod.
        self.helpers.forget(node).await;
        let params = DeleteParams {
            grace_period_seconds: Some(grace),
            ..DeleteParams::default()
        };
        let deleted = self.pods().delete(node, &params).await;
        crate::api::unless_gone(deleted, &format!("delete pod/{node}"))
            .map(|d| d.is_some())
            .map_err(|e| e.to_string())
    }

    /// How long a pod deleted with `grace` may take to go (or be back).
    fn deletion_timeout(&self, grace: u32) -> Duration {
        Duration::from_secs(u64::from(grace)) + self.ready_timeout
    }

    /// Deletes `node`'s pod with `grace` and waits until it is gone.
    async fn take_down(&self, node: &str, grace: u32) -> Result<(), String> {
        if !self.delete_pod(node, grace).await? {
            return Ok(());
        }
        self.watch
            .wait_gone(node, self.deletion_timeout(grace))
            .await
    }

    /// The nodes whose pods are there and have not ended (exited, or
    /// stuck before they ran), as the watch last saw them: the nodes
    /// cleanup stops, or leaves running when they are someone else's.
    pub(crate) fn running(&self) -> Vec<String> {
        let pods = self.watch.pods();
        let pods = pods.borrow();
        self.nodes
            .all()
            .iter()
            .filter(|n| {
                pods.pods.get(&n.name).is_some_and(|seen| {
                    !matches!(seen.state, PodState::Exited { .. } | PodState::Stuck(_))
                })
            })
            .map(|n| n.name.clone())
            .collect()
    }

    /// Stops `node` at cleanup: deletes its pod with the grace period, and
    /// when the pod is still there once the grace is up, deletes it again
    /// with none (the object goes at once; the namespace and the container
    /// follow), which forced it.
    pub(crate) async fn stop_at_cleanup(&self, node: &str) -> Result<Stopped, String> {
        let grace = self.grace();
        if grace > 0 {
            if !self.delete_pod(node, grace).await? {
                return Ok(Stopped::Gracefully);
            }
            let within = Duration::from_secs(u64::from(grace));
            if self.watch.wait_gone(node, within).await.is_ok() {
                return Ok(Stopped::Gracefully);
            }
        }
        self.delete_pod(node, 0).await?;
        self.watch
            .wait_gone(node, self.deletion_timeout(0))
            .await
            .map(|()| Stopped::Killed)
    }

    /// Deletes `node`'s pod with `grace` and waits until its controller
    /// has replaced it (attach mode).
    async fn replace(&self, node: &str, grace: u32) -> Result<(), String> {
        let before = self
            .watch
            .pods()
            .borrow()
            .pods
            .get(node)
            .map(|s| s.incarnation)
            .unwrap_or(0);
        let replaced = match self.delete_pod(node, grace).await {
            Ok(false) => Err(format!("cannot delete pod/{node}: it is not there")),
            Ok(true) => {
                self.watch
                    .wait_replaced(node, before, self.deletion_timeout(grace))
                    .await
            }
            Err(error) => Err(error),
        };
        self.down.lock().remove(node);
        replaced
    }

    /// The stop grace as a pod's grace period, in whole seconds.
    pub(crate) fn grace(&self) -> u32 {
        whole_seconds(self.stop_grace)
    }

    /// Creates `node`'s pod again and waits until it runs.
    async fn bring_up(&self, node: &str) -> Result<(), String> {
        let template = self.nodes.get(node).map_err(|e| e.to_string())?.pod.clone();
        // A pod that ended by itself is still there: it goes first.
        let present = self.watch.pods().borrow().pods.get(node).cloned();
        let names = BTreeSet::from([node.to_owned()]);
        match present.map(|s| s.state) {
            Some(PodState::Running) => return Ok(()),
            // On its way already: wait for it rather than replace it.
            Some(PodState::Starting | PodState::Waiting(_)) => {
                self.down.lock().remove(node);
                return self
                    .watch
                    .wait_running(&names, self.ready_timeout)
                    .await
                    .map_err(|e| e.to_string());
            }
            Some(PodState::Exited { .. } | PodState::Stuck(_)) => {
                self.take_down(node, KILL_GRACE).await?;
            }
            None => {}
        }
        let mut pod = template;
        // Held until the pod exists, so that a partition meanwhile cannot
        // miss it.
        let cut = self.cut.lock().await;
        if cut.iter().any(|n| n == node) {
            pod.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert(SIDE.to_owned(), CUT.to_owned());
        }
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .map_err(|e| crate::api::api_error(&format!("create pod/{node}"), &e).to_string())?;
        drop(cut);
        self.down.lock().remove(node);
        self.watch
            .wait_running(&names, self.ready_timeout)
            .await
            .map_err(|e| e.to_string())
    }

    /// Puts or takes the cut label on `nodes`' pods.
    async fn label(&self, nodes: &[String], cut: bool) -> Result<(), String> {
        let value = if cut {
            serde_json::Value::from(CUT)
        } else {
            serde_json::Value::Null
        };
        let patch = serde_json::json!({"metadata": {"labels": {SIDE: value}}});
        for node in nodes {
            let labelled = self
                .pods()
                .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
            // A stopped node gets the label when it starts again.
            crate::api::unless_gone(labelled, &format!("label pod/{node}"))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Checks that the cut took: a probe on the cut side must not reach a
    /// running node of the other side.
    async fn confirm(&self, side: &[String]) -> Result<(), String> {
        let Some(image) = &self.probe_image else {
            tracing::warn!("partition not confirmed: no probe image");
            return Ok(());
        };
        let down = self.down.lock().clone();
        let Some(target) = self
            .nodes
            .all()
            .into_iter()
            .find(|n| !side.contains(&n.name) && !down.contains(&n.name))
        else {
            tracing::warn!("partition not confirmed: no node of the other side runs");
            return Ok(());
        };
        // A node of its own side it must reach: the probe is not blind.
        let control = self
            .nodes
            .all()
            .into_iter()
            .find(|n| side.contains(&n.name) && !down.contains(&n.name))
            .map(|n| n.address.clone());
        crate::probe::confirm_cut(
            &self.client,
            &self.namespace,
            &self.run,
            &self.watch,
            image,
            &target.address,
            control.as_deref(),
            self.ready_timeout,
        )
        .await
    }

    fn policies(&self) -> Api<NetworkPolicy> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Deletes the partition's policies; ones already gone are fine.
    async fn delete_policies(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for policy in partition_policies(&self.run) {
            let name = policy.metadata.name.unwrap_or_default();
            let deleted = self
                .policies()
                .delete(&name, &DeleteParams::default())
                .await;
            if let Err(error) =
                crate::api::unless_gone(deleted, &format!("delete networkpolicy/{name}"))
            {
                problems.push(error.to_string());
            }
        }
        problems
    }
}

#[async_trait]
impl NodeControl for K8sControl {
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn start(&self, node: &str) -> Result<(), ControlError> {
        self.nodes.get(node)?;
        self.capabilities
            .check(NodeAction::StartStop, "start", node)?;
        self.bring_up(node)
            .await
            .map_err(ControlError::failed("start", node))?;
        // A new pod, a new network namespace: its link faults go back.
        if let Ok(helpers) = self.pod_helpers("start", node) {
            self.links
                .node_started(&helpers, node)
                .await
                .map_err(ControlError::failed("start", node))?;
        }
        Ok(())
    }

    async fn impair(&self, links: &[Link], fault: &LinkFault) -> Result<Impaired, ControlError> {
        let who = Link::list(links);
        let helpers = self.pod_helpers("impair", &who)?;
        let impaired = self
            .links
            .impair(&helpers, links, fault)
            .await
            .map_err(ControlError::failed("impair", &who))?;
        tracing::info!(links = %who, %fault, "links impaired");
        Ok(impaired)
    }

    async fn restore(&self, id: u64) -> Result<Vec<String>, ControlError> {
        let what = format!("impairment {id}");
        let helpers = self.pod_helpers("restore the links of", &what)?;
        self.links
            .restore(&helpers, id)
            .await
            .map_err(ControlError::failed("restore the links of", &what))
    }

    async fn stop(&self, node: &str) -> Result<(), ControlError> {
        self.nodes.get(node)?;
        self.capabilities
            .check(NodeAction::StartStop, "stop", node)?;
        self.take_down(node, self.grace())
            .await
            .map_err(ControlError::failed("stop", node))
    }

    async fn restart(&self, node: &str) -> Result<(), ControlError> {
        if self.attached {
            self.nodes.get(node)?;
            return self
                .replace(node, self.grace())
                .await
                .map_err(ControlError::failed("restart", node));
        }
        self.stop(node).await?;
        self.start(node).await
    }

    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        self.nodes.get(node)?;
        if self.attached {
            return self
                .replace(node, KILL_GRACE)
                .await
                .map_err(ControlError::failed("kill", node));
        }
        self.take_down(node, KILL_GRACE)
            .await
            .map_err(ControlError::failed("kill", node))
    }

    async fn partition(&self, side: &[String]) -> Result<(), ControlError> {
        let who = side.join(", ");
        let refuse = ControlError::failed("partition", &who);
        for name in side {
            self.nodes.get(name)?;
        }
        self.capabilities
            .check(NodeAction::Partition, "partition", &who)?;
        let mut cut = self.cut.lock().await;
        ControlError::check_partition(side, self.nodes.len(), &cut).map_err(&refuse)?;
        // Recorded first: a failure half way is undone by heal.
        *cut = side.to_vec();
        let applied = async {
            self.label(side, true).await?;
            for policy in partition_policies(&self.run) {
                let name = policy.metadata.name.clone().unwrap_or_default();
                self.policies()
                    .create(&PostParams::default(), &policy)
                    .await
                    .map_err(|e| {
                        crate::api::api_error(&format!("create networkpolicy/{name}"), &e)
                            .to_string()
                    })?;
            }
            self.confirm(side).await
        }
        .await;
        drop(cut);
        if let Err(reason) = applied {
            let _ = self.heal().await;
            return Err(refuse(reason));
        }
        tracing::info!(side = %who, "partitioned");
        Ok(())
    }

    async fn heal(&self) -> Result<(), ControlError> {
        let mut cut = self.cut.lock().await;
        if cut.is_empty() {
            return Ok(());
        }
        let who = cut.join(", ");
        let mut problems = self.delete_policies().await;
        if let Err(problem) = self.label(&cut, false).await {
            problems.push(problem);
        }
        if !problems.is_empty() {
            return Err(ControlError::failed("heal", &who)(problems.join("; ")));
        }
        cut.clear();
        tracing::info!(side = %who, "healed");
        Ok(())
    }

    fn unexpected_exits(&self) -> watch::Receiver<Vec<NodeExit>> {
        self.crashes.subscribe()
    }
}

/// Reports every end of a node's pod the framework did not ask for: an
/// exit, an eviction, a deletion by someone else. One report per pod.
pub(crate) fn report_exits(control: &Arc<K8sControl>) -> JoinHandle<()> {
    let weak = Arc::downgrade(control);
    let mut pods = control.watch.pods();
    tokio::spawn(async move {
        let mut reported: BTreeSet<(String, u64)> = BTreeSet::new();
        let mut last: Pods = Pods::default();
        while pods.changed().await.is_ok() {
            let now = pods.borrow_and_update().clone();
            let Some(control) = weak.upgrade() else {
                return;
            };
            for node in control.nodes.all() {
                let name = &node.name;
                if control.down.lock().contains(name) {
                    continue;
                }
                let status = match (last.pods.get(name), now.pods.get(name)) {
                    (_, Some(seen)) => match &seen.state {
                        PodState::Exited { code, reason } => {
                            Some((seen.incarnation, format!("exit code {code} ({reason})")))
                        }
                        // A pod that ran and then could not go on (an
                        // eviction); one stuck at start fails its start.
                        PodState::Stuck(message)
                            if last.pods.get(name).is_some_and(|was| {
                                was.incarnation == seen.incarnation
                                    && was.state == PodState::Running
                            }) =>
                        {
                            Some((seen.incarnation, message.clone()))
                        }
                        _ => None,
                    },
                    (Some(was), None) if now.synced => Some((
                        was.incarnation,
                        "its pod was deleted by someone other than the framework".into(),
                    )),
                    _ => None,
                };
                let Some((incarnation, status)) = status else {
                    continue;
                };
                if reported.insert((name.clone(), incarnation)) {
                    // Without a stream, the log is fetched for its tail.
                    if node.follower.is_none() {
                        let pods = Api::namespaced(control.client.clone(), &control.namespace);
                        crate::logs::fetch_once(&pods, name, &node.log).await;
                    }
                    tracing::warn!(node = %name, %status, "node ended unexpectedly");
                    control.crashes.send_modify(|exits| {
                        exits.push(NodeExit {
                            node: name.clone(),
                            status,
                            at: SystemTime::now(),
                            log_tail: tf_core::deployer_kit::log_tail(&node.log),
                        })
                    });
                }
            }
            last = now;
        }
    })
}

/// `grace` in whole seconds, rounded up: a grace of 500 ms is a grace of
/// 1 s, not none (which would kill every node and call it forced).
fn whole_seconds(grace: std::time::Duration) -> u32 {
    u32::try_from(grace.as_millis().div_ceil(1000)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod grace_tests {
    use std::time::Duration;

    #[test]
    fn a_grace_rounds_up_to_whole_seconds() {
        assert_eq!(super::whole_seconds(Duration::ZERO), 0);
        assert_eq!(super::whole_seconds(Duration::from_millis(500)), 1);
        assert_eq!(super::whole_seconds(Duration::from_secs(5)), 5);
        assert_eq!(super::whole_seconds(Duration::from_millis(5001)), 6);
    }
}
