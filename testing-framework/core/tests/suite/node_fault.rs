//! The framework's fault workload on in-memory nodes: each fault is
//! confirmed through observation, nodes come back, and a deployer that
//! cannot pause or partition is refused before anything starts.

use std::time::Duration;

use tf_core::report::{RunReport, TimelineKind, Verdict};
use tf_core::scenario::{
    AtEnd, NodeAction, RecoversWithin, RunOptions, Scenario, SettlesWithin, run,
};
use tf_core::testing::{FakeApp, FakeDeployer, HeightObserver, fake_observation};
use tf_core::workloads::{FaultKind, NodeFault};

type Heights = Vec<(String, Option<u64>)>;

fn chaos(kind: FaultKind) -> Scenario<FakeApp> {
    Scenario::builder("chaos", FakeApp::default())
        .duration(Duration::from_secs(8))
        .cooldown(Duration::from_millis(500))
        .observer(HeightObserver, fake_observation())
        .workload(
            NodeFault::new("faults", kind)
                .every(Duration::from_secs(1))
                .max_faults(3)
                .recovered(|at_fault: &Heights, now: &Heights, node: &str| {
                    let height =
                        |s: &Heights| s.iter().find(|(n, _)| n == node).and_then(|(_, h)| *h);
                    let (before, after) = (height(at_fault)?, height(now)?);
                    (after > before).then(|| format!("{node} growing again ({before} -> {after})"))
                }),
        )
        .expect(AtEnd::new(
            "every node answers at the end",
            |s: &Heights| match s.iter().find(|(_, h)| h.is_none()) {
                Some((node, _)) => Err(format!("{node} does not answer")),
                None => Ok(()),
            },
        ))
        .build()
        .unwrap()
}

/// Runs `faults` alone for `window` on fake nodes.
async fn run_alone(window: Duration, faults: NodeFault) -> (RunReport, FakeDeployer) {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let scenario = Scenario::builder("chaos", FakeApp::default())
        .duration(window)
        .observer(HeightObserver, fake_observation())
        .workload(faults)
        .build()
        .unwrap();
    (
        run(scenario, &deployer, RunOptions::default()).await,
        deployer,
    )
}

#[tokio::test(start_paused = true)]
async fn a_paused_node_is_observed_failing_within_one_source_timeout_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let report = run(chaos(FaultKind::Pause), &deployer, RunOptions::default()).await;
    report.assert_passed();
    assert_eq!(
        deployer.actions(),
        [
            "pause node-0",
            "resume node-0",
            "pause node-1",
            "resume node-1",
            "pause node-2",
            "resume node-2"
        ]
    );
    let at = |what: &str| {
        report
            .timeline
            .iter()
            .find(|e| e.what.starts_with(what))
            .unwrap_or_else(|| panic!("no `{what}` on the timeline:\n{report}"))
            .clone()
    };
    let paused = at("pause node-1");
    let lost = at("node-1 unreachable");
    assert_eq!(lost.kind, TimelineKind::Event);
    assert!(
        lost.what.contains("no answer within 200ms"),
        "{}",
        lost.what
    );
    // One source timeout (200 ms) plus at most one poll interval (50 ms).
    assert!(
        lost.at_ms - paused.at_ms <= 300,
        "observed {} ms after the pause",
        lost.at_ms - paused.at_ms
    );
    at("node-1 answers again");
    at("observed node-1 growing again");
    assert_eq!(report.faults.len(), 3);
    assert!(report.faults.iter().all(|f| f.end_ms.is_some()));
}

#[tokio::test(start_paused = true)]
async fn killed_nodes_are_confirmed_down_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let report = run(chaos(FaultKind::Kill), &deployer, RunOptions::default()).await;
    report.assert_passed();
    assert!(
        report
            .timeline
            .iter()
            .any(|e| e.what == "observed node-2 down"),
        "{report}"
    );
    assert!(
        report.timeline.iter().any(|e| e
            .what
            .starts_with("node-2 unreachable: node-2: connection refused")),
        "{report}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_pause_on_a_deployer_that_cannot_pause_is_refused_before_any_node_starts() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run")).without_pause();
    let report = run(chaos(FaultKind::Pause), &deployer, RunOptions::default()).await;
    assert_eq!(report.verdict, Verdict::Error);
    assert_eq!(
        report.summary.as_deref(),
        Some(
            "the scenario cannot run here: the fake deployer cannot pause nodes, which workload `faults` needs; use a deployer that can, or drop it"
        )
    );
    assert!(deployer.nodes().is_empty(), "nothing was deployed");
}

#[tokio::test(start_paused = true)]
async fn a_fault_that_is_never_observed_fails_the_workload_with_what_was_seen() {
    let (report, deployer) = run_alone(
        Duration::from_secs(30),
        NodeFault::new("faults", FaultKind::Kill)
            .every(Duration::from_millis(500))
            .confirm_within(Duration::from_secs(2))
            .while_down(|_: &Heights, _: &Heights, _: &str| None::<String>),
    )
    .await;
    assert_eq!(report.verdict, Verdict::Failed);
    let failure = &report.workload_failures[0];
    assert!(
        failure.error.starts_with(
            "while node-0 was down, the expected change was not observed: timed out after 2"
        ),
        "{}",
        failure.error
    );
    assert_eq!(
        deployer.actions(),
        ["kill node-0", "start node-0"],
        "brought back even so"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_down_when_the_window_closes_is_brought_back_and_its_fault_closed() {
    let (report, deployer) = run_alone(
        Duration::from_secs(2),
        NodeFault::new("faults", FaultKind::Pause)
            .every(Duration::from_millis(500))
            // Longer than the rest of the window.
            .down_for(Duration::from_secs(60)),
    )
    .await;
    report.assert_passed();
    assert_eq!(deployer.actions(), ["pause node-0", "resume node-0"]);
    assert!(deployer.nodes().iter().all(|n| !n.is_paused()));
    assert!(report.faults.iter().all(|f| f.end_ms.is_some()), "{report}");
    assert!(
        report.timings.run_ms < 3_000,
        "the window was not held up: {report}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_condition_fails_the_workload_but_the_node_is_brought_back() {
    let (report, deployer) = run_alone(
        Duration::from_secs(30),
        NodeFault::new("faults", FaultKind::Kill)
            .every(Duration::from_millis(500))
            .while_down(|_: &Heights, _: &Heights, _: &str| -> Option<String> {
                panic!("a bug in the condition")
            }),
    )
    .await;
    assert_eq!(report.verdict, Verdict::Failed);
    assert_eq!(
        report.workload_failures[0].error,
        "a condition panicked while node-0 was down: a bug in the condition"
    );
    assert_eq!(deployer.actions(), ["kill node-0", "start node-0"]);
    assert!(report.faults.iter().all(|f| f.end_ms.is_some()));
}

#[tokio::test(start_paused = true)]
async fn a_target_that_is_not_a_node_fails_with_the_name_and_opens_no_fault() {
    let (report, deployer) = run_alone(
        Duration::from_secs(30),
        NodeFault::new("faults", FaultKind::Kill)
            .every(Duration::from_millis(500))
            .target(|_: &Heights| Some("node-9".to_owned())),
    )
    .await;
    assert_eq!(
        report.workload_failures[0].error,
        "no node named `node-9` in this cluster"
    );
    assert!(deployer.actions().is_empty(), "{:?}", deployer.actions());
    assert!(report.faults.iter().all(|f| f.end_ms.is_some()));
}

#[tokio::test(start_paused = true)]
async fn a_recovery_bound_fails_when_a_pause_outlasts_it_and_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let all_answer = |s: &Heights| s.iter().all(|(_, h)| h.is_some());
    let scenario = Scenario::builder("bounded", FakeApp::default())
        .duration(Duration::from_secs(10))
        .observer(HeightObserver, fake_observation())
        .workload(
            NodeFault::new("faults", FaultKind::Pause)
                .every(Duration::from_millis(500))
                .down_for(Duration::from_secs(3)),
        )
        .expect(RecoversWithin::new(
            "every node answers again within 1s",
            Duration::from_secs(1),
            all_answer,
        ))
        .expect(SettlesWithin::new(
            "a node reaches height a million",
            Duration::from_secs(1),
            |s: &Heights| s.iter().any(|(_, h)| *h >= Some(1_000_000)),
        ))
        .build()
        .unwrap();
    let report = run(scenario, &deployer, RunOptions::default()).await;
    assert_eq!(report.verdict, Verdict::Failed);
    let recovers = &report.expectations[0];
    assert_eq!(recovers.passed, Some(false), "{report}");
    let reason = recovers.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("did not hold for 1s") && reason.ends_with("(bound 1s)"),
        "{reason}"
    );
    assert!(
        recovers.observed.as_deref().unwrap().contains("\"node-0\""),
        "{report}"
    );
    // The run stopped at the first violation, so the end check was not judged.
    assert_eq!(report.expectations[1].passed, None);
}

#[tokio::test(start_paused = true)]
async fn an_end_condition_that_never_settles_fails_with_what_was_observed() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let scenario = Scenario::builder("settles", FakeApp::default())
        .duration(Duration::from_secs(1))
        .observer(HeightObserver, fake_observation())
        .expect(SettlesWithin::new(
            "a node reaches height a million",
            Duration::from_secs(1),
            |s: &Heights| s.iter().any(|(_, h)| *h >= Some(1_000_000)),
        ))
        .build()
        .unwrap();
    let report = run(scenario, &deployer, RunOptions::default()).await;
    let settles = &report.expectations[0];
    assert_eq!(
        (settles.passed, settles.reason.as_deref()),
        (Some(false), Some("did not hold within 1s after the run"))
    );
    assert!(
        settles
            .observed
            .as_deref()
            .unwrap()
            .contains("timed out after"),
        "{report}"
    );
}

/// A fake node cut off by a partition answers but stands still.
fn partition_faults() -> NodeFault {
    NodeFault::new("partitions", FaultKind::Partition)
        .every(Duration::from_secs(1))
        .max_faults(1)
        .side(2)
        .target(|_: &Heights| Some("node-1".to_owned()))
        .down_for(Duration::from_millis(500))
        .while_down(|at: &Heights, now: &Heights, _: &str| {
            let grew = |node: &str| {
                let height = |s: &Heights| s.iter().find(|(n, _)| n == node).and_then(|(_, h)| *h);
                Some(height(now)? > height(at)?)
            };
            // The cut side (node-1, node-2) stands still; node-0 goes on.
            (grew("node-0")? && !grew("node-1")? && !grew("node-2")?)
                .then(|| "node-0 growing, node-1 and node-2 stalled".to_owned())
        })
}

#[tokio::test(start_paused = true)]
async fn a_partition_cuts_a_side_off_confirms_it_through_observation_and_heals() {
    let (report, deployer) = run_alone(Duration::from_secs(6), partition_faults()).await;
    report.assert_passed();
    assert_eq!(
        deployer.actions(),
        ["partition node-1", "partition node-2", "heal"]
    );
    let timeline: Vec<&str> = report.timeline.iter().map(|e| e.what.as_str()).collect();
    for line in [
        "cut off node-1, node-2",
        "observed node-0 growing, node-1 and node-2 stalled",
        "heal the partition of node-1, node-2",
    ] {
        assert!(
            timeline.contains(&line),
            "no `{line}` on the timeline:\n{report}"
        );
    }
    assert!(
        !timeline.iter().any(|e| e.contains("unreachable")),
        "the runner still reaches the cut side:\n{report}"
    );
    assert_eq!(report.faults.len(), 1);
    assert_eq!(report.faults[0].what, "node-1, node-2 cut off");
    assert!(deployer.nodes().iter().all(|n| !n.is_cut()), "healed");
}

#[tokio::test(start_paused = true)]
async fn a_partition_on_a_deployer_that_cannot_partition_is_refused_before_any_node_starts() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run")).without(NodeAction::Partition);
    let scenario = Scenario::builder("chaos", FakeApp::default())
        .observer(HeightObserver, fake_observation())
        .workload(partition_faults())
        .build()
        .unwrap();
    let report = run(scenario, &deployer, RunOptions::default()).await;
    assert_eq!(report.verdict, Verdict::Error);
    assert_eq!(
        report.summary.as_deref(),
        Some(
            "the scenario cannot run here: the fake deployer cannot partition nodes, which workload `partitions` needs; use a deployer that can (--deployer compose), or drop it"
        )
    );
    assert!(deployer.nodes().is_empty(), "nothing was deployed");
}

#[tokio::test(start_paused = true)]
async fn a_mix_of_kinds_takes_turns_and_takes_one_node_down_at_a_time() {
    let faults = NodeFault::new("mixed", FaultKind::Kill)
        .mixed_with(FaultKind::Pause)
        .every(Duration::from_millis(500))
        .max_faults(4);
    let (report, deployer) = run_alone(Duration::from_secs(10), faults).await;
    report.assert_passed();
    assert_eq!(
        deployer.actions(),
        [
            "kill node-0",
            "start node-0",
            "pause node-1",
            "resume node-1",
            "kill node-2",
            "start node-2",
            "pause node-0",
            "resume node-0"
        ]
    );
    let windows: Vec<(u64, u64)> = report
        .faults
        .iter()
        .map(|f| (f.start_ms, f.end_ms.unwrap()))
        .collect();
    assert_eq!(windows.len(), 4);
    assert!(
        windows.windows(2).all(|w| w[0].1 <= w[1].0),
        "no two faults at once: {windows:?}"
    );
    assert_eq!(report.faults[1].what, "node-1 paused");
}
