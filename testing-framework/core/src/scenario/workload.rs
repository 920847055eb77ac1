//! Workloads drive the cluster during the run window.

use async_trait::async_trait;

use super::{Application, NodeAction, RunContext};
use crate::observation::error::BoxError;

/// Traffic, chaos or any other driver of the cluster. It runs while the run
/// window is open and returns once [`RunContext::is_over`]; an error fails
/// the run.
#[async_trait]
pub trait Workload<A: Application>: Send + Sync + 'static {
    /// A name for reports.
    fn name(&self) -> &str;

    /// What it does to nodes beyond start, stop and kill (a pause); the
    /// runner refuses the scenario before any node starts on a deployer
    /// that cannot.
    fn needs(&self) -> Vec<NodeAction> {
        Vec::new()
    }

    /// Checks its settings against a cluster of these nodes (their names,
    /// in topology order) before any node starts; the reason when they
    /// cannot work there (a fault on a node that is not in the cluster).
    fn check(&self, nodes: &[String]) -> Result<(), String> {
        let _ = nodes;
        Ok(())
    }

    /// The groups it acts on (a fault on the Sentinels); the runner refuses
    /// the scenario before any node starts if one is not a group of it or
    /// has no nodes. None by default.
    fn groups(&self) -> Vec<String> {
        Vec::new()
    }

    /// Drives the cluster until the run window closes.
    async fn run(&self, ctx: &RunContext<A>) -> Result<(), BoxError>;
}
