//! Workloads of the Raft key-value app.

mod deposed;
mod failover;
mod partition;
mod writes;

pub use deposed::{DeposedLeaderWrites, DeposedLog};
pub use failover::leader_failover;
pub use partition::leader_partition;
pub use writes::{AckLog, KvWrites};
