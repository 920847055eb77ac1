//! The k8s deployer end to end against an API server in memory
//! (`support::FakeApi`): deploy, reach nodes through the forwards (and
//! again after a tunnel drops or a pod restarts), node control,
//! partitions, exits nobody asked for, logs, cleanup, and each way a
//! deploy fails.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{FakeApi, FakeDialer, Fate, eventually};
use tf_core::scenario::deploy::{DeploymentRequest, NewNode};
use tf_core::scenario::{Deployer, NodeAction};
use tf_core::testing::FakeApp;
use tf_k8s::K8sDeployer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn deployer(api: &FakeApi, dialer: &FakeDialer, runs: &tempfile::TempDir) -> K8sDeployer {
    K8sDeployer::new()
        .with_image("img:1")
        .with_client(api.client())
        .with_dialer(Arc::new(dialer.clone()))
        .with_runs_root(runs.path())
        .with_ready_timeout(Duration::from_secs(10))
}

/// An API server in memory, tunnels to its pods, and a runs root.
fn fixture() -> (FakeApi, FakeDialer, tempfile::TempDir) {
    let api = FakeApi::default();
    let dialer = FakeDialer::new(&api);
    (api, dialer, tempfile::tempdir().unwrap())
}

/// The unexpected exits once there are at least `count`, for at most 10 s.
async fn exits_seen(
    exits: &mut tokio::sync::watch::Receiver<Vec<tf_core::report::NodeExit>>,
    count: usize,
) -> Vec<tf_core::report::NodeExit> {
    tokio::time::timeout(
        Duration::from_secs(10),
        exits.wait_for(|e| e.len() >= count),
    )
    .await
    .expect("no unexpected exit reported within 10 s")
    .unwrap()
    .clone()
}

fn request(nodes: usize) -> DeploymentRequest {
    DeploymentRequest::new(Arc::new(FakeApp::default()), "k8s-test", nodes)
}

/// The first line a connection to `address` gets, or `None` when the
/// connection is closed without one.
async fn greeting(address: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await {
            Ok(Ok(1)) if byte[0] == b'\n' => break,
            Ok(Ok(1)) => line.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8(line).unwrap())
}

fn namespace_of(api: &FakeApi) -> String {
    let namespaces = api.namespaces();
    assert_eq!(namespaces.len(), 1, "{namespaces:?}");
    namespaces[0].clone()
}

#[tokio::test]
async fn a_run_is_created_and_every_node_is_reached_through_its_forward() {
    let (api, dialer, runs) = fixture();
    api.set_log("node-0", "node-0 starts\nnode-0 listens\n");
    let mut cluster = deployer(&api, &dialer, &runs)
        .deploy(&request(2))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    assert!(ns.starts_with("tf-"), "{ns}");
    let created: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("POST"))
        .map(|r| {
            r.split('?')
                .next()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        created,
        [
            "namespaces",
            "services",
            "configmaps",
            "persistentvolumeclaims",
            "pods",
            "configmaps",
            "persistentvolumeclaims",
            "pods"
        ]
    );
    let endpoints = cluster.endpoints();
    assert_eq!(endpoints.len(), 2);
    for (i, endpoint) in endpoints.iter().enumerate() {
        assert_eq!(endpoint.host, "127.0.0.1");
        assert_eq!(
            greeting(&endpoint.address).await.as_deref(),
            Some(format!("node-{i}#1 port 7000").as_str()),
            "{endpoint:?}"
        );
    }
    // The objects are kept for review, and the log streamed in.
    assert!(cluster.run_dir().join("k8s/objects.yaml").is_file());
    let log = cluster.log_path("node-0").unwrap();
    assert_eq!(log, cluster.run_dir().join("node-0/node.log"));
    eventually("node-0's log is streamed in", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t == "node-0 starts\nnode-0 listens\n")
    })
    .await;
    // The fake ends every stream at once, as a proxy cutting it would: the
    // follower resumes, and the lines it had are not written again.
    eventually("the log stream is resumed twice", || {
        api.log_requests("node-0") >= 3
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "node-0 starts\nnode-0 listens\n"
    );
    let asked = api.requests();
    let resumed = asked
        .iter()
        .filter(|r| r.contains("/pods/node-0/log?"))
        .nth(1)
        .unwrap();
    assert!(
        resumed.contains("sinceTime=2026-12-01T00%3A00%3A00Z"),
        "{resumed}"
    );
    let report = cluster.cleanup().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.stopped, ["node-0", "node-1"]);
    assert!(api.namespaces().is_empty());
    assert!(
        api.requests()
            .contains(&format!("DELETE /api/v1/namespaces/{ns}?"))
    );
}

#[tokio::test]
async fn cleanup_stops_each_running_node_and_says_which_were_forced() {
    let (api, dialer, runs) = fixture();
    api.ignore_term("node-1");
    let mut cluster = deployer(&api, &dialer, &runs)
        .with_stop_grace(Duration::from_secs(1))
        .deploy(&request(3))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    // A node the scenario stopped is not running: cleanup has nothing to
    // stop of it.
    cluster.control().stop("node-2").await.unwrap();
    let report = cluster.cleanup().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.stopped, ["node-0", "node-1"]);
    assert_eq!(
        report.forced,
        ["node-1 did not stop within 1s of SIGTERM and was killed"]
    );
    assert!(report.left_running.is_empty());
    // Each pod was deleted with its grace period; the one still there
    // when it was up, again with none.
    let graces = |pod: &str| -> Vec<serde_json::Value> {
        api.bodies(&format!("DELETE /api/v1/namespaces/{ns}/pods/{pod}?"))
            .iter()
            .map(|body| body["gracePeriodSeconds"].clone())
            .collect()
    };
    assert_eq!(graces("node-0"), [1]);
    assert_eq!(graces("node-1"), [1, 0]);
    assert_eq!(graces("node-2"), [1]);
    assert!(api.namespaces().is_empty());
    // Cleanup is done once.
    let again = cluster.cleanup().await;
    assert!(again.stopped.is_empty() && again.problems.is_empty());
}

#[tokio::test]
async fn a_dropped_tunnel_is_made_again_by_the_next_connection() {
    let (api, dialer, runs) = fixture();
    let mut cluster = deployer(&api, &dialer, &runs)
        .deploy(&request(1))
        .await
        .unwrap();
    let address = cluster.endpoints()[0].address.clone();
    let mut open = TcpStream::connect(&address).await.unwrap();
    let mut buffer = [0u8; 64];
    let n = open.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..n]).starts_with("node-0#1"));
    open.write_all(b"ping").await.unwrap();
    let n = open.read(&mut buffer).await.unwrap();
    assert_eq!(&buffer[..n], b"ping");
    dialer.drop_all();
    // The client sees its connection close, as with a node gone away...
    let closed = tokio::time::timeout(Duration::from_secs(5), open.read(&mut buffer))
        .await
        .unwrap();
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    // ...and its next connection, to the same address, gets a new tunnel.
    assert_eq!(
        greeting(&address).await.as_deref(),
        Some("node-0#1 port 7000")
    );
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn a_pod_refused_while_its_namespace_has_no_service_account_yet_is_created_again() {
    let (api, dialer, runs) = fixture();
    api.refuse_pods_for_service_account(2);
    let mut cluster = deployer(&api, &dialer, &runs)
        .deploy(&request(1))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    let creations = api
        .requests()
        .iter()
        .filter(|r| r.starts_with(&format!("POST /api/v1/namespaces/{ns}/pods?")))
        .count();
    assert_eq!(creations, 3);
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn a_client_that_is_done_sending_still_gets_its_answer() {
    let (api, dialer, runs) = fixture();
    let mut cluster = deployer(&api, &dialer, &runs)
        .deploy(&request(1))
        .await
        .unwrap();
    let mut stream = TcpStream::connect(&cluster.endpoints()[0].address)
        .await
        .unwrap();
    stream.write_all(b"ping").await.unwrap();
    stream.shutdown().await.unwrap();
    let want = b"node-0#1 port 7000\nping";
    let mut got = Vec::new();
    let mut buffer = [0u8; 64];
    while got.len() < want.len() {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buffer[..n]);
    }
    assert_eq!(got, want);
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn stop_start_and_kill_delete_and_create_the_pod_and_the_endpoint_follows() {
    let (api, dialer, runs) = fixture();
    let mut cluster = deployer(&api, &dialer, &runs)
        .with_stop_grace(Duration::from_secs(7))
        .deploy(&request(2))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    let control = cluster.control();
    let address = cluster.endpoints()[1].address.clone();

    control.stop("node-1").await.unwrap();
    let deleted = api.bodies(&format!("DELETE /api/v1/namespaces/{ns}/pods/node-1"));
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["gracePeriodSeconds"], 7, "{deleted:?}");
    assert!(api.object(&ns, "pods", "node-1").is_none());
    assert!(
        api.object(&ns, "persistentvolumeclaims", "node-1-data")
            .is_some()
    );
    // A stopped node's endpoint stays, and refuses.
    assert_eq!(greeting(&address).await, None);

    control.start("node-1").await.unwrap();
    assert_eq!(api.incarnations("node-1"), 2);
    assert_eq!(
        greeting(&address).await.as_deref(),
        Some("node-1#2 port 7000")
    );

    control.kill("node-1").await.unwrap();
    let deleted = api.bodies(&format!("DELETE /api/v1/namespaces/{ns}/pods/node-1"));
    assert_eq!(deleted[1]["gracePeriodSeconds"], 1, "{deleted:?}");
    control.restart("node-1").await.unwrap();
    assert_eq!(
        greeting(&address).await.as_deref(),
        Some("node-1#3 port 7000")
    );

    // None of it was a crash.
    assert!(control.unexpected_exits().borrow().is_empty());
    let error = control.stop("node-9").await.unwrap_err().to_string();
    assert!(error.contains("node-9"), "{error}");
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn an_exit_or_a_deletion_nobody_asked_for_is_reported_once() {
    let (api, dialer, runs) = fixture();
    api.set_log("node-0", "panicked at src/main.rs\n");
    let mut cluster = deployer(&api, &dialer, &runs)
        .deploy(&request(2))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    let control = cluster.control();
    let mut exits = control.unexpected_exits();
    api.exit(&ns, "node-0", 101);
    let seen = exits_seen(&mut exits, 1).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].node, "node-0");
    assert_eq!(seen[0].status, "exit code 101 (Error)");
    api.delete_pod(&ns, "node-1");
    let seen = exits_seen(&mut exits, 2).await;
    assert_eq!(seen[1].node, "node-1");
    assert!(seen[1].status.contains("deleted"), "{}", seen[1].status);
    // A crashed node starts again: its ended pod is replaced.
    control.start("node-0").await.unwrap();
    assert_eq!(api.incarnations("node-0"), 2);
    assert_eq!(control.unexpected_exits().borrow().len(), 2);
    assert!(cluster.cleanup().await.problems.is_empty());
    // Cleanup's deletions are not crashes either.
    assert_eq!(control.unexpected_exits().borrow().len(), 2);
}

#[tokio::test]
async fn a_partition_labels_one_side_and_adds_both_policies_and_heal_takes_them_away() {
    let (api, dialer, runs) = fixture();
    let deployer = deployer(&api, &dialer, &runs);
    assert!(deployer.supports(NodeAction::Partition));
    let mut cluster = deployer.deploy(&request(3)).await.unwrap();
    let ns = namespace_of(&api);
    let control = cluster.control();
    control.partition(&["node-0".into()]).await.unwrap();
    let side = |pod: &str| {
        api.object(&ns, "pods", pod).unwrap()["metadata"]["labels"]["dev.tf.side"].clone()
    };
    assert_eq!(side("node-0"), "cut");
    assert!(side("node-1").is_null());
    assert_eq!(
        api.names(&ns, "networkpolicies"),
        ["tf-partition-cut", "tf-partition-rest"]
    );
    let again = control.partition(&["node-1".into()]).await.unwrap_err();
    assert!(again.to_string().contains("heal first"), "{again}");
    // A node of the cut side started again is still cut.
    control.restart("node-0").await.unwrap();
    assert_eq!(side("node-0"), "cut");

    // The cut was confirmed by a probe on the cut side aimed at the other
    // side, and the probe is gone.
    let probes: Vec<_> = api
        .bodies(&format!("POST /api/v1/namespaces/{ns}/pods"))
        .into_iter()
        .filter(|b| {
            b["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with("tf-probe-")
        })
        .collect();
    assert_eq!(probes.len(), 1, "one probe per partition");
    assert_eq!(probes[0]["metadata"]["labels"]["dev.tf.side"], "cut");
    let args = probes[0]["spec"]["containers"][0]["args"].to_string();
    assert!(
        args.contains(&format!(
            "\"--connect\",\"node-1.nodes.{ns}.svc.cluster.local:7000\""
        )),
        "{args}"
    );
    // Its control: a node of its own side, which it must reach.
    assert!(
        args.contains(&format!(
            "\"--control\",\"node-0.nodes.{ns}.svc.cluster.local:7000\""
        )),
        "{args}"
    );
    assert!(
        api.names(&ns, "pods")
            .iter()
            .all(|p| !p.starts_with("tf-probe-"))
    );

    control.heal().await.unwrap();
    assert!(side("node-0").is_null());
    assert!(api.names(&ns, "networkpolicies").is_empty());
    control.heal().await.unwrap();
    let whole = control
        .partition(&["node-0".into(), "node-1".into(), "node-2".into()])
        .await
        .unwrap_err();
    assert!(whole.to_string().contains("at least one"), "{whole}");
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn pause_is_refused_with_the_reason() {
    let (api, dialer, runs) = fixture();
    let deployer = deployer(&api, &dialer, &runs);
    assert!(!deployer.supports(NodeAction::Pause));
    let mut cluster = deployer.deploy(&request(1)).await.unwrap();
    let error = cluster
        .control()
        .pause("node-0")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("local or compose"), "{error}");
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn nodes_are_added_and_removed_and_indices_are_not_reused() {
    let (api, dialer, runs) = fixture();
    let mut cluster = deployer(&api, &dialer, &runs)
        .deploy(&request(2))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    let added = cluster
        .add_node(NewNode {
            peers: Some(vec!["node-0".into()]),
            ..NewNode::default()
        })
        .await
        .unwrap();
    assert_eq!(added.name, "node-2");
    assert!(api.object(&ns, "configmaps", "node-2-env").is_some());
    assert_eq!(
        greeting(&added.address).await.as_deref(),
        Some("node-2#1 port 7000")
    );
    cluster.remove_node("node-1").await.unwrap();
    assert!(api.object(&ns, "pods", "node-1").is_none());
    let names: Vec<_> = cluster.endpoints().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["node-0", "node-2"]);
    let next = cluster.add_node(NewNode::default()).await.unwrap();
    assert_eq!(next.name, "node-3");
    let refused = cluster
        .add_node(NewNode {
            peers: None,
            external_peers: vec![tf_core::scenario::NodeEndpoint::loopback(
                "outside",
                &tf_core::scenario::PortMap::new([("api".to_owned(), 9)]),
            )],
            ..NewNode::default()
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("loopback"), "{refused}");
    assert!(cluster.control().unexpected_exits().borrow().is_empty());
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn a_pod_that_cannot_pull_its_image_fails_the_deploy_with_its_name_and_leaves_nothing() {
    let (api, dialer, runs) = fixture();
    api.set_fate("node-1", Fate::NoImage);
    let error = deployer(&api, &dialer, &runs)
        .deploy(&request(2))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("pod node-1 cannot get its image img:1"),
        "{error}"
    );
    assert!(error.contains("kind load docker-image img:1"), "{error}");
    assert!(api.namespaces().is_empty(), "{:?}", api.namespaces());
}

#[tokio::test]
async fn a_pod_with_no_room_is_waited_for_and_the_timeout_gives_the_schedulers_reason() {
    let (api, dialer, runs) = fixture();
    api.set_fate("node-0", Fate::Unschedulable);
    let error = deployer(&api, &dialer, &runs)
        .with_ready_timeout(Duration::from_millis(500))
        .deploy(&request(2))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("did not all run within 500ms"), "{error}");
    assert!(
        error.contains(
            "pod node-0 cannot be scheduled yet: 0/1 nodes are available: 1 Insufficient memory."
        ),
        "{error}"
    );
    assert!(error.contains("node-1: running"), "{error}");
    assert!(api.namespaces().is_empty());
}

#[tokio::test]
async fn a_pod_that_exits_at_start_fails_the_deploy_with_its_log() {
    let (api, dialer, runs) = fixture();
    api.set_fate("node-0", Fate::Exits(2));
    api.set_log("node-0", "error: unknown flag --frobnicate\n");
    let error = deployer(&api, &dialer, &runs)
        .deploy(&request(2))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("node node-0 failed to start"), "{error}");
    assert!(error.contains("code 2"), "{error}");
    assert!(error.contains("unknown flag --frobnicate"), "{error}");
    assert!(api.namespaces().is_empty());
}

// Multi-threaded: drop blocks its thread while another runtime deletes the
// namespace through the client, whose worker runs on this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_cluster_deletes_its_namespace() {
    let (api, dialer, runs) = fixture();
    let cluster = deployer(&api, &dialer, &runs)
        .deploy(&request(1))
        .await
        .unwrap();
    assert_eq!(api.namespaces().len(), 1);
    drop(cluster);
    assert!(api.namespaces().is_empty());
}

#[tokio::test]
async fn a_runner_inside_the_cluster_reaches_nodes_by_service_dns_without_tunnels() {
    let (api, dialer, runs) = fixture();
    let mut cluster = deployer(&api, &dialer, &runs)
        .with_access(tf_k8s::Access::ServiceDns)
        .deploy(&request(2))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    let endpoint = &cluster.endpoints()[1];
    assert_eq!(
        endpoint.host,
        format!("node-1.nodes.{ns}.svc.cluster.local")
    );
    assert_eq!(endpoint.address, format!("{}:7000", endpoint.host));
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn a_cut_the_network_plugin_does_not_enforce_is_an_error_and_is_healed() {
    let (api, dialer, runs) = fixture();
    api.set_probe_fate(Fate::Exits(tf_k8s::REACHED));
    let mut cluster = deployer(&api, &dialer, &runs)
        .deploy(&request(3))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    let control = cluster.control();
    let error = control
        .partition(&["node-2".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("does not enforce NetworkPolicies"),
        "{error}"
    );
    // Nothing of the partition stays.
    assert!(api.names(&ns, "networkpolicies").is_empty());
    let pod = api.object(&ns, "pods", "node-2").unwrap();
    assert!(pod["metadata"]["labels"]["dev.tf.side"].is_null());
    // A probe that cannot reach its own side proves nothing.
    api.set_probe_fate(Fate::Exits(tf_k8s::BLIND));
    let error = control
        .partition(&["node-2".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("proves nothing"), "{error}");
    assert!(api.names(&ns, "networkpolicies").is_empty());
    // A probe image the cluster lacks says what to do.
    api.set_probe_fate(Fate::NoImage);
    let error = control
        .partition(&["node-2".into()])
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("scenarios image --runner"), "{error}");
    assert!(error.contains("TF_K8S_PROBE_IMAGE=off"), "{error}");
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn without_a_probe_image_a_partition_is_applied_unconfirmed() {
    let (api, dialer, runs) = fixture();
    api.set_probe_fate(Fate::Exits(tf_k8s::REACHED));
    let mut cluster = deployer(&api, &dialer, &runs)
        .with_probe_image(None)
        .deploy(&request(2))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    cluster
        .control()
        .partition(&["node-0".into()])
        .await
        .unwrap();
    assert_eq!(api.names(&ns, "networkpolicies").len(), 2);
    let probes = api
        .bodies("/pods?")
        .into_iter()
        .filter(|b| {
            b["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("tf-probe-"))
        })
        .count();
    assert_eq!(probes, 0);
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn with_node_ports_each_node_gets_a_service_and_the_runner_its_node_port() {
    let (api, dialer, runs) = fixture();
    let mut cluster = deployer(&api, &dialer, &runs)
        .with_access(tf_k8s::Access::NodePort {
            host: "172.18.0.2".into(),
        })
        .deploy(&request(2))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    for endpoint in cluster.endpoints() {
        let service = api
            .object(&ns, "services", &format!("{}-access", endpoint.name))
            .unwrap();
        assert_eq!(service["spec"]["type"], "NodePort");
        assert_eq!(service["spec"]["selector"]["dev.tf.node"], endpoint.name);
        let node_port = service["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
        assert_eq!(endpoint.host, "172.18.0.2");
        assert_eq!(endpoint.address, format!("172.18.0.2:{node_port}"));
    }
    // No tunnel is made.
    assert!(api.requests().iter().all(|r| !r.contains("portforward")));
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test]
async fn without_log_streams_each_log_is_fetched_once_at_the_end_and_on_a_crash() {
    let (api, dialer, runs) = fixture();
    api.set_log("node-0", "node-0 served 10 requests\n");
    api.set_log("node-1", "node-1 panicked\n");
    let mut cluster = deployer(&api, &dialer, &runs)
        .with_log_streams(false)
        .deploy(&request(2))
        .await
        .unwrap();
    let ns = namespace_of(&api);
    let control = cluster.control();
    let mut exits = control.unexpected_exits();
    api.exit(&ns, "node-1", 101);
    let seen = exits_seen(&mut exits, 1).await;
    assert!(seen[0].log_tail.contains("node-1 panicked"), "{seen:?}");
    let log = cluster.log_path("node-0").unwrap();
    assert!(cluster.cleanup().await.problems.is_empty());
    assert_eq!(
        std::fs::read_to_string(log).unwrap(),
        "node-0 served 10 requests\n"
    );
    // No stream was held open.
    let logs: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| r.contains("/log?"))
        .collect();
    assert!(logs.iter().all(|r| !r.contains("follow=true")), "{logs:#?}");
    assert_eq!(logs.len(), 3, "{logs:#?}");
}
