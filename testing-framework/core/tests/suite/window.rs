//! One window engine for a scenario run, a replay and a manual cluster's
//! drive: the same handling of a panicking workload, of one that ignores
//! the end of its window, and of the client history.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tf_core::BoxError;
use tf_core::history::{EDN_FILE, HISTORY_FILE, read_history};
use tf_core::manual::ManualCluster;
use tf_core::report::*;
use tf_core::scenario::*;
use tf_core::testing::{FakeApp, FakeDeployer};

/// Panics, fails, ignores the end of its window, or records `n` writes.
enum Behaviour {
    Panic,
    IgnoreTheEnd,
    Record(u64),
}

struct Client(Behaviour);

#[async_trait]
impl Workload<FakeApp> for Client {
    fn name(&self) -> &str {
        match self.0 {
            Behaviour::Panic => "panicking",
            Behaviour::IgnoreTheEnd => "deaf",
            Behaviour::Record(_) => "recording",
        }
    }

    async fn run(&self, ctx: &RunContext<FakeApp>) -> Result<(), BoxError> {
        match self.0 {
            Behaviour::Panic => panic!("workload bug"),
            Behaviour::IgnoreTheEnd => loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
            },
            Behaviour::Record(n) => {
                let mut client = ctx.history().client();
                for i in 0..n {
                    let op = client.invoke("write", json!(["k", i]));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    op.ok(json!(["k", i]));
                }
                ctx.over().await;
                Ok(())
            }
        }
    }
}

/// Holds when the run's history has `n` completed writes.
struct Writes(usize);

#[async_trait]
impl Expectation<FakeApp> for Writes {
    fn name(&self) -> &str {
        "the history holds every write"
    }
    fn timing(&self) -> Timing {
        Timing::AtEnd
    }
    async fn check(&self, ctx: &RunContext<FakeApp>) -> Result<(), Violation> {
        let events = ctx
            .history()
            .events()
            .map_err(|e| Violation::new(e.to_string()))?;
        let oks = events
            .iter()
            .filter(|e| e.kind == tf_core::history::EventKind::Ok)
            .count();
        if oks == self.0 {
            Ok(())
        } else {
            Err(Violation::new(format!("{oks} writes, not {}", self.0)))
        }
    }
}

fn workloads(behaviours: Vec<Behaviour>) -> Vec<Arc<dyn Workload<FakeApp>>> {
    behaviours
        .into_iter()
        .map(|b| Arc::new(Client(b)) as Arc<dyn Workload<FakeApp>>)
        .collect()
}

async fn manual(dir: &tempfile::TempDir) -> ManualCluster<FakeApp> {
    let deployer = FakeDeployer::new(dir.path().join("run"));
    ManualCluster::start(Arc::new(FakeApp::default()), &deployer, "drive", 2)
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_panicking_workload_fails_a_drive_instead_of_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = manual(&dir).await;
    let error = cluster
        .drive(&workloads(vec![Behaviour::Panic]), Duration::from_secs(1))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("workload `panicking` failed: panicked: workload bug"),
        "{error}"
    );
    cluster.cleanup().await;
}

#[tokio::test(start_paused = true)]
async fn a_workload_that_ignores_the_end_of_its_window_is_cut_off_in_a_drive_and_in_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = manual(&dir).await;
    let error = cluster
        .drive(
            &workloads(vec![Behaviour::IgnoreTheEnd]),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("workload `deaf` failed: did not stop within 10s"),
        "{error}"
    );
    cluster.cleanup().await;

    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let scenario = Scenario::builder("deaf", FakeApp::default())
        .duration(Duration::from_secs(1))
        .workload(Client(Behaviour::IgnoreTheEnd))
        .build()
        .unwrap();
    let report = run(scenario, &deployer, RunOptions::default()).await;
    assert_eq!(report.verdict, Verdict::Failed);
    assert_eq!(report.workload_failures.len(), 1, "{report:#?}");
    assert_eq!(report.workload_failures[0].name, "deaf");
    assert!(deployer.cleaned_up());
}

#[tokio::test(start_paused = true)]
async fn a_run_streams_its_client_history_and_a_replay_judges_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let scenario = || {
        Scenario::builder("history", FakeApp::default())
            .duration(Duration::from_secs(2))
            .workload(Client(Behaviour::Record(50)))
            .expect(Writes(50))
            .build()
            .unwrap()
    };
    let report = run(scenario(), &deployer, RunOptions::default()).await;
    report.assert_passed();
    let run_dir = dir.path().join("run");
    let events = read_history(&run_dir.join(HISTORY_FILE)).unwrap();
    assert_eq!(events.len(), 100);
    assert_eq!(read_history(&run_dir.join(EDN_FILE)).unwrap(), events);

    let replayed = replay(scenario(), &run_dir).await.unwrap();
    assert!(replayed.passed(), "{replayed:#?}");
    assert_eq!(replayed.expectations[0].passed, Some(true));

    // It judges what was recorded: a history cut short fails it.
    let text = std::fs::read_to_string(run_dir.join(HISTORY_FILE)).unwrap();
    let first_ten: String = text.lines().take(10).map(|l| format!("{l}\n")).collect();
    std::fs::write(run_dir.join(HISTORY_FILE), first_ten).unwrap();
    let replayed = replay(scenario(), &run_dir).await.unwrap();
    assert_eq!(replayed.expectations[0].passed, Some(false));
    assert_eq!(
        replayed.expectations[0].reason.as_deref(),
        Some("5 writes, not 50")
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_whose_clients_recorded_nothing_leaves_no_history_file() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let scenario = Scenario::builder("quiet", FakeApp::default())
        .duration(Duration::from_secs(1))
        .build()
        .unwrap();
    run(scenario, &deployer, RunOptions::default())
        .await
        .assert_passed();
    assert!(!dir.path().join("run").join(HISTORY_FILE).exists());
}

#[tokio::test(start_paused = true)]
async fn a_manual_cluster_keeps_one_history_across_drives() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = manual(&dir).await;
    for _ in 0..2 {
        cluster
            .drive(
                &workloads(vec![Behaviour::Record(5)]),
                Duration::from_secs(1),
            )
            .await
            .unwrap();
    }
    assert_eq!(cluster.history().len(), 20);
    let path = cluster.run_dir().join(HISTORY_FILE);
    cluster.cleanup().await;
    let events = read_history(&path).unwrap();
    assert_eq!(events.len(), 20);
    // Two drives, two clients: two processes.
    let processes: std::collections::BTreeSet<u64> = events.iter().map(|e| e.process).collect();
    assert_eq!(processes.len(), 2);
}

/// Writes every 50 ms for its window, with a fault marked from 200 to 400 ms.
struct WritesThroughAFault;

#[async_trait]
impl Workload<FakeApp> for WritesThroughAFault {
    fn name(&self) -> &str {
        "w"
    }

    async fn run(&self, ctx: &RunContext<FakeApp>) -> Result<(), BoxError> {
        let mut client = ctx.history().client_for("w");
        let mut fault = None;
        for n in 0u64.. {
            if ctx.is_over() {
                break;
            }
            match n {
                4 => fault = Some(ctx.begin_fault("w", "a fault")),
                8 => ctx.end_fault(fault.take().unwrap()),
                _ => {}
            }
            client.invoke("write", json!(["k", n])).ok(json!(["k", n]));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_manual_cluster_judges_objectives_over_its_whole_life_and_its_faults() {
    use tf_core::checker::AvailabilitySlo;
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = manual(&dir).await;
    // The cluster has lived a second before the drive: its faults must be
    // put on the history's clock, not the drive's (paused time).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let drive: Vec<Arc<dyn Workload<FakeApp>>> = vec![Arc::new(WritesThroughAFault)];
    cluster.drive(&drive, Duration::from_secs(2)).await.unwrap();
    cluster
        .check(&AvailabilitySlo::new(Duration::from_millis(100)).of("w"))
        .await
        .unwrap();
    cluster.cleanup().await;
}
