//! Following a run's pods through one watch (kube-runtime's watcher, with
//! its backoff), not by polling. [`RunWatch`] keeps what the watch last
//! said of every pod; deploying waits on it until every pod runs (a pod
//! that cannot, for an image that cannot be pulled, no room to schedule
//! it, an eviction or a container that exits at start, stops the wait at
//! once with the pod and the reason), node control waits on it for a pod
//! to go or come back, and the log followers and the exit reports read it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tf_core::deployer_kit::labels::RUN;
use tf_core::scenario::deploy::DeployError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::names::label_value;
use crate::pod_state::ephemeral_states;
use crate::{Plan, PodState, pod_state};

/// One pod as the watch last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// What its status says.
    pub state: PodState,
    /// Which pod of that name it is: 1 for the first, one more each time
    /// a pod of that name is created again (a restart).
    pub incarnation: u64,
    /// The pod's uid, which tells a new pod of the same name from the old.
    pub uid: String,
    /// The pod's address, once it has one.
    pub ip: Option<String>,
    /// Its ephemeral containers (a link fault helper), by name.
    pub ephemeral: BTreeMap<String, PodState>,
}

/// What the watch has said of a run's pods so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pods {
    /// The watch has listed the pods once: a pod missing here is gone.
    pub synced: bool,
    /// Every pod there is, by name.
    pub pods: BTreeMap<String, Seen>,
    /// The watch's last error, while it retries.
    pub last_error: Option<String>,
}

impl Pods {
    /// What the watch says of `name`, for messages.
    fn describe(&self, name: &str) -> String {
        match self.pods.get(name).map(|s| &s.state) {
            None => format!("{name}: not seen"),
            Some(PodState::Starting) => format!("{name}: starting"),
            Some(PodState::Running) => format!("{name}: running"),
            Some(PodState::Waiting(why) | PodState::Stuck(why)) => why.clone(),
            Some(PodState::Exited { code, reason }) => {
                format!("{name}: exited with code {code} ({reason})")
            }
        }
    }
}

/// How a wait on the watch ended short of what it waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEnd {
    /// The watch ended (the runtime is going away).
    Ended,
    /// The time was up.
    TimedOut,
}

/// The pods of one run, followed by a watch until dropped.
pub struct RunWatch {
    pods: watch::Receiver<Pods>,
    task: JoinHandle<()>,
}

impl Drop for RunWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RunWatch {
    /// Starts watching the pods of `namespace` that `selector` picks
    /// (a run's: [`run_selector`]).
    pub fn start(client: &Client, namespace: &str, selector: &str) -> Self {
        let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let (send, pods) = watch::channel(Pods::default());
        let task = tokio::spawn(follow(api, selector.to_owned(), send));
        RunWatch { pods, task }
    }

    /// What the watch says now; changes as pods do.
    pub fn pods(&self) -> watch::Receiver<Pods> {
        self.pods.clone()
    }

    /// Waits until `until` holds of what the watch says, for at most
    /// `timeout`; what it said then.
    pub async fn wait(
        &self,
        timeout: Duration,
        mut until: impl FnMut(&Pods) -> bool,
    ) -> Result<Pods, WaitEnd> {
        let mut pods = self.pods();
        match tokio::time::timeout(timeout, pods.wait_for(|p| until(p))).await {
            Ok(Ok(seen)) => Ok(seen.clone()),
            Ok(Err(_)) => Err(WaitEnd::Ended),
            Err(_) => Err(WaitEnd::TimedOut),
        }
    }

    /// Waits until the pods `names` all run, for at most `timeout`; a pod
    /// stuck or exited ends the wait at once with its reason.
    pub async fn wait_running(
        &self,
        names: &BTreeSet<String>,
        timeout: Duration,
    ) -> Result<(), DeployError> {
        let settled = |p: &Pods| {
            names.iter().all(|n| {
                p.pods
                    .get(n)
                    .is_some_and(|s| matches!(s.state, PodState::Running))
            }) || names.iter().any(|n| {
                p.pods.get(n).is_some_and(|s| {
                    matches!(s.state, PodState::Stuck(_) | PodState::Exited { .. })
                })
            })
        };
        let seen = match self.wait(timeout, settled).await {
            Ok(seen) => seen,
            Err(WaitEnd::Ended) => {
                return Err(DeployError::Other(
                    "the watch of the run's pods ended before every pod ran".into(),
                ));
            }
            Err(WaitEnd::TimedOut) => {
                let now = self.pods.borrow().clone();
                let states: Vec<String> = names.iter().map(|n| now.describe(n)).collect();
                return Err(DeployError::Other(format!(
                    "the run's pods did not all run within {timeout:?}: {}{}",
                    states.join(", "),
                    now.last_error
                        .map(|e| format!("; the watch's last error: {e}"))
                        .unwrap_or_default()
                )));
            }
        };
        for name in names {
            match seen.pods.get(name).map(|s| &s.state) {
                Some(PodState::Stuck(message)) => return Err(DeployError::Other(message.clone())),
                Some(PodState::Exited { code, reason }) => {
                    return Err(DeployError::Other(format!(
                        "pod {name} exited at start with code {code} ({reason}); its log tells why"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Waits until a pod `name` newer than incarnation `after` runs, for
    /// at most `timeout`: the replacement a controller makes.
    pub async fn wait_replaced(
        &self,
        name: &str,
        after: u64,
        timeout: Duration,
    ) -> Result<(), String> {
        let replaced = |p: &Pods| {
            p.pods
                .get(name)
                .is_some_and(|s| s.incarnation > after && s.state == PodState::Running)
        };
        match self.wait(timeout, replaced).await {
            Ok(_) => Ok(()),
            Err(WaitEnd::Ended) => Err("the watch of the pods ended".into()),
            Err(WaitEnd::TimedOut) => Err(format!(
                "no new pod {name} ran within {timeout:?} of the old one's deletion ({}); is it owned by a StatefulSet that recreates it under its name?",
                self.pods.borrow().describe(name)
            )),
        }
    }

    /// Waits until no pod `name` is left, for at most `timeout`.
    pub async fn wait_gone(&self, name: &str, timeout: Duration) -> Result<(), String> {
        match self
            .wait(timeout, |p| p.synced && !p.pods.contains_key(name))
            .await
        {
            Ok(_) => Ok(()),
            Err(WaitEnd::Ended) => Err("the watch of the run's pods ended".into()),
            Err(WaitEnd::TimedOut) => Err(format!(
                "pod {name} was still there {timeout:?} after its deletion ({})",
                self.pods.borrow().describe(name)
            )),
        }
    }
}

/// The label selector of run `run`'s pods.
pub fn run_selector(run: &str) -> String {
    format!("{RUN}={}", label_value(run))
}

/// Keeps `send` up to date with the watch of the pods `selector` picks.
async fn follow(api: Api<Pod>, selector: String, send: watch::Sender<Pods>) {
    let events = watcher(api, watcher::Config::default().labels(&selector)).default_backoff();
    let mut events = std::pin::pin!(events);
    // The incarnation the next pod of a name gets, kept across deletions.
    let mut next: BTreeMap<String, u64> = BTreeMap::new();
    // A relist is gathered apart and swapped in whole when it is done.
    let mut relist: Option<BTreeMap<String, Seen>> = None;
    let mut seen = |pod: &Pod, into: &mut BTreeMap<String, Seen>| {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let incarnation = match into.get(&name) {
            Some(old) if old.uid == uid => old.incarnation,
            _ => {
                let n = next.entry(name.clone()).or_insert(1);
                *n += 1;
                *n - 1
            }
        };
        into.insert(
            name,
            Seen {
                state: pod_state(pod),
                incarnation,
                uid,
                ip: pod.status.as_ref().and_then(|s| s.pod_ip.clone()),
                ephemeral: ephemeral_states(pod),
            },
        );
    };
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => relist = Some(BTreeMap::new()),
            Ok(watcher::Event::InitApply(pod)) => {
                let mut gathering = relist.take().unwrap_or_default();
                // A pod still there keeps its incarnation.
                let name = pod.metadata.name.clone().unwrap_or_default();
                if let Some(old) = send.borrow().pods.get(&name) {
                    gathering.insert(name, old.clone());
                }
                seen(&pod, &mut gathering);
                relist = Some(gathering);
            }
            Ok(watcher::Event::InitDone) => {
                let pods = relist.take().unwrap_or_default();
                send.send_modify(|p| {
                    p.pods = pods;
                    p.synced = true;
                    p.last_error = None;
                });
            }
            Ok(watcher::Event::Apply(pod)) => send.send_modify(|p| {
                seen(&pod, &mut p.pods);
                p.last_error = None;
            }),
            Ok(watcher::Event::Delete(pod)) => send.send_modify(|p| {
                let name = pod.metadata.name.clone().unwrap_or_default();
                p.pods.remove(&name);
            }),
            Err(error) => send.send_modify(|p| p.last_error = Some(error.to_string())),
        }
    }
}

/// Waits until every pod of `plan` runs, for at most `timeout`, through a
/// watch of its own.
pub async fn wait_running(
    client: &Client,
    plan: &Plan,
    timeout: Duration,
) -> Result<(), DeployError> {
    let watch = RunWatch::start(client, &plan.namespace, &run_selector(&plan.run));
    let names: BTreeSet<String> = plan.nodes.iter().map(|n| n.name.clone()).collect();
    watch.wait_running(&names, timeout).await
}
