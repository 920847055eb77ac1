//! Groups on local processes: seed nodes and followers that name the seeds
//! by role, followers started only once the seeds are ready, an observer
//! on one group, and a broken topology stopped before anything runs.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use tf_core::BoxError;
use tf_core::http::JsonClient;
use tf_core::observation::{ObservationConfig, Observer, Sources};
use tf_core::report::Verdict;
use tf_core::scenario::{
    Application, AtEnd, Group, NodeBinary, NodeCommand, NodeSpec, PortSpec, RunOptions, Scenario,
    Topology, run,
};
use tf_core::workloads::{FaultKind, NodeFault};
use tf_local::LocalDeployer;
use tf_local::leftovers::wait_for_node_processes;

const TICKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ticker-node.py");

/// A follower checks, as it starts, that the first seed has ticked at
/// least this often, and exits 3 otherwise: started before the seeds were
/// ready, it would die.
const READY_TICKS: u64 = 10;

/// Follower start-up: refuse to run unless seed-0 already counts
/// READY_TICKS ticks, then become a ticker node.
const GATE: &str = r#"
import json, os, sys, urllib.request
seed, need = sys.argv[1], int(sys.argv[2])
try:
    ticks = json.load(urllib.request.urlopen(f"http://{seed}/state", timeout=2))["ticks"]
except OSError as error:
    print(f"seed {seed} does not answer ({error}): started too early", flush=True)
    sys.exit(3)
if ticks < need:
    print(f"seed {seed} has ticked {ticks} times, not {need}: started too early", flush=True)
    sys.exit(3)
os.execvp(sys.executable, [sys.executable] + sys.argv[3:])
"#;

#[derive(Clone, Copy)]
enum Role {
    /// Ready once it has ticked READY_TICKS times.
    Seed,
    /// Gossips with every seed; starts after them.
    Follower,
    /// Asks for a group the topology does not have.
    Lost,
}

#[async_trait]
impl Application for Role {
    type Client = JsonClient;

    fn name(&self) -> &str {
        match self {
            Role::Seed => "seed",
            Role::Follower | Role::Lost => "follower",
        }
    }

    fn binary(&self) -> NodeBinary {
        NodeBinary::named("python3", "TF_TEST_PYTHON")
    }

    fn ports(&self) -> Vec<PortSpec> {
        vec![PortSpec::tcp("api"), PortSpec::tcp("peer")]
    }

    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        let wanted = match self {
            Role::Lost => "sentinel",
            _ => "seed",
        };
        let seeds = topology.group(wanted)?;
        let peers: Vec<String> = seeds
            .iter()
            .filter(|s| s.name != node.name)
            .map(|s| s.address("peer"))
            .collect::<Result<_, _>>()?;
        let mut args = Vec::new();
        if matches!(self, Role::Follower) {
            args.extend([
                "-c".to_owned(),
                GATE.to_owned(),
                seeds[0].address("api")?,
                READY_TICKS.to_string(),
            ]);
        }
        args.extend([
            TICKER.to_owned(),
            "--name".into(),
            node.name.clone(),
            "--api".into(),
            node.bind_address("api")?,
            "--peer".into(),
            node.bind_address("peer")?,
            "--peers".into(),
            peers.join(","),
        ]);
        Ok(NodeCommand::args(args))
    }

    async fn ready(&self, client: &JsonClient) -> Result<(), BoxError> {
        let state: serde_json::Value = client.get("/state").await?;
        let ticks = state["ticks"].as_u64().unwrap_or_default();
        match self {
            Role::Seed if ticks < READY_TICKS => {
                Err(format!("{ticks} ticks, not yet {READY_TICKS}").into())
            }
            _ => Ok(()),
        }
    }
}

/// Per node: the peers it has heard a count from.
struct Heard;

#[async_trait]
impl Observer for Heard {
    type Source = JsonClient;
    type State = Vec<(String, usize)>;
    type Snapshot = Vec<(String, usize)>;
    type Event = ();

    fn name(&self) -> &str {
        "heard"
    }

    async fn init(&self, _: &Sources<'_, JsonClient>) -> Result<Self::State, BoxError> {
        Ok(Vec::new())
    }

    async fn poll(
        &self,
        nodes: &Sources<'_, JsonClient>,
        heard: &mut Self::State,
    ) -> Result<Vec<()>, BoxError> {
        let polled = nodes
            .poll_each(|n| n.source.get::<serde_json::Value>("/state"))
            .await;
        *heard = polled
            .into_iter()
            .map(|p| {
                let counted = p.result.ok().and_then(|s| {
                    s["peers"]
                        .as_object()
                        .map(|peers| peers.values().filter(|c| c.is_u64()).count())
                });
                (p.source.name.to_string(), counted.unwrap_or_default())
            })
            .collect();
        Ok(Vec::new())
    }

    fn snapshot(&self, heard: &Self::State) -> Self::Snapshot {
        heard.clone()
    }
}

fn options(dir: &Path) -> RunOptions {
    RunOptions {
        run_dir: Some(dir.to_owned()),
        ..RunOptions::default()
    }
}

fn nothing_left(dir: &Path) {
    let left = wait_for_node_processes(dir, Duration::from_secs(15), |n| n == 0);
    assert_eq!(left, 0, "node processes outlived the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_start_after_the_seeds_are_ready_and_reach_them_by_role() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let scenario = Scenario::builder("seeds-and-followers", Role::Seed)
        .group_name("seed")
        .nodes(2)
        .group(
            Group::new("follower", Role::Follower)
                .nodes(2)
                .after("seed"),
        )
        // The observer watches the followers only.
        .observer_on(&["follower"], Heard, ObservationConfig::default())
        .expect(AtEnd::new(
            "each follower hears both seeds and only followers are watched",
            |heard: &Vec<(String, usize)>| {
                let names: Vec<&str> = heard.iter().map(|(n, _)| n.as_str()).collect();
                if names != ["follower-0", "follower-1"] {
                    return Err(format!("watched {names:?}"));
                }
                match heard.iter().find(|(_, count)| *count != 2) {
                    Some((node, count)) => Err(format!("{node} heard {count} seeds, not 2")),
                    None => Ok(()),
                }
            },
        ))
        // A fault on one role: a follower killed and brought back.
        .workload(
            NodeFault::new("follower-down", FaultKind::Kill)
                .on_group("follower")
                .every(Duration::from_millis(200))
                .down_for(Duration::from_millis(300))
                .max_faults(1),
        )
        .duration(Duration::from_secs(3))
        .cooldown(Duration::from_millis(500))
        .build()
        .unwrap();
    let report = run(scenario, &LocalDeployer::new(), options(&dir)).await;
    report.assert_passed();
    let struck: Vec<&str> = report
        .faults
        .iter()
        .flat_map(|f| f.nodes.iter().map(String::as_str))
        .collect();
    assert_eq!(struck, ["follower-0"], "{report}");
    let groups: Vec<(&str, Vec<&str>)> = report
        .groups
        .iter()
        .map(|g| {
            (
                g.name.as_str(),
                g.nodes.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("seed", vec!["seed-0", "seed-1"]),
            ("follower", vec!["follower-0", "follower-1"])
        ]
    );
    assert_eq!(report.groups[1].after, ["seed"]);
    nothing_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_start_order_the_followers_start_too_early_and_die() {
    // The proof that the order above is what kept them alive.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let scenario = Scenario::builder("no-order", Role::Seed)
        .group_name("seed")
        .nodes(1)
        .group(Group::new("follower", Role::Follower))
        .duration(Duration::from_millis(500))
        .build()
        .unwrap();
    let report = run(scenario, &LocalDeployer::new(), options(&dir)).await;
    assert_eq!(report.verdict, Verdict::Error, "{report}");
    let summary = report.summary.clone().unwrap_or_default();
    assert!(
        summary.contains("follower-0 exited during start") && summary.contains("started too early"),
        "{summary}"
    );
    nothing_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_asks_for_a_missing_group_starts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let scenario = Scenario::builder("lost", Role::Seed)
        .group_name("seed")
        .nodes(1)
        .group(Group::new("follower", Role::Lost).after("seed"))
        .duration(Duration::from_millis(500))
        .build()
        .unwrap();
    let report = run(scenario, &LocalDeployer::new(), options(&dir)).await;
    assert_eq!(report.verdict, Verdict::Error, "{report}");
    assert_eq!(
        report.summary.as_deref(),
        Some(
            "deploy failed: cannot build the command of follower-0: no group `sentinel` in this topology (groups: seed, follower)"
        )
    );
    assert!(
        !dir.join("seed-0").join("node.log").exists(),
        "a node started before the bad command was found"
    );
    nothing_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_stage_that_never_gets_ready_fails_the_deploy_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // Seeds tick ten times a second: 300 ms is too short to tick ten times.
    let scenario = Scenario::builder("slow-seed", Role::Seed)
        .group_name("seed")
        .nodes(1)
        .group(Group::new("follower", Role::Follower).after("seed"))
        .ready_timeout(Duration::from_millis(300))
        .duration(Duration::from_millis(500))
        .build()
        .unwrap();
    let report = run(scenario, &LocalDeployer::new(), options(&dir)).await;
    assert_eq!(report.verdict, Verdict::Error, "{report}");
    let summary = report.summary.clone().unwrap_or_default();
    assert!(
        summary.starts_with("deploy failed: node seed-0 failed to start: not ready after 300ms"),
        "{summary}"
    );
    assert!(
        !dir.join("follower-0").join("node.log").exists(),
        "the follower started although its seeds were not ready"
    );
    nothing_left(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_on_a_group_the_scenario_lacks_is_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let scenario = Scenario::builder("no-sentinels", Role::Seed)
        .group_name("seed")
        .nodes(1)
        .group(Group::new("follower", Role::Follower).after("seed"))
        .observer_on(&["follower"], Heard, ObservationConfig::default())
        .workload(NodeFault::new("sentinel-down", FaultKind::Kill).on_group("sentinel"))
        .build()
        .unwrap();
    let report = run(scenario, &LocalDeployer::new(), options(&dir)).await;
    assert_eq!(report.verdict, Verdict::Error, "{report}");
    assert_eq!(
        report.summary.as_deref(),
        Some(
            "workload `sentinel-down` cannot run: it acts on group `sentinel`, which is not a group of this scenario (groups: seed, follower)"
        )
    );
    assert!(!dir.join("seed-0").exists(), "a node started");
}
