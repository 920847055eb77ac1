//! Ready-made scenarios of the Raft key-value app.

use std::time::Duration;

use tf_core::catalog::{Param, ScenarioEntry};
use tf_core::observation::ObservationConfig;
use tf_core::scenario::{Scenario, ScenarioBuilder, ScenarioError};
use tf_core::workloads::FaultKind;

use crate::expectations::{NoAckedWriteLost, converged, leader_within, one_leader_per_term};
use crate::{AckLog, KvWrites, RaftKv, RaftObserver, leader_failover};

/// Knobs of [`raft_failover`].
#[derive(Clone, Debug)]
pub struct FailoverOptions {
    /// Cluster size.
    pub nodes: usize,
    /// Run window.
    pub duration: Duration,
    /// How the leader is taken down: kill, graceful stop, or pause.
    pub fault: FaultKind,
    /// Writes per second.
    pub write_rate: u32,
}

impl Default for FailoverOptions {
    fn default() -> Self {
        FailoverOptions {
            nodes: 3,
            duration: Duration::from_secs(15),
            fault: FaultKind::Kill,
            write_rate: 20,
        }
    }
}

/// How the Raft observer polls in scenarios: fast enough to time failovers.
pub fn raft_observation() -> ObservationConfig {
    ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(100))
        .with_source_timeout(Duration::from_millis(500))
        .with_cycle_timeout(Duration::from_secs(2))
}

/// The cluster, its observer and writes, without the failover: a base for
/// custom scenarios.
pub fn raft_base(
    name: &str,
    nodes: usize,
    duration: Duration,
    acks: &std::sync::Arc<AckLog>,
) -> ScenarioBuilder<RaftKv> {
    Scenario::builder(name, RaftKv::default())
        .nodes(nodes)
        .duration(duration)
        .cooldown(Duration::from_secs(1))
        .recorded_observer(RaftObserver, raft_observation())
        .workload(KvWrites {
            rate: 20,
            acks: std::sync::Arc::clone(acks),
        })
}

/// `raft-failover`: writes at a steady rate while the leader is killed (or
/// restarted) and brought back, repeatedly; safety, liveness, convergence
/// and durability are judged.
pub fn raft_failover(options: &FailoverOptions) -> Result<Scenario<RaftKv>, ScenarioError> {
    if options.nodes < 3 {
        return Err(ScenarioError::Invalid(format!(
            "raft-failover needs at least 3 nodes (got {}): with fewer, taking the leader down leaves no majority to elect another",
            options.nodes
        )));
    }
    let acks = AckLog::shared();
    let app = RaftKv::default();
    let leader_bound = app.election_timeout.1 * 4 + Duration::from_secs(1);
    Scenario::builder("raft-failover", app)
        .nodes(options.nodes)
        .duration(options.duration)
        .cooldown(Duration::from_secs(1))
        .recorded_observer(RaftObserver, raft_observation())
        .workload(KvWrites {
            rate: options.write_rate,
            acks: std::sync::Arc::clone(&acks),
        })
        .workload(leader_failover(options.fault))
        .expect(one_leader_per_term())
        .expect(leader_within(leader_bound))
        .expect(converged(Duration::from_secs(10)))
        .expect(NoAckedWriteLost(acks))
        .build()
}

/// The app's scenarios, for the `scenarios` CLI (and any other runner).
pub fn catalog() -> Vec<ScenarioEntry> {
    let defaults = FailoverOptions::default();
    vec![
        ScenarioEntry::new(
            "raft-failover",
            "3-node Raft key-value cluster; the leader is killed and brought back while writes go on; checks one leader per term, a leader after each failover, convergence and no lost acknowledged write",
        )
        .param(Param::count(
            "nodes",
            defaults.nodes,
            "cluster size; taking the leader down must leave a majority",
        )
        .at_least(3))
        .param(Param::duration("duration", defaults.duration, "run window"))
        .param(Param::choice(
            "fault",
            &["kill", "restart", "pause"],
            "how the leader is taken down: SIGKILL, a graceful stop (SIGTERM), or a freeze (SIGSTOP)",
        ))
        .param(
            Param::count("write-rate", defaults.write_rate as usize, "writes per second")
                .at_least(1)
                .at_most(1000),
        )
        .builds(|p| {
            raft_failover(&FailoverOptions {
                nodes: p.count("nodes"),
                duration: p.duration("duration"),
                fault: match p.choice("fault") {
                    "restart" => FaultKind::Restart,
                    "pause" => FaultKind::Pause,
                    _ => FaultKind::Kill,
                },
                write_rate: u32::try_from(p.count("write-rate")).unwrap_or(1000),
            })
        }),
    ]
}
