//! Redis high availability on local processes: Debian's `redis-server`
//! as data nodes and Sentinels; the primary killed while clients write.

use redis_ha_tf::scenarios::{FailoverOptions, redis_failover};
use tf_core::report::{RunReport, TimelineKind};

use crate::run_locally;

fn timeline_has(report: &RunReport, text: &str) -> bool {
    report
        .timeline
        .iter()
        .any(|e| e.kind != TimelineKind::Verdict && e.what.contains(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sentinels_fail_over_a_killed_primary_and_it_rejoins_as_a_replica() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let scenario = redis_failover(&FailoverOptions::default()).unwrap();
    let report = run_locally(scenario, &dir).await;
    report.assert_passed();
    assert!(
        timeline_has(&report, "the Sentinels elected redis-"),
        "{report}"
    );
    assert!(timeline_has(&report, "redis-0 is now a slave"), "{report}");
    assert!(
        timeline_has(&report, "acknowledged write(s) lost"),
        "{report}"
    );
    let groups: Vec<&str> = report.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["redis", "sentinel"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_too_slow_to_notice_fail_the_run_naming_the_missing_election() {
    // A deliberate misconfiguration: the Sentinels wait a minute before
    // they think the primary down, far past the failover's bound.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let scenario = redis_failover(&FailoverOptions {
        down_after: std::time::Duration::from_secs(60),
        ..FailoverOptions::default()
    })
    .unwrap();
    let report = run_locally(scenario, &dir).await;
    assert_eq!(report.verdict, tf_core::report::Verdict::Failed, "{report}");
    let summary = report.summary.clone().unwrap_or_default();
    assert!(
        summary.starts_with(
            "workload `primary-down` failed: while redis-0 was down, the expected change was not observed: timed out after 8.00s"
        ),
        "{summary}"
    );
    assert!(!timeline_has(&report, "the Sentinels elected"), "{report}");
}
