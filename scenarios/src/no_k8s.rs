//! A CLI built without the cargo feature `k8s`: the same functions as
//! `k8s.rs`, each saying how to get the Kubernetes deployer.

use tf_core::catalog::AnyScenario;
use tf_core::report::RunReport;
use tf_core::scenario::Deployer;

use crate::RunArgs;

/// What the CLI tells a user who asks for Kubernetes in a build without it.
const WITHOUT: &str = "this `scenarios` was built without the Kubernetes deployer (it is the cargo feature `k8s`, off by default to keep the first build short); run it as `cargo run -p scenarios --features k8s -- <same arguments>`";

/// Never the runner inside a cluster: that one is built with the feature.
pub(crate) fn in_cluster() -> bool {
    false
}

/// What `--deployer k8s` comes to (see `k8s.rs`); never made here.
#[allow(dead_code)]
pub(crate) enum Outcome {
    Deploy(Box<dyn Deployer>),
    Done(bool),
}

/// Refuses: no Kubernetes deployer in this build.
pub(crate) async fn deployer(_: &dyn AnyScenario, _: &RunArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("{WITHOUT}")
}

/// Nothing to hand over without a runner in a cluster.
pub(crate) fn hand_over_results(_: &RunReport) {}

/// Nothing swept on Kubernetes; says so when there is a cluster to sweep
/// (a kubeconfig).
pub(crate) async fn sweep(_include_live: bool) -> anyhow::Result<bool> {
    let kubeconfig = std::env::var_os("KUBECONFIG").is_some()
        || std::env::var_os("HOME")
            .is_some_and(|home| std::path::Path::new(&home).join(".kube/config").exists());
    if kubeconfig {
        println!("k8s: not swept ({WITHOUT})");
    }
    Ok(true)
}

/// The runner's own image is for `--runner-in-cluster`, which needs the
/// Kubernetes deployer in it.
pub(crate) fn check_runner_image() -> anyhow::Result<()> {
    anyhow::bail!("the runner's image runs the k8s deployer inside the cluster: {WITHOUT}")
}
