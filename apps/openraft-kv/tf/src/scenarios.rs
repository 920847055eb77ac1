//! Ready-made scenarios of the Raft key-value app. Each runs the
//! framework's key-value workload (concurrent clients, every request in the
//! history) and judges what the clients saw: the final reads, no
//! acknowledged write lost, linearizability.

use std::time::Duration;

use tf_core::catalog::{Param, ScenarioEntry};
use tf_core::checker::{LatencySlo, ThroughputSlo};
use tf_core::fault::{ClockFault, LinkFault, Links};
use tf_core::observation::ObservationConfig;
use tf_core::scenario::{Scenario, ScenarioBuilder, ScenarioError};
use tf_core::workloads::{Around, FaultKind, FaultMix, KvWorkload, NodeFault};

use crate::expectations::{
    DeposedLeaderCommitsNothing, converged, leader_within, one_leader_per_term,
};
use crate::{
    DeposedLeaderWrites, RaftKv, RaftObserver, RaftSnapshot, leader_failover, leader_one_way,
    leader_partition, slow_links,
};

/// The clients of a scenario.
#[derive(Clone, Copy, Debug)]
pub struct Clients {
    /// Concurrent clients.
    pub clients: usize,
    /// Requests a second, all clients together.
    pub rate: u32,
    /// Keys they spread over.
    pub keys: usize,
}

impl Default for Clients {
    fn default() -> Self {
        Clients {
            clients: 5,
            rate: 50,
            keys: 10,
        }
    }
}

impl Clients {
    /// The framework's key-value workload with these clients.
    pub fn workload(self) -> KvWorkload {
        KvWorkload::new()
            .clients(self.clients)
            .rate(f64::from(self.rate))
            .keys(self.keys)
    }
}

/// Knobs of [`raft_failover`].
#[derive(Clone, Debug)]
pub struct FailoverOptions {
    /// Cluster size.
    pub nodes: usize,
    /// Run window.
    pub duration: Duration,
    /// How the leader is taken down: kill, graceful stop, or pause.
    pub fault: FaultKind,
    /// The clients.
    pub clients: Clients,
}

impl Default for FailoverOptions {
    fn default() -> Self {
        FailoverOptions {
            nodes: 3,
            duration: Duration::from_secs(15),
            fault: FaultKind::Kill,
            clients: Clients::default(),
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

/// `nodes` nodes of `app` and the recorded Raft observer, without
/// workloads: a base for custom scenarios.
pub fn raft_base(
    name: &str,
    app: RaftKv,
    nodes: usize,
    duration: Duration,
) -> ScenarioBuilder<RaftKv> {
    Scenario::builder(name, app)
        .nodes(nodes)
        .duration(duration)
        .cooldown(Duration::from_secs(1))
        .recorded_observer(RaftObserver, raft_observation())
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

/// How long a cluster of `app` may go without a leader after a failover.
fn leader_bound(app: &RaftKv) -> Duration {
    app.election_timeout.1 * 4 + Duration::from_secs(1)
}

/// Safety and liveness of the Raft cluster, then convergence, then what
/// the clients saw (the end checks run in this order).
fn judged(
    builder: ScenarioBuilder<RaftKv>,
    bound: Duration,
    clients: Clients,
) -> ScenarioBuilder<RaftKv> {
    let workload = clients.workload();
    let name = workload.name().to_owned();
    builder
        .expect(one_leader_per_term())
        .expect(leader_within(bound))
        .expect(converged(Duration::from_secs(10)))
        .key_value(workload)
        // A service-level objective, generous for debug builds on a
        // loaded machine: writes stay fast while no fault is on.
        .expect(
            LatencySlo::new(0.99, Duration::from_secs(2))
                .of(&name)
                .kind("write")
                .outside_faults(),
        )
}

/// `raft-failover`: clients read and write while the leader is killed (or
/// restarted, or paused) and brought back, repeatedly; safety, liveness,
/// convergence, durability and linearizability are judged.
pub fn raft_failover(options: &FailoverOptions) -> Result<Scenario<RaftKv>, ScenarioError> {
    failover("raft-failover", RaftKv::default(), options)
}

fn failover(
    name: &str,
    app: RaftKv,
    options: &FailoverOptions,
) -> Result<Scenario<RaftKv>, ScenarioError> {
    needs_a_majority_without_the_leader(name, options.nodes)?;
    let bound = leader_bound(&app);
    let builder = raft_base(name, app, options.nodes, options.duration)
        .workload(leader_failover(options.fault.clone()));
    judged(builder, bound, options.clients).build()
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
    /// The clients.
    pub clients: Clients,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            nodes: 3,
            duration: Duration::from_secs(15),
            cut_for: Duration::from_secs(3),
            clients: Clients::default(),
        }
    }
}

/// `raft-partition`: the leader is cut off from the majority while clients
/// go on. The majority elects a new leader and keeps committing; writes
/// sent to the old leader are never acknowledged; after the heal the old
/// leader follows, the cluster converges, no acknowledged write is lost
/// and what the clients saw is linearizable. Needs a deployer that can
/// partition (compose).
pub fn raft_partition(options: &PartitionOptions) -> Result<Scenario<RaftKv>, ScenarioError> {
    partition("raft-partition", RaftKv::default(), options)
}

fn partition(
    name: &str,
    app: RaftKv,
    options: &PartitionOptions,
) -> Result<Scenario<RaftKv>, ScenarioError> {
    cut_leader(name, app, options, leader_partition(options.cut_for, 2))
}

/// `raft-one-way`: the leader is cut off one way at a time while clients
/// go on: first it cannot hear the others (its incoming peer traffic is
/// dropped while its own packets flow), then it cannot be heard. After
/// each cut the others must elect a leader that commits, the old leader
/// must acknowledge no write, and after each heal it must follow; no
/// acknowledged write lost, linearizable. Needs a deployer that shapes
/// links (compose).
pub fn raft_one_way(options: &PartitionOptions) -> Result<Scenario<RaftKv>, ScenarioError> {
    cut_leader(
        "raft-one-way",
        RaftKv::default(),
        options,
        leader_one_way(options.cut_for, 2),
    )
}

/// The scenarios that cut the leader off: `cuts` does, and the deposed
/// leader is sent writes it must not acknowledge.
fn cut_leader(
    name: &str,
    app: RaftKv,
    options: &PartitionOptions,
    cuts: tf_core::workloads::NodeFault,
) -> Result<Scenario<RaftKv>, ScenarioError> {
    needs_a_majority_without_the_leader(name, options.nodes)?;
    let bound = leader_bound(&app);
    let builder = raft_base(name, app, options.nodes, options.duration)
        .workload(cuts)
        .workload(DeposedLeaderWrites)
        .expect(DeposedLeaderCommitsNothing);
    judged(builder, bound, options.clients).build()
}

/// Knobs of [`raft_slow_links`].
#[derive(Clone, Debug)]
pub struct SlowLinksOptions {
    /// Cluster size.
    pub nodes: usize,
    /// Run window.
    pub duration: Duration,
    /// What every link between two nodes suffers, for most of the window.
    pub fault: LinkFault,
    /// The least share of the clients' request rate that must still
    /// succeed, every 5 s, while the links are slow.
    pub min_throughput: f64,
    /// The clients.
    pub clients: Clients,
}

impl Default for SlowLinksOptions {
    fn default() -> Self {
        SlowLinksOptions {
            nodes: 3,
            duration: Duration::from_secs(20),
            fault: LinkFault::delay(Duration::from_millis(50))
                .jitter(Duration::from_millis(20))
                .loss(5.0),
            min_throughput: 0.2,
            clients: Clients::default(),
        }
    }
}

/// `raft-slow-links`: every link between two nodes is slow and lossy
/// (50 ms ± 20 ms and 5 % loss by default) for most of the window, while
/// clients read and write. Writes must go on committing: at least a share
/// of the clients' rate succeeds in every 5 s; one leader per term; no
/// acknowledged write lost; linearizable; the latency percentiles are in
/// the report. Needs a deployer that shapes links (compose).
pub fn raft_slow_links(options: &SlowLinksOptions) -> Result<Scenario<RaftKv>, ScenarioError> {
    let name = "raft-slow-links";
    needs_a_majority_without_the_leader(name, options.nodes)?;
    options
        .fault
        .check()
        .map_err(|why| ScenarioError::Invalid(format!("{name}: the link fault: {why}")))?;
    // openraft bounds each replication call by about the heartbeat
    // interval: with the default 100 ms, links of 50 +/- 20 ms time every
    // call out and the cluster stops committing (found by this scenario).
    // Timing fit for the links, as a WAN deployment would set it.
    let mut app = RaftKv::default();
    let worst = options.fault.delay + options.fault.jitter;
    app.heartbeat = app.heartbeat.max(worst * 4);
    app.election_timeout = (app.heartbeat * 5, app.heartbeat * 10);
    let bound = leader_bound(&app);
    let hold = options.duration.saturating_sub(Duration::from_secs(4));
    let workload = options.clients.workload();
    let floor = f64::from(options.clients.rate) * options.min_throughput;
    let builder = raft_base(name, app, options.nodes, options.duration)
        .workload(slow_links(options.fault.clone(), hold))
        .expect(
            ThroughputSlo::new(floor)
                .of(workload.name())
                .over(Duration::from_secs(5)),
        );
    judged(builder, bound, options.clients).build()
}

/// Knobs of [`raft_nemesis`].
#[derive(Clone, Debug)]
pub struct NemesisOptions {
    /// Cluster size.
    pub nodes: usize,
    /// Run window.
    pub duration: Duration,
    /// Faults a minute, on average.
    pub per_minute: f64,
    /// Faults in force at once, at most, each on a node of its own (a
    /// majority must stay up: at most `(nodes - 1) / 2`).
    pub at_once: usize,
    /// The clients.
    pub clients: Clients,
}

impl Default for NemesisOptions {
    fn default() -> Self {
        NemesisOptions {
            nodes: 3,
            duration: Duration::from_secs(30),
            per_minute: 10.0,
            at_once: 1,
            clients: Clients::default(),
        }
    }
}

/// The faults of `raft-nemesis`: node faults, partitions of every shape
/// the cluster's size allows, one-way cuts, slow links and clocks.
pub fn nemesis_mix(nodes: usize, per_minute: f64) -> FaultMix {
    let mut kinds = vec![
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Restart,
        FaultKind::Partition,
        FaultKind::link(Around::Ingress, LinkFault::cut()),
        FaultKind::link(Around::Egress, LinkFault::cut()),
        FaultKind::link(Around::Shape(Links::Bridge), LinkFault::cut()),
        FaultKind::link(
            Around::Everywhere,
            LinkFault::delay(Duration::from_millis(15))
                .jitter(Duration::from_millis(5))
                .loss(2.0),
        ),
        FaultKind::Clock(ClockFault::ahead(Duration::from_secs(5)).rate(1.5)),
    ];
    if nodes >= 4 {
        kinds.push(FaultKind::link(
            Around::Shape(Links::MajoritiesRing),
            LinkFault::cut(),
        ));
    }
    FaultMix::new(kinds)
        .per_minute(per_minute)
        .hold(Duration::from_secs(1), Duration::from_secs(3))
}

/// `raft-nemesis`: clients read and write while a fault mix drawn from the
/// run's seed strikes (kill, pause, restart, partitions of every shape,
/// one-way cuts, slow links, clocks), one fault at a time (or up to
/// `at_once` on distinct nodes, partitions and faults on every link
/// alone); the schedule is
/// in `schedule.json` and `--seed` reruns it. Safety, a leader after each
/// fault, convergence, no acknowledged write lost and linearizability are
/// judged. Needs a deployer that shapes links and sets clocks (compose).
pub fn raft_nemesis(options: &NemesisOptions) -> Result<Scenario<RaftKv>, ScenarioError> {
    let name = "raft-nemesis";
    needs_a_majority_without_the_leader(name, options.nodes)?;
    let most = (options.nodes - 1) / 2;
    if options.at_once > most {
        return Err(ScenarioError::Invalid(format!(
            "{name} with {} nodes allows at most {most} faults at once (a majority must stay up to elect a leader and commit), not {}; add nodes (--set nodes={}) or lower at-once",
            options.nodes,
            options.at_once,
            options.at_once * 2 + 1
        )));
    }
    let app = RaftKv::default();
    let bound = leader_bound(&app);
    let mix = nemesis_mix(options.nodes, options.per_minute).at_once(options.at_once);
    let nemesis = NodeFault::mix("nemesis", mix)
        .settled(|s: &RaftSnapshot| s.leader.is_some() && s.unreachable().is_empty())
        .confirm_within(Duration::from_secs(15));
    let builder = raft_base(name, app, options.nodes, options.duration).workload(nemesis);
    judged(builder, bound, options.clients).build()
}

/// The clients of `raft-stale-reads`: few keys, so that a key is often
/// read soon after it was written.
pub const STALE_READS_CLIENTS: Clients = Clients {
    clients: 5,
    rate: 50,
    keys: 3,
};

/// `raft-stale-reads`: a cluster whose nodes carry a deliberate bug (reads
/// asked to be linearizable are answered from the local state, without
/// asking the leader), under leader pauses (`fault` `pause`, local) or
/// partitions (`partition`, compose). It must FAIL: the linearizability
/// check names a stale read. It proves the checker finds a real bug.
pub fn raft_stale_reads(options: &FailoverOptions) -> Result<Scenario<RaftKv>, ScenarioError> {
    let mut app = RaftKv::default();
    app.stale_reads = true;
    let name = "raft-stale-reads";
    if options.fault == FaultKind::Partition {
        return partition(
            name,
            app,
            &PartitionOptions {
                nodes: options.nodes,
                duration: options.duration,
                clients: options.clients,
                ..PartitionOptions::default()
            },
        );
    }
    failover(name, app, options)
}

/// The clients' parameters, shared by every scenario of the catalog.
fn with_clients(entry: ScenarioEntry, defaults: Clients) -> ScenarioEntry {
    entry
        .param(
            Param::count("clients", defaults.clients, "concurrent key-value clients")
                .at_least(1)
                .at_most(64),
        )
        .param(
            Param::count(
                "rate",
                defaults.rate as usize,
                "client requests per second, all clients together (half reads, a tenth compare-and-sets, the rest writes)",
            )
            .at_least(1)
            .at_most(2000),
        )
        .param(
            Param::count("keys", defaults.keys, "keys the requests spread over")
                .at_least(1)
                .at_most(100_000),
        )
}

fn clients_of(p: &tf_core::catalog::Params) -> Clients {
    Clients {
        clients: p.count("clients"),
        rate: u32::try_from(p.count("rate")).unwrap_or(2000),
        keys: p.count("keys"),
    }
}

/// The catalog entry of a scenario that cuts the leader off, built by
/// `build` from its parameters.
fn cut_entry(
    name: &'static str,
    description: &'static str,
    cut_for: &'static str,
    build: fn(&PartitionOptions) -> Result<Scenario<RaftKv>, ScenarioError>,
) -> ScenarioEntry {
    let defaults = PartitionOptions::default();
    with_clients(
        ScenarioEntry::new(name, description)
            .param(
                Param::count(
                    "nodes",
                    defaults.nodes,
                    "cluster size; the majority side must elect a leader",
                )
                .at_least(3),
            )
            .param(Param::duration("duration", defaults.duration, "run window"))
            .param(Param::duration("cut-for", defaults.cut_for, cut_for)),
        Clients::default(),
    )
    .builds(move |p| {
        build(&PartitionOptions {
            nodes: p.count("nodes"),
            duration: p.duration("duration"),
            cut_for: p.duration("cut-for"),
            clients: clients_of(p),
        })
    })
}

/// The app's scenarios, for the `scenarios` CLI (and any other runner).
pub fn catalog() -> Vec<ScenarioEntry> {
    let defaults = FailoverOptions::default();
    let fault = |p: &tf_core::catalog::Params| match p.choice("fault") {
        "restart" => FaultKind::Restart,
        "pause" => FaultKind::Pause,
        "partition" => FaultKind::Partition,
        _ => FaultKind::Kill,
    };
    vec![
        with_clients(
            ScenarioEntry::new(
                "raft-failover",
                "3-node Raft key-value cluster; the leader is killed and brought back while clients read and write; checks one leader per term, a leader after each failover, convergence, no lost acknowledged write and a linearizable history",
            )
            .param(
                Param::count(
                    "nodes",
                    defaults.nodes,
                    "cluster size; taking the leader down must leave a majority",
                )
                .at_least(3),
            )
            .param(Param::duration("duration", defaults.duration, "run window"))
            .param(Param::choice(
                "fault",
                &["kill", "restart", "pause"],
                "how the leader is taken down: SIGKILL, a graceful stop (SIGTERM), or a freeze (SIGSTOP)",
            )),
            Clients::default(),
        )
        .builds(move |p| {
            raft_failover(&FailoverOptions {
                nodes: p.count("nodes"),
                duration: p.duration("duration"),
                fault: fault(p),
                clients: clients_of(p),
            })
        }),
        cut_entry(
            "raft-partition",
            "3-node Raft key-value cluster; the leader is cut off from the majority by a network partition and healed, twice, while clients read and write; checks a new leader on the majority side that keeps committing, no write acknowledged by the cut-off leader, convergence, no lost acknowledged write and a linearizable history (needs --deployer compose)",
            "how long the leader stays cut off",
            raft_partition,
        ),
        cut_entry(
            "raft-one-way",
            "3-node Raft key-value cluster; the leader is cut off one way (first it cannot hear the others, then it cannot be heard) and healed while clients read and write; checks a new leader that commits after each cut, no write acknowledged by the old leader, convergence, no lost acknowledged write and a linearizable history (needs --deployer compose)",
            "how long each one-way cut lasts",
            raft_one_way,
        ),
        {
            let defaults = SlowLinksOptions::default();
            with_clients(
                ScenarioEntry::new(
                    "raft-slow-links",
                    "3-node Raft key-value cluster; every link between two nodes is slow and lossy for most of the window while clients read and write; checks that writes keep committing (a share of the request rate succeeds every 5 s), one leader per term, no lost acknowledged write and a linearizable history, with the latency percentiles in the report (needs --deployer compose)",
                )
                .param(Param::count("nodes", defaults.nodes, "cluster size").at_least(3))
                .param(Param::duration("duration", defaults.duration, "run window (at least 8 s)"))
                .param(Param::duration("delay", defaults.fault.delay, "delay on every link"))
                .param(Param::duration("jitter", defaults.fault.jitter, "spread of the delay (at most the delay)"))
                .param(Param::count("loss", defaults.fault.loss as usize, "percent of packets lost on every link").at_most(100)),
                Clients::default(),
            )
            .builds(|p| {
                raft_slow_links(&SlowLinksOptions {
                    nodes: p.count("nodes"),
                    duration: p.duration("duration"),
                    fault: LinkFault::delay(p.duration("delay"))
                        .jitter(p.duration("jitter"))
                        .loss(p.count("loss") as f64),
                    clients: clients_of(p),
                    ..SlowLinksOptions::default()
                })
            })
        },
        {
            let defaults = NemesisOptions::default();
            with_clients(
                ScenarioEntry::new(
                    "raft-nemesis",
                    "3-node Raft key-value cluster under a fault mix drawn from the run's seed (kill, pause, restart, partitions of every shape, one-way cuts, slow links, clocks), one at a time (--set at-once=N overlaps them), while clients read and write; the schedule goes to schedule.json and --seed or --schedule reruns it; checks one leader per term, a leader after each fault, convergence, no lost acknowledged write and a linearizable history (needs --deployer compose)",
                )
                .param(Param::count("nodes", defaults.nodes, "cluster size (4 or more adds a majorities ring)").at_least(3))
                .param(Param::duration("duration", defaults.duration, "run window"))
                .param(Param::count("per-minute", defaults.per_minute as usize, "faults a minute, on average").at_least(1).at_most(60))
                .param(Param::count("at-once", defaults.at_once, "faults in force at once, each on a node of its own (at most (nodes - 1) / 2; partitions and faults on every link stay alone)").at_least(1)),
                Clients::default(),
            )
            .builds(|p| {
                raft_nemesis(&NemesisOptions {
                    nodes: p.count("nodes"),
                    duration: p.duration("duration"),
                    per_minute: p.count("per-minute") as f64,
                    at_once: p.count("at-once"),
                    clients: clients_of(p),
                })
            })
        },
        with_clients(
            ScenarioEntry::new(
                "raft-stale-reads",
                "a Raft cluster with a deliberate bug (linearizable reads answered from local state): EXPECTED TO FAIL the linearizability check, with a stale read as counterexample; faults: leader pauses (local) or partitions (--set fault=partition, needs --deployer compose)",
            )
            .param(Param::count("nodes", defaults.nodes, "cluster size").at_least(3))
            .param(Param::duration("duration", defaults.duration, "run window"))
            .param(Param::choice(
                "fault",
                &["pause", "kill", "partition"],
                "how the leader is taken down: a freeze (SIGSTOP), SIGKILL, or a network partition (compose)",
            )),
            STALE_READS_CLIENTS,
        )
        .builds(move |p| {
            raft_stale_reads(&FailoverOptions {
                nodes: p.count("nodes"),
                duration: p.duration("duration"),
                fault: fault(p),
                clients: clients_of(p),
            })
        }),
    ]
}
