//! Launching the runner inside the cluster, against the in-memory API
//! server: its objects created, its log followed and its results copied
//! out, its exit code the launch's, and everything deleted again.

use std::time::Duration;

use crate::support::{FakeApi, Fate};
use tf_k8s::K8sSettings;
use tf_k8s::runner::{launch, runner_plan};

fn plan() -> tf_k8s::Plan {
    let args: Vec<String> = ["run", "raft-failover", "--deployer", "k8s"]
        .map(String::from)
        .to_vec();
    runner_plan(
        "0123456789ab",
        "tf-scenarios:latest",
        "tf-openraft-kv-node:latest",
        &args,
        &K8sSettings::for_image("tf-openraft-kv-node:latest"),
    )
}

const LOG: &str = "scenario raft-failover: passed\n--- tf-result report.json ---\n{\"verdict\": \"passed\"}\n\n--- tf-result end ---\n--- tf-result node-0/node.log ---\nnode-0 up\n\n--- tf-result end ---\n--- tf-result ../escape ---\nno\n--- tf-result end ---\n";

#[tokio::test]
async fn a_launch_copies_the_runners_log_and_results_and_deletes_everything() {
    let api = FakeApi::default();
    api.set_fate("runner-pod", Fate::Exits(0));
    api.set_log("runner-pod", LOG);
    let out = tempfile::tempdir().unwrap();
    let launched = launch(&api.client(), &plan(), out.path(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(launched.code, 0);
    assert_eq!(
        std::fs::read_to_string(out.path().join("report.json")).unwrap(),
        "{\"verdict\": \"passed\"}\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("runner.log")).unwrap(),
        LOG
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("node-0/node.log")).unwrap(),
        "node-0 up\n"
    );
    // A result that would land outside the run directory is not written.
    assert!(!out.path().parent().unwrap().join("escape").exists());
    assert_eq!(launched.copied.len(), 3);
    // Nothing is left: the namespace, the role and the binding are gone.
    assert!(api.namespaces().is_empty());
    assert!(api.names("", "clusterroles").is_empty());
    assert!(api.names("", "clusterrolebindings").is_empty());
    let requests = api.requests();
    assert!(
        requests.iter().any(|r| r.starts_with(
            "DELETE /apis/rbac.authorization.k8s.io/v1/clusterroles/tf-runner-0123456789ab"
        )),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn a_failed_scenario_is_the_launchs_exit_code() {
    let api = FakeApi::default();
    api.set_fate("runner-pod", Fate::Exits(1));
    let out = tempfile::tempdir().unwrap();
    let launched = launch(&api.client(), &plan(), out.path(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(launched.code, 1);
    assert!(api.namespaces().is_empty());
}

#[tokio::test]
async fn a_runner_image_the_cluster_lacks_is_named_with_what_to_do() {
    let api = FakeApi::default();
    api.set_fate("runner-pod", Fate::NoImage);
    let out = tempfile::tempdir().unwrap();
    let error = launch(&api.client(), &plan(), out.path(), Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("the runner cannot run"), "{error}");
    assert!(error.contains("kind load docker-image"), "{error}");
    assert!(api.namespaces().is_empty());
    assert!(api.names("", "clusterroles").is_empty());
}
