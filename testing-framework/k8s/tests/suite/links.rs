//! Link faults on Kubernetes against the API server in memory: the helper
//! is added to the sender's pod as an ephemeral container with NET_ADMIN,
//! driven through exec, each fault confirmed by the connects before and
//! after; a restarted node's new pod gets the helper and the fault again;
//! a cluster that forbids ephemeral containers, or a namespace whose pod
//! security forbids NET_ADMIN, is an error that names what is missing.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{FakeApi, FakeDialer, FakeExec};
use tf_core::fault::{Link, LinkFault};
use tf_core::scenario::deploy::{Cluster, DeploymentRequest};
use tf_core::scenario::{Deployer, NodeAction};
use tf_core::testing::FakeApp;
use tf_k8s::K8sDeployer;

/// A 3-node cluster on the fake API, with the fake exec.
async fn cluster(api: &FakeApi, exec: &FakeExec, runs: &tempfile::TempDir) -> Box<dyn Cluster> {
    let deployer = K8sDeployer::new()
        .with_image("img:1")
        .with_client(api.client())
        .with_dialer(Arc::new(FakeDialer::new(api)))
        .with_exec(Arc::new(exec.clone()))
        .with_netfault_image(Some("tf-netfault:latest".into()))
        .with_runs_root(runs.path())
        .with_ready_timeout(Duration::from_secs(10));
    assert!(deployer.supports(NodeAction::Links));
    deployer
        .deploy(&DeploymentRequest::new(
            Arc::new(FakeApp::default()),
            "k8s-links",
            3,
        ))
        .await
        .unwrap()
}

fn link(from: &str, to: &str) -> Link {
    Link {
        from: from.into(),
        to: to.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_is_made_by_a_helper_in_the_senders_pod_and_confirmed() {
    let (api, runs) = (FakeApi::default(), tempfile::tempdir().unwrap());
    let exec = FakeExec::new(&api);
    let mut cluster = cluster(&api, &exec, &runs).await;
    let ns = api.namespaces()[0].clone();
    let control = cluster.control();

    let impaired = control
        .impair(&[link("node-0", "node-1")], &LinkFault::cut())
        .await
        .unwrap();
    assert_eq!(
        impaired.confirmed,
        ["node-0 -> node-1: connect 0.1ms -> no answer"]
    );
    // The helper went into node-0's pod only, as an ephemeral container
    // with NET_ADMIN.
    assert_eq!(api.ephemeral(&ns, "node-0"), ["tf-netfault"]);
    assert!(api.ephemeral(&ns, "node-1").is_empty());
    let patch = api.bodies("ephemeralcontainers");
    assert_eq!(patch.len(), 1);
    let helper = &patch[0]["spec"]["ephemeralContainers"][0];
    assert_eq!(helper["image"], "tf-netfault:latest");
    assert_eq!(
        helper["securityContext"]["capabilities"]["add"][0],
        "NET_ADMIN"
    );
    assert_eq!(
        exec.requests(),
        ["node-0: probe", "node-0: apply cut", "node-0: probe"]
    );

    // A new pod (the node restarted): a new helper, the fault put back.
    control.stop("node-0").await.unwrap();
    control.start("node-0").await.unwrap();
    assert_eq!(api.ephemeral(&ns, "node-0"), ["tf-netfault"]);
    assert_eq!(api.bodies("ephemeralcontainers").len(), 2);
    assert_eq!(exec.requests().last().unwrap(), "node-0: apply cut");

    // Removed: the counters, and the link answers again.
    let restored = control.restore(impaired.id).await.unwrap();
    assert_eq!(
        restored,
        [
            "node-0 -> node-1: 10 packets, 6 dropped (60.0%)",
            "node-0 -> node-1 answers again: connect 0.1ms"
        ]
    );
    // A second fault on the same sender reuses its helper.
    let slow = control
        .impair(&[link("node-0", "node-2")], &LinkFault::default().loss(5.0))
        .await
        .unwrap();
    assert_eq!(api.bodies("ephemeralcontainers").len(), 2);
    control.restore(slow.id).await.unwrap();
    assert!(cluster.cleanup().await.problems.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_forbids_the_helper_names_the_permission() {
    for (code, message, expected) in [
        (
            403,
            "pods \"node-0\" is forbidden: User \"ci\" cannot patch resource \"pods/ephemeralcontainers\"",
            "link faults on Kubernetes need `patch` on `pods/ephemeralcontainers` and `create` on `pods/exec`",
        ),
        (
            403,
            "pods \"node-0\" is forbidden: violates PodSecurity \"baseline:latest\": non-default capabilities (container \"tf-netfault\" must not include \"NET_ADMIN\")",
            "the helper needs the NET_ADMIN capability",
        ),
    ] {
        let (api, runs) = (FakeApi::default(), tempfile::tempdir().unwrap());
        let exec = FakeExec::new(&api);
        api.refuse_ephemeral(code, message);
        let mut cluster = cluster(&api, &exec, &runs).await;
        let error = cluster
            .control()
            .impair(&[link("node-0", "node-1")], &LinkFault::cut())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cannot add the link fault helper to pod node-0"),
            "{error}"
        );
        assert!(error.contains(expected), "{error}");
        assert!(exec.requests().is_empty(), "{:?}", exec.requests());
        assert!(cluster.cleanup().await.problems.is_empty());
    }
}

#[tokio::test]
async fn without_a_helper_image_link_faults_are_refused_up_front() {
    let deployer = K8sDeployer::new().with_netfault_image(None);
    assert!(!deployer.supports(NodeAction::Links));
    assert!(!deployer.supports(NodeAction::Clock));
}
