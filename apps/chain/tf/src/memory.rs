//! A scripted chain in memory: blocks shared by named nodes whose heads a
//! test or benchmark sets by hand. It answers the observer the way real
//! nodes do ([`ChainApi`]), so the observer and the wallet projection can be
//! tested on an exact block graph (reorgs on cue) and measured without HTTP.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chain_node::block::{Block, BlockId};
use chain_node::service::NodeInfo;
use chain_node::tx::Transaction;
use parking_lot::RwLock;
use tf_core::BoxError;

use crate::observer::ChainApi;

#[derive(Clone)]
struct NodeState {
    tip: BlockId,
    final_id: BlockId,
    leaves: Vec<BlockId>,
    down: bool,
}

struct Inner {
    blocks: HashMap<BlockId, Block>,
    nodes: HashMap<String, NodeState>,
    block_requests: AtomicU64,
}

/// Blocks, and each node's head and final block. Cheap to clone (shared).
#[derive(Clone)]
pub struct MemoryChain(Arc<RwLock<Inner>>);

impl Default for MemoryChain {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryChain {
    /// A chain holding only the genesis block.
    pub fn new() -> Self {
        let genesis = Block::genesis();
        MemoryChain(Arc::new(RwLock::new(Inner {
            blocks: HashMap::from([(genesis.id(), genesis)]),
            nodes: HashMap::new(),
            block_requests: AtomicU64::new(0),
        })))
    }

    /// The genesis block's id.
    pub fn genesis(&self) -> BlockId {
        Block::genesis().id()
    }

    /// Adds a block on `parent` (which must have been added) holding `txs`,
    /// produced by `producer`; its slot is its height.
    ///
    /// # Panics
    /// If `parent` is unknown: a script error.
    pub fn extend(&self, parent: BlockId, producer: &str, txs: Vec<Transaction>) -> BlockId {
        let mut inner = self.0.write();
        let parent = inner
            .blocks
            .get(&parent)
            .unwrap_or_else(|| panic!("script error: parent {} was never added", parent.short()))
            .header
            .clone();
        let block = Block::child(&parent, parent.height + 1, producer, txs);
        let id = block.id();
        inner.blocks.insert(id, block);
        id
    }

    /// Adds `count` empty blocks on `parent`; returns the last.
    pub fn extend_by(&self, parent: BlockId, producer: &str, count: usize) -> BlockId {
        (0..count).fold(parent, |tip, _| self.extend(tip, producer, Vec::new()))
    }

    /// A block, if added.
    pub fn block(&self, id: BlockId) -> Option<Block> {
        self.0.read().blocks.get(&id).cloned()
    }

    /// A block's height.
    pub fn height(&self, id: BlockId) -> Option<u64> {
        self.0.read().blocks.get(&id).map(|b| b.header.height)
    }

    /// Points `node` (created if new) at `tip` and `final_id`; `leaves`
    /// are the tips of its other live branches.
    pub fn set_head(&self, node: &str, tip: BlockId, final_id: BlockId, leaves: &[BlockId]) {
        let mut inner = self.0.write();
        let down = inner.nodes.get(node).is_some_and(|n| n.down);
        inner.nodes.insert(
            node.to_owned(),
            NodeState {
                tip,
                final_id,
                leaves: leaves.to_vec(),
                down,
            },
        );
    }

    /// Makes `node` fail every request (`true`) or answer again.
    pub fn set_down(&self, node: &str, down: bool) {
        if let Some(state) = self.0.write().nodes.get_mut(node) {
            state.down = down;
        }
    }

    /// Blocks served so far, to every node: how much an observer fetched.
    pub fn block_requests(&self) -> u64 {
        self.0.read().block_requests.load(Ordering::Relaxed)
    }

    /// A source for the observer that answers as `node`.
    pub fn node(&self, node: &str) -> MemoryNode {
        MemoryNode {
            chain: self.clone(),
            name: node.to_owned(),
        }
    }
}

/// One node of a [`MemoryChain`], as the observer sees it.
#[derive(Clone)]
pub struct MemoryNode {
    chain: MemoryChain,
    name: String,
}

impl MemoryNode {
    fn state(&self) -> Result<NodeState, BoxError> {
        match self.chain.0.read().nodes.get(&self.name) {
            Some(state) if !state.down => Ok(state.clone()),
            Some(_) => Err(format!("{} is down", self.name).into()),
            None => Err(format!("{} has no head yet", self.name).into()),
        }
    }
}

#[async_trait]
impl ChainApi for MemoryNode {
    async fn info(&self) -> Result<NodeInfo, BoxError> {
        let state = self.state()?;
        let inner = self.chain.0.read();
        let header = |id: &BlockId| {
            inner
                .blocks
                .get(id)
                .map(|b| b.header.clone())
                .ok_or_else(|| format!("{}: unknown block {}", self.name, id.short()))
        };
        let tip = header(&state.tip)?;
        let final_height = header(&state.final_id)?.height;
        Ok(NodeInfo {
            name: self.name.clone(),
            follower: false,
            tip: state.tip,
            height: tip.height,
            slot: tip.slot,
            final_id: state.final_id,
            final_height,
            mempool: 0,
            blocks: inner.blocks.len(),
            leaves: state.leaves,
            // An in-memory chain has no clock to tell.
            time_ms: 0,
            current_slot: tip.slot,
            future_held: 0,
            future_refused: 0,
        })
    }

    async fn block(&self, id: BlockId) -> Result<Block, BoxError> {
        self.state()?;
        let inner = self.chain.0.read();
        inner.block_requests.fetch_add(1, Ordering::Relaxed);
        inner
            .blocks
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("{}: no block {}", self.name, id.short()).into())
    }
}
