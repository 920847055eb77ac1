//! The chain app's side of the testing framework.
//!
//! - [`ChainApp`]: the `chain-node` binary as an `Application`.
//! - [`ChainObserver`]: per-node heads and final blocks, and the graph of
//!   every block seen, fetched incrementally; events for new blocks, head
//!   changes (with reorg depth), final blocks advancing, nodes going and
//!   coming back.
//! - [`WalletProjection`]: the ledger as of every observed block, so the
//!   balances and outputs of any wallet at any node's head are one lookup
//!   and follow reorgs. The observer keeps one; its snapshot carries the
//!   ledger at each head.
//! - [`Inclusion`]: wait until transactions are included `d` deep on the
//!   nodes, with a timeout that explains each missing one node by node.
//! - Workloads: [`Transfers`] between wallets at a rate, [`node_restarts`]
//!   (the framework's fault workload, confirmed by catching up).
//! - The [`expectations`] module: safety (always), conservation (always),
//!   liveness, final convergence, inclusion of accepted transfers.
//! - The [`scenarios`] module: `chain-liveness`, `wallet-transfers`.
//! - [`SyncView`]: with [`ChainObserver::syncing_to`], the block most
//!   peers of a public network agree on and which local nodes have it.
//! - [`memory`]: a scripted in-memory chain for observer tests and
//!   benchmarks.

mod app;
pub mod expectations;
mod inclusion;
pub mod memory;
mod observer;
pub mod scenarios;
#[cfg(feature = "cucumber")]
pub mod steps;
mod sync;
mod wallets;
mod workloads;

pub use app::ChainApp;
pub use chain_node::ledger::DEFAULT_WALLETS;
pub use inclusion::{Inclusion, InclusionTimeout};
pub use observer::{ChainApi, ChainEvent, ChainObserver, ChainSnapshot, ChainState, NodeHead};
pub use sync::SyncView;
pub use wallets::{LedgerAt, TxIndex, Utxo, WalletAt, WalletProjection};
pub use workloads::{
    HeadReads, Transfer, TransferLog, Transfers, chain_partition, clock_skew, node_restarts,
    rpc_cut_off,
};
