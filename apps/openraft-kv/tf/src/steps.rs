//! Cucumber steps for the Raft app, on top of `tf-cucumber`'s generic ones.
//! They reuse the app's observer, workloads and expectations; none parses
//! node JSON or sleeps.
//!
//! | Step | Does |
//! |---|---|
//! | `Given a Raft cluster of 3 nodes` | deploys it, observes it with [`RaftObserver`] |
//! | `Then within 20 seconds a leader is elected` | every node follows one leader |
//! | `When the leader is killed` (`stopped`, `restarted`, `paused`, `cut off from the rest`) | acts on the observed leader |
//! | `When the old leader is started` (`resumed`) | brings it back |
//! | `When the leader cannot hear the others` (`cannot be heard`) | a one-way cut of the observed leader (compose); `When the links are restored` ends it |
//! | `When a follower is stopped` (`killed`, `restarted`) / `When the follower is started` | acts on a follower |
//! | `Then within 10 seconds another node is elected leader` | a new leader in a higher term |
//! | `Then within 15 seconds the old leader follows the new leader` | it stepped down |
//! | `When 20 keys are written` | through the observed leader, recorded in the cluster's history |
//! | `When writes run for 12 seconds while the leader is killed every 4 seconds` | the framework's [`KvWorkload`] + [`leader_failover`] |
//! | `Then no acknowledged write is lost` | [`FinalReads`], then [`AcknowledgedWritesSurvive`] |
//! | `Then what the clients saw is linearizable` | [`Linearizable`] with the [`KeyValue`] model |
//! | `Then at most one leader was seen per term` | [`one_leader_per_term`] |
//! | `Then within 15 seconds every node has applied the same log` | [`RaftSnapshot::converged`] |

use std::sync::Arc;
use std::time::Duration;

use openraft_kv_node::api::Role;
use serde_json::json;
use tf_core::checker::{AcknowledgedWritesSurvive, KeyValue, Linearizable};
use tf_core::fault::{LinkFault, Links};
use tf_core::manual::ManualCluster;
use tf_core::observation::ObservationHandle;
use tf_core::scenario::Workload;
use tf_core::workloads::kv::FinalReads;
use tf_core::workloads::{FaultKind, KvWorkload};
use tf_cucumber::{OrFail, Steps, TfWorld, capture, count, fail, seconds, wait_for};

use crate::expectations::one_leader_per_term;
use crate::scenarios::raft_observation;
use crate::{Leader, RaftKv, RaftObserver, RaftSnapshot, leader_failover};

/// What the Raft steps remember within one scenario.
#[derive(Default)]
struct RaftSteps {
    old_leader: Option<Leader>,
    follower: Option<String>,
    written: u64,
}

fn raft(world: &TfWorld) -> (&ManualCluster<RaftKv>, ObservationHandle<RaftObserver>) {
    let cluster = world.app::<RaftKv>().or_fail(world);
    let handle = cluster
        .observer::<RaftObserver>()
        .ok_or("the Raft cluster has no RaftObserver")
        .or_fail(world);
    (cluster, handle)
}

/// The observed leader, waited for briefly: a step acting on "the leader"
/// right after a failover waits until there is one.
async fn current_leader(world: &TfWorld) -> Leader {
    let seen = wait_for::<RaftKv, RaftObserver>(
        world,
        "a leader to act on",
        Duration::from_secs(15),
        |s: &RaftSnapshot| s.leader.is_some(),
    )
    .await;
    seen.snapshot.leader.clone().expect("waited for")
}

/// Whether every reachable node follows `leader`'s id and all are
/// reachable.
fn all_follow(s: &RaftSnapshot) -> bool {
    let Some(leader) = &s.leader else {
        return false;
    };
    !s.nodes.is_empty()
        && s.nodes.values().all(|v| {
            v.reachable()
                && v.state
                    .as_ref()
                    .is_some_and(|st| st.leader == Some(leader.id))
        })
}

/// The Raft steps.
pub fn steps() -> Steps {
    Steps::new()
        .given(r"^a Raft cluster of (-?\d+) nodes?$", |world, ctx| {
            Box::pin(async move {
                let n = count(capture(&ctx, 1), 1, "a Raft cluster's size").or_fail(world);
                let started = world.start(RaftKv::default(), n).await;
                let cluster = match started {
                    Ok(cluster) => cluster,
                    Err(error) => fail(world, error),
                };
                if let Err(error) = cluster.observe(RaftObserver, raft_observation()) {
                    fail(world, error);
                }
            })
        })
        .then(
            r"^within (-?\d+) seconds? a leader is elected$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    wait_for::<RaftKv, RaftObserver>(
                        world,
                        "every node to follow one leader",
                        timeout,
                        all_follow,
                    )
                    .await;
                })
            },
        )
        .when(
            r"^the leader is (killed|stopped|restarted|paused|cut off from the rest)$",
            |world, ctx| {
                Box::pin(async move {
                    let leader = current_leader(world).await;
                    world.state::<RaftSteps>().old_leader = Some(leader.clone());
                    let (cluster, _) = raft(world);
                    let node = leader.node.as_str();
                    let done = match capture(&ctx, 1) {
                        "killed" => cluster.kill(node).await,
                        "stopped" => cluster.stop(node).await,
                        "restarted" => cluster.restart(node).await,
                        "paused" => cluster.pause(node).await,
                        _ => cluster.partition(std::slice::from_ref(&leader.node)).await,
                    };
                    done.or_fail(world);
                })
            },
        )
        .when(
            r"^the leader cannot (hear the others|be heard)$",
            |world, ctx| {
                Box::pin(async move {
                    let leader = current_leader(world).await;
                    world.state::<RaftSteps>().old_leader = Some(leader.clone());
                    let links = match capture(&ctx, 1) {
                        "hear the others" => Links::Ingress(leader.node.clone()),
                        _ => Links::Egress(leader.node.clone()),
                    };
                    world.impair(&links, &LinkFault::cut()).await.or_fail(world);
                })
            },
        )
        .then(
            r"^within (-?\d+) seconds? another node is elected leader$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let old = world
                        .state::<RaftSteps>()
                        .old_leader
                        .clone()
                        .ok_or(
                            "no leader was acted on before this step (`When the leader is killed`)",
                        )
                        .or_fail(world);
                    let what = format!(
                        "a leader other than {} in a term above {}",
                        old.node, old.term
                    );
                    wait_for::<RaftKv, RaftObserver>(world, &what, timeout, |s: &RaftSnapshot| {
                        s.leader
                            .as_ref()
                            .is_some_and(|l| l.id != old.id && l.term > old.term)
                    })
                    .await;
                })
            },
        )
        .then(
            r"^within (-?\d+) seconds? the old leader follows the new leader$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let old = world
                        .state::<RaftSteps>()
                        .old_leader
                        .clone()
                        .ok_or("no leader was acted on before this step")
                        .or_fail(world);
                    let what = format!("{} to follow a leader of a later term", old.node);
                    wait_for::<RaftKv, RaftObserver>(world, &what, timeout, |s: &RaftSnapshot| {
                        let Some(leader) = &s.leader else {
                            return false;
                        };
                        let view = s.nodes.get(&old.node);
                        leader.id != old.id
                            && view.is_some_and(|v| {
                                v.reachable()
                                    && v.state.as_ref().is_some_and(|st| {
                                        st.role != Role::Leader
                                            && st.term >= leader.term
                                            && st.leader == Some(leader.id)
                                    })
                            })
                    })
                    .await;
                })
            },
        )
        .when(
            r"^a follower is (stopped|killed|restarted)$",
            |world, ctx| {
                Box::pin(async move {
                    let leader = current_leader(world).await;
                    let (cluster, _) = raft(world);
                    let follower = cluster
                        .nodes()
                        .into_iter()
                        .find(|n| *n != leader.node)
                        .ok_or("the cluster has no follower")
                        .or_fail(world);
                    let done = match capture(&ctx, 1) {
                        "stopped" => cluster.stop(&follower).await,
                        "killed" => cluster.kill(&follower).await,
                        _ => cluster.restart(&follower).await,
                    };
                    done.or_fail(world);
                    world.state::<RaftSteps>().follower = Some(follower);
                })
            },
        )
        .when(r"^the old leader is (started|resumed)$", |world, ctx| {
            Box::pin(async move {
                let old = world
                    .state::<RaftSteps>()
                    .old_leader
                    .clone()
                    .ok_or("no leader was acted on before this step (`When the leader is killed`)")
                    .or_fail(world);
                let (cluster, _) = raft(world);
                let done = match capture(&ctx, 1) {
                    "started" => cluster.start_node(&old.node).await,
                    _ => cluster.resume(&old.node).await,
                };
                done.or_fail(world);
            })
        })
        .when(r"^the follower is started$", |world, _| {
            Box::pin(async move {
                let follower = world
                    .state::<RaftSteps>()
                    .follower
                    .clone()
                    .ok_or(
                        "no follower was stopped before this step (`When a follower is stopped`)",
                    )
                    .or_fail(world);
                let (cluster, _) = raft(world);
                cluster.start_node(&follower).await.or_fail(world);
            })
        })
        .when(r"^(-?\d+) keys? (?:is|are) written$", |world, ctx| {
            Box::pin(async move {
                let n = count(capture(&ctx, 1), 1, "the number of keys").or_fail(world);
                let first = world.state::<RaftSteps>().written;
                let mut history = raft(world).0.history().client();
                for i in first..first + n as u64 {
                    let leader = current_leader(world).await;
                    let (cluster, _) = raft(world);
                    let (key, value) = (format!("step-key-{i}"), format!("step-value-{i}"));
                    let client = cluster.client(&leader.node).expect("an observed node");
                    let op = history.invoke("write", json!([key, value]));
                    match client.write(&key, &value).await {
                        Ok(_) => op.ok(json!([key, value])),
                        Err(e) => {
                            let why = format!(
                                "writing {key} through the leader {} failed: {e}",
                                leader.node
                            );
                            op.unknown(&why);
                            fail(world, why);
                        }
                    }
                }
                world.state::<RaftSteps>().written = first + n as u64;
                let (cluster, _) = raft(world);
                cluster
                    .journal()
                    .write(&format!("{n} key(s) written and acknowledged"));
            })
        })
        .when(
            r"^writes run for (-?\d+) seconds? while the leader is killed every (-?\d+) seconds?$",
            |world, ctx| {
                Box::pin(async move {
                    let window = seconds(capture(&ctx, 1)).or_fail(world);
                    let every = seconds(capture(&ctx, 2)).or_fail(world);
                    let workloads: [Arc<dyn Workload<RaftKv>>; 2] = [
                        Arc::new(KvWorkload::new().clients(4).rate(40.0)),
                        Arc::new(leader_failover(FaultKind::Kill).every(every)),
                    ];
                    let (cluster, _) = raft(world);
                    cluster.drive(&workloads, window).await.or_fail(world);
                })
            },
        )
        .then(r"^no acknowledged write is lost$", |world, _| {
            Box::pin(async move {
                let (cluster, _) = raft(world);
                let reads = FinalReads::new(Duration::from_secs(15), Duration::from_secs(2));
                cluster.check(&reads).await.or_fail(world);
                cluster
                    .check(&AcknowledgedWritesSurvive)
                    .await
                    .or_fail(world);
            })
        })
        .then(r"^what the clients saw is linearizable$", |world, _| {
            Box::pin(async move {
                let (cluster, _) = raft(world);
                cluster
                    .check(&Linearizable::new(KeyValue))
                    .await
                    .or_fail(world);
            })
        })
        .then(r"^at most one leader was seen per term$", |world, _| {
            Box::pin(async move {
                let (cluster, _) = raft(world);
                cluster.check(&one_leader_per_term()).await.or_fail(world);
            })
        })
        .then(
            r"^within (-?\d+) seconds? every node has applied the same log$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    wait_for::<RaftKv, RaftObserver>(
                        world,
                        "every node to report the same applied index and key-value digest",
                        timeout,
                        RaftSnapshot::converged,
                    )
                    .await;
                })
            },
        )
}
