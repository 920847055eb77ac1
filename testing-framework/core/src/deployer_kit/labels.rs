//! The keys of the labels (and annotations) on everything a deployer
//! creates, the same on containers (compose) and on Kubernetes objects
//! (k8s): cleanup, the sweeps and partitions find a run's objects by them.
//! Keys only one deployer uses are its own.

/// On everything the framework creates (`true`).
pub const MANAGED: &str = "dev.tf.managed";
/// The run an object belongs to.
pub const RUN: &str = "dev.tf.run";
/// The scenario of that run.
pub const SCENARIO: &str = "dev.tf.scenario";
/// An object's node (`node-0`).
pub const NODE: &str = "dev.tf.node";
/// Who runs the run: the runner's process id and host (`4242@hostname`),
/// or its pod; a sweep leaves the runs of a runner still alive.
pub const RUNNER: &str = "dev.tf.runner";
/// The run directory on the runner's machine (where its logs and report
/// are).
pub const RUN_DIR: &str = "dev.tf.run-dir";
/// What an object is beside the nodes (`net-helper`, `reaper`, `runner`,
/// `probe`); nodes have none.
pub const ROLE: &str = "dev.tf.role";
