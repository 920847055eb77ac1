//! The chain app's side of the testing framework.
//!
//! - [`ChainApp`]: the `chain-node` binary as an `Application`.
//! - [`ChainObserver`]: per-node heads and final blocks, and the graph of
//!   every block seen, fetched incrementally; events for new blocks, head
//!   changes (with reorg depth) and final blocks advancing.
//! - The [`expectations`] module: safety (always), liveness, final convergence.
//! - The [`scenarios`] module: `chain-liveness`.
//!
//! Still to come: the wallet projection, transfers and restart workloads,
//! and the `wallet-transfers` scenario.

mod app;
pub mod expectations;
mod observer;
pub mod scenarios;

pub use app::ChainApp;
pub use observer::{ChainEvent, ChainObserver, ChainSnapshot, ChainState, NodeHead};
