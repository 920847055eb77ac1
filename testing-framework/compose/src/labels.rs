//! The labels on everything the deployer creates, which cleanup and the
//! sweep find it by: the keys every deployer uses (from
//! [`tf_core::deployer_kit::labels`]) and the compose deployer's own.

use std::collections::HashMap;
use std::path::Path;

pub use tf_core::deployer_kit::labels::{MANAGED, NODE, ROLE, RUN, RUN_DIR, RUNNER, SCENARIO};

/// An image's binary (its file name).
pub const BINARY: &str = "dev.tf.binary";

/// The labels of a run's containers and networks.
pub(crate) fn of_run(run: &str, scenario: &str, run_dir: &Path) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED.to_owned(), "true".to_owned()),
        (RUN.to_owned(), run.to_owned()),
        (SCENARIO.to_owned(), scenario.to_owned()),
        (RUN_DIR.to_owned(), run_dir.display().to_string()),
        (RUNNER.to_owned(), tf_core::deployer_kit::this_runner()),
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
