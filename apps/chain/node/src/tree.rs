//! Every block a node knows, the branch it follows (fork choice), and the
//! block it will never revert (finality).

use std::collections::{HashMap, HashSet};

use crate::block::{Block, BlockHeader, BlockId, tx_root};
use crate::graph::HeaderLookup;
use crate::ledger::{Ledger, TxError};

/// Why a block is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Its parent is not known yet: fetch the ancestors first.
    #[error("parent {} is unknown; fetch it first", .0.short())]
    UnknownParent(BlockId),
    /// Not one above its parent.
    #[error("height {got} does not follow its parent's height {parent}")]
    BadHeight {
        /// The parent's height.
        parent: u64,
        /// The block's height.
        got: u64,
    },
    /// Not in a later slot than its parent.
    #[error("slot {got} is not after its parent's slot {parent}")]
    SlotNotAfterParent {
        /// The parent's slot.
        parent: u64,
        /// The block's slot.
        got: u64,
    },
    /// The header does not commit to these transactions.
    #[error("the header's tx_root does not match its transactions")]
    BadTxRoot,
    /// A transaction is invalid on this branch.
    #[error("transaction {index} is invalid on this branch: {error}")]
    InvalidTx {
        /// Its position in the block.
        index: usize,
        /// Why.
        error: TxError,
    },
    /// Its slot is further ahead of this node's clock than any honest
    /// clock would be: refused (a nearer one is held until its slot).
    #[error("slot {slot} is too far ahead of this node's slot {now}; refused as from the future")]
    FromTheFuture {
        /// The block's slot.
        slot: u64,
        /// This node's slot.
        now: u64,
    },
    /// It forks off before the final block, which is never reverted.
    #[error("it forks off below the final block (height {final_height}), which is never reverted")]
    BelowFinal {
        /// The final block's height.
        final_height: u64,
    },
}

/// What inserting a block did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// Already known.
    Known,
    /// It extends the followed branch: the new tip.
    Extended,
    /// Its branch is now the best: the tip switched branches.
    Reorg {
        /// Blocks of the old branch that are no longer followed.
        depth: u64,
    },
    /// Stored on a branch that is not the best.
    SideBranch,
    /// Its slot has not begun on this node's clock: held, and inserted
    /// once the slot begins.
    Held,
}

struct Stored {
    block: Block,
    ledger: Ledger,
}

/// The blocks a node knows, with the ledger after each.
pub struct BlockTree {
    blocks: HashMap<BlockId, Stored>,
    /// Blocks without children: the tips of every branch.
    leaves: HashSet<BlockId>,
    tip: BlockId,
    final_block: BlockId,
    k: u64,
}

impl BlockTree {
    /// A tree holding `genesis` with its ledger; blocks become final `k`
    /// deep.
    pub fn new(genesis: Block, ledger: Ledger, k: u64) -> Self {
        let id = genesis.id();
        let blocks = HashMap::from([(
            id,
            Stored {
                block: genesis,
                ledger,
            },
        )]);
        BlockTree {
            blocks,
            leaves: HashSet::from([id]),
            tip: id,
            final_block: id,
            k,
        }
    }

    /// Adds `block` and updates the tip and the final block.
    pub fn insert(&mut self, block: Block) -> Result<Inserted, BlockError> {
        let id = block.id();
        if self.blocks.contains_key(&id) {
            return Ok(Inserted::Known);
        }
        let parent_id = block.header.parent;
        let parent = self
            .blocks
            .get(&parent_id)
            .ok_or(BlockError::UnknownParent(parent_id))?;
        let (parent_height, parent_slot) = (parent.block.header.height, parent.block.header.slot);
        if block.header.height != parent_height + 1 {
            return Err(BlockError::BadHeight {
                parent: parent_height,
                got: block.header.height,
            });
        }
        if block.header.slot <= parent_slot {
            return Err(BlockError::SlotNotAfterParent {
                parent: parent_slot,
                got: block.header.slot,
            });
        }
        if block.header.tx_root != tx_root(&block.txs) {
            return Err(BlockError::BadTxRoot);
        }
        if !self.is_ancestor(self.final_block, parent_id) {
            return Err(BlockError::BelowFinal {
                final_height: self.height_of(self.final_block),
            });
        }
        let mut ledger = parent.ledger.clone();
        for (index, tx) in block.txs.iter().enumerate() {
            ledger
                .apply(tx)
                .map_err(|error| BlockError::InvalidTx { index, error })?;
        }
        self.blocks.insert(id, Stored { block, ledger });
        self.leaves.remove(&parent_id);
        self.leaves.insert(id);

        let old_tip = self.tip;
        if !self.better(id, old_tip) {
            return Ok(Inserted::SideBranch);
        }
        self.tip = id;
        self.advance_final();
        if parent_id == old_tip {
            Ok(Inserted::Extended)
        } else {
            // Both are stored, so they share at least genesis.
            let common = self
                .common_ancestor(old_tip, id)
                .map_or(0, |c| self.height_of(c));
            Ok(Inserted::Reorg {
                depth: self.height_of(old_tip) - common,
            })
        }
    }

    /// Longest chain first; at equal height, the smaller id, so every node
    /// picks the same tip whatever order blocks arrived in.
    fn better(&self, a: BlockId, b: BlockId) -> bool {
        (self.height_of(a), std::cmp::Reverse(a)) > (self.height_of(b), std::cmp::Reverse(b))
    }

    fn advance_final(&mut self) {
        let tip_height = self.height_of(self.tip);
        if tip_height < self.k {
            return;
        }
        if let Some(candidate) = self.ancestor_at(self.tip, tip_height - self.k) {
            if self.height_of(candidate) > self.height_of(self.final_block) {
                self.final_block = candidate;
            }
        }
    }

    fn height_of(&self, id: BlockId) -> u64 {
        self.blocks.get(&id).map_or(0, |s| s.block.header.height)
    }

    /// The followed branch's newest block.
    pub fn tip(&self) -> &Block {
        &self.blocks[&self.tip].block
    }

    /// The newest block that is never reverted.
    pub fn final_block(&self) -> &Block {
        &self.blocks[&self.final_block].block
    }

    /// A known block.
    pub fn block(&self, id: &BlockId) -> Option<&Block> {
        self.blocks.get(id).map(|s| &s.block)
    }

    /// The ledger after a known block.
    pub fn ledger_at(&self, id: &BlockId) -> Option<&Ledger> {
        self.blocks.get(id).map(|s| &s.ledger)
    }

    /// The tips of every branch that forks off at or above the final
    /// block: the live forks, the followed one included.
    pub fn live_leaves(&self) -> Vec<BlockId> {
        let final_id = self.final_block;
        let mut leaves: Vec<BlockId> = self
            .leaves
            .iter()
            .copied()
            .filter(|leaf| self.is_ancestor(final_id, *leaf))
            .collect();
        leaves.sort();
        leaves
    }

    /// How many blocks are known.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether only genesis is known.
    pub fn is_empty(&self) -> bool {
        self.blocks.len() <= 1
    }
}

impl HeaderLookup for BlockTree {
    fn header(&self, id: &BlockId) -> Option<&BlockHeader> {
        self.blocks.get(id).map(|s| &s.block.header)
    }
}
