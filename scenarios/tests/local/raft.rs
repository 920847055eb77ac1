//! The Raft key-value app on local processes: the failover scenario passes,
//! a wrong expectation fails with the observed state, crashes are reported,
//! and no node process survives a run however it ends (success, failure,
//! panic, Ctrl-C, SIGKILL of the runner).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use openraft_kv_tf::RaftEvent;
use openraft_kv_tf::scenarios::{FailoverOptions, raft_base, raft_failover};
use openraft_kv_tf::{RaftKv, RaftObserver, RaftSnapshot, leader_failover};
use tf_core::BoxError;
use tf_core::report::{RecordedObservation, Severity, Verdict};
use tf_core::scenario::deploy::DeploymentRequest;
use tf_core::scenario::*;
use tf_core::workloads::FaultKind;
use tf_local::LocalDeployer;
use tf_local::leftovers::{
    node_processes, processes_naming, wait_for_node_processes as eventually_processes,
};

use crate::run_locally;

/// Three clusters at a time: a 3-node cluster of debug-built Raft nodes
/// and its runner take about a quarter of one core (12.7 s of CPU in the
/// 52 s these tests took one at a time), the rest is waiting on windows
/// and elections.
static CLUSTERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(3);

fn run_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_scenario_passes_on_local_processes_and_leaves_nothing_running() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let scenario = raft_failover(&FailoverOptions {
        duration: Duration::from_secs(10),
        ..FailoverOptions::default()
    })
    .unwrap();
    let report = run_locally(scenario, &dir).await;

    assert!(report.passed(), "{report:#?}");
    let judged: Vec<&str> = report
        .expectations
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        judged,
        [
            "at most one leader per term",
            "a leader within the bound after each failover",
            "all nodes converge on the same key-value state",
            "every key the clients wrote reads back after the run",
            "no acknowledged write is lost",
            "what the clients saw is linearizable (kv model)",
            "p99 latency of kv-clients write requests below 2.00s outside fault windows",
        ]
    );
    assert!(
        report.expectations.iter().all(|e| e.passed == Some(true)),
        "{:#?}",
        report.expectations
    );
    // What the clients saw is recorded, and exported for Jepsen's tools.
    let history = tf_core::history::read_history(&dir.join("history.jsonl")).unwrap();
    let ops = tf_core::history::operations(&history).unwrap();
    assert!(
        ops.iter().filter(|op| op.is_ok()).count() > 100,
        "{} ops",
        ops.len()
    );
    assert!(dir.join("history.edn").is_file());
    let kills = report
        .timeline
        .iter()
        .filter(|t| t.what.starts_with("kill node-"))
        .count();
    let takeovers = report
        .timeline
        .iter()
        .filter(|t| t.what.starts_with("observed new leader"))
        .count();
    assert!(kills >= 1 && takeovers == kills, "{:#?}", report.timeline);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"], "passed");
    assert!(dir.join("node-0/node.log").is_file());
    // What the observer saw is recorded, typed, and on the timeline.
    let observations = std::fs::read_to_string(dir.join("observations.jsonl")).unwrap();
    let recorded: Vec<RecordedObservation<RaftSnapshot, RaftEvent>> = observations
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(recorded.len() > 50, "{}", recorded.len());
    assert!(recorded.iter().any(|r| {
        r.series
            .iter()
            .any(|p| p.series == "term" && p.value >= 2.0)
    }));
    let unreachable = report
        .timeline
        .iter()
        .find(|t| t.source == "RaftObserver" && t.what.contains("unreachable"))
        .expect("the observer's view of the kill is on the timeline");
    assert_eq!(unreachable.severity, Severity::Warning);
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), 8, "{junit}");
    assert!(
        std::fs::read_to_string(dir.join("report.html"))
            .unwrap()
            .contains("<svg")
    );
    // The recorded run replays offline to the same verdicts.
    let replayed = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .arg("replay")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&replayed.stdout);
    assert_eq!(replayed.status.code(), Some(0), "{stdout}");
    let replayed_line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .map(|l| l.split_whitespace().rev().take(2).collect::<Vec<_>>())
    };
    for judged_again in [
        "at most one leader per term",
        "no acknowledged write is lost",
        "what the clients saw is linearizable",
    ] {
        assert_eq!(
            replayed_line(judged_again),
            Some(vec!["PASS", "PASS"]),
            "{judged_again}: {stdout}"
        );
    }
    assert!(
        stdout.contains("not replayed: it needs the live cluster")
            && stdout.ends_with("REPLAY PASSED\n"),
        "{stdout}"
    );
    assert_eq!(
        node_processes(&dir),
        Vec::<u32>::new(),
        "no node survives a passing run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_expectation_fails_and_shows_the_observed_state() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let scenario = raft_base(
        "wrong-expectation",
        RaftKv::default(),
        3,
        Duration::from_secs(20),
    )
    .workload(leader_failover(FaultKind::Kill).every(Duration::from_secs(1)))
    // Wrong on purpose: a failover changes the leader.
    .expect(Always::new(
        "the leader never changes",
        |s: &RaftSnapshot| match s.leaders_by_term.len() {
            0 | 1 => Ok(()),
            _ => Err(format!(
                "leader changed: leaders by term {:?}",
                s.leaders_by_term
            )),
        },
    ))
    .build()
    .unwrap();
    let report = run_locally(scenario, &dir).await;

    assert_eq!(report.verdict, Verdict::Failed, "{report:#?}");
    let wrong = &report.expectations[0];
    assert_eq!(wrong.passed, Some(false));
    assert!(
        wrong
            .reason
            .as_deref()
            .unwrap()
            .starts_with("leader changed: leaders by term"),
        "{wrong:#?}"
    );
    let observed = wrong.observed.as_deref().unwrap();
    assert!(
        observed.contains("RaftSnapshot") && observed.contains("leaders_by_term"),
        "{observed}"
    );
    assert!(
        report
            .summary
            .as_deref()
            .unwrap()
            .contains("expectation `the leader never changes` failed")
    );
    assert!(
        report.timings.run_ms < 15_000,
        "an always-expectation fails fast: {:?}",
        report.timings
    );
    assert_eq!(
        node_processes(&dir),
        Vec::<u32>::new(),
        "no node survives a failing run"
    );
}

/// Kills a node behind the deployer's back, as a crash would.
struct CrashNode {
    run_dir: PathBuf,
    node: &'static str,
}

#[async_trait]
impl Workload<RaftKv> for CrashNode {
    fn name(&self) -> &str {
        "crash"
    }

    async fn run(&self, ctx: &RunContext<RaftKv>) -> Result<(), BoxError> {
        let data_dir = self.run_dir.join(self.node).join("data");
        let pid = processes_naming(&data_dir)
            .first()
            .copied()
            .ok_or("node process not found")?;
        ctx.record(
            self.name(),
            format!("SIGKILL {} (pid {pid}) outside the deployer", self.node),
        );
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL)?;
        ctx.over().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_crashing_mid_run_is_reported_not_hung_on() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let scenario = Scenario::builder("crash", RaftKv::default())
        .duration(Duration::from_secs(60))
        .observer(RaftObserver, openraft_kv_tf::scenarios::raft_observation())
        .workload(CrashNode {
            run_dir: dir.clone(),
            node: "node-1",
        })
        .build()
        .unwrap();
    let report = run_locally(scenario, &dir).await;

    assert_eq!(report.verdict, Verdict::Failed, "{report:#?}");
    assert!(
        report.timings.run_ms < 10_000,
        "the run stopped at the crash, not after 60 s: {:?}",
        report.timings
    );
    assert_eq!(report.node_crashes.len(), 1, "{:#?}", report.node_crashes);
    assert_eq!(report.node_crashes[0].node, "node-1");
    assert_eq!(report.node_crashes[0].status, "killed by SIGKILL");
    assert!(
        report
            .summary
            .as_deref()
            .unwrap()
            .contains("node node-1 exited on its own"),
        "{:?}",
        report.summary
    );
    assert_eq!(node_processes(&dir), Vec::<u32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_while_holding_a_cluster_kills_its_nodes() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let request = DeploymentRequest::new(Arc::new(RaftKv::default()), "panic", 3)
        .with_run_dir(Some(dir.clone()));
    let panicking = tokio::spawn(async move {
        let cluster = LocalDeployer::new().deploy(&request).await.unwrap();
        let up = eventually_processes(cluster.run_dir(), Duration::from_secs(10), |n| n == 3);
        assert_eq!(up, 3);
        panic!("the test panics while the cluster runs");
    });
    assert!(panicking.await.unwrap_err().is_panic());
    assert_eq!(
        eventually_processes(&dir, Duration::from_secs(10), |n| n == 0),
        0,
        "nodes survived a panic"
    );
}

/// Starts the CLI on raft-failover with a long run window, and waits until
/// the run window is open (its progress line says so) and three nodes run.
fn start_cli(dir: &Path) -> std::process::Child {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-failover", "--duration", "120s", "--run-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (opened, window) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("running for") {
                let _ = opened.send(());
            }
        }
    });
    window
        .recv_timeout(Duration::from_secs(120))
        .expect("the CLI never opened its run window");
    assert_eq!(
        node_processes(dir).len(),
        3,
        "the CLI did not start three nodes"
    );
    child
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the CLI did not exit within {limit:?}"
        );
        // A child's exit is polled (try_wait), bounded by the deadline above.
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_the_run_cleans_up_and_reports() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let mut cli = start_cli(&dir);
    kill(Pid::from_raw(cli.id() as i32), Signal::SIGINT).unwrap();
    let status = wait_exit(&mut cli, Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "an interrupted run is not a pass");
    assert_eq!(
        node_processes(&dir),
        Vec::<u32>::new(),
        "nodes survived Ctrl-C"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"], "error");
    assert_eq!(json["summary"], "interrupted by the user", "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_runner_outright_still_kills_its_nodes() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let mut cli = start_cli(&dir);
    kill(Pid::from_raw(cli.id() as i32), Signal::SIGKILL).unwrap();
    wait_exit(&mut cli, Duration::from_secs(10));
    assert_eq!(
        eventually_processes(&dir, Duration::from_secs(10), |n| n == 0),
        0,
        "nodes outlived a SIGKILLed runner"
    );
}

#[test]
fn a_missing_node_binary_is_an_error_that_says_how_to_get_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-failover", "--run-dir"])
        .arg(run_dir(&tmp))
        .env("OPENRAFT_KV_NODE_BIN", "/nonexistent/openraft-kv-node")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ERROR: deploy failed: node binary `openraft-kv-node` not found"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "$OPENRAFT_KV_NODE_BIN = /nonexistent/openraft-kv-node (not an executable file)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("cargo build -p openraft-kv-node"),
        "{stdout}"
    );
}

#[test]
fn an_unknown_scenario_lists_the_known_ones() {
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "no-such"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("no scenario named `no-such`; known: raft-failover"),
        "{stderr}"
    );
}

#[test]
fn a_partition_scenario_is_refused_on_local_processes_before_any_node_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-partition", "--run-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "the local deployer cannot partition nodes, which workload `leader-partition` needs"
        ),
        "{stdout}"
    );
    assert!(!dir.join("node-0").exists(), "no node was started");
}

/// RaftKv, except that node-1 is told to listen on a port someone holds.
struct TakenPort {
    inner: RaftKv,
    port: u16,
}

#[async_trait]
impl Application for TakenPort {
    type Client = <RaftKv as Application>::Client;
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn binary(&self) -> NodeBinary {
        self.inner.binary()
    }
    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        let mut command = self.inner.node_command(node, topology)?;
        if node.index == 1 {
            let addr = command
                .args
                .iter()
                .position(|a| a == "--addr")
                .expect("an --addr argument")
                + 1;
            command.args[addr] = format!("127.0.0.1:{}", self.port);
        }
        Ok(command)
    }
    fn client(&self, endpoint: &NodeEndpoint) -> Result<Self::Client, BoxError> {
        self.inner.client(endpoint)
    }
    async fn ready(&self, client: &Self::Client) -> Result<(), BoxError> {
        self.inner.ready(client).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_clear_error_naming_the_node_and_its_log() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let scenario = Scenario::builder(
        "taken-port",
        TakenPort {
            inner: RaftKv::default(),
            port,
        },
    )
    .duration(Duration::from_secs(5))
    .build()
    .unwrap();
    let report = run_locally(scenario, &dir).await;

    assert_eq!(report.verdict, Verdict::Error, "{report:#?}");
    let summary = report.summary.as_deref().unwrap();
    assert!(
        summary.contains("node node-1 exited during start (exit code 1)"),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("address 127.0.0.1:{port} is already in use")),
        "{summary}"
    );
    assert_eq!(node_processes(&dir), Vec::<u32>::new());
}

/// Writes a key, restarts a follower gracefully (SIGTERM), and reads the key
/// back from it: a restart keeps the node's data.
struct RestartKeepsData;

#[async_trait]
impl Workload<RaftKv> for RestartKeepsData {
    fn name(&self) -> &str {
        "restart-keeps-data"
    }

    async fn run(&self, ctx: &RunContext<RaftKv>) -> Result<(), BoxError> {
        let raft = ctx.observer::<RaftObserver>()?;
        let settled = raft
            .wait_until(|s| s.leader.is_some(), Duration::from_secs(10))
            .await?;
        let leader = settled.snapshot.leader.clone().ok_or("no leader")?;
        let follower = if leader.node == "node-1" {
            "node-2"
        } else {
            "node-1"
        };
        let index = ctx
            .client(&leader.node)
            .ok_or("no client")?
            .write("durable", "yes")
            .await?;
        raft.wait_until(
            |s| {
                s.nodes[follower]
                    .state
                    .as_ref()
                    .is_some_and(|n| n.last_applied >= Some(index))
            },
            Duration::from_secs(10),
        )
        .await?;
        ctx.control().restart(follower).await?;
        // State observed after the restart, not the snapshot from before it.
        let restarted = raft.cursor();
        raft.wait_until_after(
            restarted,
            |s| s.nodes[follower].reachable(),
            Duration::from_secs(10),
        )
        .await?;
        let value = ctx
            .client(follower)
            .ok_or("no client")?
            .read("durable")
            .await?;
        ctx.record(
            self.name(),
            format!("restarted {follower}; it reads durable = {value:?}"),
        );
        if value.as_deref() != Some("yes") {
            return Err(format!("{follower} lost `durable` over a restart: {value:?}").into());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_restart_keeps_the_nodes_data() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let scenario = Scenario::builder("restart", RaftKv::default())
        .duration(Duration::from_secs(8))
        .cooldown(Duration::ZERO)
        .observer(RaftObserver, openraft_kv_tf::scenarios::raft_observation())
        .workload(RestartKeepsData)
        .build()
        .unwrap();
    let report = run_locally(scenario, &dir).await;
    assert!(report.passed(), "{report:#?}");
    assert!(
        report
            .timeline
            .iter()
            .any(|t| t.what.ends_with("reads durable = Some(\"yes\")")),
        "{:#?}",
        report.timeline
    );
    assert!(
        report.cleanup.forced.is_empty(),
        "nodes stop on SIGTERM: {:?}",
        report.cleanup.forced
    );
    assert!(report.node_crashes.is_empty());
}

#[test]
fn a_used_run_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("something"), "from an earlier run").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-failover", "--run-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("is not empty; give a new or empty directory"),
        "{stdout}"
    );
    assert!(
        tmp.path().join("something").exists(),
        "nothing of the user's was touched"
    );
}

#[test]
fn fewer_than_three_nodes_for_failover_is_refused_up_front() {
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", "raft-failover", "--nodes", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains(
            "parameter `nodes` of `raft-failover` must be a whole number, at least 3; got `2`"
        ),
        "{stderr}"
    );
}

#[test]
fn a_parameter_the_scenario_does_not_take_or_of_the_wrong_type_is_refused_before_anything_runs() {
    let refused = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "nothing ran for {args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused(&["run", "chain-liveness", "--set", "wallets=4"]);
    assert!(
        stderr.contains(
            "scenario `chain-liveness` has no parameter `wallets`; it takes: nodes, duration"
        ),
        "{stderr}"
    );
    let stderr = refused(&["run", "wallet-transfers", "--set", "rate=fast"]);
    assert!(
        stderr.contains(
            "parameter `rate` of `wallet-transfers` must be a number above 0; got `fast`"
        ),
        "{stderr}"
    );
    let stderr = refused(&["run", "raft-failover", "--set", "fault"]);
    assert!(stderr.contains("is not NAME=VALUE"), "{stderr}");
    let stderr = refused(&["run", "no-such-scenario"]);
    assert!(
        stderr.contains("no scenario named `no-such-scenario`; known: raft-failover, raft-partition, raft-one-way, raft-slow-links, raft-nemesis, raft-stale-reads, chain-rpc, chain-liveness, wallet-transfers, chain-partition, chain-clock-skew, redis-failover"),
        "{stderr}"
    );
}

#[test]
fn list_shows_every_scenario_with_its_parameters_and_defaults() {
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .arg("list")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for line in [
        "raft-failover",
        "--set fault=kill",
        "wallet-transfers",
        "--set wallets=8",
        "--set rate=4",
        "chain-liveness",
        "raft-partition",
        "--set cut-for=3s",
        "raft-stale-reads",
        "--set clients=5",
        "chain-partition",
        "--set k=40",
    ] {
        assert!(stdout.contains(line), "{line} missing from:\n{stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_is_replaced_and_rejoins_with_no_acknowledged_write_lost() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    let scenario = raft_failover(&FailoverOptions {
        fault: FaultKind::Pause,
        duration: Duration::from_secs(12),
        ..FailoverOptions::default()
    })
    .unwrap();
    let report = run_locally(scenario, &dir).await;
    report.assert_passed();
    let said = |what: &str| report.timeline.iter().any(|t| t.what.starts_with(what));
    assert!(said("pause node-") && said("resume node-"), "{report}");
    assert!(said("observed new leader"), "{report}");
    assert!(
        report
            .timeline
            .iter()
            .any(|t| t.source == "RaftObserver" && t.what.contains("unreachable: no answer within")),
        "a frozen leader is seen as not answering: {report}"
    );
    assert_eq!(node_processes(&dir), Vec::<u32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_fail_the_linearizability_check_with_a_counterexample() {
    let _slot = CLUSTERS.acquire().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(&tmp);
    // The catalog's clients for it: few keys, so that a read in flight to
    // the paused leader is likely to meet a key written meanwhile.
    let scenario = openraft_kv_tf::scenarios::raft_stale_reads(&FailoverOptions {
        fault: FaultKind::Pause,
        duration: Duration::from_secs(15),
        clients: openraft_kv_tf::scenarios::STALE_READS_CLIENTS,
        ..FailoverOptions::default()
    })
    .unwrap();
    let report = run_locally(scenario, &dir).await;
    assert_eq!(report.verdict, Verdict::Failed, "{report}");
    let linearizable = report
        .expectations
        .iter()
        .find(|e| e.name == "what the clients saw is linearizable (kv model)")
        .unwrap();
    assert_eq!(linearizable.passed, Some(false), "{report}");
    let reason = linearizable.reason.as_deref().unwrap();
    assert!(reason.starts_with("not linearizable: key k"), "{reason}");
    assert!(
        reason.contains(" read "),
        "the counterexample is a read: {reason}"
    );
    let observed = linearizable.observed.as_deref().unwrap();
    assert!(
        observed.contains("cannot linearize") && observed.contains("longest linearizable prefix"),
        "{observed}"
    );
    // The same verdict offline, from the recorded history.
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .arg("check")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(node_processes(&dir), Vec::<u32>::new());
}
