//! Workloads of the Raft key-value app (its client traffic is the
//! framework's key-value workload, through [`crate::RaftKv`]'s
//! `KeyValueStore`).

mod deposed;
mod failover;
mod partition;

pub use deposed::{DEPOSED_KEY, DeposedLeaderWrites};
pub use failover::leader_failover;
pub use partition::{leader_one_way, leader_partition, slow_links};
