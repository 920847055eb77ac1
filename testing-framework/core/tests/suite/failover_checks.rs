//! The checks a failover is judged by, on histories that must fail: the
//! longest outage from each fault's start, and a stated bound on lost
//! acknowledged writes (for systems that replicate after acknowledging).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tf_core::BoxError;
use tf_core::checker::{AcknowledgedWritesLostAtMost, AvailabilitySlo};
use tf_core::manual::ManualCluster;
use tf_core::scenario::*;
use tf_core::testing::{FakeApp, FakeDeployer};

/// Writes every 50 ms; a fault begins at the 4th, one more write succeeds
/// (the fault has not taken yet), then `outage` writes fail, then writes
/// succeed again; the fault ends at the `ends_at`th.
struct FailsOver {
    outage: u64,
    ends_at: u64,
}

#[async_trait]
impl Workload<FakeApp> for FailsOver {
    fn name(&self) -> &str {
        "w"
    }

    async fn run(&self, ctx: &RunContext<FakeApp>) -> Result<(), BoxError> {
        let mut client = ctx.history().client_for("w");
        let mut fault = None;
        for n in 0u64.. {
            if ctx.is_over() {
                break;
            }
            match n {
                4 => fault = Some(ctx.begin_fault("w", "primary killed")),
                n if n == self.ends_at => ctx.end_fault(fault.take().unwrap()),
                _ => {}
            }
            let write = client.invoke("write", json!([format!("k{n}"), n]));
            if (6..6 + self.outage).contains(&n) {
                write.fail("connection refused");
            } else {
                write.ok(json!([format!("k{n}"), n]));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// Writes k0..k9, all acknowledged, then reads each back; the reads of
/// the first `lost` keys find nothing.
struct Loses {
    lost: u64,
}

#[async_trait]
impl Workload<FakeApp> for Loses {
    fn name(&self) -> &str {
        "w"
    }

    async fn run(&self, ctx: &RunContext<FakeApp>) -> Result<(), BoxError> {
        let mut client = ctx.history().client_for("w");
        for n in 0..10u64 {
            client
                .invoke("write", json!([format!("k{n}"), n]))
                .ok(json!([format!("k{n}"), n]));
        }
        for n in 0..10u64 {
            let value = if n < self.lost { json!(null) } else { json!(n) };
            client
                .invoke("read", json!([format!("k{n}"), null]))
                .ok(json!([format!("k{n}"), value]));
        }
        ctx.over().await;
        Ok(())
    }
}

async fn driven(
    dir: &tempfile::TempDir,
    workload: impl Workload<FakeApp>,
) -> ManualCluster<FakeApp> {
    let deployer = FakeDeployer::new(dir.path().join("run"));
    let cluster = ManualCluster::start(Arc::new(FakeApp::default()), &deployer, "drive", 2)
        .await
        .unwrap();
    let drive: Vec<Arc<dyn Workload<FakeApp>>> = vec![Arc::new(workload)];
    cluster.drive(&drive, Duration::from_secs(2)).await.unwrap();
    cluster
}

#[tokio::test(start_paused = true)]
async fn the_longest_outage_from_a_fault_s_start_is_measured_past_a_lucky_first_write() {
    let dir = tempfile::tempdir().unwrap();
    // 10 failed writes: 0.55 s without a success after the one lucky write.
    let mut cluster = driven(
        &dir,
        FailsOver {
            outage: 10,
            ends_at: 30,
        },
    )
    .await;
    let slo = || AvailabilitySlo::new(Duration::from_millis(300)).from_fault_start();
    assert_eq!(
        Expectation::<FakeApp>::name(&slo()),
        "requests succeed again within 300.0ms after each fault begins"
    );
    let violation = cluster.check(&slo()).await.unwrap_err();
    assert!(
        violation
            .reason
            .contains("1 of 1 fault(s) left requests failing longer than 300.0ms"),
        "{violation:?}"
    );
    let observed = violation.observed.clone().unwrap_or_default();
    assert!(
        observed.starts_with("`primary killed` began at 0.2s; no request succeeded for 55"),
        "{observed}"
    );
    // Measured from the fault's end, the same history passes: the outage
    // was over long before.
    cluster
        .check(&AvailabilitySlo::new(Duration::from_millis(300)))
        .await
        .unwrap();
    cluster
        .check(&AvailabilitySlo::new(Duration::from_secs(1)).from_fault_start())
        .await
        .unwrap();
    cluster.cleanup().await;

    let dir = tempfile::tempdir().unwrap();
    let mut cluster = driven(
        &dir,
        FailsOver {
            outage: 0,
            ends_at: 30,
        },
    )
    .await;
    cluster.check(&slo()).await.unwrap();
    cluster.cleanup().await;
}

#[tokio::test(start_paused = true)]
async fn an_outage_that_outlasts_its_fault_still_counts_from_the_fault_s_start() {
    let dir = tempfile::tempdir().unwrap();
    // The fault ends at the 8th write; writes fail until the 16th.
    let mut cluster = driven(
        &dir,
        FailsOver {
            outage: 10,
            ends_at: 8,
        },
    )
    .await;
    let violation = cluster
        .check(&AvailabilitySlo::new(Duration::from_millis(300)).from_fault_start())
        .await
        .unwrap_err();
    let observed = violation.observed.unwrap_or_default();
    assert!(
        observed.starts_with("`primary killed` began at 0.2s; no request succeeded for 55"),
        "{observed}"
    );
    cluster.cleanup().await;
}

#[tokio::test(start_paused = true)]
async fn lost_acknowledged_writes_beyond_the_bound_fail_and_the_count_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = driven(&dir, Loses { lost: 2 }).await;
    let violation = cluster
        .check(&AcknowledgedWritesLostAtMost::new(1))
        .await
        .unwrap_err();
    assert_eq!(
        violation.reason,
        "2 of 10 acknowledged write(s) lost, more than 1"
    );
    assert!(
        violation.observed.unwrap_or_default().contains("lost: "),
        "the lost writes are named"
    );
    cluster
        .check(&AcknowledgedWritesLostAtMost::new(2))
        .await
        .unwrap();
    cluster.cleanup().await;

    let dir = tempfile::tempdir().unwrap();
    let mut cluster = driven(&dir, Loses { lost: 0 }).await;
    cluster
        .check(&AcknowledgedWritesLostAtMost::new(0))
        .await
        .unwrap();
    cluster.cleanup().await;
}
