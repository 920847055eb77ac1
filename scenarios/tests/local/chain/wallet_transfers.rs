//! wallet-transfers on local processes: transfers flow while a node is
//! restarted, every accepted transfer ends up k deep on every node, value
//! is conserved at every head, and forks really happened.

use std::time::Duration;

use chain_tf::TransferLog;
use chain_tf::expectations::forks_happened;
use chain_tf::scenarios::{WalletTransfersOptions, wallet_transfers_builder};
use tf_core::report::TimelineKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_transfers_pass_on_local_processes_through_forks_and_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let log = TransferLog::shared();
    let options = WalletTransfersOptions {
        nodes: 3,
        duration: Duration::from_secs(16),
        restarts: 1,
        ..WalletTransfersOptions::default()
    };
    let scenario = wallet_transfers_builder(&options, &log)
        .expect(forks_happened())
        .build()
        .unwrap();
    let report = crate::run_locally(scenario, &tmp.path().join("run")).await;
    assert!(report.passed(), "{report:#?}\n{}", log.summary());
    let names: Vec<&str> = report
        .expectations
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        names.contains(&"total value at every head equals the genesis supply"),
        "{names:?}"
    );
    assert!(
        names.contains(&"every accepted transfer is included"),
        "{names:?}"
    );
    // Transfers really flowed (the inclusion check also refuses zero).
    assert!(log.accepted().len() >= 10, "{}", log.summary());
    // The restart is on the timeline, as a fault.
    assert_eq!(report.faults.len(), 1, "{:?}", report.faults);
    assert!(
        report
            .timeline
            .iter()
            .any(|e| e.kind != TimelineKind::Verdict && e.what.contains("caught up")),
        "{:#?}",
        report.timeline
    );
    let run_dir = tmp.path().join("run");
    assert!(run_dir.join("observations.jsonl").exists());
    assert!(run_dir.join("report.html").exists());
}
