//! Workloads of the chain app: wallet transfers at a rate (each one in the
//! run's history, from its submission until it is final on some node, so
//! the report's latency is the time to finality), and node restarts.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chain_node::client::ClientError;
use chain_node::crypto::Keypair;
use chain_node::ledger::genesis_wallet;
use chain_node::tx::{OutPoint, Output, Transaction, TxId};
use parking_lot::Mutex;
use serde_json::json;
use tf_core::BoxError;
use tf_core::fault::ClockFault;
use tf_core::history::Op;
use tf_core::observation::ObservationHandle;
use tf_core::scenario::{RunContext, Workload};
use tf_core::workloads::{FaultKind, NodeFault};
use tokio::time::{Instant, MissedTickBehavior};

use crate::{ChainApp, ChainObserver, ChainSnapshot};

/// A transfer a node accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// The transaction's id.
    pub id: TxId,
    /// Genesis wallet index it spends from.
    pub from: usize,
    /// Genesis wallet index it pays.
    pub to: usize,
    /// How much it pays.
    pub amount: u64,
    /// The node that accepted it first.
    pub node: String,
    /// When, since the run window opened.
    pub at: Duration,
}

#[derive(Debug, Default)]
struct LogInner {
    accepted: Vec<Transfer>,
    rejected: Vec<String>,
    unreachable: u64,
    resubmitted: u64,
    starved: u64,
}

/// What [`Transfers`] submitted, shared with the expectation that all of it
/// is included.
#[derive(Debug, Default)]
pub struct TransferLog(Mutex<LogInner>);

impl TransferLog {
    /// A new, shared log.
    pub fn shared() -> Arc<Self> {
        Arc::new(TransferLog::default())
    }

    /// Every transfer a node accepted, in order.
    pub fn accepted(&self) -> Vec<Transfer> {
        self.0.lock().accepted.clone()
    }

    /// Transfers a node refused (4xx), with its message. A transfer is
    /// built only from final outputs at the node's own head, so a refusal
    /// is a finding, not noise.
    pub fn rejected(&self) -> Vec<String> {
        self.0.lock().rejected.clone()
    }

    /// Sends that got no answer (node down, restarting, timed out); the
    /// transfer is sent again later, and logged as accepted once a node
    /// takes it.
    pub fn unreachable(&self) -> u64 {
        self.0.lock().unreachable
    }

    /// Transfers sent again because no observed branch had them after a
    /// while (a node that held them in its mempool went down, or the first
    /// send got no answer).
    pub fn resubmitted(&self) -> u64 {
        self.0.lock().resubmitted
    }

    /// Ticks when no wallet had a final output to spend.
    pub fn starved(&self) -> u64 {
        self.0.lock().starved
    }

    /// One line for the timeline.
    pub fn summary(&self) -> String {
        let log = self.0.lock();
        format!(
            "{} transfers accepted, {} refused, {} resubmitted, {} not delivered (node down), {} ticks without spendable funds",
            log.accepted.len(),
            log.rejected.len(),
            log.resubmitted,
            log.unreachable,
            log.starved
        )
    }
}

/// Transfers between genesis wallets `0..wallets`, `rate` per second while
/// the run lasts, each to the next node in turn.
///
/// A wallet spends only outputs that are final at the receiving node's
/// head, as the observer's wallet projection shows them, and never one it
/// already sent (even unanswered): so every transfer is valid on every
/// branch, and one that is lost (its node went down with it in the mempool,
/// or the send got no answer) is sent again, unchanged, after
/// `resubmit_after`. After the window, transfers still unseen on any
/// branch are re-sent for at most `drain` more.
pub struct Transfers {
    /// How many genesis wallets take part (at least 2, at most the app's).
    pub wallets: usize,
    /// Transfers per second.
    pub rate: f64,
    /// When an accepted transfer on no observed branch is sent again.
    pub resubmit_after: Duration,
    /// How long after the window lost transfers are still re-sent.
    pub drain: Duration,
    /// Where submissions are recorded.
    pub log: Arc<TransferLog>,
    /// Submit only through the nodes of this group (the RPC nodes);
    /// `None`: through any node.
    pub through: Option<String>,
}

impl Transfers {
    /// `wallets` wallets, `rate` transfers per second, recorded in `log`.
    pub fn new(wallets: usize, rate: f64, log: &Arc<TransferLog>) -> Self {
        Transfers {
            wallets,
            rate,
            resubmit_after: Duration::from_secs(2),
            drain: Duration::from_secs(5),
            log: Arc::clone(log),
            through: None,
        }
    }

    /// Submits only through the nodes of `group` (the RPC nodes).
    pub fn through(mut self, group: impl Into<String>) -> Self {
        self.through = Some(group.into());
        self
    }
}

struct Pending {
    tx: Transaction,
    sent_at: Instant,
    /// What it pays; `accepted` once a node said so.
    transfer: Transfer,
    accepted: bool,
    /// The transfer in the run's history: from its first submission until
    /// it is final on some node.
    op: Op,
}

struct Sender {
    keys: Vec<Keypair>,
    spent: HashSet<OutPoint>,
    pending: HashMap<TxId, Pending>,
    next_wallet: usize,
    next_node: usize,
    sent: u64,
}

/// Nodes a transfer can go to: reachable, with a projected head.
fn candidates(snapshot: &ChainSnapshot) -> Vec<&str> {
    snapshot
        .nodes
        .iter()
        .filter(|(_, v)| v.reachable && v.ledger.is_some())
        .map(|(n, _)| n.as_str())
        .collect()
}

impl Transfers {
    fn validate(&self, ctx: &RunContext<ChainApp>) -> Result<(), BoxError> {
        let available = ctx.app().wallets;
        if self.wallets < 2 || self.wallets > available {
            return Err(format!(
                "transfers need 2 to {available} wallets (the app's genesis wallets), got {}",
                self.wallets
            )
            .into());
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(format!("the transfer rate must be positive, got {}", self.rate).into());
        }
        Ok(())
    }

    /// Sends one transfer from the next wallet with a final output to spend.
    async fn send_one(
        &self,
        ctx: &RunContext<ChainApp>,
        snapshot: &ChainSnapshot,
        sender: &mut Sender,
    ) {
        let mut nodes = candidates(snapshot);
        if let Some(group) = &self.through {
            let members = ctx.group(group);
            nodes.retain(|n| members.iter().any(|m| m == n));
        }
        if nodes.is_empty() {
            return;
        }
        let node = nodes[sender.next_node % nodes.len()].to_owned();
        sender.next_node += 1;
        let view = &snapshot.nodes[&node];
        let Some(ledger) = &view.ledger else {
            return;
        };
        let spendable = |wallet: usize| -> Vec<(OutPoint, u64)> {
            ledger
                .utxos_of(&sender.keys[wallet].address())
                .into_iter()
                .filter(|(p, u)| u.height <= view.final_height && !sender.spent.contains(p))
                .map(|(p, u)| (p, u.amount))
                .collect()
        };
        let Some((from, inputs)) = (0..self.wallets)
            .map(|offset| (sender.next_wallet + offset) % self.wallets)
            .map(|w| (w, spendable(w)))
            .find(|(_, inputs)| !inputs.is_empty())
        else {
            self.log.0.lock().starved += 1;
            return;
        };
        sender.next_wallet = from + 1;
        let total: u64 = inputs.iter().map(|(_, a)| a).sum();
        // Amounts and payees vary deterministically, so runs repeat.
        let amount = (1 + sender.sent * 37 % 97).min(total);
        let to = (from + 1 + sender.sent as usize % (self.wallets - 1)) % self.wallets;
        let key = &sender.keys[from];
        let mut outputs = vec![Output {
            owner: sender.keys[to].address(),
            amount,
        }];
        if total > amount {
            outputs.push(Output {
                owner: key.address(),
                amount: total - amount,
            });
        }
        let points: Vec<OutPoint> = inputs.iter().map(|(p, _)| *p).collect();
        let keys = vec![key; points.len()];
        let tx = Transaction::signed(points.clone(), outputs, &keys);
        let Some(client) = ctx.client(&node) else {
            return;
        };
        let transfer = Transfer {
            id: tx.id(),
            from,
            to,
            amount,
            node: node.clone(),
            at: ctx.elapsed(),
        };
        let op = ctx.history().invoke(
            self.name(),
            "transfer",
            json!({"tx": transfer.id.to_string(), "from": from, "to": to, "amount": amount}),
        );
        let accepted = match client.submit(&tx).await {
            Ok(_) => true,
            Err(ClientError::Status {
                status: 400..=499,
                message,
                ..
            }) => {
                let what = format!("{node} refused a transfer from wallet-{from}: {message}");
                ctx.record(self.name(), what.clone());
                op.fail(&what);
                self.log.0.lock().rejected.push(what);
                return;
            }
            // No answer, or a timeout: the node may still have taken it.
            // Its outputs count as spent and the same transaction is sent
            // again later, so no second transaction can spend them.
            Err(_) => {
                self.log.0.lock().unreachable += 1;
                false
            }
        };
        sender.sent += 1;
        sender.spent.extend(points);
        if accepted {
            self.log.0.lock().accepted.push(transfer.clone());
        }
        sender.pending.insert(
            transfer.id,
            Pending {
                tx,
                sent_at: Instant::now(),
                transfer,
                accepted,
                op,
            },
        );
    }

    /// Forgets transfers final on some node; re-sends, to the next node,
    /// those no observed branch has after `resubmit_after`. Returns how
    /// many are on no branch yet.
    async fn follow_up(
        &self,
        ctx: &RunContext<ChainApp>,
        snapshot: &ChainSnapshot,
        sender: &mut Sender,
    ) -> usize {
        let mut unseen = Vec::new();
        let mut finalized = Vec::new();
        'pending: for (id, pending) in &sender.pending {
            let mut seen = false;
            for (node, view) in snapshot.nodes.iter().filter(|(_, v)| v.reachable) {
                let included = view.ledger.as_ref().and_then(|l| l.included_at(id));
                match included {
                    Some(height) if height <= view.final_height => {
                        finalized.push((*id, node.clone(), height));
                        continue 'pending;
                    }
                    Some(_) => seen = true,
                    None => {}
                }
            }
            if !seen {
                unseen.push((*id, pending.sent_at));
            }
        }
        for (id, node, height) in finalized {
            if let Some(done) = sender.pending.remove(&id) {
                let mut output = done.op.input().clone();
                output["final_on"] = json!(node);
                output["height"] = json!(height);
                done.op.ok(output);
            }
        }
        let nodes = candidates(snapshot);
        for (id, sent_at) in &unseen {
            if sent_at.elapsed() < self.resubmit_after || nodes.is_empty() {
                continue;
            }
            let node = nodes[sender.next_node % nodes.len()];
            sender.next_node += 1;
            let (Some(client), Some(pending)) = (ctx.client(node), sender.pending.get_mut(id))
            else {
                continue;
            };
            pending.sent_at = Instant::now();
            // A refusal here is expected when the transfer landed meanwhile.
            if client.submit(&pending.tx).await.is_ok() {
                let mut log = self.log.0.lock();
                log.resubmitted += 1;
                if !pending.accepted {
                    pending.accepted = true;
                    log.accepted.push(Transfer {
                        node: node.to_owned(),
                        at: ctx.elapsed(),
                        ..pending.transfer.clone()
                    });
                }
            }
        }
        unseen.len()
    }
}

#[async_trait]
impl Workload<ChainApp> for Transfers {
    fn name(&self) -> &str {
        "transfers"
    }

    fn groups(&self) -> Vec<String> {
        self.through.iter().cloned().collect()
    }

    async fn run(&self, ctx: &RunContext<ChainApp>) -> Result<(), BoxError> {
        self.validate(ctx)?;
        let chain = ctx.observer::<ChainObserver>()?;
        let mut sender = Sender {
            keys: (0..self.wallets).map(genesis_wallet).collect(),
            spent: HashSet::new(),
            pending: HashMap::new(),
            next_wallet: 0,
            next_node: 0,
            sent: 0,
        };
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = ctx.over() => break,
                _ = ticks.tick() => {}
            }
            let Some(latest) = chain.latest_snapshot().map(|l| l.into_arc()) else {
                continue;
            };
            self.follow_up(ctx, &latest.snapshot, &mut sender).await;
            self.send_one(ctx, &latest.snapshot, &mut sender).await;
        }
        self.drain(ctx, &chain, &mut sender).await;
        for (_, pending) in sender.pending.drain() {
            pending
                .op
                .unknown("not final on any observed node when the run ended");
        }
        ctx.record(self.name(), self.log.summary());
        Ok(())
    }
}

impl Transfers {
    /// After the window: waits for every accepted transfer to be on some
    /// branch, re-sending lost ones, for at most `drain`.
    async fn drain(
        &self,
        ctx: &RunContext<ChainApp>,
        chain: &ObservationHandle<ChainObserver>,
        sender: &mut Sender,
    ) {
        let deadline = Instant::now() + self.drain;
        while Instant::now() < deadline {
            let Some(latest) = chain.latest_snapshot().map(|l| l.into_arc()) else {
                return;
            };
            if self.follow_up(ctx, &latest.snapshot, sender).await == 0 {
                return;
            }
            // Wait for the next observation (or the deadline) before
            // looking again.
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = chain
                .wait_until_after(latest.cursor, |_| true, left.min(self.resubmit_after))
                .await;
        }
    }
}

/// Takes one node down after another (round robin), the framework's
/// [`NodeFault`], and confirms through the observer that each came back
/// and caught up with the height the others had when it left.
pub fn node_restarts(kind: FaultKind) -> NodeFault {
    NodeFault::new("node-restarts", kind)
        .every(Duration::from_secs(6))
        .recovered(
            |at_fault: &ChainSnapshot, now: &ChainSnapshot, node: &str| {
                let target = at_fault.nodes.values().map(|v| v.height).max().unwrap_or(0);
                let view = now
                    .nodes
                    .get(node)
                    .filter(|v| v.reachable && v.height >= target)?;
                Some(format!(
                    "{node} caught up (height {}, was {target} when it left)",
                    view.height
                ))
            },
        )
}

/// Cuts `side` nodes (from the second node on, in turn) off from the rest
/// for `cut_for`, the framework's [`NodeFault`] with
/// [`FaultKind::Partition`]. While cut, both sides must grow their own
/// branches; after the heal, every node must share a block newer than any
/// from before the cut (one side gave up its branch).
pub fn chain_partition(side: usize, cut_for: Duration) -> NodeFault {
    NodeFault::new("partition", FaultKind::Partition)
        .side(side)
        .down_for(cut_for)
        .max_faults(1)
        .target(|s: &ChainSnapshot| s.nodes.keys().nth(1).cloned())
        .settled(|s: &ChainSnapshot| s.nodes.values().all(|v| v.reachable))
        .while_down(|at_fault: &ChainSnapshot, now: &ChainSnapshot, cut: &str| {
            // Grown by a few blocks since the cut, on a branch of its own.
            let grew = |node: &str| {
                let (before, after) = (at_fault.nodes.get(node)?, now.nodes.get(node)?);
                (after.height >= before.height + 3).then_some(after)
            };
            let inside = grew(cut)?;
            let (other, outside) = now
                .nodes
                .iter()
                .filter(|(name, v)| name.as_str() != cut && v.head != inside.head)
                .find_map(|(name, _)| Some((name, grew(name)?)))?;
            let forked_at = now.common_ancestor.map(|(_, h)| h).unwrap_or(0);
            (forked_at + 3 <= inside.height.min(outside.height)).then(|| {
                format!(
                    "separate branches: {cut} at height {}, {other} at height {} (common ancestor at height {forked_at})",
                    inside.height, outside.height
                )
            })
        })
        .recovered(|_: &ChainSnapshot, now: &ChainSnapshot, _: &str| {
            // Every tip within a few blocks of a shared block: one branch.
            let (_, shared) = now.common_ancestor?;
            let lowest = now.nodes.values().map(|v| v.height).min()?;
            (shared + 3 >= lowest).then(|| {
                format!("one branch again: every node shares the block at height {shared}")
            })
        })
}

/// Sets `node`'s wall clock `skew` ahead, then (the next round) `skew`
/// behind, each for `hold`, the framework's [`NodeFault`] with
/// [`FaultKind::Clock`]. Confirmed through the node's own time as
/// observed (`/info` says it), and set true again after each.
pub fn clock_skew(node: &str, skew: Duration, hold: Duration) -> NodeFault {
    let skew_ms = skew.as_millis() as i64;
    let target = node.to_owned();
    NodeFault::new("clock-skew", FaultKind::Clock(ClockFault::ahead(skew)))
        .mixed_with(FaultKind::Clock(ClockFault::behind(skew)))
        .every(Duration::from_secs(3))
        .down_for(hold)
        .max_faults(2)
        .target(move |_: &ChainSnapshot| Some(target.clone()))
        .settled(|s: &ChainSnapshot| s.nodes.values().all(|v| v.reachable))
        .while_down(move |_: &ChainSnapshot, now: &ChainSnapshot, node: &str| {
            let offset = now.nodes.get(node)?.clock_offset_ms?;
            (offset.abs() * 5 >= skew_ms * 4).then(|| {
                let side = if offset > 0 { "ahead" } else { "behind" };
                format!(
                    "{node}'s clock reads {:.2}s {side}",
                    offset.abs() as f64 / 1000.0
                )
            })
        })
        .recovered(move |_: &ChainSnapshot, now: &ChainSnapshot, node: &str| {
            let offset = now.nodes.get(node)?.clock_offset_ms?;
            (offset.abs() * 5 < skew_ms).then(|| {
                format!(
                    "{node}'s clock reads true again ({:+.3}s)",
                    offset as f64 / 1000.0
                )
            })
        })
}

/// A node's head read by a client, `rate` times a second, each from the
/// next node in turn, every read in the run's history (`head`): what a
/// wallet or an explorer sees of the chain's read API while it forks,
/// restarts and partitions.
pub struct HeadReads {
    /// Reads per second, all nodes together.
    pub rate: f64,
}

#[async_trait]
impl Workload<ChainApp> for HeadReads {
    fn name(&self) -> &str {
        "head-reads"
    }

    async fn run(&self, ctx: &RunContext<ChainApp>) -> Result<(), BoxError> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(format!("the read rate must be positive, got {}", self.rate).into());
        }
        let mut history = ctx.history().client_for(self.name());
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut turn = 0usize;
        loop {
            tokio::select! {
                () = ctx.over() => return Ok(()),
                _ = ticks.tick() => {}
            }
            let nodes = ctx.nodes();
            let Some(node) = nodes.get(turn % nodes.len().max(1)) else {
                return Ok(());
            };
            turn += 1;
            let op = history.invoke("head", json!(node.name.as_str()));
            match tokio::time::timeout(Duration::from_secs(2), node.source.info()).await {
                Ok(Ok(info)) => op.ok(json!({"node": node.name.as_str(), "height": info.height})),
                // A read changes nothing: whatever went wrong, it did not happen.
                Ok(Err(error)) => op.fail(error),
                Err(_) => op.fail("no answer within 2s"),
            }
        }
    }
}

/// The highest height among `nodes`, as observed.
pub(crate) fn highest(s: &ChainSnapshot, nodes: &[String]) -> Option<u64> {
    nodes
        .iter()
        .filter_map(|n| s.nodes.get(n))
        .map(|v| v.height)
        .max()
}

/// Cuts the RPC nodes (`rpc`, the whole of group `group`) off from the
/// validators for `cut_for`, once: confirmed when the RPC nodes stall
/// while the validators go on, and when they have caught up after the
/// heal.
pub fn rpc_cut_off(
    group: &str,
    rpc: Vec<String>,
    validators: Vec<String>,
    cut_for: Duration,
) -> NodeFault {
    let (stalled, caught_up) = ((rpc.clone(), validators.clone()), (rpc.clone(), validators));
    NodeFault::new("rpc-cut-off", FaultKind::Partition)
        .on_group(group)
        .side(rpc.len())
        .down_for(cut_for)
        .max_faults(1)
        .confirm_within(Duration::from_secs(15))
        .settled(|s: &ChainSnapshot| s.nodes.values().all(|v| v.reachable))
        .while_down(move |at_fault: &ChainSnapshot, now: &ChainSnapshot, _: &str| {
            let (rpc, validators) = &stalled;
            // No RPC node goes on (blocks under way while the cut is set up,
            // half a second, may still land), while the validators pull
            // ahead of them all.
            let stuck = rpc.iter().all(|n| {
                let (before, after) = (at_fault.nodes.get(n), now.nodes.get(n));
                before
                    .zip(after)
                    .is_some_and(|(b, a)| a.height <= b.height + 10)
            });
            let went_on = highest(now, validators)? >= highest(now, rpc)? + 15;
            (went_on && stuck).then(|| {
                format!(
                    "the RPC nodes stalled at height {} while the validators reached {}",
                    highest(now, rpc).unwrap_or_default(),
                    highest(now, validators).unwrap_or_default()
                )
            })
        })
        .recovered(move |_: &ChainSnapshot, now: &ChainSnapshot, _: &str| {
            let (rpc, validators) = &caught_up;
            let top = highest(now, validators)?;
            let lowest = rpc.iter().filter_map(|n| now.nodes.get(n)).map(|v| v.height).min()?;
            (lowest + 3 >= top).then(|| {
                format!("the RPC nodes caught up: the lowest at height {lowest}, the validators at {top}")
            })
        })
}
