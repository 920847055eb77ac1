//! Link faults and partitions on compose, each shown by its effect: a
//! delayed link's connect time, a lossy link's drop count within tolerance
//! of the setting, a duplicating link's copies likewise, a rate limit in
//! the connect time, a cut that lets the other direction through (a leader
//! that cannot hear loses its followers, one that can still be heard), the
//! runner still reaching every node, and nothing left after restore.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use libtest_mimic::Failed;
use openraft_kv_tf::{RaftKv, RaftObserver, RaftSnapshot};
use tf_compose::ComposeDeployer;
use tf_core::fault::{LinkFault, Links};
use tf_core::manual::ManualCluster;
use tf_core::observation::ObservationHandle;
use tf_core::workloads::Around;

use super::{check, nothing_left, runtime};

/// The connect times (ms) of a confirmation line
/// (`node-0 -> node-1: connect 0.1ms -> 52.3ms`); `None` for no answer.
fn connect_times(line: &str) -> Result<(Option<f64>, Option<f64>), Failed> {
    let times = line
        .split_once("connect ")
        .ok_or_else(|| format!("not a confirmation: {line}"))?
        .1;
    let (before, after) = times
        .split_once(" -> ")
        .ok_or_else(|| format!("not a confirmation: {line}"))?;
    let ms = |t: &str| {
        t.trim()
            .strip_suffix("ms")
            .and_then(|n| n.parse::<f64>().ok())
    };
    Ok((ms(before), ms(after)))
}

/// `(packets, dropped)` of a restore line
/// (`node-0 -> node-1: 812 packets, 41 dropped (5.0%)`).
fn counted(line: &str) -> (u64, u64) {
    let (packets, dropped, _) = counters(line);
    (packets, dropped)
}

/// `(packets, dropped, duplicated)` of a restore line.
fn counters(line: &str) -> (u64, u64, u64) {
    let words: Vec<&str> = line
        .split([' ', ',', ':'])
        .filter(|w| !w.is_empty())
        .collect();
    let before = |word: &str| {
        words
            .windows(2)
            .find(|w| w[1] == word)
            .and_then(|w| w[0].parse().ok())
            .unwrap_or(0)
    };
    (before("packets"), before("dropped"), before("duplicated"))
}

/// What a test does with a cluster, observed by the Raft observer.
pub(crate) type Exercise = for<'a> fn(
    &'a mut ManualCluster<RaftKv>,
    ObservationHandle<RaftObserver>,
) -> Pin<Box<dyn Future<Output = Result<(), Failed>> + 'a>>;

/// Runs `exercise` on a manual 3-node Raft cluster on compose named
/// `name`, once every node is ready; the cluster must clean up without
/// problems and leave nothing.
pub(crate) fn on_a_raft_cluster(name: &str, exercise: Exercise) -> Result<(), Failed> {
    let runs = tempfile::tempdir()?;
    let deployer = ComposeDeployer::new().with_runs_root(runs.path());
    runtime().block_on(async {
        let mut cluster = ManualCluster::start(Arc::new(RaftKv::default()), &deployer, name, 3)
            .await
            .map_err(|e| e.to_string())?;
        let ready = async {
            let raft = cluster
                .observe(RaftObserver, openraft_kv_tf::scenarios::raft_observation())
                .map_err(|e| e.to_string())?;
            cluster
                .wait_ready(Duration::from_secs(60))
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, Failed>(raft)
        };
        let result = match ready.await {
            Ok(raft) => exercise(&mut cluster, raft).await,
            Err(error) => Err(error),
        };
        let dir = cluster.run_dir().to_owned();
        let cleanup = cluster.cleanup().await;
        result?;
        check(cleanup.problems.is_empty(), || format!("{cleanup:?}"))?;
        nothing_left(&dir).await
    })
}

pub(crate) fn link_faults_show_in_connects_counters_and_elections() -> Result<(), Failed> {
    on_a_raft_cluster("links", |cluster, raft| Box::pin(exercise(cluster, raft)))
}

async fn exercise(
    cluster: &mut ManualCluster<RaftKv>,
    raft: ObservationHandle<RaftObserver>,
) -> Result<(), Failed> {
    let within = Duration::from_secs(20);
    let settled = cluster
        .wait_until(&raft, "a leader", within, |s: &RaftSnapshot| {
            s.leader.is_some() && s.unreachable().is_empty()
        })
        .await
        .map_err(|e| e.to_string())?;
    let leader = settled.snapshot.leader.clone().ok_or("no leader")?.node;
    let follower = ["node-0", "node-1", "node-2"]
        .into_iter()
        .find(|n| *n != leader)
        .ok_or("no follower")?;

    // Bad input is refused before anything is applied.
    for (links, fault, expected) in [
        (
            Links::link("node-0", "node-0"),
            LinkFault::cut(),
            "joins a node to itself",
        ),
        (
            Links::link("node-0", "node-1"),
            LinkFault::cut().loss(101.0),
            "loss is 101%",
        ),
        (
            Links::link("node-0", "node-9"),
            LinkFault::cut(),
            "`node-9` is not a node",
        ),
    ] {
        let error = cluster
            .impair(&links, &fault)
            .await
            .err()
            .ok_or("accepted")?;
        check(error.to_string().contains(expected), || error.to_string())?;
    }

    // A delay shows in the connect time, and is gone after restore.
    let delay = LinkFault::delay(Duration::from_millis(50)).jitter(Duration::from_millis(5));
    let slow = cluster
        .impair(&Links::link(follower, leader.as_str()), &delay)
        .await
        .map_err(|e| e.to_string())?;
    let (before, after) = connect_times(&slow.confirmed[0])?;
    check(
        before.is_some_and(|b| b < 20.0) && after.is_some_and(|a| a >= 40.0),
        || format!("{:?}", slow.confirmed),
    )?;
    let restored = cluster.restore(slow.id).await.map_err(|e| e.to_string())?;
    check(restored[0].contains(" delayed"), || format!("{restored:?}"))?;

    // 20 % loss on every link, over the cluster's heartbeats: the share
    // dropped is within tolerance of the setting over enough packets.
    let total = counted_under(
        cluster,
        &raft,
        &LinkFault::default().loss(20.0),
        12,
        counted,
    )
    .await?;
    about(total, 300, 20.0, 7.0, "dropped")?;

    // 30 % duplicated on every link: the share the rules copied is within
    // tolerance of the setting.
    let duplicated = |line: &str| {
        let (packets, _, duplicated) = counters(line);
        (packets, duplicated)
    };
    let total = counted_under(
        cluster,
        &raft,
        &LinkFault::default().duplicate(30.0),
        6,
        duplicated,
    )
    .await?;
    about(total, 150, 30.0, 12.0, "duplicated")?;

    // A rate limit shows in the connect time: a SYN of 60 bytes takes
    // 7.5 ms to leave at 64 kbit/s (or waits behind heartbeats).
    let narrow = cluster
        .impair(
            &Links::link(follower, leader.as_str()),
            &LinkFault::default().rate_kbit(64),
        )
        .await
        .map_err(|e| e.to_string())?;
    let (before, after) = connect_times(&narrow.confirmed[0])?;
    eprintln!(
        "{} of {} packets duplicated; at 64 kbit/s {}",
        total.1, total.0, narrow.confirmed[0]
    );
    check(
        before.is_some_and(|b| b < 5.0) && after.is_none_or(|a| a >= 5.0),
        || format!("{:?}", narrow.confirmed),
    )?;
    let restored = cluster
        .restore(narrow.id)
        .await
        .map_err(|e| e.to_string())?;
    check(restored[0].contains(" delayed"), || format!("{restored:?}"))?;

    // A leader that cannot hear: the others' packets to it are cut, its
    // own go through. The connects to it get no answer, the runner still
    // reaches it, and the others elect another leader.
    let deaf = cluster
        .impair(&Links::Ingress(leader.clone()), &LinkFault::cut())
        .await
        .map_err(|e| e.to_string())?;
    for line in &deaf.confirmed {
        check(connect_times(line)?.1.is_none(), || {
            format!("{:?}", deaf.confirmed)
        })?;
    }
    let old = leader.clone();
    let elected = cluster
        .wait_until(&raft, "another leader", within, move |s: &RaftSnapshot| {
            s.leader.as_ref().is_some_and(|l| l.node != old) && s.unreachable().is_empty()
        })
        .await
        .map_err(|e| e.to_string())?;
    check(elected.snapshot.unreachable().is_empty(), || {
        "the runner lost a node".into()
    })?;
    let restored = cluster.restore(deaf.id).await.map_err(|e| e.to_string())?;
    // A line of counters a sender, then a line a link that answers again.
    let (counters, reached): (Vec<&String>, Vec<&String>) =
        restored.iter().partition(|l| l.contains(" packets"));
    check(counters.len() == 2 && reached.len() == 2, || {
        format!("{restored:?}")
    })?;
    for line in counters {
        let (packets, dropped) = counted(line);
        check(packets > 0 && packets == dropped, || {
            format!("{restored:?}")
        })?;
    }
    for line in reached {
        check(
            line.contains(" answers again: connect ") && !line.contains("no answer"),
            || format!("{restored:?}"),
        )?;
    }
    // Restored: the link answers again.
    let again = cluster
        .impair(&Links::link(follower, leader.as_str()), &delay)
        .await
        .map_err(|e| e.to_string())?;
    check(connect_times(&again.confirmed[0])?.0.is_some(), || {
        format!("still cut after restore: {:?}", again.confirmed)
    })?;
    cluster.restore(again.id).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Puts `fault` on every link for `polls` of the observer's cycles (half a
/// second each at least, for the cluster's own traffic to go through),
/// removes it, and adds up what its rules counted: the packets, and what
/// `pick` reads of each restore line besides.
async fn counted_under(
    cluster: &mut ManualCluster<RaftKv>,
    raft: &ObservationHandle<RaftObserver>,
    fault: &LinkFault,
    polls: usize,
    pick: impl Fn(&str) -> (u64, u64),
) -> Result<(u64, u64), Failed> {
    let everywhere = Around::Everywhere.links("node-0", &cluster.nodes());
    let impaired = cluster
        .impair(&everywhere, fault)
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..polls {
        // The observer's polls go through the runner's access, not the
        // shaped links: a wait on its cycles paces the count. The sleep
        // below is the fault being held over the cluster's own traffic,
        // not a wait for state.
        cluster
            .wait_until(
                raft,
                "a poll",
                Duration::from_secs(20),
                |_: &RaftSnapshot| true,
            )
            .await
            .map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut total = (0, 0);
    for line in cluster
        .restore(impaired.id)
        .await
        .map_err(|e| e.to_string())?
    {
        let (packets, counted) = pick(&line);
        total = (total.0 + packets, total.1 + counted);
    }
    Ok(total)
}

/// Whether `(packets, counted)` is at least `least` packets of which
/// `percent` +/- `tolerance` % were `what`.
fn about(
    (packets, counted): (u64, u64),
    least: u64,
    percent: f64,
    tolerance: f64,
    what: &str,
) -> Result<(), Failed> {
    let share = counted as f64 * 100.0 / packets.max(1) as f64;
    check(
        packets >= least && (share - percent).abs() <= tolerance,
        || {
            format!(
                "{counted} of {packets} packets {what} ({share:.1}%), expected about {percent}%"
            )
        },
    )
}

/// The test's own reading of the lines, checked without an engine.
pub(crate) fn confirmation_lines_are_read() -> Result<(), Failed> {
    check(
        connect_times("node-0 -> node-1: connect 0.1ms -> no answer")? == (Some(0.1), None),
        || "connect times".into(),
    )?;
    check(
        counted("node-0 -> node-1,node-2: 812 packets, 41 dropped (5.0%), 771 delayed")
            == (812, 41),
        || "counters".into(),
    )?;
    check(
        counters("node-0 -> node-1: 400 packets, 121 duplicated (30.2%)") == (400, 0, 121),
        || "duplicates".into(),
    )?;
    check(counted("node-0 -> node-1: 0 packets") == (0, 0), || {
        "no packets".into()
    })
}
