//! End-to-end tests against real node processes of the built binary.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use common::{Cluster, NodeProcess};
use openraft_kv_node::ClientError;
use openraft_kv_node::api::ErrorBody;

const ELECTION: Duration = Duration::from_secs(20);
const WRITE: Duration = Duration::from_secs(10);
const CONVERGE: Duration = Duration::from_secs(20);
const EXIT: Duration = Duration::from_secs(10);

fn expected(range: std::ops::Range<usize>) -> BTreeMap<String, String> {
    range
        .map(|i| (format!("key-{i:02}"), format!("value-{i}")))
        .collect()
}

async fn write_range(cluster: &Cluster, via: usize, range: std::ops::Range<usize>) {
    for (key, value) in expected(range) {
        cluster.write(via, &key, &value, WRITE).await;
    }
}

/// The scenario the framework is built to check: elect, replicate, lose the
/// leader, elect again, bring the lost node back, converge.
#[tokio::test]
async fn leader_crash_and_restart_converge() {
    let mut cluster = Cluster::start(3, &[]);
    let all = [0, 1, 2];
    let (leader, first) = cluster.wait_for_leader(&all, 0, ELECTION).await;
    assert_eq!(first.voters, vec![0, 1, 2]);

    write_range(&cluster, leader, 0..20).await;

    cluster.nodes[leader].kill();
    let survivors: Vec<usize> = all.into_iter().filter(|&i| i != leader).collect();
    let (new_leader, second) = cluster
        .wait_for_leader(&survivors, first.term, ELECTION)
        .await;
    assert_ne!(new_leader, leader, "a killed node cannot lead");
    assert!(second.term > first.term);

    write_range(&cluster, new_leader, 20..25).await;

    cluster.nodes[leader].start();
    let states = cluster.wait_converged(25, CONVERGE).await;
    assert!(states.iter().all(|s| s.kv_len == 25));
    for map in cluster.maps().await {
        assert_eq!(map, expected(0..25));
    }
}

/// A follower redirects writes to the leader; malformed requests get a 400
/// with a JSON error; SIGTERM shuts nodes down with exit status 0.
#[tokio::test]
async fn follower_redirects_and_bad_requests_get_json_errors() {
    let mut cluster = Cluster::start(3, &[]);
    let (leader, state) = cluster.wait_for_leader(&[0, 1, 2], 0, ELECTION).await;
    let follower = (leader + 1) % 3;

    let redirect = cluster.clients[follower].write("k", "v").await;
    assert_eq!(
        redirect,
        Err(ClientError::NotLeader {
            leader_id: Some(state.id),
            leader_addr: Some(cluster.nodes[leader].addr.clone()),
        })
    );

    let http = reqwest::Client::new();
    let leader_addr = &cluster.nodes[leader].addr;
    for body in [
        "{not json",
        r#"{"key":"only"}"#,
        r#"{"key":1,"value":"x"}"#,
        "",
    ] {
        let response = http
            .post(format!("http://{leader_addr}/kv/write"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "body {body:?}");
        let error: ErrorBody = response.json().await.expect("JSON error body");
        assert!(!error.error.is_empty());
    }
    let response = http
        .get(format!("http://{leader_addr}/kv/read"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let _: ErrorBody = response.json().await.expect("JSON error body");

    assert_eq!(
        cluster.clients[leader].read("never-written").await,
        Ok(None)
    );
    cluster.write(follower, "k", "v", WRITE).await;
    assert_eq!(
        cluster.clients[leader].read("k").await,
        Ok(Some("v".to_string()))
    );
    assert_eq!(cluster.clients[follower].health().await, Ok(()));

    for node in &mut cluster.nodes {
        let status = node.terminate(EXIT).await;
        assert!(status.success(), "node {} exited with {status}", node.id);
    }
}

/// With frequent snapshots and no logs kept behind them, a follower that was
/// down while the log moved on still converges after restarting.
#[tokio::test]
async fn lagging_follower_catches_up_after_snapshots_and_purges() {
    let mut cluster = Cluster::start(3, &["--snapshot-every", "5", "--keep-logs", "0"]);
    let (leader, _) = cluster.wait_for_leader(&[0, 1, 2], 0, ELECTION).await;
    write_range(&cluster, leader, 0..3).await;
    cluster.wait_converged(3, CONVERGE).await;

    let lagging = (leader + 1) % 3;
    cluster.nodes[lagging].kill();
    write_range(&cluster, leader, 3..20).await;
    cluster.nodes[lagging].start();
    cluster.wait_converged(20, CONVERGE).await;
    for map in cluster.maps().await {
        assert_eq!(map, expected(0..20));
    }
}

/// A taken port makes the node exit non-zero, naming the address.
#[tokio::test]
async fn taken_port_is_reported_and_fails_the_start() {
    let holder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = holder.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("node.log");
    let args = vec![
        "--id".to_string(),
        "0".to_string(),
        "--addr".to_string(),
        addr.clone(),
        "--data-dir".to_string(),
        dir.path().join("data").display().to_string(),
    ];
    let mut node = NodeProcess::new(0, addr.clone(), args, log);
    let status = node.wait_exit(EXIT).await;
    assert!(!status.success());
    let stderr = node.log_text();
    assert!(
        stderr.contains(&format!("address {addr} is already in use")),
        "{stderr}"
    );
    drop(holder);
}
