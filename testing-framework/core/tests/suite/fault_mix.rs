//! Seeded fault schedules on in-memory nodes: a fault mix writes its
//! schedule before the first fault, the same seed gives the same faults
//! on the same nodes, a given schedule is replayed exactly, and a schedule
//! that cannot be replayed is refused before any node starts.

use std::path::PathBuf;
use std::time::Duration;

use tf_core::report::RunReport;
use tf_core::scenario::{RunOptions, Scenario, run};
use tf_core::testing::{FakeApp, FakeDeployer, HeightObserver, fake_observation};
use tf_core::workloads::{FaultKind, FaultMix, NodeFault, Schedule, Scheduled};

fn scenario() -> Scenario<FakeApp> {
    Scenario::builder("mixed", FakeApp::default())
        .nodes(4)
        .duration(Duration::from_secs(40))
        .observer(HeightObserver, fake_observation())
        .workload(NodeFault::mix(
            "nemesis",
            FaultMix::new([FaultKind::Kill, FaultKind::Pause, FaultKind::Restart]).per_minute(20.0),
        ))
        .build()
        .unwrap()
}

/// Runs the scenario with `seed` (and `schedule`); its report, the
/// deployer's actions, and the schedule it wrote.
async fn mixed(seed: u64, schedule: Option<PathBuf>) -> (RunReport, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let options = RunOptions {
        seed: Some(seed),
        schedule,
        ..RunOptions::default()
    };
    let report = run(scenario(), &deployer, options).await;
    let written =
        std::fs::read_to_string(dir.path().join("run").join("schedule.json")).unwrap_or_default();
    (report, deployer.actions(), written)
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_faults_on_the_same_nodes() {
    let (first, actions, written) = mixed(11, None).await;
    first.assert_passed();
    assert_eq!(first.seed, Some(11));
    assert!(
        first
            .to_string()
            .contains("seed: 11 (rerun with --seed 11)")
    );
    assert!(actions.len() >= 6, "{actions:?}");
    let schedule: Schedule = serde_json::from_str(&written).unwrap();
    assert_eq!(schedule.workload, "nemesis");
    assert_eq!(schedule.faults.len() * 2, actions.len(), "{actions:?}");
    let (_, again, written_again) = mixed(11, None).await;
    assert_eq!(actions, again);
    assert_eq!(written, written_again);
    let (_, other, _) = mixed(12, None).await;
    assert_ne!(actions, other);
}

#[tokio::test(start_paused = true)]
async fn a_given_schedule_is_replayed_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.json");
    Schedule {
        workload: "nemesis".into(),
        seed: None,
        at_once: 1,
        faults: vec![
            Scheduled {
                at: Duration::from_secs(2),
                hold: Duration::from_secs(1),
                target: "node-3".into(),
                fault: FaultKind::Kill,
            },
            Scheduled {
                at: Duration::from_secs(6),
                hold: Duration::from_secs(2),
                target: "node-1".into(),
                fault: FaultKind::Pause,
            },
        ],
    }
    .write(&path)
    .unwrap();
    let (report, actions, _) = mixed(99, Some(path)).await;
    report.assert_passed();
    assert_eq!(
        actions,
        [
            "kill node-3",
            "start node-3",
            "pause node-1",
            "resume node-1"
        ]
    );
    assert!(
        report
            .timeline
            .iter()
            .any(|e| e.what.starts_with("2 faults replayed from")),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_schedule_that_cannot_be_replayed_is_refused_before_any_node_starts() {
    let dir = tempfile::tempdir().unwrap();
    let bad_node = dir.path().join("bad-node.json");
    std::fs::write(
        &bad_node,
        r#"{"workload": "nemesis", "faults": [{"at": "1s", "hold": "1s", "target": "node-7", "fault": "kill"}]}"#,
    )
    .unwrap();
    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"workload": "chaos", "faults": []}"#).unwrap();
    let garbled = dir.path().join("garbled.json");
    std::fs::write(&garbled, "kill node-1 at 3s").unwrap();
    for (path, expected) in [
        (
            bad_node,
            "fault 1 of the schedule (node-7 at 1s): `node-7` is not a node",
        ),
        (
            other,
            "is the schedule of workload `chaos`, which this scenario does not have (it has: nemesis)",
        ),
        (garbled, "is not a fault schedule"),
    ] {
        let (report, actions, _) = mixed(1, Some(path)).await;
        let said = report.to_string();
        assert!(
            said.contains("the given schedule cannot be replayed"),
            "{said}"
        );
        assert!(said.contains(expected), "{said}");
        assert!(actions.is_empty(), "{actions:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn overlapping_faults_run_at_once_up_to_their_limit() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let scenario = Scenario::builder("overlapping", FakeApp::default())
        .nodes(5)
        .duration(Duration::from_secs(60))
        .observer(HeightObserver, fake_observation())
        .workload(NodeFault::mix(
            "nemesis",
            FaultMix::new([FaultKind::Kill, FaultKind::Pause])
                .per_minute(40.0)
                .at_once(2),
        ))
        .build()
        .unwrap();
    let options = RunOptions {
        seed: Some(3),
        ..RunOptions::default()
    };
    let report = run(scenario, &deployer, options).await;
    report.assert_passed();
    let written = std::fs::read_to_string(dir.path().join("run").join("schedule.json")).unwrap();
    let schedule: Schedule = serde_json::from_str(&written).unwrap();
    assert_eq!(schedule.at_once, 2);
    // The nodes down, action by action: two at once at times, never more,
    // and every node back at the end.
    let mut down: Vec<String> = Vec::new();
    let mut most = 0;
    for action in deployer.actions() {
        let (verb, node) = action.split_once(' ').unwrap();
        match verb {
            "kill" | "pause" => {
                assert!(!down.contains(&node.to_owned()), "{action} twice");
                down.push(node.to_owned());
            }
            "start" | "resume" => down.retain(|n| n != node),
            other => panic!("unexpected action {other}"),
        }
        most = most.max(down.len());
    }
    assert_eq!(most, 2, "{:?}", deployer.actions());
    assert!(down.is_empty(), "{down:?}");
    // The report's fault windows overlap too.
    let overlapping = report.faults.iter().enumerate().any(|(i, f)| {
        report.faults[..i]
            .iter()
            .any(|g| g.end_ms.is_some_and(|end| end > f.start_ms))
    });
    assert!(overlapping, "{:?}", report.faults);
    // Each window names the node it struck, for the schedule's rows.
    assert!(
        report
            .faults
            .iter()
            .all(|f| f.nodes.len() == 1 && f.what.starts_with(&f.nodes[0])),
        "{:?}",
        report.faults
    );
    let html = std::fs::read_to_string(dir.path().join("run").join("report.html")).unwrap();
    assert!(html.contains("the fault schedule, a row a node"));
}
