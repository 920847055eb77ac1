//! Workloads of the Raft key-value app.

mod failover;
mod writes;

pub use failover::leader_failover;
pub use writes::{AckLog, KvWrites};
