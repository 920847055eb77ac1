//! Expectations and faults find their observer by the type of state their
//! conditions read: a scenario names an observer once. Where that is not
//! enough (two observers of one snapshot type, a fault with no condition
//! among several observers, conditions on two types), the run says so and
//! names the fix; `observed_by` picks one.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tf_core::BoxError;
use tf_core::observation::{Observer, Sources};
use tf_core::report::{RunReport, Verdict};
use tf_core::scenario::{AtEnd, Eventually, RunOptions, Scenario, ScenarioBuilder, run};
use tf_core::testing::{FakeApp, FakeDeployer, FakeNode, HeightObserver, fake_observation};
use tf_core::workloads::{FaultKind, NodeFault};

/// What `HeightObserver` publishes: every node's height, `None` while it
/// does not answer.
type Heights = Vec<(String, Option<u64>)>;

/// Publishes snapshots of `HeightObserver`'s type in which no node ever
/// answers.
struct Silent;

#[async_trait]
impl Observer for Silent {
    type Source = Arc<FakeNode>;
    type State = ();
    type Snapshot = Heights;
    type Event = ();

    async fn init(&self, _: &Sources<'_, Arc<FakeNode>>) -> Result<(), BoxError> {
        Ok(())
    }

    async fn poll(&self, _: &Sources<'_, Arc<FakeNode>>, _: &mut ()) -> Result<Vec<()>, BoxError> {
        Ok(Vec::new())
    }

    fn snapshot(&self, _: &()) -> Heights {
        vec![("node-0".to_owned(), None)]
    }
}

/// Counts its cycles: snapshots of another type than `HeightObserver`'s.
struct Cycles;

#[async_trait]
impl Observer for Cycles {
    type Source = Arc<FakeNode>;
    type State = u64;
    type Snapshot = u64;
    type Event = ();

    async fn init(&self, _: &Sources<'_, Arc<FakeNode>>) -> Result<u64, BoxError> {
        Ok(0)
    }

    async fn poll(&self, _: &Sources<'_, Arc<FakeNode>>, n: &mut u64) -> Result<Vec<()>, BoxError> {
        *n += 1;
        Ok(Vec::new())
    }

    fn snapshot(&self, n: &u64) -> u64 {
        *n
    }
}

fn every_node_answers(heights: &Heights) -> Result<(), String> {
    match heights.iter().find(|(_, h)| h.is_none()) {
        Some((node, _)) => Err(format!("{node} does not answer")),
        None => Ok(()),
    }
}

fn scenario() -> ScenarioBuilder<FakeApp> {
    Scenario::builder("lookup", FakeApp::default())
        .duration(Duration::from_secs(3))
        .cooldown(Duration::from_millis(200))
        .observer(HeightObserver, fake_observation())
}

fn two_observers() -> ScenarioBuilder<FakeApp> {
    scenario().observer(Silent, fake_observation())
}

async fn run_it(builder: ScenarioBuilder<FakeApp>) -> RunReport {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    run(builder.build().unwrap(), &deployer, RunOptions::default()).await
}

fn the_only_expectation_failed_with(report: &RunReport, text: &str) {
    assert_eq!(report.verdict, Verdict::Failed, "{report}");
    let reason = report.expectations[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains(text), "`{reason}` does not say `{text}`");
}

#[tokio::test(start_paused = true)]
async fn a_condition_reads_the_one_observer_of_its_state() {
    let report = run_it(
        scenario()
            .observer(Cycles, fake_observation())
            .expect(AtEnd::new("cycles were counted", |n: &u64| {
                if *n > 10 {
                    Ok(())
                } else {
                    Err(format!("{n} cycles"))
                }
            }))
            .expect(Eventually::new(
                "a node grows",
                Duration::from_secs(2),
                |heights: &Heights| heights.iter().any(|(_, h)| h.is_some_and(|h| h > 3)),
            ))
            .expect(AtEnd::new("every node answers", every_node_answers)),
    )
    .await;
    report.assert_passed();
}

#[tokio::test(start_paused = true)]
async fn two_observers_of_one_state_make_a_condition_say_which_collide_and_the_fix() {
    let report =
        run_it(two_observers().expect(AtEnd::new("every node answers", every_node_answers))).await;
    the_only_expectation_failed_with(
        &report,
        "observers `HeightObserver`, `Silent` all publish snapshots of type \
         `alloc::vec::Vec<(alloc::string::String, core::option::Option<u64>)>`, so it cannot tell \
         which to read; name one with `.observed_by::<YourObserver>()`",
    );
}

#[tokio::test(start_paused = true)]
async fn observed_by_picks_the_observer_a_condition_reads() {
    let heights = run_it(two_observers().expect(
        AtEnd::new("every node answers", every_node_answers).observed_by::<HeightObserver>(),
    ))
    .await;
    heights.assert_passed();
    // The same condition on the other observer sees what that one publishes.
    let silent = run_it(
        two_observers()
            .expect(AtEnd::new("every node answers", every_node_answers).observed_by::<Silent>()),
    )
    .await;
    the_only_expectation_failed_with(&silent, "node-0 does not answer");
}

/// It passed, and the fault saw its node come back.
fn passed_with_node_0_back(report: &RunReport) {
    report.assert_passed();
    assert!(
        report
            .timeline
            .iter()
            .any(|e| e.source == "pauses" && e.what == "observed node-0 back"),
        "{report}"
    );
}

fn pauses() -> NodeFault {
    NodeFault::new("pauses", FaultKind::Pause)
        .every(Duration::from_millis(500))
        .down_for(Duration::from_millis(300))
        .max_faults(1)
}

#[tokio::test(start_paused = true)]
async fn a_fault_without_a_condition_watches_the_only_observer() {
    let report = run_it(scenario().workload(pauses())).await;
    passed_with_node_0_back(&report);
}

#[tokio::test(start_paused = true)]
async fn a_fault_without_a_condition_among_several_observers_says_to_name_one() {
    let report = run_it(two_observers().workload(pauses())).await;
    assert_eq!(report.verdict, Verdict::Failed, "{report}");
    assert_eq!(
        report.workload_failures[0].error,
        "the scenario has observers `HeightObserver`, `Silent`, and a fault with no condition \
         cannot tell which to confirm its nodes down and back through; name one with \
         `.observed_by::<YourObserver>()`"
    );
    let named = run_it(two_observers().workload(pauses().observed_by::<HeightObserver>())).await;
    named.assert_passed();
}

#[tokio::test(start_paused = true)]
async fn a_fault_whose_conditions_read_two_types_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let scenario = scenario()
        .workload(
            pauses()
                .settled(|_: &Heights| true)
                .recovered(|_: &u64, _: &u64, _: &str| None),
        )
        .build()
        .unwrap();
    let report = run(scenario, &deployer, RunOptions::default()).await;
    assert_eq!(report.verdict, Verdict::Error, "{report}");
    assert_eq!(
        report.summary.as_deref(),
        Some(
            "workload `pauses` cannot run: it reads snapshots of two types, \
             `alloc::vec::Vec<(alloc::string::String, core::option::Option<u64>)>` and `u64` \
             (its conditions' arguments, and what the observer named by observed_by \
             publishes); they all read the one observer it watches"
        )
    );
    assert!(deployer.nodes().is_empty(), "nothing was deployed");
}

#[tokio::test(start_paused = true)]
async fn a_fault_in_a_scenario_without_an_observer_says_to_add_one() {
    let report = run_it(
        Scenario::builder("lookup", FakeApp::default())
            .duration(Duration::from_secs(2))
            .workload(pauses()),
    )
    .await;
    assert_eq!(report.verdict, Verdict::Failed, "{report}");
    assert_eq!(
        report.workload_failures[0].error,
        "the scenario has no observer, and faults are confirmed through one; add one with \
         ScenarioBuilder::observer"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fault_s_condition_reads_the_observer_of_its_type_among_others() {
    let report =
        run_it(scenario().observer(Cycles, fake_observation()).workload(
            pauses().settled(|heights: &Heights| heights.iter().all(|(_, h)| h.is_some())),
        ))
        .await;
    passed_with_node_0_back(&report);
}

#[tokio::test(start_paused = true)]
async fn observed_by_an_observer_of_another_type_than_the_conditions_is_refused() {
    let report = run_it(
        scenario()
            .observer(Cycles, fake_observation())
            .workload(pauses().settled(|_: &Heights| true).observed_by::<Cycles>()),
    )
    .await;
    assert_eq!(report.verdict, Verdict::Error, "{report}");
    let summary = report.summary.as_deref().unwrap_or_default();
    assert!(
        summary.starts_with("workload `pauses` cannot run: it reads snapshots of two types")
            && summary.ends_with("and `u64` (its conditions' arguments, and what the observer named by observed_by publishes); they all read the one observer it watches"),
        "{summary}"
    );
}
