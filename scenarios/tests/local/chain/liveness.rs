//! chain-liveness on local processes: it passes, and forks really happened.

use std::time::Duration;

use chain_tf::expectations::forks_happened;
use chain_tf::scenarios::chain_liveness_builder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_liveness_passes_on_local_processes_and_forks_happen() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = chain_liveness_builder(3, Duration::from_secs(8))
        .expect(forks_happened())
        .build()
        .unwrap();
    let report = crate::run_locally(scenario, &tmp.path().join("run")).await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.expectations.len(), 4);
}
