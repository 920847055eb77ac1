//! The deployer's side of link faults, the same on every deployer: which
//! helper gets which request, the confirmation of each fault by connects
//! timed before and after, what a restore says, and the faults put back on
//! a node that started again. A deployer supplies [`Helpers`]: how to
//! reach a node's helper (a container beside it, an ephemeral container in
//! its pod) and where its peers reach the node.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tf_core::fault::{Impaired, Link, LinkFault};
use tokio::sync::Mutex;

use crate::{Counters, Request, Response, Rtt};

/// What link faults need of a deployer.
#[async_trait]
pub trait Helpers: Send + Sync {
    /// Sends `request` to `node`'s helper, started first if it has none;
    /// the helper's answer, or what went wrong.
    async fn ask(&self, node: &str, request: &Request) -> Result<Response, String>;
    /// Whether `node`'s helper is there (so a removal has somewhere to go).
    async fn has_helper(&self, node: &str) -> bool;
    /// Where `node`'s peers reach it, at a TCP port it listens on.
    async fn address(&self, node: &str) -> Result<SocketAddr, String>;
    /// Whether `node` is a node of the cluster.
    fn is_node(&self, node: &str) -> bool;
    /// The nodes that answer now (running, not paused): those a connect
    /// should reach.
    fn answering(&self) -> Vec<String>;
    /// Forgets `node`'s helper (its node started again, in a new network
    /// namespace); the next request starts another.
    async fn renew(&self, node: &str) -> Result<(), String>;
}

/// A fault in force: per sender, its receivers.
struct Active {
    fault: LinkFault,
    senders: BTreeMap<String, Vec<String>>,
}

/// The link faults in force in one cluster.
#[derive(Default)]
pub struct LinkFaults {
    active: Mutex<BTreeMap<u64, Active>>,
    next: AtomicU64,
}

/// A sender ready for a fault: its receivers' names, addresses and probe
/// targets, in the same order.
struct Placed {
    sender: String,
    receivers: Vec<String>,
    to: Vec<Ipv4Addr>,
    targets: Vec<SocketAddr>,
}

impl LinkFaults {
    /// Applies `fault` to `links`: for each sender, its helper puts the
    /// fault on the packets to its receivers and times a connect to each
    /// before and after. A fault whose effect does not show is undone and
    /// is an error.
    pub async fn impair(
        &self,
        helpers: &dyn Helpers,
        links: &[Link],
        fault: &LinkFault,
    ) -> Result<Impaired, String> {
        fault.check()?;
        let mut senders: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for link in links {
            if link.from == link.to {
                return Err(format!("{link} joins a node to itself"));
            }
            for end in [&link.from, &link.to] {
                if !helpers.is_node(end) {
                    return Err(format!("no node named `{end}` in this cluster"));
                }
            }
            senders
                .entry(link.from.clone())
                .or_default()
                .push(link.to.clone());
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut active = self.active.lock().await;
        // Every sender in parallel, in three steps, so that no sender's
        // "before" is taken after another's fault is on.
        let placed = all(senders.iter().map(|(s, r)| place(helpers, s, r))).await?;
        let before = all(placed.iter().map(|p| probe(helpers, p, None))).await?;
        // After a cut no connect answers: wait only as long as one would
        // take on the link as it was, with the fault's delay, and margin.
        let slowest = before
            .iter()
            .flatten()
            .filter_map(|r| r.median)
            .max()
            .unwrap_or_default();
        let patience =
            (slowest * 4 + (fault.delay + fault.jitter) * 3).max(Duration::from_millis(300));
        let put = all(placed.iter().map(|p| put(helpers, id, p, fault))).await;
        let after = match put {
            Ok(_) => all(placed.iter().map(|p| probe(helpers, p, Some(patience)))).await,
            Err(error) => Err(error),
        };
        let confirmed = after.and_then(|after| {
            let mut lines = Vec::new();
            for ((placed, before), after) in placed.iter().zip(&before).zip(&after) {
                for ((receiver, before), after) in placed.receivers.iter().zip(before).zip(after) {
                    let line = format!(
                        "{} -> {receiver}: connect {} -> {}",
                        placed.sender,
                        before.describe(),
                        after.describe()
                    );
                    took_effect(fault, before, after)
                        .map_err(|why| format!("{fault} on {line} had no effect: {why}"))?;
                    lines.push(line);
                }
            }
            Ok(lines)
        });
        let confirmed = match confirmed {
            Ok(lines) => lines,
            Err(error) => {
                for sender in senders.keys() {
                    let _ = remove_at(helpers, id, sender).await;
                }
                return Err(error);
            }
        };
        active.insert(
            id,
            Active {
                fault: fault.clone(),
                senders,
            },
        );
        Ok(Impaired { id, confirmed })
    }

    /// Removes fault `id`; what it did, a line a sender. A cut is
    /// confirmed gone: every sender that answers reaches each of its
    /// receivers that answers again, or the restore is an error naming the
    /// link.
    pub async fn restore(&self, helpers: &dyn Helpers, id: u64) -> Result<Vec<String>, String> {
        let Some(active) = self.active.lock().await.remove(&id) else {
            return Ok(Vec::new());
        };
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for (sender, receivers) in &active.senders {
            match remove_at(helpers, id, sender).await {
                Ok(counters) => lines.push(describe_counters(sender, receivers, &counters)),
                Err(error) => problems.push(error),
            }
        }
        if problems.is_empty() && active.fault.is_cut() {
            match reach_again(helpers, &active.senders).await {
                Ok(reached) => lines.extend(reached),
                Err(error) => problems.push(error),
            }
        }
        if problems.is_empty() {
            Ok(lines)
        } else {
            Err(problems.join("; "))
        }
    }

    /// After `node` started again (a new network namespace, perhaps a new
    /// address): its helper is made again and every fault it takes part
    /// in is put back.
    pub async fn node_started(&self, helpers: &dyn Helpers, node: &str) -> Result<(), String> {
        helpers.renew(node).await?;
        let active = self.active.lock().await;
        for (id, fault) in active.iter() {
            for (sender, receivers) in &fault.senders {
                if sender != node && !receivers.iter().any(|r| r == node) {
                    continue;
                }
                if sender != node {
                    let _ = remove_at(helpers, *id, sender).await;
                }
                let placed = place(helpers, sender, receivers).await;
                match placed {
                    Ok(placed) => put(helpers, *id, &placed, &fault.fault).await,
                    Err(error) => Err(error),
                }
                .map_err(|e| format!("putting fault {id} back after {node} started: {e}"))?;
            }
        }
        Ok(())
    }
}

/// Connect times from `from` to each of `to`, made inside `from`'s network
/// namespace by its helper, each connect given `timeout` (the agent's
/// default when `None`).
pub async fn connects(
    helpers: &dyn Helpers,
    from: &str,
    to: &[String],
    timeout: Option<Duration>,
) -> Result<Vec<Rtt>, String> {
    let placed = place(helpers, from, to).await?;
    probe(helpers, &placed, timeout).await
}

/// After a cut is removed: each answering sender's connects to its
/// answering receivers, which must get an answer again.
async fn reach_again(
    helpers: &dyn Helpers,
    senders: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<String>, String> {
    let answering = helpers.answering();
    let up = |n: &String| answering.contains(n);
    let checked: BTreeMap<String, Vec<String>> = senders
        .iter()
        .filter(|(sender, _)| up(sender))
        .map(|(s, r)| (s.clone(), r.iter().filter(|r| up(r)).cloned().collect()))
        .filter(|(_, r): &(String, Vec<String>)| !r.is_empty())
        .collect();
    let placed = all(checked.iter().map(|(s, r)| place(helpers, s, r))).await?;
    let rtts = all(placed.iter().map(|p| probe(helpers, p, None))).await?;
    let mut lines = Vec::new();
    for (placed, rtts) in placed.iter().zip(&rtts) {
        for (receiver, rtt) in placed.receivers.iter().zip(rtts) {
            if rtt.median.is_none() {
                return Err(format!(
                    "the cut is off but {} -> {receiver}: connect {}",
                    placed.sender,
                    rtt.describe()
                ));
            }
            lines.push(format!(
                "{} -> {receiver} answers again: connect {}",
                placed.sender,
                rtt.describe()
            ));
        }
    }
    Ok(lines)
}

/// `sender` and its receivers' addresses.
async fn place(
    helpers: &dyn Helpers,
    sender: &str,
    receivers: &[String],
) -> Result<Placed, String> {
    let mut to = Vec::new();
    let mut targets = Vec::new();
    for receiver in receivers {
        let target = helpers.address(receiver).await?;
        let SocketAddr::V4(v4) = target else {
            return Err(format!("{receiver}'s address {target} is not IPv4"));
        };
        to.push(*v4.ip());
        targets.push(target);
    }
    Ok(Placed {
        sender: sender.to_owned(),
        receivers: receivers.to_vec(),
        to,
        targets,
    })
}

/// Removes fault `id` from `sender`; its counters (none when `sender` has
/// no helper any more).
async fn remove_at(helpers: &dyn Helpers, id: u64, sender: &str) -> Result<Counters, String> {
    if !helpers.has_helper(sender).await {
        return Ok(Counters::default());
    }
    match helpers
        .ask(sender, &Request::Remove { id: queue_of(id) })
        .await?
    {
        Response::Removed { counters } => Ok(counters),
        other => Err(unexpected(sender, &other)),
    }
}

/// Every future's output, or the first error.
async fn all<T>(
    futures: impl IntoIterator<Item = impl std::future::Future<Output = Result<T, String>>>,
) -> Result<Vec<T>, String> {
    futures::future::join_all(futures)
        .await
        .into_iter()
        .collect()
}

/// Connect times from `placed`'s sender to each of its receivers, each
/// connect given `timeout` (the agent's default when `None`).
async fn probe(
    helpers: &dyn Helpers,
    placed: &Placed,
    timeout: Option<Duration>,
) -> Result<Vec<Rtt>, String> {
    let request = Request::Probe {
        targets: placed.targets.clone(),
        timeout,
    };
    match helpers.ask(&placed.sender, &request).await? {
        Response::Probed { rtts } => Ok(rtts),
        other => Err(unexpected(&placed.sender, &other)),
    }
}

/// Puts fault `id` on what `placed`'s sender sends its receivers.
async fn put(
    helpers: &dyn Helpers,
    id: u64,
    placed: &Placed,
    fault: &LinkFault,
) -> Result<(), String> {
    let request = Request::Apply {
        id: queue_of(id),
        to: placed.to.clone(),
        fault: fault.clone(),
        seed: id,
    };
    match helpers.ask(&placed.sender, &request).await? {
        Response::Applied => Ok(()),
        other => Err(unexpected(&placed.sender, &other)),
    }
}

/// The agent's fault number of fault `id`: its chain and its queue.
fn queue_of(id: u64) -> u16 {
    (id % u64::from(u16::MAX)) as u16
}

fn unexpected(node: &str, response: &Response) -> String {
    match response {
        Response::Error { message } => format!("the link fault helper of {node}: {message}"),
        other => format!("the link fault helper of {node} answered {other:?}"),
    }
}

/// Whether `fault` shows in the connect times: a cut gets no answer, a
/// delay adds about itself. Losses and duplicates are too rare to show in
/// a few connects; their rules' counters tell on removal.
fn took_effect(fault: &LinkFault, before: &Rtt, after: &Rtt) -> Result<(), String> {
    if fault.is_cut() {
        return match after.median {
            None => Ok(()),
            Some(d) => Err(format!("a connect still took {d:?}")),
        };
    }
    let least = fault.delay.saturating_sub(fault.jitter) / 2;
    if least.is_zero() || fault.loss > 50.0 {
        return Ok(());
    }
    match (before.median, after.median) {
        (Some(before), Some(after)) if after >= before + least => Ok(()),
        (Some(before), Some(after)) => Err(format!(
            "connects took {before:?} before and {after:?} after; expected at least {least:?} more"
        )),
        // A lossy link may lose a probe: the rules are in force.
        _ => Ok(()),
    }
}

fn describe_counters(sender: &str, receivers: &[String], c: &Counters) -> String {
    let mut line = format!("{sender} -> {}: {} packets", receivers.join(","), c.packets);
    if c.packets > 0 {
        let share = |n: u64| n as f64 * 100.0 / c.packets as f64;
        if c.dropped > 0 {
            line.push_str(&format!(
                ", {} dropped ({:.1}%)",
                c.dropped,
                share(c.dropped)
            ));
        }
        if c.duplicated > 0 {
            line.push_str(&format!(
                ", {} duplicated ({:.1}%)",
                c.duplicated,
                share(c.duplicated)
            ));
        }
        if c.delayed > 0 {
            line.push_str(&format!(", {} delayed", c.delayed));
        }
    }
    line
}
