//! tf-local's own guarantees, on a tiny two-port node (a Python script):
//! no node outlives a run however it ends, every port of every node is
//! distinct and kept across restarts, a taken port and a used run directory
//! are clear errors, and a paused node still stops cleanly.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tf_core::BoxError;
use tf_core::http::JsonClient;
use tf_core::observation::{
    ObservationConfig, ObservationRuntime, ObservedSource, Observer, SourceSet, Sources,
};
use tf_core::report::Verdict;
use tf_core::scenario::deploy::DeploymentRequest;
use tf_core::scenario::{
    Application, Deployer, NodeBinary, NodeCommand, NodeSpec, PortSpec, RunContext, RunOptions,
    Scenario, Workload, run,
};
use tf_local::LocalDeployer;
use tf_local::leftovers::{node_processes, wait_for_node_processes};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ticker-node.py");
const WAIT: Duration = Duration::from_secs(15);

/// The ticker node with an API, a peer port and a UDP port it does not use
/// (to show UDP ports are allocated too); node-1 can be told to take an API
/// port someone else holds.
#[derive(Default)]
struct Tiny {
    node_1_api: Option<u16>,
    /// Asks for a port it did not declare (an app bug).
    undeclared_port: bool,
}

#[async_trait]
impl Application for Tiny {
    type Client = JsonClient;

    fn name(&self) -> &str {
        "tiny"
    }

    fn binary(&self) -> NodeBinary {
        NodeBinary::named("python3", "TF_TEST_PYTHON")
    }

    fn ports(&self) -> Vec<PortSpec> {
        vec![
            PortSpec::tcp("api"),
            PortSpec::tcp("peer"),
            PortSpec::udp("discovery"),
        ]
    }

    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        if self.undeclared_port {
            node.port("metrics")?;
        }
        let mut api = node.bind_address("api")?;
        if let (1, Some(port)) = (node.index, self.node_1_api) {
            api = format!("127.0.0.1:{port}");
        }
        let peers: Vec<String> = topology
            .iter()
            .filter(|p| p.index != node.index)
            .map(|p| p.address("peer"))
            .collect::<Result<_, _>>()?;
        Ok(NodeCommand::args([
            SCRIPT.to_owned(),
            "--name".into(),
            node.name.clone(),
            "--api".into(),
            api,
            "--peer".into(),
            node.bind_address("peer")?,
            "--peers".into(),
            peers.join(","),
            "--data-dir".into(),
            node.data_dir.display().to_string(),
        ]))
    }

    async fn ready(&self, client: &JsonClient) -> Result<(), BoxError> {
        client.get::<serde_json::Value>("/state").await?;
        Ok(())
    }
}

/// Which nodes answer `GET /state`.
struct Answers;

#[async_trait]
impl Observer for Answers {
    type Source = JsonClient;
    type State = BTreeMap<String, bool>;
    type Snapshot = BTreeMap<String, bool>;
    type Event = ();

    async fn init(&self, _: &Sources<'_, JsonClient>) -> Result<Self::State, BoxError> {
        Ok(BTreeMap::new())
    }

    async fn poll(
        &self,
        nodes: &Sources<'_, JsonClient>,
        answers: &mut Self::State,
    ) -> Result<Vec<()>, BoxError> {
        let polled = nodes
            .poll_each(|n| n.source.get::<serde_json::Value>("/state"))
            .await;
        for p in polled {
            answers.insert(p.source.name.to_string(), p.result.is_ok());
        }
        Ok(Vec::new())
    }

    fn snapshot(&self, answers: &Self::State) -> Self::Snapshot {
        answers.clone()
    }
}

fn run_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("run")
}

fn options(dir: &Path) -> RunOptions {
    RunOptions {
        run_dir: Some(dir.to_owned()),
        ..RunOptions::default()
    }
}

fn quick(name: &str) -> tf_core::scenario::ScenarioBuilder<Tiny> {
    Scenario::builder(name, Tiny::default())
        .duration(Duration::from_millis(500))
        .cooldown(Duration::ZERO)
}

async fn no_node_left(dir: &Path) {
    let dir = dir.to_owned();
    let left = tokio::task::spawn_blocking(move || wait_for_node_processes(&dir, WAIT, |n| n == 0))
        .await
        .unwrap();
    assert_eq!(left, 0, "node processes outlived the run");
}

struct Fails;

#[async_trait]
impl Workload<Tiny> for Fails {
    fn name(&self) -> &str {
        "fails"
    }
    async fn run(&self, _: &RunContext<Tiny>) -> Result<(), BoxError> {
        Err("the workload gives up".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_node_outlives_a_passing_a_failing_or_a_cancelled_run() {
    let tmp = tempfile::tempdir().unwrap();
    let passing = tmp.path().join("passing");
    run(
        quick("passing").build().unwrap(),
        &LocalDeployer::new(),
        options(&passing),
    )
    .await
    .assert_passed();
    no_node_left(&passing).await;

    let failing = tmp.path().join("failing");
    let report = run(
        quick("failing").workload(Fails).build().unwrap(),
        &LocalDeployer::new(),
        options(&failing),
    )
    .await;
    assert_eq!(report.verdict, Verdict::Failed, "{report}");
    no_node_left(&failing).await;

    let cancelled = tmp.path().join("cancelled");
    let (window_open, mut opened) = tokio::sync::watch::channel(false);
    let options = RunOptions {
        progress: Some(Arc::new(move |message: &str| {
            if message.starts_with("running for") {
                window_open.send_replace(true);
            }
        })),
        ..options(&cancelled)
    };
    let cancel = options.cancel.clone();
    let scenario = quick("cancelled")
        .duration(Duration::from_secs(3600))
        .build()
        .unwrap();
    let running = tokio::spawn(async move { run(scenario, &LocalDeployer::new(), options).await });
    tokio::time::timeout(WAIT, opened.wait_for(|open| *open))
        .await
        .expect("the run window never opened")
        .unwrap();
    assert_eq!(node_processes(&cancelled).len(), 3);
    cancel.cancel();
    let report = running.await.unwrap();
    assert_eq!(
        report.summary.as_deref(),
        Some("interrupted by the user"),
        "{report}"
    );
    no_node_left(&cancelled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_holding_a_cluster_kills_its_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let request = DeploymentRequest::new(Arc::new(Tiny::default()), "panic", 3)
        .with_run_dir(Some(dir.clone()));
    let panicking = tokio::spawn(async move {
        let cluster = LocalDeployer::new().deploy(&request).await.unwrap();
        let up = wait_for_node_processes(cluster.run_dir(), WAIT, |n| n == 3);
        assert_eq!(up, 3);
        panic!("the test panics while the cluster runs");
    });
    assert!(panicking.await.unwrap_err().is_panic());
    no_node_left(&dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_port_of_every_node_is_distinct_and_kept_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let app = Arc::new(Tiny::default());
    let request =
        DeploymentRequest::new(Arc::clone(&app), "ports", 3).with_run_dir(Some(dir.clone()));
    let mut cluster = LocalDeployer::new().deploy(&request).await.unwrap();
    let endpoints = cluster.endpoints();
    let mut numbers: Vec<u16> = endpoints
        .iter()
        .flat_map(|e| e.ports.iter().map(|(_, p)| p))
        .collect();
    assert_eq!(numbers.len(), 9, "3 nodes x 3 ports: {endpoints:?}");
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 9, "no two ports alike: {endpoints:?}");
    assert!(
        endpoints
            .iter()
            .all(|e| e.address.ends_with(&format!(":{}", e.ports.api().unwrap())))
    );

    let sources: SourceSet<JsonClient> = endpoints
        .iter()
        .map(|e| ObservedSource::new(e.name.clone(), app.client(e).unwrap()))
        .collect();
    let config = ObservationConfig::default().with_poll_interval(Duration::from_millis(50));
    let runtime = ObservationRuntime::start(sources, Answers, config).unwrap();
    let handle = runtime.handle();
    let all_answer = |a: &BTreeMap<String, bool>| a.len() == 3 && a.values().all(|ok| *ok);
    handle.wait_until(all_answer, WAIT).await.unwrap();

    let control = cluster.control();
    let cursor = handle.cursor();
    control.restart("node-1").await.unwrap();
    assert_eq!(
        cluster.endpoints(),
        endpoints,
        "the same ports after a restart"
    );
    // Observed after the restart: node-1 answers on its old API port.
    handle
        .wait_until_after(cursor, all_answer, WAIT)
        .await
        .unwrap();
    runtime.stop().await;
    let cleanup = cluster.cleanup().await;
    assert!(
        cleanup.problems.is_empty() && cleanup.forced.is_empty(),
        "{cleanup:?}"
    );
    no_node_left(&dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_stops_cleanly_and_pause_misuse_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let request = DeploymentRequest::new(Arc::new(Tiny::default()), "pause", 2)
        .with_run_dir(Some(dir.clone()));
    let mut cluster = LocalDeployer::new().deploy(&request).await.unwrap();
    let control = cluster.control();
    control.pause("node-0").await.unwrap();
    let again = control.pause("node-0").await.unwrap_err().to_string();
    assert_eq!(again, "pause node-0 failed: it is already paused");
    let not_paused = control.resume("node-1").await.unwrap_err().to_string();
    assert_eq!(not_paused, "resume node-1 failed: it is not paused");
    let unknown = control.pause("node-7").await.unwrap_err().to_string();
    assert_eq!(unknown, "no node named `node-7` in this cluster");
    // Cleanup thaws it so that it sees its SIGTERM: a graceful stop, not a kill.
    let cleanup = cluster.cleanup().await;
    assert!(cleanup.problems.is_empty(), "{cleanup:?}");
    assert!(
        cleanup.forced.is_empty(),
        "the paused node had to be killed: {cleanup:?}"
    );
    no_node_left(&dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_clear_error_naming_the_node_and_quoting_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Tiny {
        node_1_api: Some(held.local_addr().unwrap().port()),
        ..Tiny::default()
    };
    let scenario = Scenario::builder("taken", app)
        .duration(Duration::from_secs(1))
        .ready_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let report = run(scenario, &LocalDeployer::new(), options(&dir)).await;
    assert_eq!(report.verdict, Verdict::Error, "{report}");
    let summary = report.summary.as_deref().unwrap_or_default();
    assert!(
        summary.contains("node node-1 exited during start"),
        "{summary}"
    );
    assert!(summary.contains("Address already in use"), "{summary}");
    no_node_left(&dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_run_directory_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("something"), "the user's").unwrap();
    let report = run(
        quick("used").build().unwrap(),
        &LocalDeployer::new(),
        options(&dir),
    )
    .await;
    assert_eq!(report.verdict, Verdict::Error);
    assert!(
        report
            .summary
            .as_deref()
            .is_some_and(|s| s.contains("is not empty; give a new or empty directory")),
        "{report}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("something")).unwrap(),
        "the user's"
    );
    assert!(node_processes(&dir).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_the_app_did_not_declare_is_a_deploy_error_that_names_it_and_starts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let app = Tiny {
        undeclared_port: true,
        ..Tiny::default()
    };
    let scenario = Scenario::builder("undeclared", app).build().unwrap();
    let report = run(scenario, &LocalDeployer::new(), options(&dir)).await;
    assert_eq!(report.verdict, Verdict::Error);
    assert_eq!(
        report.summary.as_deref(),
        Some(
            "deploy failed: cannot build the command of node-0: node-0 has no port `metrics`; \
             the app declares `api`, `peer`, `discovery`; add it to Application::ports"
        )
    );
    assert!(node_processes(&dir).is_empty());
}
