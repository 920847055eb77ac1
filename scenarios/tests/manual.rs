//! Manual clusters from plain Rust, and the feature runner's refusals:
//! sources follow every change of the cluster, external sources cannot be
//! controlled, and bad steps fail with messages that say what is wrong.

use std::sync::Arc;
use std::time::Duration;

use chain_tf::{ChainApp, ChainObserver, ChainSnapshot};
use tf_core::manual::{ManualCluster, ManualError};
use tf_core::scenario::deploy::NewNode;
use tf_cucumber::{RunnerOptions, run_features};
use tf_local::LocalDeployer;

fn names(cluster: &ManualCluster<ChainApp>) -> Vec<String> {
    cluster
        .sources()
        .current()
        .iter()
        .map(|s| s.name.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_follow_joins_removals_and_attached_endpoints() {
    let runs = tempfile::tempdir().unwrap();
    let deployer = LocalDeployer::new().with_runs_root(runs.path());
    let app = Arc::new(ChainApp::default());
    let mut cluster = ManualCluster::start(Arc::clone(&app), &deployer, "manual", 1)
        .await
        .unwrap();
    let mut other = ManualCluster::start(app, &deployer, "other", 1)
        .await
        .unwrap();
    let chain = cluster
        .observe(ChainObserver::default(), Default::default())
        .unwrap();
    cluster.wait_ready(Duration::from_secs(20)).await.unwrap();

    let joined = cluster
        .add_node(NewNode {
            peers: Some(vec!["node-0".into()]),
            ..NewNode::default()
        })
        .await
        .unwrap();
    assert_eq!(joined, "node-1");
    cluster
        .attach("outside", other.endpoints().remove(0))
        .unwrap();
    assert_eq!(names(&cluster), ["node-0", "node-1", "outside"]);
    // The observer polls all three, the attached one included.
    cluster
        .wait_until(
            &chain,
            "three sources",
            Duration::from_secs(20),
            |s: &ChainSnapshot| {
                ["node-0", "node-1", "outside"]
                    .iter()
                    .all(|n| s.nodes.get(*n).is_some_and(|v| v.reachable && v.height > 0))
            },
        )
        .await
        .unwrap();

    // `node-N` names are the cluster's own: attaching one would clash with
    // a node added later.
    let clash = cluster
        .attach("node-5", other.endpoints().remove(0))
        .unwrap_err()
        .to_string();
    assert!(
        clash.contains("names its own nodes") || clash.contains("gives its own nodes"),
        "{clash}"
    );
    // An attached endpoint is observed, never controlled.
    let refused = cluster.stop("outside").await.unwrap_err();
    assert!(matches!(refused, ManualError::External(_)), "{refused}");
    // A node that does not exist is named with those that do.
    let unknown = cluster.kill("node-7").await.unwrap_err().to_string();
    assert!(
        unknown.contains("node-7") && unknown.contains("node-0, node-1, outside"),
        "{unknown}"
    );
    // The local deployer cannot cut networks, and says so.
    let partition = cluster
        .partition(&["node-0".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        partition.contains("local deployer cannot partition"),
        "{partition}"
    );
    // Peers must be the cluster's nodes.
    let bad_peer = cluster
        .add_node(NewNode {
            peers: Some(vec!["node-9".into()]),
            ..NewNode::default()
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        bad_peer.contains("node-9") && bad_peer.contains("not a node of this cluster"),
        "{bad_peer}"
    );

    cluster.remove_node("node-1").await.unwrap();
    cluster.detach("outside").unwrap();
    assert_eq!(names(&cluster), ["node-0"]);
    // Indices are never reused: the next node is node-2, its own data.
    let again = cluster.add_node(NewNode::default()).await.unwrap();
    assert_eq!(again, "node-2");
    cluster.wait_ready(Duration::from_secs(20)).await.unwrap();

    let report = cluster.cleanup().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.stopped.len(), 2, "{:?}", report.stopped);
    other.cleanup().await;
    let journal = std::fs::read_to_string(cluster.run_dir().join("steps.log")).unwrap();
    for line in [
        "added node-1 (peers: node-0)",
        "attached outside",
        "removed node-1",
        "observed after",
    ] {
        assert!(
            journal.contains(line),
            "steps.log lacks `{line}`:\n{journal}"
        );
    }
}

const BAD_STEPS: &str = r#"
Feature: Steps that cannot run
  Scenario: An undefined step
    Given a chain network of 1 node
    When the moon is full

  Scenario: A node that does not exist
    Given a chain network of 1 node
    When node-7 is stopped

  Scenario: A negative count
    Given a chain network of -1 nodes

  Scenario: A partition where the deployer cannot
    Given a chain network of 2 nodes
    When node-0 is cut off from the rest

  Scenario: A wait of zero seconds
    Given a chain network of 1 node
    Then within 0 seconds every node is ready

  Scenario: A link fault where the deployer cannot
    Given a chain network of 2 nodes
    When the link from node-0 to node-1 drops 10% of packets

  Scenario: A clock on a cluster started without clocks
    Given a chain network of 1 node
    When node-0's clock runs 2 seconds ahead

  @clocks
  Scenario: A clock rate that makes no sense
    Given a chain network of 1 node
    When node-0's clock runs -2 seconds behind
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_steps_fail_the_run_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let feature = dir.path().join("bad.feature");
    std::fs::write(&feature, BAD_STEPS).unwrap();
    let run = run_features(RunnerOptions {
        features: feature,
        steps: tf_cucumber::generic::steps().and(chain_tf::steps::steps()),
        reports: dir.path().join("reports"),
        runs_root: dir.path().join("runs"),
        args: vec!["features".into()],
        compose: Err("not needed".into()),
    })
    .await
    .unwrap();
    assert!(run.failed);
    let junit = std::fs::read_to_string(&run.junit).unwrap();
    let json = std::fs::read_to_string(&run.json).unwrap();
    assert_eq!(junit.matches("<failure").count(), 8, "{junit}");
    for message in [
        "the moon is full",
        "there is no node `node-7` in this cluster; it has node-0",
        "a chain network's size must be at least 1; the step says -1",
        "the local deployer cannot partition nodes",
        "a wait must last at least 1 second",
        "the local deployer cannot shape or cut the links of nodes",
        "ManualCluster::start_with_clocks",
        "a clock runs a positive number of seconds ahead or behind; the step says -2",
    ] {
        assert!(
            junit.contains(message),
            "junit.xml lacks `{message}`:\n{junit}"
        );
        let escaped = serde_json::to_string(message).unwrap();
        assert!(
            json.contains(escaped.trim_matches('"')),
            "cucumber.json lacks `{message}`"
        );
    }
    // The undefined step failed as undefined, not as anything else.
    assert!(junit.contains("doesn't match any function"), "{junit}");
    // Every scenario that deployed (all but the negative count) was cleaned
    // up without problems, and its node processes are gone.
    let journals: Vec<_> = walk(&dir.path().join("runs"))
        .into_iter()
        .filter(|p| p.ends_with("steps.log"))
        .collect();
    assert_eq!(journals.len(), 7, "{journals:?}");
    for journal in &journals {
        let log = std::fs::read_to_string(journal).unwrap();
        assert!(
            log.contains("cleaned up") && !log.contains("problems"),
            "{} was not cleaned up:\n{log}",
            journal.display()
        );
    }
    let runs = dir.path().join("runs").display().to_string();
    let left: Vec<_> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&runs))
        .collect();
    assert!(left.is_empty(), "node processes left: {left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
