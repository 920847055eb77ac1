//! Producing a block when the lottery says so.

use crate::block::Block;
use crate::lottery::wins;
use crate::mempool::Mempool;
use crate::tree::BlockTree;

/// A block producer's settings.
#[derive(Clone, Debug)]
pub struct Producer {
    /// Its name (the lottery key and the block's producer field).
    pub name: String,
    /// Its share of all stake.
    pub stake: f64,
    /// Chance that some node wins a slot (all stake in one hand).
    pub active_slot_coefficient: f64,
    /// The chain's lottery seed.
    pub seed: Vec<u8>,
    /// Transactions per block at most.
    pub max_txs: usize,
}

impl Producer {
    /// The block this node produces in `slot` on its tip, if it wins the
    /// slot.
    pub fn produce(&self, slot: u64, tree: &BlockTree, mempool: &mut Mempool) -> Option<Block> {
        if !wins(
            &self.seed,
            slot,
            self.name.as_bytes(),
            self.active_slot_coefficient,
            self.stake,
        ) {
            return None;
        }
        let tip = tree.tip();
        if slot <= tip.header.slot {
            return None;
        }
        let ledger = tree.ledger_at(&tip.id())?;
        let txs = mempool.select(ledger, self.max_txs);
        Some(Block::child(&tip.header, slot, &self.name, txs))
    }
}
