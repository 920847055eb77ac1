//! Benchmarks of the Raft scenario on local processes, printed as a
//! Markdown table for the README. Run: `cargo bench -p scenarios --bench raft`
//! (node binaries are built beforehand, so compilation is not measured).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use openraft_kv_tf::scenarios::{FailoverOptions, raft_failover, raft_observation};
use openraft_kv_tf::{RaftEvent, RaftKv, RaftObserver};
use parking_lot::Mutex;
use tf_core::observation::BoxError;
use tf_core::scenario::{RunContext, RunOptions, Scenario, Workload, run};
use tf_local::LocalDeployer;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let runs = if quick { 1 } else { 5 };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let deployer = LocalDeployer::new().with_runs_root(tmp.path());
    if quick {
        println!(
            "smoke run: one short sample each; not measurements. Measure with `cargo bench -p scenarios --bench raft`.\n"
        );
    }
    println!("| measurement | median | range ({runs} runs) | target |");
    println!("|---|---|---|---|");

    // Time from `run` to all nodes ready (processes up and a leader known).
    // The first run is not counted: it may build the node binary.
    let mut ready = Vec::new();
    for sample in 0..=runs {
        let scenario = Scenario::builder("bench-ready", RaftKv::default())
            .duration(Duration::from_millis(100))
            .cooldown(Duration::ZERO)
            .build()
            .unwrap();
        let report = rt.block_on(run(scenario, &deployer, RunOptions::default()));
        assert!(report.passed(), "{report:#?}");
        if sample > 0 {
            ready.push((report.timings.deploy_ms + report.timings.ready_ms) as f64);
        }
    }
    row(
        "`run` to 3 nodes ready (deploy + leader known)",
        ready,
        "ms",
        "< 2000 ms",
    );

    // Failover detection: SIGKILL of the leader to the observer's event
    // naming another leader.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let probes = if quick { 1 } else { 8 };
    let app = RaftKv::default();
    let bound = app.election_timeout.1 + raft_observation().poll_interval;
    let scenario = Scenario::builder("bench-failover", app)
        .duration(Duration::from_secs(if quick { 6 } else { 30 }))
        .cooldown(Duration::ZERO)
        .observer(RaftObserver, raft_observation())
        .workload(FailoverProbe {
            probes,
            samples: Arc::clone(&samples),
        })
        .build()
        .unwrap();
    let report = rt.block_on(run(scenario, &deployer, RunOptions::default()));
    assert!(report.workload_failures.is_empty(), "{report:#?}");
    let latencies: Vec<f64> = samples
        .lock()
        .iter()
        .map(|d: &Duration| d.as_secs_f64() * 1000.0)
        .collect();
    let n = latencies.len();
    row(
        &format!("failover detection: leader SIGKILL to observed new leader ({n} failovers)"),
        latencies,
        "ms",
        &format!("< {} ms (election timeout max + poll)", bound.as_millis()),
    );

    // The whole raft-failover scenario.
    let mut wall = Vec::new();
    for _ in 0..runs.min(3) {
        let scenario = raft_failover(&FailoverOptions::default()).unwrap();
        let started = Instant::now();
        let report = rt.block_on(run(scenario, &deployer, RunOptions::default()));
        assert!(report.passed(), "{report:#?}");
        wall.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    row(
        "whole raft-failover scenario (15 s window), wall time",
        wall,
        "ms",
        "—",
    );
}

fn row(name: &str, mut values: Vec<f64>, unit: &str, target: &str) {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        println!("| {name} | no sample | — | {target} |");
        return;
    }
    let median = values[values.len() / 2];
    println!(
        "| {name} | {median:.0} {unit} | {:.0} – {:.0} {unit} | {target} |",
        values[0],
        values[values.len() - 1]
    );
}

/// Kills the leader `probes` times, timing each failover as observed.
struct FailoverProbe {
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
            ctx.control().kill(&old.node).await?;
            raft.wait_for_event_from(
                cursor,
                |e| matches!(e, RaftEvent::LeaderChanged { to: Some(new), .. } if new.id != old.id),
                settle,
            )
            .await?;
            self.samples.lock().push(killed.elapsed());
            ctx.control().start(&old.node).await?;
            raft.wait_until(|s| s.unreachable().is_empty(), settle)
                .await?;
        }
        ctx.over().await;
        Ok(())
    }
}
