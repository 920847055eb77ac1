//! Clock faults on local processes: chain-clock-skew passes, each skew is
//! read back from the node's own time, the other nodes hold the skewed
//! node's blocks from the future; a cluster started without clocks says
//! how to get them.

use std::sync::Arc;
use std::time::Duration;

use chain_tf::ChainApp;
use chain_tf::scenarios::{ClockSkewOptions, chain_clock_skew};
use tf_core::fault::ClockFault;
use tf_core::manual::ManualCluster;
use tf_local::LocalDeployer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_is_read_back_and_its_blocks_from_the_future_are_held() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = chain_clock_skew(&ClockSkewOptions {
        nodes: 3,
        duration: Duration::from_secs(16),
        slots: 3,
        hold: Duration::from_secs(3),
    })
    .unwrap();
    let report = crate::run_locally(scenario, &tmp.path().join("run")).await;
    assert!(report.passed(), "{report}");
    // Read back within a few milliseconds of the 0.3 s set.
    let said = |start: &str, end: &str| {
        report.timeline.iter().any(|e| {
            e.what.contains(start) && e.what.ends_with(end) && {
                let number = e.what.split(start).nth(1).unwrap_or_default();
                let seconds: f64 = number
                    .split('s')
                    .next()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or(0.0);
                (0.28..=0.33).contains(&seconds)
            }
        })
    };
    assert!(said("node-2's clock reads ", "s ahead"), "{report}");
    assert!(said("node-2's clock reads ", "s behind"), "{report}");
    assert!(
        report
            .timeline
            .iter()
            .any(|e| e.what.contains("node-2's clock reads true again")),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_on_a_cluster_started_without_clocks_is_refused_with_what_to_do() {
    let runs = tempfile::tempdir().unwrap();
    let deployer = LocalDeployer::new().with_runs_root(runs.path());
    let mut cluster = ManualCluster::start(Arc::new(ChainApp::default()), &deployer, "clocks", 1)
        .await
        .unwrap();
    let error = cluster
        .set_clock("node-0", &ClockFault::ahead(Duration::from_secs(1)))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("start_with_clocks"), "{error}");
    let error = cluster
        .set_clock("node-0", &ClockFault::default().rate(0.0))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("from 0.1"), "{error}");
    cluster.cleanup().await;
}
