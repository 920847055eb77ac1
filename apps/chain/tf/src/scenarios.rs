//! Ready-made chain scenarios.

use std::sync::Arc;
use std::time::Duration;

use tf_core::catalog::{Param, ScenarioEntry};
use tf_core::observation::ObservationConfig;
use tf_core::scenario::{Always, Group, Scenario, ScenarioBuilder, ScenarioError, node_name};
use tf_core::workloads::FaultKind;

use crate::expectations::{
    TransfersIncluded, conservation, final_convergence, held_blocks_from_the_future, liveness,
    reorganized, safety,
};
use crate::{
    ChainApp, ChainObserver, ChainSnapshot, HeadReads, Inclusion, TransferLog, Transfers,
    chain_partition, clock_skew, node_restarts, rpc_cut_off,
};

/// How the chain observer polls in scenarios.
pub fn chain_observation() -> ObservationConfig {
    ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(200))
        .with_source_timeout(Duration::from_millis(800))
        .with_cycle_timeout(Duration::from_secs(3))
}

/// Nodes, the recorded chain observer, and the checks every chain run
/// makes: safety always, liveness within the run, a shared final block at
/// the end.
fn chain_base(
    name: &str,
    app: ChainApp,
    nodes: usize,
    duration: Duration,
) -> ScenarioBuilder<ChainApp> {
    // Blocks come about every slot; ask for a third of that.
    let expected_height = duration.as_millis() as u64 / app.slot_ms / 3;
    let observer = ChainObserver::with_wallets(app.wallets);
    Scenario::builder(name, app)
        .nodes(nodes)
        .duration(duration)
        .cooldown(Duration::from_secs(1))
        .recorded_observer(observer, chain_observation())
        // A client reading heads: the report's latency of the read API.
        .workload(HeadReads { rate: 5.0 })
        .expect(safety())
        .expect(liveness(expected_height.max(3), duration))
        .expect(final_convergence(Duration::from_secs(10)))
}

/// Knobs of [`chain_rpc`].
#[derive(Clone, Debug)]
pub struct ChainRpcOptions {
    /// Producing nodes.
    pub validators: usize,
    /// RPC nodes: they follow the validators, serve the chain and take
    /// the wallets' transfers, never produce.
    pub rpc: usize,
    /// Run window.
    pub duration: Duration,
    /// Transfers per second, through the RPC nodes.
    pub rate: f64,
    /// How many blocks an RPC node may trail the best validator by.
    pub lag: u64,
    /// How long the RPC nodes are cut off from the validators (zero: not
    /// at all; otherwise on a deployer that partitions).
    pub cut_for: Duration,
}

impl Default for ChainRpcOptions {
    fn default() -> Self {
        ChainRpcOptions {
            validators: 4,
            rpc: 2,
            duration: Duration::from_secs(20),
            rate: 4.0,
            lag: 10,
            cut_for: Duration::ZERO,
        }
    }
}

/// `chain-rpc`: validators produce; RPC nodes follow them, serve the
/// chain and take every transfer (they relay it to the validators).
/// Checks safety, conservation, that the RPC nodes stay within `lag`
/// blocks of the best validator (from 5 s into the run, outside a cut,
/// and 5 s after it), and
/// that every accepted transfer is included on every node. With `cut_for`,
/// the RPC nodes are cut off from the validators once: they stall without
/// harm to safety, and catch up after.
pub fn chain_rpc(options: &ChainRpcOptions) -> Result<Scenario<ChainApp>, ScenarioError> {
    if options.validators == 0 || options.rpc == 0 {
        return Err(ScenarioError::Invalid(
            "chain-rpc needs at least one validator and one RPC node".into(),
        ));
    }
    // Slower slots and deep finality: six nodes share two cores in CI, and
    // a validator starved for a second must not finalize a branch of its
    // own (k = 6 at 100 ms slots is fork-prone on purpose elsewhere).
    let mut app = ChainApp::default();
    (app.slot_ms, app.k) = (200, 20);
    let wallets = app.wallets.min(8);
    let rpc_nodes: Vec<String> = (0..options.rpc).map(|i| node_name("rpc", i)).collect();
    let validators: Vec<String> = (0..options.validators)
        .map(|i| node_name("validator", i))
        .collect();
    let log = TransferLog::shared();
    let (rpc, lag) = (rpc_nodes.clone(), options.lag);
    let (best_of, trailing) = (validators.clone(), rpc_nodes.clone());
    let mut builder = chain_base(
        "chain-rpc",
        app.clone(),
        options.validators,
        options.duration,
    )
    .group_name("validator")
    .group(
        Group::new("rpc", app.rpc_of("validator"))
            .nodes(options.rpc)
            .after("validator"),
    )
    .workload(Transfers::new(wallets, options.rate, &log).through("rpc"))
    .expect(conservation())
    .expect(TransfersIncluded {
        log: Arc::clone(&log),
        inclusion: Inclusion::at_depth(6),
        within: Duration::from_secs(15),
    })
    .expect(
        Always::new(
            format!("every RPC node within {lag} blocks of the best validator (outside a cut)"),
            move |s: &ChainSnapshot| {
                let Some(best) = best_of
                    .iter()
                    .filter_map(|n| s.nodes.get(n))
                    .map(|v| v.height)
                    .max()
                else {
                    return Ok(());
                };
                match rpc
                    .iter()
                    .filter_map(|n| Some((n, s.nodes.get(n)?)))
                    .find(|(_, v)| v.reachable && v.height + lag < best)
                {
                    Some((node, v)) => Err(format!(
                        "{node} at height {} trails the best validator at {best}",
                        v.height
                    )),
                    None => Ok(()),
                }
            },
        )
        // RPC nodes start once the validators are ready, behind them.
        .starting_after(Duration::from_secs(5))
        .outside_faults(Duration::from_secs(5)),
    );
    if !options.cut_for.is_zero() {
        builder = builder.workload(rpc_cut_off("rpc", trailing, validators, options.cut_for));
    }
    builder.build()
}

/// `chain-liveness` without `build()`, to add to.
pub fn chain_liveness_builder(nodes: usize, duration: Duration) -> ScenarioBuilder<ChainApp> {
    chain_base("chain-liveness", ChainApp::default(), nodes, duration)
}

/// `chain-liveness`: nodes produce, fork and converge; safety always,
/// liveness within the run, a shared final block at the end.
pub fn chain_liveness(
    nodes: usize,
    duration: Duration,
) -> Result<Scenario<ChainApp>, ScenarioError> {
    chain_liveness_builder(nodes, duration).build()
}

/// Knobs of [`wallet_transfers`].
#[derive(Clone, Debug)]
pub struct WalletTransfersOptions {
    /// Cluster size.
    pub nodes: usize,
    /// Run window.
    pub duration: Duration,
    /// Wallets that transfer among themselves.
    pub wallets: usize,
    /// Transfers per second.
    pub rate: f64,
    /// Node restarts in the window (0: none).
    pub restarts: usize,
    /// Blocks become final this deep (the app's 6 by default; forks of
    /// that depth happen when nodes are starved of CPU, and a node that
    /// finalized a losing branch can never take the winning one).
    pub finality: u64,
}

impl Default for WalletTransfersOptions {
    fn default() -> Self {
        WalletTransfersOptions {
            nodes: 4,
            duration: Duration::from_secs(30),
            wallets: 8,
            rate: 4.0,
            restarts: 3,
            finality: ChainApp::default().k,
        }
    }
}

/// `wallet-transfers` without `build()`, to add to; `log` receives what the
/// transfers workload submitted.
pub fn wallet_transfers_builder(
    options: &WalletTransfersOptions,
    log: &Arc<TransferLog>,
) -> ScenarioBuilder<ChainApp> {
    let mut app = ChainApp::default();
    app.wallets = options.wallets.max(crate::DEFAULT_WALLETS);
    app.k = options.finality.max(1);
    let k = app.k;
    let mut builder = chain_base("wallet-transfers", app, options.nodes, options.duration)
        .workload(Transfers::new(options.wallets, options.rate, log))
        .expect(conservation())
        .expect(TransfersIncluded {
            log: Arc::clone(log),
            inclusion: Inclusion::at_depth(k),
            within: Duration::from_secs(15),
        });
    if options.restarts > 0 {
        // Spread the restarts over the window, leaving its last quarter
        // for the cluster to settle.
        let every = options.duration * 3 / 4 / (options.restarts as u32 + 1);
        builder = builder.workload(
            node_restarts(FaultKind::Restart)
                .every(every.max(Duration::from_secs(2)))
                .max_faults(options.restarts),
        );
    }
    builder
}

/// `wallet-transfers`: wallets pay each other at a steady rate while nodes
/// fork and are restarted one after another; safety and conservation
/// always, liveness, a shared final block, and every accepted transfer
/// included `k` deep on every node at the end.
pub fn wallet_transfers(
    options: &WalletTransfersOptions,
) -> Result<Scenario<ChainApp>, ScenarioError> {
    if options.wallets < 2 {
        return Err(ScenarioError::Invalid(format!(
            "wallet-transfers needs at least 2 wallets (got {})",
            options.wallets
        )));
    }
    if !(options.rate.is_finite() && options.rate > 0.0) {
        return Err(ScenarioError::Invalid(format!(
            "the transfer rate must be positive (got {})",
            options.rate
        )));
    }
    wallet_transfers_builder(options, &TransferLog::shared()).build()
}

/// Knobs of [`chain_partition_scenario`].
#[derive(Clone, Debug)]
pub struct PartitionOptions {
    /// Cluster size.
    pub nodes: usize,
    /// How many nodes are cut off (the smaller side).
    pub side: usize,
    /// Run window.
    pub duration: Duration,
    /// How long the partition lasts.
    pub cut_for: Duration,
    /// Blocks until final. A partition shorter than what either side needs
    /// to finalize its own branch heals without contradicting finality.
    pub k: u64,
}

impl Default for PartitionOptions {
    fn default() -> Self {
        PartitionOptions {
            nodes: 4,
            side: 1,
            duration: Duration::from_secs(20),
            cut_for: Duration::from_secs(3),
            k: 40,
        }
    }
}

/// `chain-partition`: a minority is cut off; both sides grow their own
/// branches; after the heal every node converges on one branch, the losing
/// side reorganizes, and no final block is reverted or contradicted.
/// Needs a deployer that can partition (compose).
pub fn chain_partition_scenario(
    options: &PartitionOptions,
) -> Result<Scenario<ChainApp>, ScenarioError> {
    if options.side == 0 || options.side * 2 >= options.nodes {
        return Err(ScenarioError::Invalid(format!(
            "chain-partition cuts off a minority: side must be at least 1 and less than half of {} nodes (got {})",
            options.nodes, options.side
        )));
    }
    let mut app = ChainApp::default();
    app.k = options.k;
    chain_base("chain-partition", app, options.nodes, options.duration)
        .workload(chain_partition(options.side, options.cut_for))
        .expect(reorganized(3))
        .build()
}

/// Knobs of [`chain_clock_skew`].
#[derive(Clone, Debug)]
pub struct ClockSkewOptions {
    /// Cluster size.
    pub nodes: usize,
    /// Run window.
    pub duration: Duration,
    /// Slots the last node's clock is set ahead, then behind.
    pub slots: u64,
    /// How long each skew lasts.
    pub hold: Duration,
}

impl Default for ClockSkewOptions {
    fn default() -> Self {
        ClockSkewOptions {
            nodes: 4,
            duration: Duration::from_secs(25),
            slots: 2,
            hold: Duration::from_secs(4),
        }
    }
}

/// `chain-clock-skew`: the last node's wall clock is set `slots` slots
/// ahead (it produces blocks for slots that have not begun elsewhere,
/// which the others hold until their slot), then behind (it holds every
/// other node's blocks a moment); each skew is confirmed by the node's own time as observed.
/// No final block may be reverted or contradicted, every node keeps
/// growing, and all share a final block at the end. Needs a deployer that
/// can set clocks (local or compose, with libfaketime installed).
pub fn chain_clock_skew(options: &ClockSkewOptions) -> Result<Scenario<ChainApp>, ScenarioError> {
    if options.nodes < 2 {
        return Err(ScenarioError::Invalid(format!(
            "chain-clock-skew needs at least 2 nodes, one skewed and one true (got {})",
            options.nodes
        )));
    }
    let app = ChainApp::default();
    let skew = Duration::from_millis(app.slot_ms * options.slots);
    let skewed = format!("node-{}", options.nodes - 1);
    chain_base("chain-clock-skew", app, options.nodes, options.duration)
        .workload(clock_skew(&skewed, skew, options.hold))
        .expect(held_blocks_from_the_future(skewed))
        .build()
}

/// The app's scenarios, for the `scenarios` CLI (and any other runner).
pub fn catalog() -> Vec<ScenarioEntry> {
    let transfers = WalletTransfersOptions::default();
    vec![
        ScenarioEntry::new(
            "chain-rpc",
            "4 validators and 2 RPC nodes (groups `validator` and `rpc`, the RPC nodes started once the validators are ready): the validators produce, the RPC nodes follow them and take every transfer of 8 wallets; checks safety, that every head holds the genesis supply, that the RPC nodes stay within a bound of the best validator, and that every accepted transfer ends up k deep on every node; with --set cut=rpc the RPC nodes are cut off from the validators once, for --set cut-for=D (needs --deployer compose): they stall without harming safety, and catch up",
        )
        .param(Param::count("validator", 4, "validators: the producing nodes").at_least(1).at_most(32))
        .param(Param::count("rpc", 2, "RPC nodes: they follow, serve and relay, never produce").at_least(1).at_most(32))
        .param(Param::duration("duration", Duration::from_secs(20), "run window"))
        .param(Param::count("lag", 10, "blocks an RPC node may trail the best validator by"))
        .param(Param::choice("cut", &["none", "rpc"], "`rpc` cuts the RPC nodes off from the validators once (needs --deployer compose)"))
        .param(Param::duration("cut-for", Duration::from_secs(5), "how long the cut lasts"))
        .builds(|p| {
            chain_rpc(&ChainRpcOptions {
                validators: p.count("validator"),
                rpc: p.count("rpc"),
                duration: p.duration("duration"),
                lag: p.count("lag") as u64,
                cut_for: match p.choice("cut") {
                    "rpc" => p.duration("cut-for"),
                    _ => Duration::ZERO,
                },
                ..ChainRpcOptions::default()
            })
        }),
        ScenarioEntry::new(
            "chain-liveness",
            "3 chain nodes that fork on purpose (frequent slot winners); checks that no final block is reverted or contradicted, that every node keeps growing, and that all share a final block at the end",
        )
        .param(Param::count("nodes", 3, "cluster size").at_least(1))
        .param(Param::duration("duration", Duration::from_secs(15), "run window"))
        .builds(|p| chain_liveness(p.count("nodes"), p.duration("duration"))),
        ScenarioEntry::new(
            "wallet-transfers",
            "4 forking chain nodes, restarted one after another, while 8 wallets pay each other; checks safety, that every head holds exactly the genesis supply, liveness, a shared final block, and that every accepted transfer ends up k blocks deep on every node",
        )
        .param(Param::count("nodes", transfers.nodes, "cluster size").at_least(1))
        .param(Param::duration("duration", transfers.duration, "run window"))
        .param(Param::count("wallets", transfers.wallets, "wallets that pay each other").at_least(2))
        .param(Param::rate("rate", transfers.rate, "transfers per second"))
        .param(Param::count("restarts", transfers.restarts, "node restarts during the run, 0 for none"))
        .param(Param::count("finality", transfers.finality as usize, "blocks become final this deep (transfers are checked that deep)").at_least(1).at_most(100))
        .builds(|p| {
            wallet_transfers(&WalletTransfersOptions {
                nodes: p.count("nodes"),
                duration: p.duration("duration"),
                wallets: p.count("wallets"),
                rate: p.rate("rate"),
                restarts: p.count("restarts"),
                finality: p.count("finality") as u64,
            })
        }),
        {
            let defaults = PartitionOptions::default();
            ScenarioEntry::new(
                "chain-partition",
                "4 chain nodes; one is cut off by a network partition and both sides grow their own branches; after the heal every node converges on one branch, the losing side reorganizes, and no final block is reverted or contradicted (needs --deployer compose)",
            )
            .param(Param::count("nodes", defaults.nodes, "cluster size").at_least(3))
            .param(Param::count("side", defaults.side, "nodes cut off (a minority)").at_least(1))
            .param(Param::duration("duration", defaults.duration, "run window"))
            .param(Param::duration("cut-for", defaults.cut_for, "how long the partition lasts"))
            .param(
                Param::count("k", defaults.k as usize, "blocks until final; keep it above what a side grows while cut off")
                    .at_least(1),
            )
            .builds(|p| {
                chain_partition_scenario(&PartitionOptions {
                    nodes: p.count("nodes"),
                    side: p.count("side"),
                    duration: p.duration("duration"),
                    cut_for: p.duration("cut-for"),
                    k: p.count("k") as u64,
                })
            })
        },
        {
            let defaults = ClockSkewOptions::default();
            ScenarioEntry::new(
                "chain-clock-skew",
                "4 chain nodes; the last node's clock runs 2 slots ahead, then behind (libfaketime); checks that the others hold its blocks from the future until their slot, no final block is reverted or contradicted, every node keeps growing and all share a final block at the end (needs libfaketime: apt install libfaketime)",
            )
            .param(Param::count("nodes", defaults.nodes, "cluster size").at_least(2))
            .param(Param::duration("duration", defaults.duration, "run window"))
            .param(Param::count("slots", defaults.slots as usize, "slots the clock is set ahead, then behind").at_least(1))
            .param(Param::duration("hold", defaults.hold, "how long each skew lasts"))
            .builds(|p| {
                chain_clock_skew(&ClockSkewOptions {
                    nodes: p.count("nodes"),
                    duration: p.duration("duration"),
                    slots: p.count("slots") as u64,
                    hold: p.duration("hold"),
                })
            })
        },
    ]
}
