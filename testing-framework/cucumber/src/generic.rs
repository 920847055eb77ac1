//! The steps every app shares. Node names are the cluster's (`node-0`,
//! `validator-1`, `rpc-0`: a group and a number); lists read
//! `node-0 and node-1` or `node-0, node-1 and node-2`.
//!
//! | Step | Does |
//! |---|---|
//! | `When node-1 is stopped` (`started`, `restarted`, `killed`, `paused`, `resumed`) | node control |
//! | `When node-0 and node-1 are cut off from the rest` | a partition (deployers that can) |
//! | `When rpc-0 is cut off from the validators` | the same, the other side holding group `validator` |
//! | `When the partition heals` | ends it |
//! | `When a new node joins` / `When a new node joins with peers node-0 and node-1` | adds `node-N` |
//! | `When a new rpc node joins` | adds `rpc-N` to group `rpc` |
//! | `When node-2 is removed` | stops it and drops it from the sources |
//! | `Then the cluster has 3 nodes` | its size now |
//! | `Then within 20 seconds every node is ready` | readiness wait |
//! | `Then within 20 seconds node-3 is ready` | readiness wait |
//! | `Then within 10 seconds node-1 is down` | waits until its probe fails |
//! | `When the link from node-0 to node-1 drops 10% of packets` | a lossy link, one way (compose) |
//! | `When the link from node-0 to node-1 is delayed by 50 ms` (`by 50 ms +/- 10 ms`) | a slow link, one way (compose) |
//! | `When node-0 cannot hear the others` / `When node-0 cannot be heard` | a one-way cut of its way in / out (compose) |
//! | `When the links are restored` | removes every link fault of the scenario |
//! | `When node-2's clock runs 3 seconds ahead` (`behind`) / `When node-2's clock is set right` | clock faults (tag `@clocks`) |

use std::time::Duration;

use tf_core::fault::{ClockFault, LinkFault, Links};
use tf_core::scenario::deploy::NewNode;

use crate::args::{count, node_list, seconds};
use crate::steps::capture;
use crate::{OrFail, Steps, TfWorld, fail};

/// One or more node names, each its group's name and a number: `node-0`,
/// `node-0 and node-1`, `validator-0, validator-1 and rpc-0`.
const NODES: &str = r"([a-z][\w-]*-\S+?(?:(?:,\s*|\s+and\s+)[a-z][\w-]*-\S+?)*)";

/// One node name.
const NODE: &str = r"([a-z][\w-]*-\S+?)";

/// Nodes named in a step, each checked against the cluster.
fn nodes_of(world: &TfWorld, text: &str) -> Vec<String> {
    let names = node_list(text).or_fail(world);
    let cluster = world.cluster().or_fail(world);
    let known = cluster.nodes();
    if let Some(unknown) = names.iter().find(|n| !known.contains(n)) {
        fail(
            world,
            format!(
                "there is no node `{unknown}` in this cluster; it has {}",
                if known.is_empty() {
                    "no nodes".to_owned()
                } else {
                    known.join(", ")
                }
            ),
        );
    }
    names
}

/// The cluster's group a step names: `rpc`, or in the plural,
/// `validators` for group `validator`; a step naming no group fails,
/// listing the groups there are.
fn group_named(world: &TfWorld, named: &str) -> String {
    let groups = world.cluster().or_fail(world).groups();
    let singular = named.strip_suffix('s').unwrap_or(named);
    match groups
        .iter()
        .find(|g| g.as_str() == named || g.as_str() == singular)
    {
        Some(group) => group.clone(),
        None => fail(
            world,
            format!(
                "there is no group `{named}` in this cluster; it has {}",
                groups.join(", ")
            ),
        ),
    }
}

/// The node named by capture `n`, checked against the cluster.
fn link_end(world: &TfWorld, ctx: &cucumber::step::Context, n: usize) -> String {
    nodes_of(world, capture(ctx, n)).remove(0)
}

/// A number from a step; a step that is not one fails.
fn number(world: &TfWorld, text: &str) -> f64 {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))
        .or_fail(world)
}

/// Milliseconds from a step, at least zero.
fn millis(world: &TfWorld, text: &str) -> Duration {
    let ms = number(world, text);
    if ms < 0.0 {
        fail(
            world,
            format!("a delay cannot be below zero; the step says {ms} ms"),
        );
    }
    Duration::from_secs_f64(ms / 1000.0)
}

/// The generic steps.
pub fn steps() -> Steps {
    Steps::new()
        .when(
            &format!("^{NODES} (?:is|are) (stopped|started|restarted|killed|paused|resumed)$"),
            |world, ctx| {
                Box::pin(async move {
                    let nodes = nodes_of(world, capture(&ctx, 1));
                    let cluster = world.cluster().or_fail(world);
                    for node in &nodes {
                        let done = match capture(&ctx, 2) {
                            "stopped" => cluster.stop(node).await,
                            "started" => cluster.start(node).await,
                            "restarted" => cluster.restart(node).await,
                            "killed" => cluster.kill(node).await,
                            "paused" => cluster.pause(node).await,
                            _ => cluster.resume(node).await,
                        };
                        done.or_fail(world);
                    }
                })
            },
        )
        .when(
            &format!(r"^{NODES} (?:is|are) cut off from the ([a-z][\w-]*)$"),
            |world, ctx| {
                Box::pin(async move {
                    let side = nodes_of(world, capture(&ctx, 1));
                    let cluster = world.cluster().or_fail(world);
                    // `the rest`, or a group (`the validators`): the side
                    // is cut off from everyone else, the group included.
                    let from = capture(&ctx, 2);
                    if from != "rest" {
                        let group = group_named(world, from);
                        if let Some(inside) = side.iter().find(|n| cluster.group(&group).contains(n)) {
                            fail(world, format!("{inside} is one of the {from}; it cannot be cut off from its own group"));
                        }
                    }
                    cluster.partition(&side).await.or_fail(world);
                })
            },
        )
        .when(
            &format!(r"^the link from {NODE} to {NODE} drops (-?[\d.]+)% of (?:its )?packets$"),
            |world, ctx| {
                Box::pin(async move {
                    let (from, to) = (link_end(world, &ctx, 1), link_end(world, &ctx, 2));
                    let percent: f64 = number(world, capture(&ctx, 3));
                    let fault = LinkFault::default().loss(percent);
                    world.impair(&Links::link(from, to), &fault).await.or_fail(world);
                })
            },
        )
        .when(
            &format!(r"^the link from {NODE} to {NODE} is delayed by (-?[\d.]+) ?ms(?: (?:\+/-|±) (-?[\d.]+) ?ms)?$"),
            |world, ctx| {
                Box::pin(async move {
                    let (from, to) = (link_end(world, &ctx, 1), link_end(world, &ctx, 2));
                    let delay = millis(world, capture(&ctx, 3));
                    let jitter = match ctx.matches.get(4).map(|(_, v)| v.as_str()) {
                        Some(text) if !text.is_empty() => millis(world, text),
                        _ => Duration::ZERO,
                    };
                    let fault = LinkFault::delay(delay).jitter(jitter);
                    world.impair(&Links::link(from, to), &fault).await.or_fail(world);
                })
            },
        )
        .when(
            &format!(r"^{NODE} cannot (hear the others|be heard)$"),
            |world, ctx| {
                Box::pin(async move {
                    let node = link_end(world, &ctx, 1);
                    let links = match capture(&ctx, 2) {
                        "hear the others" => Links::Ingress(node),
                        _ => Links::Egress(node),
                    };
                    world.impair(&links, &LinkFault::cut()).await.or_fail(world);
                })
            },
        )
        .when(r"^the links are restored$", |world, _| {
            Box::pin(async move {
                world.restore_links().await.or_fail(world);
            })
        })
        .when(
            &format!(r"^{NODE}'s clock (?:runs (-?[\d.]+) seconds? (ahead|behind)|is set right)$"),
            |world, ctx| {
                Box::pin(async move {
                    let node = link_end(world, &ctx, 1);
                    let clock = match ctx.matches.get(2).map(|(_, v)| v.as_str()) {
                        Some(text) if !text.is_empty() => {
                            let seconds: f64 = number(world, text);
                            if !(0.0..=1e7).contains(&seconds) {
                                fail(world, format!("a clock runs a positive number of seconds ahead or behind; the step says {text}"));
                            }
                            let by = Duration::from_secs_f64(seconds);
                            if capture(&ctx, 3) == "ahead" {
                                ClockFault::ahead(by)
                            } else {
                                ClockFault::behind(by)
                            }
                        }
                        _ => ClockFault::default(),
                    };
                    let cluster = world.cluster().or_fail(world);
                    cluster.set_clock(&node, &clock).await.or_fail(world);
                })
            },
        )
        .when(r"^the partition heals$", |world, _| {
            Box::pin(async move {
                let cluster = world.cluster().or_fail(world);
                cluster.heal().await.or_fail(world);
            })
        })
        .when(
            &format!(r"^a new (?:([a-z][\w-]*) )?node joins(?: with peers {NODES})?$"),
            |world, ctx| {
                Box::pin(async move {
                    let group = match capture(&ctx, 1) {
                        "" => None,
                        named => Some(group_named(world, named)),
                    };
                    let peers = match ctx.matches.get(2).map(|(_, v)| v.as_str()) {
                        Some(list) if !list.is_empty() => Some(nodes_of(world, list)),
                        _ => None,
                    };
                    let node = NewNode {
                        group,
                        peers,
                        ..NewNode::default()
                    };
                    let cluster = world.cluster_mut().or_fail(&TfWorld::default());
                    match cluster.add_node(node).await {
                        Ok(_) => {}
                        Err(error) => fail(world, error),
                    }
                })
            },
        )
        .when(&format!("^{NODES} (?:is|are) removed$"), |world, ctx| {
            Box::pin(async move {
                let nodes = nodes_of(world, capture(&ctx, 1));
                for node in nodes {
                    let cluster = world.cluster_mut().or_fail(&TfWorld::default());
                    if let Err(error) = cluster.remove_node(&node).await {
                        fail(world, error);
                    }
                }
            })
        })
        .then(r"^the cluster has (-?\d+) nodes?$", |world, ctx| {
            Box::pin(async move {
                let expected = count(capture(&ctx, 1), 0, "a node count").or_fail(world);
                let nodes = world.cluster().or_fail(world).nodes();
                if nodes.len() != expected {
                    fail(
                        world,
                        format!(
                            "the cluster has {} node(s), not {expected}: {}",
                            nodes.len(),
                            nodes.join(", ")
                        ),
                    );
                }
            })
        })
        .then(
            &format!(r"^within (-?\d+) seconds? (?:every node is|{NODES} (?:is|are)) ready$"),
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let nodes = match capture(&ctx, 2) {
                        "" => world.cluster().or_fail(world).nodes(),
                        list => nodes_of(world, list),
                    };
                    let cluster = world.cluster().or_fail(world);
                    cluster.wait_ready(&nodes, timeout).await.or_fail(world);
                })
            },
        )
        .then(
            &format!(r"^within (-?\d+) seconds? {NODES} (?:is|are) down$"),
            |world, ctx| {
                Box::pin(async move {
                    let timeout = seconds(capture(&ctx, 1)).or_fail(world);
                    let nodes = nodes_of(world, capture(&ctx, 2));
                    let cluster = world.cluster().or_fail(world);
                    for node in &nodes {
                        cluster.wait_not_ready(node, timeout).await.or_fail(world);
                    }
                })
            },
        )
}
