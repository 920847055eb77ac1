//! chain-tf's integration tests, one binary: one link instead of five, and
//! the scenarios on local processes run side by side (each spends most of
//! its time waiting on its window).

mod clock_skew;
mod liveness;
mod observer;
mod rpc;
mod wallet_transfers;
