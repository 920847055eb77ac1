//! The runner's semantics on an in-memory cluster: verdicts, fail-fast,
//! bounds, interruption and reports, without processes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tf_core::BoxError;
use tf_core::observation::{ObservationConfig, Observer, Sources};
use tf_core::report::*;
use tf_core::scenario::deploy::*;
use tf_core::scenario::*;
use tf_core::testing::{FakeApp, FakeDeployer, FakeNode};
use tokio::sync::watch;

type Fake = FakeApp;
type NodeRef = Arc<FakeNode>;

fn never_ready() -> Fake {
    FakeApp {
        never_ready: true,
        ..FakeApp::default()
    }
}

/// The lowest height of any node that is up.
struct MinHeight;

#[async_trait]
impl Observer for MinHeight {
    type Source = NodeRef;
    type State = u64;
    type Snapshot = u64;
    type Event = ();
    async fn init(&self, _: &Sources<'_, NodeRef>) -> Result<u64, BoxError> {
        Ok(0)
    }
    async fn poll(
        &self,
        sources: &Sources<'_, NodeRef>,
        min: &mut u64,
    ) -> Result<Vec<()>, BoxError> {
        *min = sources
            .iter()
            .map(|s| s.source.current_height())
            .min()
            .unwrap_or(0);
        Ok(vec![])
    }
    fn snapshot(&self, min: &u64) -> u64 {
        *min
    }
}

fn observing(app: Fake) -> ScenarioBuilder<Fake> {
    Scenario::builder("fake", app)
        .duration(Duration::from_secs(2))
        .cooldown(Duration::from_millis(200))
        .observer(
            MinHeight,
            ObservationConfig::default().with_poll_interval(Duration::from_millis(50)),
        )
}

struct Failing(&'static str);

#[async_trait]
impl Workload<Fake> for Failing {
    fn name(&self) -> &str {
        "failing"
    }
    async fn run(&self, _: &RunContext<Fake>) -> Result<(), BoxError> {
        match self.0 {
            "panic" => panic!("workload bug"),
            message => Err(message.into()),
        }
    }
}

async fn run_in(dir: &tempfile::TempDir, scenario: Scenario<Fake>) -> (RunReport, FakeDeployer) {
    let deployer = FakeDeployer::new(dir.path().join("run"));
    (
        run(scenario, &deployer, RunOptions::default()).await,
        deployer,
    )
}

#[tokio::test(start_paused = true)]
async fn a_passing_run_reports_every_expectation_and_writes_report_json() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = observing(Fake::default())
        .expect(Always::new("never shrinks below zero", |_: &u64| Ok(())))
        .expect(Eventually::new(
            "reaches height 5",
            Duration::from_secs(2),
            |h: &u64| *h >= 5,
        ))
        .expect(AtEnd::new("ends above 15", |h: &u64| {
            if *h > 15 {
                Ok(())
            } else {
                Err(format!("only {h}"))
            }
        }))
        .build()
        .unwrap();
    let (report, deployer) = run_in(&dir, scenario).await;
    assert!(report.passed(), "{report:#?}");
    assert!(report.expectations.iter().all(|e| e.passed == Some(true)));
    assert!(deployer.cleaned_up());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run/report.json")).unwrap())
            .unwrap();
    assert_eq!(json["verdict"], "passed");
    assert_eq!(json["expectations"][1]["timing"], "eventually within 2s");
}

#[tokio::test(start_paused = true)]
async fn an_eventually_that_does_not_hold_in_time_fails_with_what_was_observed() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = observing(Fake::default())
        .duration(Duration::from_secs(30))
        .expect(Eventually::new(
            "reaches height 1000",
            Duration::from_secs(1),
            |h: &u64| *h >= 1000,
        ))
        .build()
        .unwrap();
    let (report, deployer) = run_in(&dir, scenario).await;
    assert_eq!(report.verdict, Verdict::Failed);
    let e = &report.expectations[0];
    assert_eq!(e.passed, Some(false));
    assert_eq!(e.reason.as_deref(), Some("did not hold within 1s"));
    assert!(
        e.observed
            .as_deref()
            .unwrap()
            .contains("observer `MinHeight` is running"),
        "{e:#?}"
    );
    assert!(
        report.timings.run_ms < 5_000,
        "failed fast, not after the 30 s window"
    );
    assert!(deployer.cleaned_up());
}

#[tokio::test(start_paused = true)]
async fn an_at_end_failure_names_itself_and_shows_the_final_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = observing(Fake::default())
        .expect(AtEnd::new("ends below 3", |h: &u64| {
            if *h < 3 {
                Ok(())
            } else {
                Err(format!("height is {h}"))
            }
        }))
        .build()
        .unwrap();
    let (report, _) = run_in(&dir, scenario).await;
    assert_eq!(report.verdict, Verdict::Failed);
    assert!(
        report
            .summary
            .as_deref()
            .unwrap()
            .starts_with("expectation `ends below 3` failed: height is")
    );
    assert!(
        report.expectations[0]
            .observed
            .as_deref()
            .unwrap()
            .contains("sources")
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_workload_stops_the_run_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, expected) in [
        ("out of keys", "out of keys"),
        ("panic", "panicked: workload bug"),
    ] {
        let scenario = observing(Fake::default())
            .duration(Duration::from_secs(60))
            .workload(Failing(kind))
            .expect(AtEnd::new("anything", |_: &u64| Ok(())))
            .build()
            .unwrap();
        let (report, deployer) = run_in(&dir, scenario).await;
        assert_eq!(report.verdict, Verdict::Failed, "{report:#?}");
        assert_eq!(report.workload_failures[0].name, "failing");
        assert_eq!(report.workload_failures[0].error, expected);
        assert_eq!(
            report.expectations[0].passed, None,
            "the end check is not judged after a stop"
        );
        assert!(report.timings.run_ms < 1_000);
        assert!(deployer.cleaned_up());
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_that_never_comes_is_an_error_showing_each_node() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = observing(never_ready())
        .ready_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let (report, deployer) = run_in(&dir, scenario).await;
    assert_eq!(report.verdict, Verdict::Error);
    let summary = report.summary.unwrap();
    assert!(
        summary.starts_with("the cluster did not become ready: timed out after 3.00s"),
        "{summary}"
    );
    assert!(
        summary.contains("\"node-2\": \"still starting\""),
        "{summary}"
    );
    assert!(
        deployer.cleaned_up(),
        "a cluster that never got ready is still cleaned up"
    );
}

#[tokio::test(start_paused = true)]
async fn a_deploy_error_is_reported_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run")).failing_deploy("no room for nodes");
    let report = run(
        observing(Fake::default()).build().unwrap(),
        &deployer,
        RunOptions::default(),
    )
    .await;
    assert_eq!(report.verdict, Verdict::Error);
    assert_eq!(
        report.summary.as_deref(),
        Some("deploy failed: no room for nodes")
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_stops_the_run_cleans_up_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let options = RunOptions::default();
    let cancel = options.cancel.clone();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let (window_open, mut opened) = watch::channel(false);
    let options = RunOptions {
        progress: Some({
            let heard = Arc::clone(&heard);
            Arc::new(move |m: &str| {
                heard.lock().push(m.to_owned());
                if m.starts_with("running for") {
                    window_open.send_replace(true);
                }
            })
        }),
        ..options
    };
    let scenario = observing(Fake::default())
        .duration(Duration::from_secs(3600))
        .build()
        .unwrap();
    let running = tokio::spawn(async move { run(scenario, &deployer, options).await });
    // Cancel once the run window is open.
    tokio::time::timeout(Duration::from_secs(60), opened.wait_for(|open| *open))
        .await
        .expect("the run window never opened")
        .unwrap();
    cancel.cancel();
    let report = running.await.unwrap();
    assert_eq!(report.verdict, Verdict::Error);
    assert_eq!(report.summary.as_deref(), Some("interrupted by the user"));
    assert!(heard.lock().iter().any(|m| m == "cleaning up"));
}

#[tokio::test(start_paused = true)]
async fn a_cleanup_problem_makes_the_run_an_error_and_keeps_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"))
        .failing_cleanup("node-1 (pid 42) is still running after cleanup");
    let options = RunOptions {
        remove_run_dir_on_success: true,
        ..RunOptions::default()
    };
    let report = run(
        observing(Fake::default()).build().unwrap(),
        &deployer,
        options,
    )
    .await;
    assert_eq!(report.verdict, Verdict::Error);
    assert_eq!(
        report.summary.as_deref(),
        Some("cleanup failed: node-1 (pid 42) is still running after cleanup")
    );
    assert!(
        dir.path().join("run/report.json").is_file(),
        "kept, not removed as on success"
    );
}

/// An always-check that never returns, even after the run window.
struct Stuck;

#[async_trait]
impl Expectation<Fake> for Stuck {
    fn name(&self) -> &str {
        "stuck"
    }
    fn timing(&self) -> Timing {
        Timing::Always
    }
    async fn check(&self, _: &RunContext<Fake>) -> Result<(), Violation> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn an_always_check_that_ignores_the_end_of_the_window_is_cut_off_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (report, deployer) = run_in(
        &dir,
        observing(Fake::default()).expect(Stuck).build().unwrap(),
    )
    .await;
    assert_eq!(report.verdict, Verdict::Failed);
    assert_eq!(report.expectations[0].passed, Some(false));
    assert_eq!(
        report.expectations[0].reason.as_deref(),
        Some("the check did not return within 10s after the run window")
    );
    assert!(deployer.cleaned_up());
}

/// Heights per node, recorded: its snapshot charts and its events label.
struct Tallies;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tally(std::collections::BTreeMap<String, u64>);

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Grew(String, u64);

impl tf_core::report::ReportSnapshot for Tally {
    fn series(&self) -> Vec<tf_core::report::SeriesPoint> {
        use tf_core::report::SeriesPoint;
        self.0
            .iter()
            .flat_map(|(node, h)| {
                [
                    SeriesPoint::new("height", node, *h as f64),
                    SeriesPoint::new("doubled", node, *h as f64 * 2.0),
                ]
            })
            .collect()
    }
}

impl tf_core::report::ReportEvent for Grew {
    fn label(&self) -> String {
        format!("{} reached {}", self.0, self.1)
    }
}

#[async_trait]
impl Observer for Tallies {
    type Source = NodeRef;
    type State = Tally;
    type Snapshot = Tally;
    type Event = Grew;
    async fn init(&self, _: &Sources<'_, NodeRef>) -> Result<Tally, BoxError> {
        Ok(Tally::default())
    }
    async fn poll(
        &self,
        sources: &Sources<'_, NodeRef>,
        tally: &mut Tally,
    ) -> Result<Vec<Grew>, BoxError> {
        let mut events = Vec::new();
        for s in sources.iter() {
            let h = s.source.current_height();
            if tally.0.insert(s.name.to_string(), h) != Some(h) && h % 5 == 0 && h > 0 {
                events.push(Grew(s.name.to_string(), h));
            }
        }
        Ok(events)
    }
    fn snapshot(&self, tally: &Tally) -> Tally {
        tally.clone()
    }
}

#[tokio::test(start_paused = true)]
async fn recorded_observers_write_observations_jsonl_and_label_the_timeline() {
    use tf_core::report::{RecordedObservation, Severity};
    let dir = tempfile::tempdir().unwrap();
    let scenario = observing(Fake::default())
        .recorded_observer(
            Tallies,
            ObservationConfig::default().with_poll_interval(Duration::from_millis(100)),
        )
        .expect(AtEnd::new("every node grew", |t: &Tally| {
            if t.0.values().all(|h| *h > 0) {
                Ok(())
            } else {
                Err(format!("{t:?}"))
            }
        }))
        .build()
        .unwrap();
    let (report, _) = run_in(&dir, scenario).await;
    assert!(report.passed(), "{report:#?}");

    let text = std::fs::read_to_string(dir.path().join("run/observations.jsonl")).unwrap();
    let lines: Vec<RecordedObservation<Tally, Grew>> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines.len() >= 20,
        "about one a cycle over 2.2 s: {}",
        lines.len()
    );
    assert!(lines.iter().all(|l| l.observer == "Tallies"));
    let positions: Vec<u64> = lines.iter().map(|l| l.position).collect();
    assert_eq!(
        positions,
        (1..=lines.len() as u64).collect::<Vec<_>>(),
        "as they were seen, none missing"
    );
    assert!(lines.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    let last = lines.last().unwrap();
    assert_eq!(last.series.len(), 6);
    assert!(
        last.series
            .iter()
            .filter(|p| p.series == "height")
            .all(|p| p.value == last.snapshot.0[&p.source] as f64)
    );
    let labelled: Vec<&str> = lines
        .iter()
        .flat_map(|l| l.events.iter().map(|e| e.label.as_str()))
        .collect();
    assert!(labelled.contains(&"node-1 reached 10"), "{labelled:?}");

    // The timeline has the observer's events and the verdicts, in time order.
    assert!(report.timeline.iter().any(|t| t.source == "Tallies"
        && t.what == "node-1 reached 10"
        && t.kind == TimelineKind::Event));
    let verdict = report
        .timeline
        .iter()
        .find(|t| t.kind == TimelineKind::Verdict)
        .unwrap();
    assert_eq!(
        (verdict.what.as_str(), verdict.severity),
        ("passed: every node grew", Severity::Info)
    );
    assert!(report.timeline.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    assert!(dir.path().join("run/junit.xml").is_file());
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

#[tokio::test(start_paused = true)]
async fn observers_that_are_not_recorded_write_no_observations_file() {
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = run_in(&dir, observing(Fake::default()).build().unwrap()).await;
    assert!(report.passed());
    assert!(!dir.path().join("run/observations.jsonl").exists());
    assert!(
        dir.path().join("run/junit.xml").is_file(),
        "junit.xml is written for every run"
    );
}

/// Takes node-1 down for a while, as chaos does, and says so.
struct Chaos;

#[async_trait]
impl Workload<Fake> for Chaos {
    fn name(&self) -> &str {
        "chaos"
    }
    async fn run(&self, ctx: &RunContext<Fake>) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_millis(500)).await; // the fault schedule
        ctx.record(self.name(), "kill node-1");
        let fault = ctx.begin_fault(self.name(), "node-1 down");
        ctx.control().kill("node-1").await?;
        tokio::time::sleep(Duration::from_millis(700)).await; // the fault's length
        ctx.control().start("node-1").await?;
        ctx.record(self.name(), "start node-1");
        ctx.end_fault(fault);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn report_html_is_self_contained_with_a_chart_per_series_and_every_action_and_failure() {
    use scraper::{Html, Selector};
    let dir = tempfile::tempdir().unwrap();
    let scenario = observing(Fake::default())
        .recorded_observer(
            Tallies,
            ObservationConfig::default().with_poll_interval(Duration::from_millis(100)),
        )
        .workload(Chaos)
        .expect(AtEnd::new("ends below 3", |h: &u64| {
            if *h < 3 {
                Ok(())
            } else {
                Err(format!("height is {h}"))
            }
        }))
        .build()
        .unwrap();
    let (report, _) = run_in(&dir, scenario).await;
    assert_eq!(report.verdict, Verdict::Failed);
    let text = std::fs::read_to_string(dir.path().join("run/report.html")).unwrap();
    let html = Html::parse_document(&text);
    assert!(html.errors.is_empty(), "{:?}", html.errors);
    let select = |s: &str| Selector::parse(s).unwrap();

    assert_eq!(
        html.select(&select("title"))
            .next()
            .unwrap()
            .text()
            .collect::<String>(),
        "FAILED: fake"
    );
    // A chart per declared series.
    let captions: Vec<String> = html
        .select(&select("figure figcaption"))
        .map(|c| c.text().collect())
        .collect();
    assert_eq!(
        captions,
        [
            "Tallies: doubled, per source",
            "Tallies: height, per source"
        ]
    );
    assert_eq!(html.select(&select("figure svg")).count(), 2);
    // The fault window is shaded on the charts and named above them.
    assert!(
        text.contains("opacity=\"0.12\" fill=\"#DC3C3C\""),
        "no shaded fault window"
    );
    assert!(text.contains("node-1 down (0.5–1.2 s)"));
    // A timeline row per workload action and per failure.
    let rows: Vec<String> = html
        .select(&select("tr.action td:nth-child(3)"))
        .map(|c| c.text().collect())
        .collect();
    for action in report
        .timeline
        .iter()
        .filter(|t| t.kind == TimelineKind::Action)
    {
        assert!(
            rows.contains(&action.what),
            "{} missing from {rows:?}",
            action.what
        );
    }
    assert!(rows.contains(&"kill node-1".to_owned()));
    let failures: Vec<String> = html
        .select(&select("tr.verdict.error td:nth-child(3)"))
        .map(|c| c.text().collect())
        .collect();
    let reason = report.expectations[0].reason.clone().unwrap();
    assert_eq!(failures, [format!("failed: ends below 3: {reason}")]);
    // Nothing from outside: no script, no stylesheet link, only relative links.
    assert_eq!(html.select(&select("script, link, img, iframe")).count(), 0);
    for attribute in ["href", "src"] {
        for element in html.select(&select(&format!("[{attribute}]"))) {
            let url = element.value().attr(attribute).unwrap();
            assert!(
                !url.contains("://") && !url.starts_with("//"),
                "external {attribute}: {url}"
            );
        }
    }
    assert!(!text.contains("url(") && !text.contains("@import"));
}

/// Needs the live cluster, so it is skipped by replay.
struct LiveOnly;

#[async_trait]
impl Expectation<Fake> for LiveOnly {
    fn name(&self) -> &str {
        "reads every node"
    }
    fn timing(&self) -> Timing {
        Timing::AtEnd
    }
    async fn check(&self, _: &RunContext<Fake>) -> Result<(), Violation> {
        Ok(())
    }
    fn replayable(&self) -> bool {
        false
    }
}

fn replayable_scenario() -> Scenario<Fake> {
    observing(Fake::default())
        .duration(Duration::from_secs(3))
        .recorded_observer(
            Tallies,
            ObservationConfig::default().with_poll_interval(Duration::from_millis(100)),
        )
        .expect(Eventually::new(
            "every node reaches 5",
            Duration::from_secs(2),
            |t: &Tally| t.0.len() == 3 && t.0.values().all(|h| *h >= 5),
        ))
        // Wrong on purpose: heights grow past 12 within the window.
        .expect(Always::new("stays below 12", |t: &Tally| {
            match t.0.iter().find(|(_, h)| **h >= 12) {
                Some((node, h)) => Err(format!("{node} reached {h}")),
                None => Ok(()),
            }
        }))
        .expect(AtEnd::new("three nodes at the end", |t: &Tally| {
            if t.0.len() == 3 {
                Ok(())
            } else {
                Err(format!("{} nodes", t.0.len()))
            }
        }))
        .expect(LiveOnly)
        // `MinHeight` (snapshots of `u64`) is not recorded: its condition
        // cannot be judged again.
        .expect(AtEnd::new("the lowest node grew", |h: &u64| {
            if *h > 0 {
                Ok(())
            } else {
                Err("no node grew".into())
            }
        }))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn replay_reproduces_a_recorded_failure_with_the_same_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (recorded, _) = run_in(&dir, replayable_scenario()).await;
    assert_eq!(recorded.verdict, Verdict::Failed);
    let failed = recorded
        .expectations
        .iter()
        .find(|e| e.name == "stays below 12")
        .unwrap();
    assert_eq!(failed.passed, Some(false));

    let replayed = replay(replayable_scenario(), &dir.path().join("run"))
        .await
        .unwrap();
    assert!(!replayed.passed(), "{:#?}", replayed);
    let again = replayed
        .expectations
        .iter()
        .find(|e| e.name == "stays below 12")
        .unwrap();
    assert_eq!(again.passed, Some(false));
    assert_eq!(again.reason, failed.reason, "same reason");
    assert_eq!(
        again
            .observed
            .as_deref()
            .map(|o| o.lines().skip(1).collect::<Vec<_>>()),
        failed
            .observed
            .as_deref()
            .map(|o| o.lines().skip(1).collect::<Vec<_>>()),
        "same observed snapshot"
    );
    let by_name = |name: &str| {
        replayed
            .expectations
            .iter()
            .find(|e| e.name == name)
            .unwrap()
            .clone()
    };
    // The stop at the first failure meant the others were not judged live;
    // the replay judges whatever the recording holds.
    assert_eq!(by_name("every node reaches 5").passed, Some(true));
    let live = by_name("reads every node");
    assert_eq!(
        (live.passed, live.reason.as_deref()),
        (None, Some("not replayed: it needs the live cluster"))
    );
    assert_eq!(replayed.recorded["stays below 12"], Some(false));
    assert!(replayed.observations[0].1 > 10);
    // Found by the state it reads, the observer it needs was not recorded.
    let unrecorded = by_name("the lowest node grew");
    assert_eq!(unrecorded.passed, None, "{unrecorded:?}");
    assert!(
        unrecorded
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("observer `MinHeight` was not recorded")),
        "{unrecorded:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn replay_of_another_scenario_or_a_non_run_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = replay(replayable_scenario(), dir.path())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("report.json") && err.contains("is this a run directory"),
        "{err}"
    );
    let (_, _) = run_in(&dir, replayable_scenario()).await;
    let other = Scenario::builder("other", Fake::default()).build().unwrap();
    let err = replay(other, &dir.path().join("run"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("is a run of `fake`, not of `other`"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_stuck_check_is_cut_off_in_a_replay_as_in_the_live_run() {
    let dir = tempfile::tempdir().unwrap();
    let with_stuck = || {
        observing(Fake::default())
            .recorded_observer(
                Tallies,
                ObservationConfig::default().with_poll_interval(Duration::from_millis(100)),
            )
            .expect(Stuck)
            .build()
            .unwrap()
    };
    let (live, _) = run_in(&dir, with_stuck()).await;
    let cut_off = Some("the check did not return within 10s after the run window");
    assert_eq!(live.expectations[0].reason.as_deref(), cut_off);
    // A replay that waited for the stuck check would never return; the
    // paused clock turns that into this timeout's failure instead of a hang.
    let replayed = tokio::time::timeout(
        Duration::from_secs(3600),
        replay(with_stuck(), &dir.path().join("run")),
    )
    .await
    .expect("the replay hung on a stuck check")
    .unwrap();
    let stuck = &replayed.expectations[0];
    assert_eq!(
        (stuck.passed, stuck.reason.as_deref()),
        (Some(false), cut_off)
    );
}

/// An app whose client cannot be made (a port it needs is not declared).
struct NoClient(FakeApp);

#[async_trait]
impl Application for NoClient {
    type Client = NodeRef;
    fn name(&self) -> &str {
        "no-client"
    }
    fn binary(&self) -> NodeBinary {
        self.0.binary()
    }
    fn node_command(&self, node: &NodeSpec, all: &[NodeSpec]) -> Result<NodeCommand, BoxError> {
        self.0.node_command(node, all)
    }
    fn client(&self, endpoint: &NodeEndpoint) -> Result<NodeRef, BoxError> {
        endpoint.address_of("rpc")?;
        self.0.client(endpoint)
    }
    async fn ready(&self, node: &NodeRef) -> Result<(), BoxError> {
        self.0.ready(node).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_cannot_be_made_is_an_error_naming_the_node_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let scenario = Scenario::builder("no-client", NoClient(FakeApp::default()))
        .build()
        .unwrap();
    let report = run(scenario, &deployer, RunOptions::default()).await;
    assert_eq!(report.verdict, Verdict::Error);
    let summary = report.summary.clone().unwrap();
    assert!(
        summary.starts_with("cannot make a client of node-0: ") && summary.contains("rpc"),
        "{summary}"
    );
    assert!(
        summary.ends_with("see the app's Application::client"),
        "{summary}"
    );
    assert!(deployer.cleaned_up());

    let deployer = FakeDeployer::new(dir.path().join("manual"));
    let manual = tf_core::manual::ManualCluster::start(
        Arc::new(NoClient(FakeApp::default())),
        &deployer,
        "no-client",
        2,
    )
    .await;
    let Err(error) = manual else {
        panic!("a manual cluster without clients started");
    };
    assert!(
        error
            .to_string()
            .starts_with("cannot make a client of node-0"),
        "{error}"
    );
    assert!(deployer.cleaned_up());
}

#[tokio::test(start_paused = true)]
async fn the_port_marked_observed_is_the_one_the_framework_reaches() {
    let dir = tempfile::tempdir().unwrap();
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let app = FakeApp {
        ports: vec![PortSpec::tcp("peer"), PortSpec::tcp("rpc").observed()],
        ..FakeApp::default()
    };
    let mut cluster = tf_core::manual::ManualCluster::start(Arc::new(app), &deployer, "ports", 2)
        .await
        .unwrap();
    for endpoint in cluster.endpoints() {
        assert_eq!(endpoint.address, endpoint.address_of("rpc").unwrap());
        assert_ne!(endpoint.address, endpoint.address_of("peer").unwrap());
    }
    cluster.cleanup().await;

    let twice = FakeApp {
        ports: vec![PortSpec::tcp("a").observed(), PortSpec::tcp("b").observed()],
        ..FakeApp::default()
    };
    let refused = DeploymentRequest::new(Arc::new(twice), "ports", 1)
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("marks 2 ports observed (a, b)"),
        "{refused}"
    );
}
