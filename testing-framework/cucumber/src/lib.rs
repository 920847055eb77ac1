//! `tf-cucumber`: Gherkin features driving manual clusters.
//!
//! - [`TfWorld`]: one Cucumber scenario's world: its deployer (from the
//!   `@compose` / `@local` tags or `TF_DEPLOYER`), its
//!   [`ManualCluster`](tf_core::manual::ManualCluster) behind
//!   [`AnyCluster`], more clusters the scenario deploys (a "public"
//!   network), and app state by type.
//! - [`generic`]: the steps every app shares: node lifecycle, cluster size,
//!   partitions, joins, and "within N seconds" readiness waits.
//! - [`Steps`]: a set of steps an app adds to the generic ones.
//! - [`run_features`]: runs every feature of a directory with those steps,
//!   fails on undefined, skipped or ambiguous steps, and writes JUnit XML
//!   and the cucumber JSON report of the same run. A step no definition
//!   matches is told with its file and line and the three closest steps of
//!   the run (`When <name> is|are stopped|...`, as `When node-1 is
//!   stopped`), under the step and again after the summary
//!   ([`FeatureRun::undefined`]).
//!
//! Steps never sleep or poll: every wait is an observation wait, written
//! with what was observed into the scenario's `steps.log`.

mod args;
mod cluster;
pub mod generic;
mod runner;
mod steps;
mod suggest;
mod undefined;
mod world;

pub use args::{count, node_list, seconds};
pub use cluster::AnyCluster;
pub use runner::{FeatureRun, RunnerOptions, run_features};
pub use steps::{StepFn, Steps, capture};
pub use world::{DeployerKind, TfWorld};

/// Fails the running step with `error` and where to look: the step's
/// message is what a reader of the report sees.
#[track_caller]
pub fn fail(world: &TfWorld, error: impl std::fmt::Display) -> ! {
    panic!("{error}{}", world.where_to_look())
}

/// Extension for results in steps: `.or_fail(world)` fails the step with
/// the error and where the scenario's logs are.
pub trait OrFail<T> {
    /// The value, or the step fails.
    fn or_fail(self, world: &TfWorld) -> T;
}

impl<T, E: std::fmt::Display> OrFail<T> for Result<T, E> {
    #[track_caller]
    fn or_fail(self, world: &TfWorld) -> T {
        match self {
            Ok(value) => value,
            Err(error) => fail(world, error),
        }
    }
}

/// Waits, for a step, until `condition` holds on the snapshots of the
/// scenario's observer `O` (started on `A`'s cluster with
/// [`ManualCluster::observe`](tf_core::manual::ManualCluster::observe)), for
/// at most `timeout`. The wait and what it observed go into `steps.log`; a
/// wait that gives up fails the step with what was observed instead.
pub async fn wait_for<A, O>(
    world: &TfWorld,
    what: &str,
    timeout: std::time::Duration,
    condition: impl FnMut(&O::Snapshot) -> bool,
) -> std::sync::Arc<tf_core::observation::ObservationOf<O>>
where
    A: tf_core::scenario::Application,
    O: tf_core::observation::Observer,
{
    let cluster = world.app::<A>().or_fail(world);
    let handle = cluster
        .observer::<O>()
        .ok_or_else(|| {
            format!(
                "the cluster has no {} observer; start it with ManualCluster::observe",
                std::any::type_name::<O>()
            )
        })
        .or_fail(world);
    cluster
        .wait_until(&handle, what, timeout, condition)
        .await
        .or_fail(world)
}
