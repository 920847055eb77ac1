//! The catalog's scenarios on local processes, every app's in one binary:
//! a run mostly waits on its window, elections and confirmations, so the
//! runs of the Raft store, the chain and Redis wait side by side (cargo
//! runs test binaries one after another).
//!
//! Tests start in the order of their names, six at a time: Redis's
//! failover, the longest, is in `ha` so that it starts as soon as one of
//! the first six ends, not after Raft's.

mod chain;
mod ha;
mod raft;

use std::path::Path;

use tf_core::report::RunReport;
use tf_core::scenario::{Application, RunOptions, Scenario, run};
use tf_local::LocalDeployer;

/// A run's options, its directory at `dir`.
fn options(dir: &Path) -> RunOptions {
    RunOptions {
        run_dir: Some(dir.to_owned()),
        ..RunOptions::default()
    }
}

/// Runs `scenario` on local processes, its run directory at `dir`.
async fn run_locally<A: Application>(scenario: Scenario<A>, dir: &Path) -> RunReport {
    run(scenario, &LocalDeployer::new(), options(dir)).await
}
