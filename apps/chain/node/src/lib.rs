//! `chain-node`: a small proof-of-stake-style chain that forks on purpose.
//!
//! This is the node's core, without network yet: blocks and their
//! ids ([`block`]), ed25519-signed UTXO transactions ([`tx`]) validated
//! against the ledger of the branch that includes them ([`ledger`]), the
//! slot leader lottery that makes forks and empty slots ([`lottery`]), and
//! the block tree with fork choice (longest chain, deterministic tie-break)
//! and finality (`k` blocks deep, never reverted) ([`tree`]), and storage
//! behind a small trait with in-memory and redb backends ([`storage`]).

pub mod block;
pub mod client;
pub mod crypto;
pub mod graph;
pub mod http;
pub mod ledger;
pub mod lottery;
pub mod mempool;
pub mod network;
pub mod producer;
pub mod service;
pub mod storage;
pub mod tree;
pub mod tx;
