//! Ready-made scenarios of the Raft key-value app.

use std::time::Duration;

use tf_core::catalog::{Param, ScenarioEntry};
use tf_core::observation::ObservationConfig;
use tf_core::scenario::{Scenario, ScenarioBuilder, ScenarioError};
use tf_core::workloads::FaultKind;

use crate::expectations::{
    DeposedLeaderCommitsNothing, NoAckedWriteLost, converged, leader_within, one_leader_per_term,
};
use crate::{
    AckLog, DeposedLeaderWrites, DeposedLog, KvWrites, RaftKv, RaftObserver, leader_failover,
    leader_partition,
};

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
    writes_base(name, RaftKv::default(), nodes, duration, 20, acks)
}

/// `nodes` nodes of `app`, the recorded Raft observer and writes at `rate`.
fn writes_base(
    name: &str,
    app: RaftKv,
    nodes: usize,
    duration: Duration,
    rate: u32,
    acks: &std::sync::Arc<AckLog>,
) -> ScenarioBuilder<RaftKv> {
    Scenario::builder(name, app)
        .nodes(nodes)
        .duration(duration)
        .cooldown(Duration::from_secs(1))
        .recorded_observer(RaftObserver, raft_observation())
        .workload(KvWrites {
            rate,
            acks: std::sync::Arc::clone(acks),
        })
}

/// Refuses fewer than 3 nodes: with fewer, losing the leader leaves no
/// majority to elect another.
fn needs_a_majority_without_the_leader(scenario: &str, nodes: usize) -> Result<(), ScenarioError> {
    if nodes < 3 {
        return Err(ScenarioError::Invalid(format!(
            "{scenario} needs at least 3 nodes (got {nodes}): with fewer, losing the leader leaves no majority to elect another"
        )));
    }
    Ok(())
}

/// `raft-failover`: writes at a steady rate while the leader is killed (or
/// restarted) and brought back, repeatedly; safety, liveness, convergence
/// and durability are judged.
pub fn raft_failover(options: &FailoverOptions) -> Result<Scenario<RaftKv>, ScenarioError> {
    needs_a_majority_without_the_leader("raft-failover", options.nodes)?;
    let acks = AckLog::shared();
    let app = RaftKv::default();
    let leader_bound = app.election_timeout.1 * 4 + Duration::from_secs(1);
    writes_base(
        "raft-failover",
        app,
        options.nodes,
        options.duration,
        options.write_rate,
        &acks,
    )
    .workload(leader_failover(options.fault))
    .expect(one_leader_per_term())
    .expect(leader_within(leader_bound))
    .expect(converged(Duration::from_secs(10)))
    .expect(NoAckedWriteLost(acks))
    .build()
}

/// Knobs of [`raft_partition`].
#[derive(Clone, Debug)]
pub struct PartitionOptions {
    /// Cluster size.
    pub nodes: usize,
    /// Run window.
    pub duration: Duration,
    /// How long the leader stays cut off.
    pub cut_for: Duration,
    /// Writes per second.
    pub write_rate: u32,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            nodes: 3,
            duration: Duration::from_secs(15),
            cut_for: Duration::from_secs(3),
            write_rate: 20,
        }
    }
}

/// `raft-partition`: the leader is cut off from the majority while writes
/// go on. The majority elects a new leader and keeps committing; writes
/// sent to the old leader are never acknowledged; after the heal the old
/// leader follows, the cluster converges and no acknowledged write is
/// lost. Needs a deployer that can partition (compose).
pub fn raft_partition(options: &PartitionOptions) -> Result<Scenario<RaftKv>, ScenarioError> {
    needs_a_majority_without_the_leader("raft-partition", options.nodes)?;
    let acks = AckLog::shared();
    let deposed = DeposedLog::shared();
    let app = RaftKv::default();
    let leader_bound = app.election_timeout.1 * 4 + Duration::from_secs(1);
    writes_base(
        "raft-partition",
        app,
        options.nodes,
        options.duration,
        options.write_rate,
        &acks,
    )
    .workload(leader_partition(options.cut_for, 2))
    .workload(DeposedLeaderWrites {
        log: std::sync::Arc::clone(&deposed),
    })
    .expect(one_leader_per_term())
    .expect(leader_within(leader_bound))
    .expect(DeposedLeaderCommitsNothing(deposed))
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
        {
            let defaults = PartitionOptions::default();
            ScenarioEntry::new(
                "raft-partition",
                "3-node Raft key-value cluster; the leader is cut off from the majority by a network partition and healed, twice, while writes go on; checks a new leader on the majority side that keeps committing, no write acknowledged by the cut-off leader, convergence and no lost acknowledged write (needs --deployer compose)",
            )
            .param(
                Param::count(
                    "nodes",
                    defaults.nodes,
                    "cluster size; the majority side must elect a leader",
                )
                .at_least(3),
            )
            .param(Param::duration("duration", defaults.duration, "run window"))
            .param(Param::duration(
                "cut-for",
                defaults.cut_for,
                "how long the leader stays cut off",
            ))
            .param(
                Param::count("write-rate", defaults.write_rate as usize, "writes per second")
                    .at_least(1)
                    .at_most(1000),
            )
            .builds(|p| {
                raft_partition(&PartitionOptions {
                    nodes: p.count("nodes"),
                    duration: p.duration("duration"),
                    cut_for: p.duration("cut-for"),
                    write_rate: u32::try_from(p.count("write-rate")).unwrap_or(1000),
                })
            })
        },
    ]
}
