//! The chain's scenarios on local processes.

mod clock_skew;
mod liveness;
mod rpc;
mod wallet_transfers;
