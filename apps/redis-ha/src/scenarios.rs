//! `redis-failover`: one primary, replicas and Sentinels; the primary is
//! killed (or frozen) and brought back while clients write through the
//! node the Sentinels name.

use std::time::Duration;

use tf_core::catalog::{Param, ScenarioEntry};
use tf_core::checker::{AcknowledgedWritesLostAtMost, AvailabilitySlo};
use tf_core::observation::ObservationConfig;
use tf_core::scenario::{Group, Scenario, ScenarioError, SettlesWithin};
use tf_core::workloads::kv::FinalReads;
use tf_core::workloads::{FaultKind, KvWorkload, NodeFault};

use crate::{HaObserver, HaState, RedisServer, Sentinel};

/// Knobs of [`redis_failover`].
#[derive(Clone, Debug)]
pub struct FailoverOptions {
    /// Data nodes: the primary and its replicas.
    pub servers: usize,
    /// Sentinels (a majority must agree to fail over).
    pub sentinels: usize,
    /// Run window.
    pub duration: Duration,
    /// How the primary is taken down.
    pub fault: FaultKind,
    /// How long it stays down.
    pub down_for: Duration,
    /// Writes a second, all clients together.
    pub rate: f64,
    /// The longest stretch without a successful write while the primary
    /// is down: the failover's bound.
    pub resume_within: Duration,
    /// How many acknowledged writes a failover may lose.
    pub lost_at_most: usize,
    /// How long the primary may not answer before a Sentinel thinks it
    /// down.
    pub down_after: Duration,
}

impl Default for FailoverOptions {
    fn default() -> Self {
        FailoverOptions {
            servers: 3,
            sentinels: 3,
            duration: Duration::from_secs(16),
            fault: FaultKind::Kill,
            down_for: Duration::from_secs(6),
            rate: 40.0,
            resume_within: Duration::from_secs(8),
            lost_at_most: 20,
            down_after: Duration::from_secs(1),
        }
    }
}

/// How the observer polls: often enough to see a failover as it happens.
pub fn ha_observation() -> ObservationConfig {
    ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(200))
        .with_source_timeout(Duration::from_secs(1))
        .with_cycle_timeout(Duration::from_secs(3))
}

/// The data nodes and `sentinel`'s Sentinels, observed, without
/// workloads.
pub fn topology(
    name: &str,
    servers: usize,
    sentinels: usize,
    sentinel: Sentinel,
) -> tf_core::scenario::ScenarioBuilder<RedisServer> {
    Scenario::builder(name, RedisServer)
        .group_name("redis")
        .nodes(servers)
        .group(
            Group::new("sentinel", sentinel)
                .nodes(sentinels)
                .after("redis"),
        )
        .recorded_observer(HaObserver, ha_observation())
}

/// `redis-failover`: the primary the Sentinels name is killed (or frozen)
/// and brought back while clients write through whichever node they name.
/// Checks: the Sentinels elect a replica, writes succeed again within the
/// bound, the old primary rejoins as a replica (the Sentinels name one
/// primary that every other data node replicates), every written key
/// reads back, and at most the stated number of acknowledged writes are
/// lost.
pub fn redis_failover(options: &FailoverOptions) -> Result<Scenario<RedisServer>, ScenarioError> {
    if options.servers < 2 {
        return Err(ScenarioError::Invalid(
            "a failover needs a replica to elect: give it 2 or more servers".into(),
        ));
    }
    let fault = NodeFault::new("primary-down", options.fault.clone())
        .every(Duration::from_secs(3))
        .down_for(options.down_for)
        .max_faults(1)
        // The election is confirmed within the failover's bound, or the
        // run stops there.
        .confirm_within(options.resume_within)
        .settled(|s: &HaState| {
            s.agreed_primary().is_some_and(|p| {
                s.servers
                    .keys()
                    .all(|n| n.as_str() == p || s.replicates(n, p))
            })
        })
        .target(|s: &HaState| s.agreed_primary().map(str::to_owned))
        .while_down(|_, now: &HaState, node| {
            let elected = now.agreed_primary().filter(|p| *p != node)?;
            Some(format!("the Sentinels elected {elected}"))
        })
        // Back, it answers (as the primary it was, until a Sentinel turns
        // it into a replica: the end check waits for that).
        .recovered(|_, now: &HaState, node| {
            let role = &now.servers.get(node)?.role;
            Some(format!("{node} answers again, as a {role}"))
        });
    let writes = KvWorkload::new()
        .named("writes")
        .clients(4)
        .rate(options.rate)
        .keys(100_000)
        .mix(0, 0)
        .request_timeout(Duration::from_secs(1));
    let sentinel = Sentinel {
        quorum: options.sentinels / 2 + 1,
        down_after_ms: options.down_after.as_millis() as u64,
        ..Sentinel::default()
    };
    topology(
        "redis-failover",
        options.servers,
        options.sentinels,
        sentinel,
    )
    .duration(options.duration)
    .cooldown(Duration::from_secs(1))
    .allow_node_crashes()
    .workload(writes)
    .workload(fault)
    .expect(FinalReads::new(
        Duration::from_secs(15),
        Duration::from_secs(1),
    ))
    .expect(AcknowledgedWritesLostAtMost::new(options.lost_at_most))
    .expect(
        AvailabilitySlo::new(options.resume_within)
            .kind("write")
            .from_fault_start(),
    )
    // A Sentinel turns the old primary into a replica at its next look
    // (every 10 s): after the run, within a bound.
    .expect(SettlesWithin::new(
        "one primary, named by the Sentinels and replicated by every other data node",
        Duration::from_secs(20),
        |s: &HaState| s.settled().is_ok(),
    ))
    .build()
}

/// The catalog entry.
pub fn catalog() -> Vec<ScenarioEntry> {
    let defaults = FailoverOptions::default();
    vec![
        ScenarioEntry::new(
            "redis-failover",
            "Redis high availability from Debian's redis-server: a primary, replicas and Sentinels (groups `redis` and `sentinel`, the Sentinels started once the data nodes are ready); the primary the Sentinels name is killed or frozen and brought back while clients write through whichever node they name; checks that the Sentinels elect a replica, writes succeed again within the bound, the old primary rejoins as a replica, every written key reads back and at most the stated number of acknowledged writes are lost (Redis replicates asynchronously)",
        )
        .param(Param::count("redis", defaults.servers, "data nodes: the primary and its replicas").at_least(2).at_most(16))
        .param(Param::count("sentinel", defaults.sentinels, "Sentinels; a majority must agree to fail over").at_least(1).at_most(9))
        .param(Param::duration("duration", defaults.duration, "run window"))
        .param(Param::choice(
            "fault",
            &["kill", "pause"],
            "how the primary is taken down: SIGKILL, or a freeze (SIGSTOP)",
        ))
        .param(Param::duration("down-for", defaults.down_for, "how long the primary stays down"))
        .param(Param::duration("resume-within", defaults.resume_within, "the longest stretch without a successful write while the primary is down"))
        .param(Param::count("lost-at-most", defaults.lost_at_most, "acknowledged writes a failover may lose"))
        .param(Param::duration("down-after", defaults.down_after, "how long the primary may not answer before a Sentinel thinks it down"))
        .builds(move |p| {
            redis_failover(&FailoverOptions {
                servers: p.count("redis"),
                sentinels: p.count("sentinel"),
                duration: p.duration("duration"),
                fault: match p.choice("fault") {
                    "pause" => FaultKind::Pause,
                    _ => FaultKind::Kill,
                },
                down_for: p.duration("down-for"),
                resume_within: p.duration("resume-within"),
                lost_at_most: p.count("lost-at-most"),
                down_after: p.duration("down-after"),
                ..FailoverOptions::default()
            })
        }),
    ]
}
