//! Workloads of the Raft key-value app.

mod failover;
mod writes;

pub use failover::{Fault, LeaderFailover};
pub use writes::{AckLog, KvWrites};
