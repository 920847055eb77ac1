//! The chain's scenarios on local processes.

mod clock_skew;
mod liveness;
mod rpc;
mod wallet_transfers;

use chain_tf::ChainApp;
use tf_core::report::RunReport;
use tf_core::scenario::{Scenario, run};
use tf_local::LocalDeployer;

/// Runs `scenario` on local processes, its run directory in `tmp`.
async fn run_locally(scenario: Scenario<ChainApp>, tmp: &tempfile::TempDir) -> RunReport {
    let options = crate::options(&tmp.path().join("run"));
    run(scenario, &LocalDeployer::new(), options).await
}
