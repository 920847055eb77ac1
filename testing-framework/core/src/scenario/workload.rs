//! Workloads drive the cluster during the run window.

use async_trait::async_trait;

use super::{Application, RunContext};
use crate::observation::BoxError;

/// Traffic, chaos or any other driver of the cluster. It runs while the run
/// window is open and returns once [`RunContext::is_over`]; an error fails
/// the run.
#[async_trait]
pub trait Workload<A: Application>: Send + Sync + 'static {
    /// A name for reports.
    fn name(&self) -> &str;

    /// Drives the cluster until the run window closes.
    async fn run(&self, ctx: &RunContext<A>) -> Result<(), BoxError>;
}
