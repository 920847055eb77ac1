//! The labels on everything the deployer creates, which cleanup and the
//! sweep find it by.

use std::collections::HashMap;
use std::path::Path;

/// On every container, network and image the framework creates.
pub const MANAGED: &str = "dev.tf.managed";
/// The run a container or network belongs to.
pub const RUN: &str = "dev.tf.run";
/// The scenario of that run.
pub const SCENARIO: &str = "dev.tf.scenario";
/// A container's node (`node-0`).
pub const NODE: &str = "dev.tf.node";
/// The runner's process id and host (`4242@hostname`): the sweep leaves
/// runs whose runner is still alive on this host.
pub const RUNNER: &str = "dev.tf.runner";
/// The run directory (where its logs and report are).
pub const RUN_DIR: &str = "dev.tf.run-dir";
/// What a container is beside the nodes (`net-helper`, `reaper`); nodes
/// have none.
pub const ROLE: &str = "dev.tf.role";
/// An image's binary (its file name).
pub const BINARY: &str = "dev.tf.binary";

/// The labels of a run's containers and networks.
pub(crate) fn of_run(run: &str, scenario: &str, run_dir: &Path) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_owned(), "true".to_owned()),
        (RUN.to_owned(), run.to_owned()),
        (SCENARIO.to_owned(), scenario.to_owned()),
        (RUN_DIR.to_owned(), run_dir.display().to_string()),
        (RUNNER.to_owned(), tf_core::host::this_runner()),
    ])
}

/// A filter on `label=value` (or just `label` when `value` is empty), for
/// the engine's list calls.
pub(crate) fn filter(label: &str, value: &str) -> HashMap<String, Vec<String>> {
    let term = if value.is_empty() {
        label.to_owned()
    } else {
        format!("{label}={value}")
    };
    HashMap::from([("label".to_owned(), vec![term])])
}
