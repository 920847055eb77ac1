//! Attach mode against the in-memory API server: a StatefulSet someone
//! else made is observed and driven, and left as it was found.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{FakeApi, FakeDialer};
use tf_core::scenario::deploy::{DeploymentRequest, NewNode};
use tf_core::scenario::{Deployer, NodeAction};
use tf_core::testing::FakeApp;
use tf_k8s::K8sAttach;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

fn attach(api: &FakeApi, runs: &tempfile::TempDir, selector: &str) -> K8sAttach {
    K8sAttach::new("apps", selector).with(|d| {
        d.with_client(api.client())
            .with_dialer(Arc::new(FakeDialer::new(api)))
            .with_runs_root(runs.path())
            .with_ready_timeout(Duration::from_secs(10))
    })
}

fn request() -> DeploymentRequest {
    DeploymentRequest::new(Arc::new(FakeApp::default()), "attach-test", 3)
}

async fn greeting(address: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut buffer = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buffer[..n]).trim().to_owned()
}

#[tokio::test]
async fn an_attached_deployment_is_observed_driven_and_left_as_it_was() {
    let (api, runs) = (FakeApi::default(), tempfile::tempdir().unwrap());
    api.stateful_set("apps", "raft", 3, true);
    let deployer = attach(&api, &runs, "app=raft");
    assert!(deployer.supports(NodeAction::Kill));
    assert!(!deployer.supports(NodeAction::StartStop));
    assert!(!deployer.supports(NodeAction::Partition));
    let mut cluster = deployer.deploy(&request()).await.unwrap();
    let names: Vec<_> = cluster.endpoints().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["raft-0", "raft-1", "raft-2"]);
    let address = cluster.endpoints()[1].address.clone();
    assert_eq!(greeting(&address).await, "raft-1#1 port 7000");

    // A kill deletes the pod at once; its controller brings a new one,
    // which the same endpoint reaches.
    let control = cluster.control();
    control.kill("raft-1").await.unwrap();
    let deleted = api.bodies("DELETE /api/v1/namespaces/apps/pods/raft-1");
    // A second of grace: zero would be a forced deletion, the object gone
    // before the container.
    assert_eq!(deleted[0]["gracePeriodSeconds"], 1);
    assert_eq!(api.incarnations("raft-1"), 2);
    assert_eq!(greeting(&address).await, "raft-1#2 port 7000");
    control.restart("raft-1").await.unwrap();
    assert_eq!(api.incarnations("raft-1"), 3);
    assert!(control.unexpected_exits().borrow().is_empty());

    // What belongs to the deployment's owner is refused, saying why.
    for refused in [
        control.stop("raft-0").await.unwrap_err().to_string(),
        control.start("raft-0").await.unwrap_err().to_string(),
    ] {
        assert!(refused.contains("belong to their controller"), "{refused}");
    }
    let cut = control.partition(&["raft-0".into()]).await.unwrap_err();
    assert!(
        cut.to_string()
            .contains("partition clusters the framework deploys"),
        "{cut}"
    );
    let grow = cluster.add_node(NewNode::default()).await.unwrap_err();
    assert!(grow.to_string().contains("scale it"), "{grow}");

    // Nothing was created, and cleanup deletes nothing: it says it left
    // the nodes running.
    let report = cluster.cleanup().await;
    assert!(report.problems.is_empty() && report.stopped.is_empty());
    assert!(report.forced.is_empty());
    assert_eq!(report.left_running, ["raft-0", "raft-1", "raft-2"]);
    let requests = api.requests();
    assert!(
        !requests.iter().any(|r| r.starts_with("POST")),
        "{requests:#?}"
    );
    assert_eq!(api.namespaces(), ["apps"]);
    assert_eq!(api.names("apps", "pods").len(), 3);
    drop(cluster);
    assert_eq!(api.names("apps", "pods").len(), 3);
}

#[tokio::test]
async fn a_selector_that_picks_nothing_says_how_to_check_it() {
    let (api, runs) = (FakeApi::default(), tempfile::tempdir().unwrap());
    api.stateful_set("apps", "raft", 1, true);
    let error = attach(&api, &runs, "app=redis")
        .deploy(&request())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("no pod in namespace apps matches"),
        "{error}"
    );
    assert!(
        error.contains("kubectl get pods -n apps -l 'app=redis'"),
        "{error}"
    );
}

#[tokio::test]
async fn a_pod_nobody_recreates_makes_a_kill_fail_with_why() {
    let (api, runs) = (FakeApi::default(), tempfile::tempdir().unwrap());
    api.stateful_set("apps", "lone", 2, false);
    let mut cluster = attach(&api, &runs, "app=lone")
        .with(|d| d.with_ready_timeout(Duration::from_millis(300)))
        .deploy(&request())
        .await
        .unwrap();
    let error = cluster
        .control()
        .kill("lone-0")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("StatefulSet"), "{error}");
    assert!(cluster.cleanup().await.problems.is_empty());
}
