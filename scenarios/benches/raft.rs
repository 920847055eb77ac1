//! Benchmarks of the Raft scenario on local processes and, when a Docker
//! engine is there, in containers (compose), printed as a Markdown table for
//! the performance page (guide/src/performance.md). Run: `cargo bench -p scenarios --bench raft` (node binaries
//! are built beforehand, so compilation is not measured).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openraft_kv_tf::scenarios::{FailoverOptions, raft_failover, raft_observation};
use openraft_kv_tf::{RaftEvent, RaftKv, RaftObserver};
use parking_lot::Mutex;
use tf_compose::sweep::remove_images;
use tf_compose::{ComposeDeployer, build_image};
use tf_core::BoxError;
use tf_core::checker::{CheckOptions, KeyValue, check_linearizable};
use tf_core::history::{ClientStats, HISTORY_FILE, export_edn, operations, read_history};
use tf_core::scenario::{
    Application, Deployer, NodeAction, RunContext, RunOptions, Scenario, Workload, run,
};
use tf_local::LocalDeployer;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { 5 };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    if quick {
        println!(
            "smoke run: one short sample each; not measurements. Measure with `cargo bench -p scenarios --bench raft`.\n"
        );
    }
    let local = LocalDeployer::new().with_runs_root(tmp.path().join("local"));
    let compose = ComposeDeployer::new().with_runs_root(tmp.path().join("compose"));
    let mut deployers: Vec<&dyn Deployer> = vec![&local];
    match rt.block_on(tf_compose::docker_available()) {
        Ok(()) => deployers.push(&compose),
        Err(why) => println!("compose rows skipped: {why}\n"),
    }
    println!("| measurement | deployer | median | range ({runs} runs) | target |");
    println!("|---|---|---|---|---|");
    if deployers.len() > 1 {
        images(&rt, runs);
    }
    for deployer in deployers {
        measure(&rt, deployer, runs, quick);
    }
}

/// Image builds of the Raft node: cold (no image of that content yet) and
/// warm (the image is there: the context is assembled and hashed, then
/// found).
fn images(rt: &tokio::runtime::Runtime, runs: usize) {
    let binary = tf_core::deployer_kit::binary::resolve(&RaftKv::default().binary()).unwrap();
    let docker = rt.block_on(tf_compose::connect()).unwrap();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..runs {
        let tag = rt.block_on(build_image(&docker, &binary)).unwrap().tag;
        rt.block_on(remove_images(std::slice::from_ref(&tag)))
            .unwrap();
        let started = Instant::now();
        let built = rt.block_on(build_image(&docker, &binary)).unwrap();
        cold.push(ms(started));
        assert!(built.built);
        let started = Instant::now();
        let found = rt.block_on(build_image(&docker, &binary)).unwrap();
        warm.push(ms(started));
        assert!(!found.built);
    }
    let size = std::fs::metadata(&binary)
        .map(|m| m.len() >> 20)
        .unwrap_or(0);
    row(
        &format!("image build, cold ({size} MiB node binary + libraries)"),
        "compose",
        cold,
        "ms",
        "—",
    );
    row(
        "image build, warm (same content: found, not rebuilt)",
        "compose",
        warm,
        "ms",
        "—",
    );
}

fn measure(rt: &tokio::runtime::Runtime, deployer: &dyn Deployer, runs: usize, quick: bool) {
    let name = deployer.name().to_owned();
    // Time from `run` to all nodes ready (nodes up and a leader known).
    // The first run is not counted: it may build the node binary or image.
    let mut ready = Vec::new();
    for sample in 0..=runs {
        let scenario = Scenario::builder("bench-ready", RaftKv::default())
            .duration(Duration::from_millis(100))
            .cooldown(Duration::ZERO)
            .build()
            .unwrap();
        let report = rt.block_on(run(scenario, deployer, RunOptions::default()));
        assert!(report.passed(), "{report:#?}");
        if sample > 0 {
            ready.push((report.timings.deploy_ms + report.timings.ready_ms) as f64);
        }
    }
    row(
        "`run` to 3 nodes ready (deploy + leader known)",
        &name,
        ready,
        "ms",
        "< 2000 ms local",
    );

    let app = RaftKv::default();
    let bound = app.election_timeout.1 + raft_observation().poll_interval;
    let mut faults = vec![Fault::Kill];
    if deployer.supports(NodeAction::Partition) {
        faults.push(Fault::Partition);
    }
    for fault in faults {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let probes = if quick { 1 } else { 8 };
        let scenario = Scenario::builder("bench-failover", RaftKv::default())
            .duration(Duration::from_secs(if quick { 8 } else { 40 }))
            .cooldown(Duration::ZERO)
            .observer(RaftObserver, raft_observation())
            .workload(FailoverProbe {
                fault,
                probes,
                samples: Arc::clone(&samples),
            })
            .build()
            .unwrap();
        let report = rt.block_on(run(scenario, deployer, RunOptions::default()));
        assert!(report.workload_failures.is_empty(), "{report:#?}");
        let latencies: Vec<f64> = samples
            .lock()
            .iter()
            .map(|d: &Duration| d.as_secs_f64() * 1000.0)
            .collect();
        let n = latencies.len();
        let what = match fault {
            Fault::Kill => {
                format!("failover detection: leader SIGKILL to observed new leader ({n} failovers)")
            }
            Fault::Partition => format!(
                "partition detection: leader cut off to observed new leader ({n} partitions)"
            ),
        };
        row(
            &what,
            &name,
            latencies,
            "ms",
            &format!("< {} ms (election timeout max + poll)", bound.as_millis()),
        );
    }

    // The whole raft-failover scenario, and what its client history costs.
    let mut wall = Vec::new();
    let (mut stats, mut export, mut check, mut ops) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for _ in 0..runs.min(3) {
        let scenario = raft_failover(&FailoverOptions::default()).unwrap();
        let started = Instant::now();
        let report = rt.block_on(run(scenario, deployer, RunOptions::default()));
        assert!(report.passed(), "{report:#?}");
        wall.push(ms(started));
        let history = report.run_dir.as_ref().unwrap().join(HISTORY_FILE);
        let started = Instant::now();
        ClientStats::of_file(&history, Some(report.timings.run_ms)).unwrap();
        stats.push(ms(started));
        let started = Instant::now();
        export_edn(&history, &history.with_extension("bench.edn")).unwrap();
        export.push(ms(started));
        let events = read_history(&history).unwrap();
        let operations = operations(&events).unwrap();
        ops = operations.len();
        let started = Instant::now();
        let linearizable = check_linearizable(&KeyValue, &operations, &CheckOptions::default());
        assert!(linearizable.unwrap().is_linearizable());
        check.push(ms(started));
    }
    row(
        "whole raft-failover scenario (15 s window), wall time",
        &name,
        wall,
        "ms",
        "—",
    );
    let of_history = format!("its history ({ops} client operations)");
    row(
        &format!("client statistics of {of_history}"),
        &name,
        stats,
        "ms",
        "—",
    );
    row(
        &format!("EDN export of {of_history}"),
        &name,
        export,
        "ms",
        "—",
    );
    row(
        &format!("linearizability check of {of_history}"),
        &name,
        check,
        "ms",
        "—",
    );
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn row(name: &str, deployer: &str, mut values: Vec<f64>, unit: &str, target: &str) {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        println!("| {name} | {deployer} | no sample | — | {target} |");
        return;
    }
    let median = values[values.len() / 2];
    println!(
        "| {name} | {deployer} | {median:.0} {unit} | {:.0} – {:.0} {unit} | {target} |",
        values[0],
        values[values.len() - 1]
    );
}

/// How a probe takes the leader away.
#[derive(Clone, Copy)]
enum Fault {
    Kill,
    Partition,
}

/// Kills (or cuts off) the leader `probes` times, timing each failover as
/// observed.
struct FailoverProbe {
    fault: Fault,
    probes: usize,
    samples: Arc<Mutex<Vec<Duration>>>,
}

#[async_trait]
impl Workload<RaftKv> for FailoverProbe {
    fn name(&self) -> &str {
        "failover-probe"
    }

    async fn run(&self, ctx: &RunContext<RaftKv>) -> Result<(), BoxError> {
        let raft = ctx.observer::<RaftObserver>()?;
        let settle = Duration::from_secs(15);
        for _ in 0..self.probes {
            if ctx.is_over() {
                break;
            }
            // Start from a settled cluster: every node up and caught up, so
            // that no candidate is held back for having a shorter log.
            let before = raft
                .wait_until(|s| s.leader.is_some() && s.converged(), settle)
                .await?;
            let Some(old) = before.snapshot.leader.clone() else {
                continue;
            };
            let cursor = raft.cursor();
            let killed = Instant::now();
            match self.fault {
                Fault::Kill => ctx.control().kill(&old.node).await?,
                Fault::Partition => {
                    ctx.control()
                        .partition(std::slice::from_ref(&old.node))
                        .await?
                }
            }
            raft.wait_for_event_from(
                cursor,
                |e| matches!(e, RaftEvent::LeaderChanged { to: Some(new), .. } if new.id != old.id),
                settle,
            )
            .await?;
            self.samples.lock().push(killed.elapsed());
            match self.fault {
                Fault::Kill => ctx.control().start(&old.node).await?,
                Fault::Partition => ctx.control().heal().await?,
            }
            raft.wait_until(|s| s.unreachable().is_empty(), settle)
                .await?;
        }
        ctx.over().await;
        Ok(())
    }
}
