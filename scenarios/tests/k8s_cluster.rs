//! The catalog on a real Kubernetes cluster: `raft-failover` and
//! `chain-liveness` through the CLI, on the k8s deployer. No cluster can
//! run on this project's machines, so these are ignored by default; with
//! a cluster (guide/src/deployers.md, "The Kubernetes deployer", for kind or k3d):
//!
//! ```sh
//! TF_K8S_TEST=1 cargo test -p scenarios --features k8s --test k8s_cluster -- --ignored
//! ```
//!
//! Asked to run without `TF_K8S_TEST=1` and a kubeconfig, they fail and
//! say why, rather than pass having run nothing.

use std::process::Command;

/// Fails with what is missing unless a cluster was promised.
fn cluster_promised() {
    assert!(
        std::env::var("TF_K8S_TEST").is_ok_and(|v| v == "1"),
        "these tests need a Kubernetes cluster: set TF_K8S_TEST=1 with KUBECONFIG pointing at one whose node images are loaded (see guide/src/deployers.md, \"The Kubernetes deployer\"; run with --features k8s)"
    );
    let home = std::env::var("HOME").unwrap_or_default();
    let config = std::env::var("KUBECONFIG").unwrap_or_else(|_| format!("{home}/.kube/config"));
    assert!(
        std::path::Path::new(&config).is_file()
            || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
        "TF_K8S_TEST=1 but there is no kubeconfig at {config}; point KUBECONFIG at your cluster's"
    );
}

fn run_on_k8s(scenario: &str) {
    cluster_promised();
    let out = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args(["run", scenario, "--deployer", "k8s"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{scenario} failed on the cluster:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("k8s deployer"), "{stdout}");
}

#[test]
#[ignore = "needs a Kubernetes cluster: TF_K8S_TEST=1 cargo test -p scenarios --features k8s --test k8s_cluster -- --ignored"]
fn raft_failover_passes_on_kubernetes() {
    run_on_k8s("raft-failover");
}

#[test]
#[ignore = "needs a Kubernetes cluster: TF_K8S_TEST=1 cargo test -p scenarios --features k8s --test k8s_cluster -- --ignored"]
fn chain_liveness_passes_on_kubernetes() {
    run_on_k8s("chain-liveness");
}
