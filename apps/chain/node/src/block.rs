//! Blocks: a header that names its parent, and transactions.

use serde::{Deserialize, Serialize};

use crate::crypto::Hash32;
use crate::tx::Transaction;

/// A block's id: the hash of its header.
pub type BlockId = Hash32;

/// What a block says about itself; its hash is the block's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// The block it extends (zero for genesis).
    pub parent: BlockId,
    /// The slot it was produced in.
    pub slot: u64,
    /// Its distance from genesis.
    pub height: u64,
    /// The node that produced it.
    pub producer: String,
    /// The hash of its transactions' ids.
    pub tx_root: Hash32,
}

/// A header and its transactions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, applied in order.
    pub txs: Vec<Transaction>,
}

/// The hash that commits a header to its transactions.
pub fn tx_root(txs: &[Transaction]) -> Hash32 {
    let ids: Vec<u8> = txs.iter().flat_map(|tx| tx.id().0).collect();
    Hash32::of(&ids)
}

impl Block {
    /// The genesis block every node shares.
    pub fn genesis() -> Self {
        Block {
            header: BlockHeader {
                parent: Hash32::default(),
                slot: 0,
                height: 0,
                producer: "genesis".into(),
                tx_root: tx_root(&[]),
            },
            txs: Vec::new(),
        }
    }

    /// A block on top of `parent`.
    pub fn child(parent: &BlockHeader, slot: u64, producer: &str, txs: Vec<Transaction>) -> Self {
        Block {
            header: BlockHeader {
                parent: parent.id(),
                slot,
                height: parent.height + 1,
                producer: producer.to_owned(),
                tx_root: tx_root(&txs),
            },
            txs,
        }
    }

    /// Its id.
    pub fn id(&self) -> BlockId {
        self.header.id()
    }
}

impl BlockHeader {
    /// The id of the block with this header.
    pub fn id(&self) -> BlockId {
        Hash32::of(&serde_json::to_vec(self).expect("plain data serializes"))
    }
}
