//! The chain component: one task that owns the block tree, the mempool and
//! storage, driven by messages from the slot clock, the network and the API.
//! Other components only hold a [`ChainHandle`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::block::{Block, BlockHeader, BlockId};
use crate::graph::HeaderLookup;
use crate::mempool::{Mempool, SubmitError};
use crate::producer::Producer;
use crate::storage::{Storage, save_block};
use crate::tree::{BlockError, BlockTree, Inserted};
use crate::tx::{Transaction, TxId};

/// What a node says about its chain (`GET /info`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// Whether it only follows (an RPC node: it never produces).
    #[serde(default)]
    pub follower: bool,
    /// The followed branch's newest block.
    pub tip: BlockId,
    /// Its height.
    pub height: u64,
    /// Its slot.
    pub slot: u64,
    /// The newest block never to be reverted.
    pub final_id: BlockId,
    /// Its height.
    pub final_height: u64,
    /// Transactions waiting.
    pub mempool: usize,
    /// Blocks known, all branches.
    pub blocks: usize,
    /// The node's wall clock when it answered, in milliseconds since the
    /// Unix epoch: its slots count from it.
    #[serde(default)]
    pub time_ms: u64,
    /// The slot the node's clock is in.
    #[serde(default)]
    pub current_slot: u64,
    /// Blocks held so far because their slot had not begun here (each is
    /// inserted once it has).
    #[serde(default)]
    pub future_held: u64,
    /// Blocks refused so far because their slot was too far ahead.
    #[serde(default)]
    pub future_refused: u64,
    /// The tip of every branch above the final block (the live forks).
    #[serde(default)]
    pub leaves: Vec<BlockId>,
}

/// Something the network should send to peers.
#[derive(Debug)]
pub enum Outgoing {
    /// Gossip a block this node produced or newly accepted.
    Announce(Block),
    /// Find this block at some peer (a parent that is missing).
    Fetch(BlockId),
    /// Hand a transaction a client submitted to the peers (a follower's
    /// peers produce; it never does).
    Relay(Transaction),
}

enum Command {
    Tick(u64),
    Block(Block, oneshot::Sender<Result<Inserted, BlockError>>),
    /// A transaction, and whether a peer relayed it (a client sent it
    /// otherwise).
    Submit(
        Transaction,
        bool,
        oneshot::Sender<Result<TxId, SubmitError>>,
    ),
    Info(oneshot::Sender<NodeInfo>),
    GetBlock(BlockId, oneshot::Sender<Option<Block>>),
    PeerTip(BlockId, oneshot::Sender<bool>),
    Headers(BlockId, usize, oneshot::Sender<Option<Vec<BlockHeader>>>),
}

/// Talks to the chain component; cheap to clone.
#[derive(Clone)]
pub struct ChainHandle(mpsc::Sender<Command>);

/// The chain component stopped (the node is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the chain component has stopped")]
pub struct Stopped;

impl ChainHandle {
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, Stopped> {
        let (reply, answer) = oneshot::channel();
        self.0.send(command(reply)).await.map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// A new slot began.
    pub async fn tick(&self, slot: u64) -> Result<(), Stopped> {
        self.0.send(Command::Tick(slot)).await.map_err(|_| Stopped)
    }

    /// A block from a peer (or fetched).
    pub async fn block(&self, block: Block) -> Result<Result<Inserted, BlockError>, Stopped> {
        self.ask(|reply| Command::Block(block, reply)).await
    }

    /// A transaction from a client.
    pub async fn submit(&self, tx: Transaction) -> Result<Result<TxId, SubmitError>, Stopped> {
        self.ask(|reply| Command::Submit(tx, false, reply)).await
    }

    /// Like [`submit`](Self::submit), for a transaction a peer relayed: it
    /// is never relayed again.
    pub async fn submit_relayed(
        &self,
        tx: Transaction,
    ) -> Result<Result<TxId, SubmitError>, Stopped> {
        self.ask(|reply| Command::Submit(tx, true, reply)).await
    }

    /// The chain's state.
    pub async fn info(&self) -> Result<NodeInfo, Stopped> {
        self.ask(Command::Info).await
    }

    /// A known block.
    pub async fn get_block(&self, id: BlockId) -> Result<Option<Block>, Stopped> {
        self.ask(|reply| Command::GetBlock(id, reply)).await
    }

    /// A peer's tip, as its answer to a sync gave it: whether this node has
    /// the block. If so, the peer has nothing this node lacks, and a node
    /// waiting to hear from a peer before it produces may produce.
    pub async fn peer_tip(&self, id: BlockId) -> Result<bool, Stopped> {
        self.ask(|reply| Command::PeerTip(id, reply)).await
    }

    /// Headers after `from` on the followed branch, oldest first, at most
    /// `limit`; `None` if `from` is not on the followed branch.
    pub async fn headers(
        &self,
        from: BlockId,
        limit: usize,
    ) -> Result<Option<Vec<BlockHeader>>, Stopped> {
        self.ask(|reply| Command::Headers(from, limit, reply)).await
    }
}

/// A block waiting for its parent, with its id.
type Orphan = (BlockId, Block);

/// The chain component's state.
pub struct ChainService {
    name: String,
    tree: BlockTree,
    mempool: Mempool,
    producer: Producer,
    storage: Arc<dyn Storage>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    /// Blocks waiting for their parent.
    /// With their ids: an id is a hash of the header, too dear to compute
    /// again for every arrival while hundreds wait.
    orphans: Vec<Orphan>,
    /// With peers, slots left before it produces without having heard from
    /// one (`None`: it produces). A node that starts or restarts while it
    /// cannot reach its peers, or that its peers do not know yet (it joined
    /// a running network), would otherwise build, and finalize, a branch of
    /// its own from where it stands, and never take the network's.
    quiet_slots: Option<u64>,
    /// The slot its clock is in (0 before the first tick).
    slot: u64,
    /// Blocks whose slot has not begun here, until it does.
    held: Vec<Block>,
    /// Blocks held, so far.
    future_held: u64,
    /// Blocks refused as too far in the future, so far.
    future_refused: u64,
    /// Blocks refused because they fork off below the final block, and
    /// their descendants: a block whose parent is here is refused without
    /// fetching anything. Without it, a branch that can never be taken
    /// (a node that was cut off longer than the finality depth) is fetched
    /// back to its fork point again for every block of it that arrives,
    /// and the node drowns in that work.
    refused: HashSet<BlockId>,
    /// Never produces; relays submitted transactions to its peers.
    follower: bool,
}

/// Slots ahead of a node's own that a block may be and be taken at once:
/// clocks of honest nodes differ a little.
pub const FUTURE_SLOTS: u64 = 1;
/// Slots ahead up to which a block is held until its slot begins; further
/// ahead it is refused (no honest clock is that far off).
pub const HOLD_SLOTS: u64 = 50;
/// Blocks held at most; the oldest goes first.
const MAX_HELD: usize = 512;

/// How many slots a node with peers waits to hear from one, at a start or
/// a restart, before it produces anyway (it may be the only one left).
pub const QUIET_SLOTS: u64 = 30;

/// Orphans kept at most; older ones are dropped (they are fetched again).
const MAX_ORPHANS: usize = 512;
/// Refused blocks remembered at most; past it the memory starts afresh
/// (a block of a refused branch then costs one walk back to be refused).
const MAX_REFUSED: usize = 65_536;

impl ChainService {
    /// Starts the component; returns its handle and what it wants sent.
    pub fn spawn(
        tree: BlockTree,
        producer: Producer,
        storage: Arc<dyn Storage>,
    ) -> (ChainHandle, mpsc::UnboundedReceiver<Outgoing>) {
        Self::spawn_with(tree, producer, storage, false)
    }

    /// Like [`spawn`](Self::spawn); with `has_peers`, the node first waits
    /// to hear from a peer (a block, or a sync answer whose tip it has), for
    /// at most [`QUIET_SLOTS`] slots, before it produces.
    pub fn spawn_with(
        tree: BlockTree,
        producer: Producer,
        storage: Arc<dyn Storage>,
        has_peers: bool,
    ) -> (ChainHandle, mpsc::UnboundedReceiver<Outgoing>) {
        Self::spawn_as(tree, producer, storage, has_peers, false)
    }

    /// Like [`spawn_with`](Self::spawn_with); a `follower` never produces
    /// (an RPC node: it follows the chain and serves it) and relays every
    /// transaction a client submits to it to its peers.
    pub fn spawn_as(
        tree: BlockTree,
        producer: Producer,
        storage: Arc<dyn Storage>,
        has_peers: bool,
        follower: bool,
    ) -> (ChainHandle, mpsc::UnboundedReceiver<Outgoing>) {
        let (commands, mut inbox) = mpsc::channel(1024);
        let (outgoing, network) = mpsc::unbounded_channel();
        let mut service = ChainService {
            name: producer.name.clone(),
            tree,
            mempool: Mempool::new(10_000),
            producer,
            storage,
            outgoing,
            orphans: Vec::new(),
            quiet_slots: has_peers.then_some(QUIET_SLOTS),
            slot: 0,
            held: Vec::new(),
            future_held: 0,
            future_refused: 0,
            refused: HashSet::new(),
            follower,
        };
        tokio::spawn(async move {
            while let Some(command) = inbox.recv().await {
                service.handle(command);
            }
        });
        (ChainHandle(commands), network)
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Tick(slot) => {
                self.slot = slot;
                self.release_held();
                if let Some(left) = self.quiet_slots.as_mut() {
                    if *left > 0 {
                        *left -= 1;
                        return;
                    }
                    tracing::warn!("no peer was heard since the start; producing alone");
                    self.quiet_slots = None;
                }
                if self.follower {
                    return;
                }
                if let Some(block) = self.producer.produce(slot, &self.tree, &mut self.mempool) {
                    tracing::info!(slot, height = block.header.height, id = %block.id().short(), "produced");
                    let _ = self.accept(block);
                }
            }
            Command::Block(block, reply) => {
                let _ = reply.send(self.receive(block));
            }
            Command::Submit(tx, relayed, reply) => {
                let tip = self
                    .tree
                    .ledger_at(&self.tree.tip().id())
                    .expect("the tip's ledger is kept");
                let submitted = self.mempool.submit(tx.clone(), tip);
                // Every client submission (a wallet sends a lost transfer
                // again), never a relayed one: followers never relay a
                // transaction back and forth.
                if self.follower && !relayed && submitted.is_ok() {
                    let _ = self.outgoing.send(Outgoing::Relay(tx));
                }
                let _ = reply.send(submitted);
            }
            Command::Info(reply) => {
                let (tip, final_block) = (self.tree.tip(), self.tree.final_block());
                let _ = reply.send(NodeInfo {
                    name: self.name.clone(),
                    follower: self.follower,
                    tip: tip.id(),
                    height: tip.header.height,
                    slot: tip.header.slot,
                    final_id: final_block.id(),
                    final_height: final_block.header.height,
                    mempool: self.mempool.len(),
                    blocks: self.tree.len(),
                    leaves: self.tree.live_leaves(),
                    time_ms: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64),
                    current_slot: self.slot,
                    future_held: self.future_held,
                    future_refused: self.future_refused,
                });
            }
            Command::GetBlock(id, reply) => {
                let _ = reply.send(self.tree.block(&id).cloned());
            }
            Command::PeerTip(id, reply) => {
                let known = self.tree.block(&id).is_some();
                if known {
                    self.quiet_slots = None;
                }
                let _ = reply.send(known);
            }
            Command::Headers(from, limit, reply) => {
                let _ = reply.send(self.headers_after(from, limit));
            }
        }
    }

    /// A block from a peer or a client: held when its slot has not begun
    /// here (refused when too far ahead), else accepted.
    fn receive(&mut self, block: Block) -> Result<Inserted, BlockError> {
        let slot = block.header.slot;
        if self.slot > 0 && slot > self.slot + FUTURE_SLOTS {
            let id = block.id();
            if slot > self.slot + HOLD_SLOTS {
                tracing::warn!(slot, now = self.slot, id = %id.short(), "block from the future refused");
                self.future_refused += 1;
                return Err(BlockError::FromTheFuture {
                    slot,
                    now: self.slot,
                });
            }
            if !self.held.iter().any(|b| b.id() == id) {
                tracing::info!(slot, now = self.slot, id = %id.short(), "block from the future held until its slot");
                if self.held.len() == MAX_HELD {
                    self.held.remove(0);
                }
                self.held.push(block);
                self.future_held += 1;
            }
            return Ok(Inserted::Held);
        }
        let outcome = self.accept(block);
        self.heard(&outcome);
        outcome
    }

    /// A peer's block was taken in (`outcome`): once one attaches to the
    /// chain (or was known), the node has the peer's chain to build on and
    /// may produce. One whose parent is missing does not end the wait: the
    /// node is still walking back to the peer's chain, and what it
    /// produced meanwhile, on genesis, could be finalized first.
    fn heard(&mut self, outcome: &Result<Inserted, BlockError>) {
        if !matches!(outcome, Err(BlockError::UnknownParent(_))) {
            self.quiet_slots = None;
        }
    }

    /// Accepts the held blocks whose slot has begun, oldest slot first.
    fn release_held(&mut self) {
        let now = self.slot + FUTURE_SLOTS;
        let (mut due, waiting): (Vec<Block>, Vec<Block>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|b| b.header.slot <= now);
        self.held = waiting;
        due.sort_by_key(|b| b.header.slot);
        for block in due {
            let outcome = self.accept(block);
            self.heard(&outcome);
        }
    }

    /// Inserts a block, keeps it, announces it, and retries orphans it
    /// unblocks; a missing parent is fetched.
    fn accept(&mut self, block: Block) -> Result<Inserted, BlockError> {
        let id = block.id();
        let first = self.insert_one(block);
        // Orphans waiting on a block that was taken (or refused, which
        // refuses them too) are taken up, and theirs in turn.
        let settled = |outcome: &Result<Inserted, BlockError>| {
            matches!(outcome, Ok(i) if *i != Inserted::Known)
                || matches!(outcome, Err(BlockError::BelowFinal { .. }))
        };
        let mut parents: Vec<BlockId> = if settled(&first) {
            vec![id]
        } else {
            Vec::new()
        };
        while let Some(parent) = parents.pop() {
            let (ready, waiting): (Vec<Orphan>, Vec<Orphan>) = std::mem::take(&mut self.orphans)
                .into_iter()
                .partition(|(_, o)| o.header.parent == parent);
            self.orphans = waiting;
            for (orphan_id, orphan) in ready {
                if settled(&self.insert_one(orphan)) {
                    parents.push(orphan_id);
                }
            }
        }
        first
    }

    fn insert_one(&mut self, block: Block) -> Result<Inserted, BlockError> {
        let id = block.id();
        let old_tip = self.tree.tip().id();
        if self.refused.contains(&block.header.parent) {
            return Err(self.refuse(id));
        }
        match self.tree.insert(block.clone()) {
            Ok(Inserted::Known) => Ok(Inserted::Known),
            Ok(inserted) => {
                if let Err(error) = save_block(&*self.storage, &block) {
                    tracing::error!(%error, "could not store a block");
                }
                if let Inserted::Reorg { .. } = inserted {
                    self.restore_abandoned(old_tip);
                }
                if matches!(inserted, Inserted::Extended | Inserted::Reorg { .. }) {
                    let tip = self
                        .tree
                        .ledger_at(&self.tree.tip().id())
                        .expect("the tip's ledger is kept");
                    self.mempool.prune(tip);
                }
                if let Inserted::Reorg { depth } = inserted {
                    tracing::info!(depth, tip = %id.short(), "reorg");
                }
                let _ = self.outgoing.send(Outgoing::Announce(block));
                Ok(inserted)
            }
            Err(BlockError::UnknownParent(parent)) => {
                if !self.orphans.iter().any(|(o, _)| *o == id) {
                    if self.orphans.len() == MAX_ORPHANS {
                        self.orphans.remove(0);
                    }
                    self.orphans.push((id, block));
                }
                let _ = self
                    .outgoing
                    .send(Outgoing::Fetch(self.missing_below(parent)));
                Err(BlockError::UnknownParent(parent))
            }
            Err(BlockError::BelowFinal { .. }) => Err(self.refuse(id)),
            Err(error) => Err(error),
        }
    }

    /// The block to fetch for `parent`, which is missing: below the blocks
    /// already waiting for their parent. A node far behind (after a cut)
    /// receives every new block with its parent missing; fetching each
    /// one's parent would start a walk back for every block that arrives,
    /// each as long as the gap, and the node would drown in them. Asking
    /// for the bottom of what waits makes them one walk.
    fn missing_below(&self, parent: BlockId) -> BlockId {
        let waiting: HashMap<BlockId, BlockId> = self
            .orphans
            .iter()
            .map(|(id, o)| (*id, o.header.parent))
            .collect();
        let mut missing = parent;
        for _ in 0..waiting.len() {
            match waiting.get(&missing) {
                Some(below) => missing = *below,
                None => break,
            }
        }
        missing
    }

    /// Remembers `id` as refused for forking off below the final block;
    /// the error to answer with.
    fn refuse(&mut self, id: BlockId) -> BlockError {
        if self.refused.len() == MAX_REFUSED {
            self.refused.clear();
        }
        self.refused.insert(id);
        BlockError::BelowFinal {
            final_height: self.tree.final_block().header.height,
        }
    }

    /// After a reorg, the transactions of the blocks no longer followed go
    /// back to the mempool, so a transfer included on an abandoned fork is
    /// not lost (those the new branch already has are refused as spent).
    fn restore_abandoned(&mut self, old_tip: BlockId) {
        let Some(common) = self.tree.common_ancestor(old_tip, self.tree.tip().id()) else {
            return;
        };
        let tip = self
            .tree
            .ledger_at(&self.tree.tip().id())
            .expect("the tip's ledger is kept")
            .clone();
        let mut id = old_tip;
        while id != common {
            let Some(block) = self.tree.block(&id).cloned() else {
                break;
            };
            for tx in block.txs {
                let _ = self.mempool.submit(tx, &tip);
            }
            id = block.header.parent;
        }
    }

    fn headers_after(&self, from: BlockId, limit: usize) -> Option<Vec<BlockHeader>> {
        let tip = self.tree.tip().id();
        let from_height = self.tree.block(&from)?.header.height;
        if !self.tree.is_ancestor(from, tip) {
            return None;
        }
        let tip_height = self.tree.tip().header.height;
        let last = tip_height.min(from_height + limit as u64);
        let mut headers = Vec::new();
        let mut id = self.tree.ancestor_at(tip, last)?;
        while let Some(block) = self.tree.block(&id) {
            if block.header.height <= from_height {
                break;
            }
            headers.push(block.header.clone());
            id = block.header.parent;
        }
        headers.reverse();
        Some(headers)
    }
}
