//! The framework's key-value workload and its checks, end to end on
//! in-memory nodes: a correct store passes; a store that loses an
//! acknowledged write, or answers reads from a stale copy, fails with the
//! operations named.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use tf_core::BoxError;
use tf_core::history::{HISTORY_FILE, operations, read_history};
use tf_core::report::*;
use tf_core::scenario::*;
use tf_core::testing::{FakeApp, FakeDeployer, FakeNode, HeightObserver, fake_observation};
use tf_core::workloads::{FaultKind, KeyValueStore, KvError, KvWorkload, NodeFault};

/// How the store misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    None,
    /// Every 7th write is acknowledged and dropped.
    LosesWrites,
    /// Reads answer from a copy taken a second ago.
    StaleReads,
    /// No compare-and-set.
    NoCas,
    /// Every request takes 5 ms, and 300 ms on node-1.
    Slow,
}

/// One shared map behind every node (a single copy: linearizable), reached
/// only while the node answers.
#[derive(Default)]
struct Map {
    values: HashMap<String, String>,
    writes: u64,
    /// The copy stale reads come from, and when it was taken.
    copy: (HashMap<String, String>, Option<tokio::time::Instant>),
}

#[derive(Clone)]
struct Store {
    fake: FakeApp,
    map: Arc<Mutex<Map>>,
    bug: Bug,
    /// Every request is refused until then (a slow recovery).
    refuse_until: Arc<Mutex<Option<tokio::time::Instant>>>,
}

impl Store {
    fn new(bug: Bug) -> Self {
        Store {
            fake: FakeApp::default(),
            map: Arc::default(),
            bug,
            refuse_until: Arc::default(),
        }
    }
}

#[async_trait]
impl Application for Store {
    type Client = Arc<FakeNode>;

    fn name(&self) -> &str {
        "fake-store"
    }
    fn binary(&self) -> NodeBinary {
        self.fake.binary()
    }
    fn ports(&self) -> Vec<PortSpec> {
        self.fake.ports()
    }
    fn node_command(&self, node: &NodeSpec, all: &[NodeSpec]) -> Result<NodeCommand, BoxError> {
        self.fake.node_command(node, all)
    }
    fn client(&self, endpoint: &NodeEndpoint) -> Result<Arc<FakeNode>, BoxError> {
        self.fake.client(endpoint)
    }
    async fn ready(&self, node: &Arc<FakeNode>) -> Result<(), BoxError> {
        self.fake.ready(node).await
    }
}

impl Store {
    async fn reach(&self, node: &FakeNode) -> Result<(), KvError> {
        node.height()
            .await
            .map_err(|e| KvError::Refused(e.to_string()))?;
        if self
            .refuse_until
            .lock()
            .is_some_and(|t| tokio::time::Instant::now() < t)
        {
            return Err(KvError::Refused("recovering".into()));
        }
        if self.bug == Bug::Slow {
            let ms = if node.name() == "node-1" { 300 } else { 5 };
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok(())
    }
}

#[async_trait]
impl KeyValueStore for Store {
    async fn kv_read(&self, node: &Arc<FakeNode>, key: &str) -> Result<Option<String>, KvError> {
        self.reach(node).await?;
        let mut map = self.map.lock();
        if self.bug == Bug::StaleReads {
            let now = tokio::time::Instant::now();
            if map
                .copy
                .1
                .is_none_or(|at| now - at > Duration::from_secs(1))
            {
                map.copy = (map.values.clone(), Some(now));
            }
            return Ok(map.copy.0.get(key).cloned());
        }
        Ok(map.values.get(key).cloned())
    }

    async fn kv_write(&self, node: &Arc<FakeNode>, key: &str, value: &str) -> Result<(), KvError> {
        self.reach(node).await?;
        let mut map = self.map.lock();
        map.writes += 1;
        if !(self.bug == Bug::LosesWrites && map.writes % 7 == 0) {
            map.values.insert(key.to_owned(), value.to_owned());
        }
        Ok(())
    }

    async fn kv_cas(
        &self,
        node: &Arc<FakeNode>,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, KvError> {
        if self.bug == Bug::NoCas {
            return Err(KvError::Unsupported);
        }
        self.reach(node).await?;
        let mut map = self.map.lock();
        if map.values.get(key).map(String::as_str) == expected {
            map.values.insert(key.to_owned(), new.to_owned());
            Ok(true)
        } else {
            Ok(false)
        }
    }
}

fn scenario(bug: Bug) -> ScenarioBuilder<Store> {
    Scenario::builder("kv", Store::new(bug))
        .nodes(3)
        .duration(Duration::from_secs(5))
        .cooldown(Duration::from_millis(100))
        .key_value(KvWorkload::new().clients(4).rate(80.0).keys(4).seed(7))
}

async fn run_in(dir: &tempfile::TempDir, scenario: Scenario<Store>) -> RunReport {
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let report = run(scenario, &deployer, RunOptions::default()).await;
    assert!(deployer.cleaned_up());
    report
}

fn verdict<'a>(report: &'a RunReport, name: &str) -> &'a ExpectationReport {
    report
        .expectations
        .iter()
        .find(|e| e.name.starts_with(name))
        .unwrap_or_else(|| panic!("no expectation `{name}` in {report}"))
}

#[tokio::test(start_paused = true)]
async fn a_correct_store_passes_every_check_under_kills() {
    let dir = tempfile::tempdir().unwrap();
    let kills = NodeFault::new("kills", FaultKind::Kill)
        .every(Duration::from_secs(1))
        .target(|_: &Vec<(String, Option<u64>)>| Some("node-1".to_owned()));
    let report = run_in(
        &dir,
        scenario(Bug::None)
            .observer(HeightObserver, fake_observation())
            .workload(kills)
            .build()
            .unwrap(),
    )
    .await;
    report.assert_passed();
    for name in [
        "every key the clients wrote reads back",
        "no acknowledged write is lost",
        "what the clients saw is linearizable (kv model)",
    ] {
        assert_eq!(verdict(&report, name).passed, Some(true), "{name}");
    }
    let events = read_history(&dir.path().join("run").join(HISTORY_FILE)).unwrap();
    let ops = operations(&events).unwrap();
    let (ok, failed) = (
        ops.iter().filter(|o| o.is_ok()).count(),
        ops.iter().filter(|o| !o.is_ok() && !o.is_unknown()).count(),
    );
    // 80 requests a second for 5 s, and the killed node refusing some.
    assert!(ok > 250 && failed > 10, "{ok} ok, {failed} failed");
    for f in ["read", "write", "cas"] {
        assert!(
            ops.iter().any(|o| o.f == f && o.is_ok()),
            "no {f} succeeded"
        );
    }
    // Measured: one line per workload and kind, in the printout, the
    // report's series and the page's charts.
    let kinds: Vec<(&str, &str)> = report
        .clients
        .iter()
        .map(|c| (c.client.as_str(), c.f.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("final-reads", "read"),
            ("kv-clients", "cas"),
            ("kv-clients", "read"),
            ("kv-clients", "write")
        ]
    );
    let writes = &report.clients[3];
    assert!(writes.ok > 100 && writes.latency.is_some(), "{writes:?}");
    // One entry per second of the window, and of the last requests in
    // flight when it closed.
    let seconds = writes.per_second.len() as u64;
    let window = report.timings.run_ms.div_ceil(1000);
    assert!(
        seconds == window || seconds == window + 1,
        "{seconds} seconds"
    );
    let printed = report.to_string();
    assert!(
        printed.contains("clients (latency of the requests that took effect):"),
        "{printed}"
    );
    assert!(
        printed
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["kv-clients", "write"])),
        "{printed}"
    );
    let page = std::fs::read_to_string(dir.path().join("run/report.html")).unwrap();
    assert!(page.contains("request latency (ms)") && page.contains("ok requests per second"));
    let said: Vec<&str> = report.timeline.iter().map(|t| t.what.as_str()).collect();
    assert!(
        said.iter()
            .any(|w| w
                .starts_with("4 clients, 80 requests/s over 4 keys (50% reads, 10% cas), seed 7")),
        "{said:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_acknowledged_write_fails_both_checks_naming_the_write() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_in(&dir, scenario(Bug::LosesWrites).build().unwrap()).await;
    assert_eq!(report.verdict, Verdict::Failed, "{report}");
    let linearizable = verdict(&report, "what the clients saw is linearizable");
    assert_eq!(linearizable.passed, Some(false), "{report}");
    assert!(
        linearizable
            .observed
            .as_deref()
            .unwrap()
            .contains("cannot linearize: process"),
        "{linearizable:#?}"
    );
    // The last write to a key may be the lost one only sometimes; the
    // linearizability check sees every loss a later read shows.
    let acked = verdict(&report, "no acknowledged write is lost");
    if acked.passed == Some(false) {
        let observed = acked.observed.as_deref().unwrap();
        assert!(
            observed.contains("lost: process") && observed.contains("write"),
            "{observed}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn stale_reads_fail_the_linearizability_check_with_the_read_named() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_in(&dir, scenario(Bug::StaleReads).build().unwrap()).await;
    let linearizable = verdict(&report, "what the clients saw is linearizable");
    assert_eq!(linearizable.passed, Some(false), "{report}");
    let reason = linearizable.reason.as_deref().unwrap();
    assert!(reason.starts_with("not linearizable: key k"), "{reason}");
    assert!(
        reason.contains(" read ["),
        "the stale read is named: {reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_store_without_compare_and_set_is_driven_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let report = run_in(&dir, scenario(Bug::NoCas).build().unwrap()).await;
    report.assert_passed();
    let events = read_history(&dir.path().join("run").join(HISTORY_FILE)).unwrap();
    let cas = events.iter().filter(|e| e.f == "cas").count();
    assert!(cas <= 2 * 4, "at most one try per client: {cas} cas events");
    assert!(
        report
            .timeline
            .iter()
            .any(|t| t.what == "the store has no compare-and-set; leaving it out")
    );
}

#[tokio::test(start_paused = true)]
async fn a_key_that_cannot_be_read_back_fails_the_final_reads() {
    let dir = tempfile::tempdir().unwrap();
    /// Takes every node down just before the window ends.
    struct Blackout;
    #[async_trait]
    impl Workload<Store> for Blackout {
        fn name(&self) -> &str {
            "blackout"
        }
        async fn run(&self, ctx: &RunContext<Store>) -> Result<(), BoxError> {
            ctx.over().await;
            for node in ctx.nodes().iter() {
                ctx.control().kill(node.name.as_str()).await?;
            }
            Ok(())
        }
    }
    let report = run_in(
        &dir,
        scenario(Bug::None)
            .workload(Blackout)
            .allow_node_crashes()
            .build()
            .unwrap(),
    )
    .await;
    let reads = verdict(&report, "every key the clients wrote reads back");
    assert_eq!(reads.passed, Some(false), "{report}");
    assert!(
        reads
            .reason
            .as_deref()
            .unwrap()
            .contains("could not be read back within 15s after the run"),
        "{reads:#?}"
    );
}

/// At 1 s, a one-second fault after which the store refuses every request
/// for 3 s more (a slow recovery).
struct SlowRecovery;

#[async_trait]
impl Workload<Store> for SlowRecovery {
    fn name(&self) -> &str {
        "slow-recovery"
    }
    async fn run(&self, ctx: &RunContext<Store>) -> Result<(), BoxError> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let fault = ctx.begin_fault(self.name(), "every node refuses");
        *ctx.app().refuse_until.lock() = Some(tokio::time::Instant::now() + Duration::from_secs(4));
        tokio::time::sleep(Duration::from_secs(1)).await;
        ctx.end_fault(fault);
        ctx.over().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn service_level_objectives_judge_latency_throughput_and_recovery() {
    use tf_core::checker::{AvailabilitySlo, LatencySlo, ThroughputSlo};
    let ms = Duration::from_millis;
    let scenario = || {
        Scenario::builder("slo", Store::new(Bug::Slow))
            .nodes(3)
            .duration(Duration::from_secs(8))
            .cooldown(ms(100))
            .workload(KvWorkload::new().clients(6).rate(60.0).keys(4).seed(3))
            .workload(SlowRecovery)
            .expect(LatencySlo::new(0.5, ms(100)).of("kv-clients"))
            .expect(
                LatencySlo::new(0.99, ms(100))
                    .of("kv-clients")
                    .kind("write"),
            )
            .expect(
                ThroughputSlo::new(5.0)
                    .over(Duration::from_secs(2))
                    .outside_faults(),
            )
            .expect(ThroughputSlo::new(5.0).over(Duration::from_secs(2)))
            .expect(AvailabilitySlo::new(Duration::from_secs(5)).of("kv-clients"))
            .expect(AvailabilitySlo::new(Duration::from_secs(1)).of("kv-clients"))
            // The fault ends at 2 s of an 8 s window: 7 s cannot be judged.
            .expect(AvailabilitySlo::new(Duration::from_secs(7)).of("kv-clients"))
            .build()
            .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let report = run_in(&dir, scenario()).await;
    let verdicts: Vec<(String, Option<bool>)> = report
        .expectations
        .iter()
        .map(|e| (e.name.clone(), e.passed))
        .collect();
    assert_eq!(
        verdicts,
        [
            (
                "p50 latency of kv-clients requests below 100.0ms".into(),
                Some(true)
            ),
            (
                "p99 latency of kv-clients write requests below 100.0ms".into(),
                Some(false)
            ),
            // The store refuses for 3 s past the fault: outside it too.
            (
                "at least 5 requests/s over every 2.00s outside fault windows".into(),
                Some(false)
            ),
            ("at least 5 requests/s over every 2.00s".into(), Some(false)),
            (
                "kv-clients requests succeed again within 5.00s after each fault".into(),
                Some(true)
            ),
            (
                "kv-clients requests succeed again within 1.00s after each fault".into(),
                Some(false)
            ),
            (
                "kv-clients requests succeed again within 7.00s after each fault".into(),
                Some(false)
            ),
        ],
        "{report}"
    );
    let reason = |i: usize| report.expectations[i].reason.clone().unwrap_or_default();
    assert!(reason(1).starts_with("p99 was 30"), "{}", reason(1));
    assert!(
        report.expectations[1]
            .observed
            .as_deref()
            .unwrap()
            .contains("the slowest: process")
    );
    assert!(
        reason(2).starts_with("0.0 requests/s from 2.1s to 4.1s"),
        "{}",
        reason(2)
    );
    assert!(
        reason(3).starts_with("0.0 requests/s from 1.1s to 3.1s"),
        "{}",
        reason(3)
    );
    assert!(
        reason(5).contains("1 of 1 fault(s) left kv-clients requests failing longer than 1.00s"),
        "{}",
        reason(5)
    );
    let observed = report.expectations[5].observed.as_deref().unwrap();
    assert!(
        observed.contains("`every node refuses` ended at 2.0s; the first request succeeded 3."),
        "{observed}"
    );

    assert!(
        reason(6).starts_with("no fault ended at least 7.00s before the end of the run window"),
        "{}",
        reason(6)
    );
    // The same verdicts from the recorded history and faults alone.
    let replayed = replay(scenario(), &dir.path().join("run")).await.unwrap();
    let again: Vec<(String, Option<bool>)> = replayed
        .expectations
        .iter()
        .map(|e| (e.name.clone(), e.passed))
        .collect();
    assert_eq!(again, verdicts, "{replayed}");
}
