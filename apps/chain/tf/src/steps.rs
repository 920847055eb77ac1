//! Cucumber steps for the chain app, on top of `tf-cucumber`'s generic
//! ones. They reuse the chain observer (with its sync view), the transfers
//! workload and the inclusion and conservation expectations; none parses
//! node JSON or sleeps.
//!
//! | Step | Does |
//! |---|---|
//! | `Given a chain network of 3 nodes` (`with finality depth 40`) | deploys it, observes it with [`ChainObserver`] |
//! | `Then within 30 seconds every node reaches height 10` | a height wait |
//! | `Then within 40 seconds every node shares one final block at height 5 or above` | convergence |
//! | `Given a network of 4 validators and 2 RPC nodes` | groups `validator` and `rpc` (started once the validators are ready), observed |
//! | `When transfers run for 10 seconds` (`through the RPC nodes`) | [`Transfers`] at 2 per second |
//! | `Then within 20 seconds the validators are 15 blocks ahead of the RPC nodes` | the RPC nodes stalled (cut off) |
//! | `Then within 40 seconds every accepted transfer is 3 deep on every node` | [`TransfersIncluded`] |
//! | `Then every head holds the genesis supply` | [`conservation`] |
//! | `Then no final block was reverted or contradicted` | [`safety`] |
//! | `Then within 60 seconds a node reorganized 2 or more blocks` | a reorg was observed |
//! | `Given a public chain network of 3 nodes` | another cluster, attached as `public-N` sources only |
//! | `Given a lying public peer on its own branch` | a lone node, attached as `public-liar` |
//! | `Then within 30 seconds the public network reaches final height 20` | the honest public nodes' finality |
//! | `When a local node joins the public network` | a local node whose peers are the honest public nodes |
//! | `When public node-2 is stopped` (`started`) | acts on the public network |
//! | `Then within 60 seconds the local node reaches the majority public target` | [`SyncView`] wait |
//! | `Then the majority target is not on public-liar's branch` | the liar did not move it |
//! | `Then within 30 seconds the majority target moves past public node-2's last final block` | a down peer did not hold it |

use std::sync::Arc;

use tf_core::manual::{GroupOf, ManualCluster};
use tf_core::observation::ObservationHandle;
use tf_core::scenario::deploy::NewNode;
use tf_core::scenario::{NodeEndpoint, Workload};
use tf_cucumber::{OrFail, Steps, TfWorld, capture, count, fail, seconds, wait_for};

use crate::expectations::{TransfersIncluded, conservation, safety};
use crate::scenarios::chain_observation;
use crate::{ChainApp, ChainObserver, ChainSnapshot, Inclusion, TransferLog, Transfers};

/// Sources of the public network are named `public-...`.
const PUBLIC: &str = "public-";

/// What the chain steps remember within one scenario.
#[derive(Default)]
struct ChainSteps {
    transfers: Option<Arc<TransferLog>>,
    local: Option<String>,
    /// A public node's final height when it was stopped.
    stopped_at: Option<(String, u64)>,
}

fn chain(world: &TfWorld) -> (&ManualCluster<ChainApp>, ObservationHandle<ChainObserver>) {
    let cluster = world.app::<ChainApp>().or_fail(world);
    let handle = cluster
        .observer::<ChainObserver>()
        .ok_or("the chain cluster has no ChainObserver")
        .or_fail(world);
    (cluster, handle)
}

fn positive(world: &TfWorld, text: &str, what: &str) -> u64 {
    count(text, 1, what).or_fail(world) as u64
}

/// The scenario's cluster, made empty (a local side to grow) if the step
/// is the first to need it.
async fn local_side(world: &mut TfWorld) {
    if world.app::<ChainApp>().is_ok() {
        return;
    }
    let cluster = match world.start(ChainApp::default(), 0).await {
        Ok(cluster) => cluster,
        Err(error) => fail(world, error),
    };
    let observer = ChainObserver::with_wallets(cluster.app().wallets).syncing_to(PUBLIC);
    if let Err(error) = cluster.observe(observer, chain_observation()) {
        fail(world, error);
    }
}

/// Attaches every node of the `role` cluster to the scenario's cluster as
/// `public-...` sources.
fn attach_all(world: &mut TfWorld, role: &str, name: impl Fn(&str) -> String) {
    let (main, other) = match world.both_of::<ChainApp>(role) {
        Ok(both) => both,
        Err(error) => fail(&TfWorld::default(), error),
    };
    for endpoint in other.endpoints() {
        if let Err(error) = main.attach(&name(&endpoint.name), endpoint) {
            fail(&TfWorld::default(), error);
        }
    }
}

/// The chain steps.
pub fn steps() -> Steps {
    Steps::new()
        .given(
            r"^a chain network of (-?\d+) nodes?(?: with finality depth (-?\d+))?$",
            |world, ctx| {
                Box::pin(async move {
                    let n = count(capture(&ctx, 1), 1, "a chain network's size").or_fail(world);
                    let mut app = ChainApp::default();
                    if !capture(&ctx, 2).is_empty() {
                        app.k = positive(world, capture(&ctx, 2), "the finality depth");
                    }
                    let wallets = app.wallets;
                    let cluster = match world.start(app, n).await {
                        Ok(cluster) => cluster,
                        Err(error) => fail(world, error),
                    };
                    if let Err(error) =
                        cluster.observe(ChainObserver::with_wallets(wallets), chain_observation())
                    {
                        fail(world, error);
                    }
                })
            },
        )
        .then(
            r"^within (-?\d+) seconds? every node reaches height (-?\d+)$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let height = positive(world, capture(&ctx, 2), "a height");
                    let (cluster, _) = chain(world);
                    let nodes = cluster.nodes();
                    wait_for::<ChainApp, ChainObserver>(world,
                            &format!("every node at height {height} or above"),
                            timeout,
                            |s: &ChainSnapshot| {
                                nodes.iter().all(|n| {
                                    s.nodes.get(n).is_some_and(|v| v.reachable && v.height >= height)
                                })
                            },
                        ).await;
                })
            },
        )
        .then(
            r"^within (-?\d+) seconds? the validators are (-?\d+) blocks ahead of the RPC nodes$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let ahead = positive(world, capture(&ctx, 2), "a number of blocks");
                    let (cluster, _) = chain(world);
                    let (validators, rpc) = (cluster.group("validator"), cluster.group("rpc"));
                    if validators.is_empty() || rpc.is_empty() {
                        fail(world, "this cluster has no validators and RPC nodes; start it with `Given a network of 3 validators and 2 RPC nodes`");
                    }
                    wait_for::<ChainApp, ChainObserver>(world,
                            &format!("the validators {ahead} blocks ahead of the RPC nodes"),
                            timeout,
                            move |s: &ChainSnapshot| {
                                match (crate::workloads::highest(s, &validators), crate::workloads::highest(s, &rpc)) {
                                    (Some(v), Some(r)) => v >= r + ahead,
                                    _ => false,
                                }
                            },
                        ).await;
                })
            },
        )
        .then(
            r"^within (-?\d+) seconds? every node shares one final block at height (-?\d+) or above$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let height = positive(world, capture(&ctx, 2), "a height");
                    let (cluster, _) = chain(world);
                    let nodes = cluster.nodes();
                    wait_for::<ChainApp, ChainObserver>(world,
                            &format!("every node to share one final block at height {height} or above"),
                            timeout,
                            |s: &ChainSnapshot| {
                                s.shared_final(nodes.iter().map(String::as_str))
                                    .is_some_and(|shared| shared >= height)
                            },
                        )
                        .await;
                })
            },
        )
        .when(r"^transfers run(?: through the (RPC|rpc) nodes)? for (-?\d+) seconds?$", |world, ctx| {
            Box::pin(async move {
                let through_rpc = !capture(&ctx, 1).is_empty();
                let window = seconds(capture(&ctx, 2)).or_fail(world);
                let log = Arc::clone(
                    world
                        .state::<ChainSteps>()
                        .transfers
                        .get_or_insert_with(TransferLog::shared),
                );
                let (cluster, _) = chain(world);
                let mut transfers = Transfers::new(cluster.app().wallets, 2.0, &log);
                if through_rpc {
                    if cluster.group("rpc").is_empty() {
                        fail(world, "this cluster has no RPC nodes; start it with `Given a network of 3 validators and 1 RPC node`");
                    }
                    transfers = transfers.through("rpc");
                }
                let workloads: [Arc<dyn Workload<ChainApp>>; 1] = [Arc::new(transfers)];
                cluster.drive(&workloads, window).await.or_fail(world);
                cluster.journal().write(&format!("transfers: {}", log.summary()));
            })
        })
        .then(
            r"^within (-?\d+) seconds? every accepted transfer is (-?\d+) deep on every node$",
            |world, ctx| {
                Box::pin(async move {
                    let within = seconds(capture(&ctx, 1)).or_fail(world);
                    let depth = positive(world, capture(&ctx, 2), "a depth");
                    let log = world
                        .state::<ChainSteps>()
                        .transfers
                        .clone()
                        .ok_or("no transfers ran before this step (`When transfers run for 10 seconds`)")
                        .or_fail(world);
                    let (cluster, _) = chain(world);
                    let expectation = TransfersIncluded {
                        log,
                        inclusion: Inclusion::at_depth(depth).on(cluster.nodes()),
                        within,
                    };
                    cluster.check(&expectation).await.or_fail(world);
                })
            },
        )
        .then(r"^every head holds the genesis supply$", |world, _| {
            Box::pin(async move {
                let (cluster, _) = chain(world);
                cluster.check(&conservation()).await.or_fail(world);
            })
        })
        .then(r"^no final block was reverted or contradicted$", |world, _| {
            Box::pin(async move {
                let (cluster, _) = chain(world);
                cluster.check(&safety()).await.or_fail(world);
            })
        })
        .then(
            r"^within (-?\d+) seconds? a node reorganized (-?\d+) or more blocks?$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let depth = positive(world, capture(&ctx, 2), "a reorg depth");
                    wait_for::<ChainApp, ChainObserver>(world,
                            &format!("a reorg of {depth} or more blocks"),
                            timeout,
                            |s: &ChainSnapshot| s.max_reorg_depth >= depth,
                        ).await;
                })
            },
        )
        .given(
            r"^a (?:chain )?network of (-?\d+) validators? and (-?\d+) RPC nodes?$",
            |world, ctx| {
                Box::pin(async move {
                    let validators =
                        count(capture(&ctx, 1), 1, "the validators").or_fail(world);
                    let rpc = count(capture(&ctx, 2), 1, "the RPC nodes").or_fail(world);
                    let app = ChainApp::default();
                    let wallets = app.wallets;
                    let groups = vec![
                        GroupOf::new("validator", app.clone(), validators),
                        GroupOf::new("rpc", app.rpc_of("validator"), rpc).after("validator"),
                    ];
                    let cluster = match world.start_groups(groups).await {
                        Ok(cluster) => cluster,
                        Err(error) => fail(world, error),
                    };
                    if let Err(error) =
                        cluster.observe(ChainObserver::with_wallets(wallets), chain_observation())
                    {
                        fail(world, error);
                    }
                })
            },
        )
        .given(r"^a public chain network of (-?\d+) nodes?$", |world, ctx| {
            Box::pin(async move {
                let n = count(capture(&ctx, 1), 1, "a public network's size").or_fail(world);
                local_side(world).await;
                if let Err(error) = world.start_other("public", ChainApp::default(), n).await {
                    fail(world, error);
                }
                attach_all(world, "public", |node| format!("{PUBLIC}{node}"));
            })
        })
        .given(r"^a lying public peer on its own branch$", |world, _| {
            Box::pin(async move {
                local_side(world).await;
                if let Err(error) = world.start_other("liar", ChainApp::default(), 1).await {
                    fail(world, error);
                }
                attach_all(world, "liar", |_| format!("{PUBLIC}liar"));
            })
        })
        .then(
            r"^within (-?\d+) seconds? the public network reaches final height (-?\d+)$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let height = positive(world, capture(&ctx, 2), "a height");
                    let (cluster, _) = chain(world);
                    let public: Vec<String> = cluster
                        .external()
                        .into_iter()
                        .filter(|n| n != "public-liar")
                        .collect();
                    wait_for::<ChainApp, ChainObserver>(world,
                            &format!("every public node to have a final block at height {height} or above"),
                            timeout,
                            |s: &ChainSnapshot| {
                                public.iter().all(|n| {
                                    s.nodes.get(n).is_some_and(|v| v.reachable && v.final_height >= height)
                                })
                            },
                        ).await;
                })
            },
        )
        .when(r"^a local node joins the public network$", |world, _| {
            Box::pin(async move {
                let public: Vec<NodeEndpoint> = world
                    .other_of::<ChainApp>("public")
                    .or_fail(&TfWorld::default())
                    .endpoints();
                let cluster = world.app_mut::<ChainApp>().or_fail(&TfWorld::default());
                let node = NewNode {
                    peers: Some(Vec::new()),
                    external_peers: public,
                    ..NewNode::default()
                };
                let name = match cluster.add_node(node).await {
                    Ok(name) => name,
                    Err(error) => fail(world, error),
                };
                world.state::<ChainSteps>().local = Some(name);
            })
        })
        .when(r"^public (node-\S+) is (stopped|started)$", |world, ctx| {
            Box::pin(async move {
                let node = capture(&ctx, 1).to_owned();
                let stopping = capture(&ctx, 2) == "stopped";
                let public = world.other_of::<ChainApp>("public").or_fail(&TfWorld::default());
                let done = if stopping {
                    public.stop(&node).await
                } else {
                    public.start_node(&node).await
                };
                if let Err(error) = done {
                    fail(world, error);
                }
                if stopping {
                    // Its last final height, as observed once it went
                    // silent: the view a stale peer keeps offering.
                    let source = format!("{PUBLIC}{node}");
                    let down = wait_for::<ChainApp, ChainObserver>(
                        world,
                        &format!("{source} to be observed down"),
                        std::time::Duration::from_secs(10),
                        |s: &ChainSnapshot| s.nodes.get(&source).is_some_and(|v| !v.reachable),
                    )
                    .await;
                    let at = down.snapshot.nodes.get(&source).map_or(0, |v| v.final_height);
                    world.state::<ChainSteps>().stopped_at = Some((node, at));
                }
            })
        })
        .then(
            r"^within (-?\d+) seconds? the local node reaches the majority public target$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let local = world
                        .state::<ChainSteps>()
                        .local
                        .clone()
                        .ok_or("no local node joined before this step (`When a local node joins the public network`)")
                        .or_fail(world);
                    let (_, handle) = chain(world);
                    // The target as the step begins, and never genesis
                    // (which every branch shares): reaching it proves the
                    // node synced, not that it started.
                    let floor = handle
                        .latest_snapshot()
                        .and_then(|s| s.snapshot.sync.as_ref()?.target.map(|(_, h)| h))
                        .unwrap_or(0)
                        .max(1);
                    wait_for::<ChainApp, ChainObserver>(world,
                            &format!(
                                "{local} to hold the block a majority of public peers has final, at height {floor} or above"
                            ),
                            timeout,
                            |s: &ChainSnapshot| {
                                s.sync.as_ref().is_some_and(|v| {
                                    v.has_reached(&local) && v.target.is_some_and(|(_, h)| h >= floor)
                                })
                            },
                        ).await;
                })
            },
        )
        .then(r"^the majority target is not on public-liar's branch$", |world, _| {
            Box::pin(async move {
                let (_, handle) = chain(world);
                let latest = handle
                    .latest_snapshot()
                    .ok_or("nothing observed yet")
                    .or_fail(world);
                let view = latest
                    .snapshot
                    .sync
                    .clone()
                    .ok_or("the observer derives no sync view")
                    .or_fail(world);
                let above_genesis = view.target.is_some_and(|(_, h)| h > 0);
                if !above_genesis || view.agreeing.iter().any(|n| n == "public-liar") {
                    fail(world, format!("the liar moved the majority target: {view:#?}"));
                }
            })
        })
        .then(
            r"^within (-?\d+) seconds? the majority target moves past public (node-\S+)'s last final block$",
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let node = capture(&ctx, 2).to_owned();
                    let (stopped, at) = world
                        .state::<ChainSteps>()
                        .stopped_at
                        .clone()
                        .ok_or("no public node was stopped before this step")
                        .or_fail(world);
                    if stopped != node {
                        fail(world, format!("the stopped public node is {stopped}, not {node}"));
                    }
                    let down = format!("{PUBLIC}{node}");
                    wait_for::<ChainApp, ChainObserver>(world,
                            &format!("a majority target above height {at} without {down}"),
                            timeout,
                            |s: &ChainSnapshot| {
                                s.sync.as_ref().is_some_and(|v| {
                                    v.target.is_some_and(|(_, h)| h > at)
                                        && !v.agreeing.contains(&down)
                                })
                            },
                        ).await;
                })
            },
        )
}
