//! How long each fault takes to apply and to remove on compose, how long
//! a Raft cluster takes to replace a leader that cannot hear, and how soon
//! a SIGKILLed runner's containers are gone (its reaper), printed
//! as Markdown rows for the performance page (guide/src/performance.md). Needs a Docker engine (and libfaketime
//! for the clock row). Run: `cargo bench -p scenarios --bench faults`.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft_kv_tf::scenarios::raft_observation;
use openraft_kv_tf::{RaftKv, RaftObserver, RaftSnapshot};
use tf_compose::ComposeDeployer;
use tf_core::fault::{ClockFault, LinkFault, Links};
use tf_core::manual::ManualCluster;
use tf_core::scenario::Deployer;
use tf_core::scenario::deploy::DeploymentRequest;
use tf_core::workloads::Around;

fn main() {
    // The runner the reaper rows kill: it deploys a cluster and waits.
    if let Some(dir) = std::env::args().skip_while(|a| a != HOLD).nth(1) {
        hold(Path::new(&dir));
        return;
    }
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { 5 };
    let rt = tokio::runtime::Runtime::new().unwrap();
    if let Err(why) = rt.block_on(tf_compose::docker_available()) {
        println!("fault bench skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let deployer = ComposeDeployer::new().with_runs_root(tmp.path());
    rt.block_on(async {
        let mut cluster =
            ManualCluster::start_with_clocks(Arc::new(RaftKv::default()), &deployer, "faults", 3)
                .await
                .unwrap();
        let raft = cluster.observe(RaftObserver, raft_observation()).unwrap();
        cluster.wait_ready(Duration::from_secs(60)).await.unwrap();
        println!("| fault (compose, 3 nodes) | apply, median | remove, median | runs |");
        println!("|---|---|---|---|");
        // The helpers start with the first fault: not measured.
        let warm = cluster
            .impair(&Links::Egress("node-0".into()), &LinkFault::cut())
            .await
            .unwrap();
        cluster.restore(warm.id).await.unwrap();
        for node in ["node-1", "node-2"] {
            let warm = cluster
                .impair(&Links::Egress(node.into()), &LinkFault::cut())
                .await
                .unwrap();
            cluster.restore(warm.id).await.unwrap();
        }
        let link = Links::link("node-0", "node-1");
        let ms = Duration::from_millis;
        let kinds: Vec<(&str, Links, LinkFault)> = vec![
            ("cut, one link", link.clone(), LinkFault::cut()),
            ("50 ms delay, one link", link.clone(), LinkFault::delay(ms(50))),
            ("5 % loss, one link", link.clone(), LinkFault::default().loss(5.0)),
            ("30 % duplicated, one link", link.clone(), LinkFault::default().duplicate(30.0)),
            ("64 kbit/s, one link", link.clone(), LinkFault::default().rate_kbit(64)),
            ("node cannot hear (2 links, 2 senders)", Links::Ingress("node-0".into()), LinkFault::cut()),
            (
                "slow links everywhere (6 links, 3 senders)",
                Around::Everywhere.links("node-0", &cluster.nodes()),
                LinkFault::delay(ms(20)).jitter(ms(5)),
            ),
        ];
        for (name, links, fault) in kinds {
            let (apply, remove) = timed(runs, || async {
                let started = Instant::now();
                let id = cluster.impair(&links, &fault).await.unwrap().id;
                let applied = started.elapsed();
                let started = Instant::now();
                cluster.restore(id).await.unwrap();
                (applied, started.elapsed())
            })
            .await;
            row(name, &apply, &remove);
        }
        let (apply, remove) = timed(runs, || async {
            let started = Instant::now();
            cluster.partition(&["node-2".into()]).await.unwrap();
            let applied = started.elapsed();
            let started = Instant::now();
            cluster.heal().await.unwrap();
            (applied, started.elapsed())
        })
        .await;
        row("partition (node-2 from the rest), a network move, confirmed", &apply, &remove);
        let (apply, remove) = timed(runs, || async {
            let started = Instant::now();
            cluster
                .set_clock("node-2", &ClockFault::ahead(Duration::from_secs(2)))
                .await
                .unwrap();
            let applied = started.elapsed();
            let started = Instant::now();
            cluster.set_clock("node-2", &ClockFault::default()).await.unwrap();
            (applied, started.elapsed())
        })
        .await;
        row("clock 2 s ahead (the setting written)", &apply, &remove);
        let (apply, remove) = timed(runs, || async {
            let started = Instant::now();
            cluster.pause("node-2").await.unwrap();
            let applied = started.elapsed();
            let started = Instant::now();
            cluster.resume("node-2").await.unwrap();
            (applied, started.elapsed())
        })
        .await;
        row("pause / resume", &apply, &remove);
        let (apply, remove) = timed(runs, || async {
            let started = Instant::now();
            cluster.kill("node-2").await.unwrap();
            let applied = started.elapsed();
            let started = Instant::now();
            cluster.start_node("node-2").await.unwrap();
            (applied, started.elapsed())
        })
        .await;
        row("kill / start", &apply, &remove);

        // A leader that cannot hear: from the cut in force to another
        // leader observed.
        let mut changes = Vec::new();
        for _ in 0..runs {
            let settled = cluster
                .wait_until(&raft, "a leader", Duration::from_secs(30), |s: &RaftSnapshot| {
                    s.leader.is_some() && s.unreachable().is_empty()
                })
                .await
                .unwrap();
            let old = settled.snapshot.leader.clone().unwrap();
            let id = cluster
                .impair(&Links::Ingress(old.node.clone()), &LinkFault::cut())
                .await
                .unwrap()
                .id;
            let cut = Instant::now();
            let old_id = old.id;
            cluster
                .wait_until(&raft, "another leader", Duration::from_secs(30), move |s: &RaftSnapshot| {
                    s.leader.as_ref().is_some_and(|l| l.id != old_id)
                })
                .await
                .unwrap();
            changes.push(cut.elapsed());
            cluster.restore(id).await.unwrap();
            // The old leader follows again before the next cut.
            cluster
                .wait_until(&raft, "one leader all follow", Duration::from_secs(30), |s: &RaftSnapshot| {
                    s.converged()
                })
                .await
                .unwrap();
        }
        println!();
        println!(
            "one-way cut of the leader's way in to another leader observed: median {:.2} s (range {:.2}-{:.2} s, {runs} runs; election timeout 400-800 ms, observed every 100 ms)",
            median(&changes).as_secs_f64(),
            changes.iter().min().unwrap().as_secs_f64(),
            changes.iter().max().unwrap().as_secs_f64()
        );
        cluster.cleanup().await;
    });
    // A runner killed: from the SIGKILL to nothing of its run left.
    let mut reaped = Vec::new();
    for _ in 0..runs {
        let dir = tmp.path().join(format!("reaped-{}", reaped.len()));
        let mut runner = std::process::Command::new(std::env::current_exe().unwrap())
            .args([HOLD, &dir.display().to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(runner.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "held", "the runner did not deploy");
        runner.kill().unwrap();
        let killed = Instant::now();
        runner.wait().unwrap();
        let left = rt
            .block_on(tf_compose::sweep::gone_within(
                &dir,
                Duration::from_secs(30),
            ))
            .unwrap();
        assert!(left.is_empty(), "left 30 s after a SIGKILL: {left:?}");
        reaped.push(killed.elapsed());
    }
    println!(
        "\na SIGKILLed runner's 4 containers and 2 networks removed by its reaper: median {:.2} s (range {:.2}-{:.2} s, {runs} runs)",
        median(&reaped).as_secs_f64(),
        reaped.iter().min().unwrap().as_secs_f64(),
        reaped.iter().max().unwrap().as_secs_f64()
    );
    if quick {
        println!(
            "\n(smoke run: one sample each; `cargo bench -p scenarios --bench faults` measures)"
        );
    }
}

/// The argument that makes this binary the runner the reaper rows kill.
const HOLD: &str = "--hold-a-cluster";

/// Deploys 3 Raft nodes on compose in `dir`, says `held`, and waits to be
/// killed.
fn hold(dir: &Path) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let request = DeploymentRequest::new(Arc::new(RaftKv::default()), "reaped", 3)
        .with_run_dir(Some(dir.to_owned()));
    let cluster = rt
        .block_on(ComposeDeployer::new().deploy(&request))
        .unwrap();
    println!("held");
    loop {
        std::thread::park();
        let _ = &cluster;
    }
}

async fn timed<F, Fut>(runs: usize, mut once: F) -> (Vec<Duration>, Vec<Duration>)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = (Duration, Duration)>,
{
    let (mut apply, mut remove) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (a, r) = once().await;
        apply.push(a);
        remove.push(r);
    }
    (apply, remove)
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn row(name: &str, apply: &[Duration], remove: &[Duration]) {
    println!(
        "| {name} | {:.0} ms | {:.0} ms | {} |",
        median(apply).as_secs_f64() * 1000.0,
        median(remove).as_secs_f64() * 1000.0,
        apply.len()
    );
}
