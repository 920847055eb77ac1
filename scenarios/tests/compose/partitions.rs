//! Partitions and heals on compose, a hundred times over, while networks
//! of others come and go: every cut and every heal is confirmed by the
//! deployer (the healed node reaches its peers from inside, the runner
//! reaches it), and the cluster is whole at the end. A heal that cannot
//! take (its peers were taken off the network behind the deployer's back)
//! is an error naming the path that failed.
//!
//! The engine takes its isolation rules between networks out for a moment
//! whenever any network is created or removed; without the fence each
//! node gets from inside, a cut-off node's connects passed through that
//! gap within a few dozen cycles.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bollard::models::{NetworkCreateRequest, NetworkDisconnectRequest};
use libtest_mimic::Failed;
use openraft_kv_tf::{RaftKv, RaftObserver, RaftSnapshot};
use tf_compose::labels;
use tf_compose::sweep::leftovers;
use tf_core::manual::ManualCluster;
use tf_core::observation::ObservationHandle;

use super::check;
use super::links::on_a_raft_cluster;

/// Partition/heal cycles; `TF_PARTITION_CYCLES` sets another number.
const CYCLES: usize = 100;

pub(crate) fn a_hundred_partitions_heal_and_a_heal_that_cannot_take_is_an_error()
-> Result<(), Failed> {
    on_a_raft_cluster("partitions", |cluster, raft| {
        Box::pin(cycles(cluster, raft))
    })
}

/// Whether every node is observed, one leader is elected and all follow it.
fn whole(s: &RaftSnapshot) -> bool {
    s.unreachable().is_empty()
        && s.leader.as_ref().is_some_and(|leader| {
            s.nodes.values().all(|v| {
                v.state
                    .as_ref()
                    .is_some_and(|n| n.leader == Some(leader.id))
            })
        })
}

/// The `p`th percentile of `times`, in ms.
fn percentile(times: &mut [Duration], p: f64) -> f64 {
    times.sort();
    let at = ((times.len() as f64 - 1.0) * p / 100.0).round() as usize;
    times[at].as_secs_f64() * 1000.0
}

async fn cycles(
    cluster: &mut ManualCluster<RaftKv>,
    raft: ObservationHandle<RaftObserver>,
) -> Result<(), Failed> {
    let within = Duration::from_secs(30);
    cluster
        .wait_until(&raft, "one leader all follow", within, whole)
        .await
        .map_err(|e| e.to_string())?;
    let count = std::env::var("TF_PARTITION_CYCLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CYCLES);
    let stop = AtomicBool::new(false);
    let cycled = async {
        let cycled = partitions_and_heals(cluster, count).await;
        stop.store(true, Ordering::Relaxed);
        cycled
    };
    let (cycled, churned) = tokio::join!(cycled, churn(&stop));
    let (mut cuts, mut heals) = cycled?;
    let churned = churned?;
    eprintln!(
        "{count} cycles, while {churned} other networks came and went: partition p50 {:.0} ms p99 {:.0} ms; heal p50 {:.0} ms p99 {:.0} ms (each confirmed)",
        percentile(&mut cuts, 50.0),
        percentile(&mut cuts, 99.0),
        percentile(&mut heals, 50.0),
        percentile(&mut heals, 99.0),
    );
    check(count == 0 || churned > 0, || {
        "no network came or went meanwhile".into()
    })?;
    cluster
        .wait_until(
            &raft,
            "one leader all follow after the cycles",
            within,
            whole,
        )
        .await
        .map_err(|e| e.to_string())?;

    // The others taken off the peers network behind the deployer's back:
    // node-0 rejoins, reaches nobody, and the heal says so.
    cluster
        .partition(&["node-0".to_owned()])
        .await
        .map_err(|e| e.to_string())?;
    let left = leftovers(cluster.run_dir()).await?;
    let peers = left
        .networks
        .iter()
        .find(|n| n.ends_with("-peers"))
        .ok_or_else(|| format!("no peers network in {left:?}"))?;
    let docker = tf_compose::connect().await?;
    for container in left
        .containers
        .iter()
        .filter(|c| c.ends_with("-node-1") || c.ends_with("-node-2"))
    {
        docker
            .disconnect_network(
                peers,
                NetworkDisconnectRequest {
                    container: Some(container.clone()),
                    force: Some(true),
                },
            )
            .await?;
    }
    let error = cluster
        .heal()
        .await
        .err()
        .ok_or("a heal that cannot take passed")?;
    check(
        error
            .to_string()
            .contains("the heal did not take after 3 rejoins")
            && error.to_string().contains("node-0"),
        || error.to_string(),
    )
}

/// Creates and removes networks of no run until `stop`, as other runs on
/// the machine do, about four a second (flat out, the engine slowed every
/// other test's calls); how many. Each is removed before the next is made.
async fn churn(stop: &AtomicBool) -> Result<usize, Failed> {
    let docker = tf_compose::connect().await?;
    let mut made = 0;
    while !stop.load(Ordering::Relaxed) {
        let name = format!("tf-test-churn-{}-{made}", std::process::id());
        // Labelled as a run's, so that `scenarios cleanup` finds one a
        // killed test left.
        let labels = HashMap::from([
            (labels::MANAGED.to_owned(), "true".to_owned()),
            (labels::RUN.to_owned(), name.clone()),
            (
                labels::RUNNER.to_owned(),
                tf_core::deployer_kit::this_runner(),
            ),
        ]);
        docker
            .create_network(NetworkCreateRequest {
                name: name.clone(),
                internal: Some(true),
                labels: Some(labels),
                ..Default::default()
            })
            .await?;
        docker.remove_network(&name).await?;
        made += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(made)
}

/// `count` partitions of one node, each healed: how long each cut and
/// each heal took to be confirmed.
async fn partitions_and_heals(
    cluster: &mut ManualCluster<RaftKv>,
    count: usize,
) -> Result<(Vec<Duration>, Vec<Duration>), Failed> {
    let nodes = cluster.nodes();
    let (mut cuts, mut heals) = (Vec::new(), Vec::new());
    for cycle in 0..count {
        let side = [nodes[cycle % nodes.len()].clone()];
        let started = Instant::now();
        cluster
            .partition(&side)
            .await
            .map_err(|e| format!("cycle {cycle}: {e}"))?;
        cuts.push(started.elapsed());
        let started = Instant::now();
        cluster
            .heal()
            .await
            .map_err(|e| format!("cycle {cycle}: {e}"))?;
        heals.push(started.elapsed());
    }
    Ok((cuts, heals))
}
