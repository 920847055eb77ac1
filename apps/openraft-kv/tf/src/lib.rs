//! The Raft key-value app's side of the testing framework.
//!
//! - [`RaftKv`]: the node binary as a [`tf_core::scenario::Application`].
//! - [`RaftObserver`]: per-node role, term, logs and key-value digest;
//!   events for leader, term and membership changes (nodes going silent
//!   and back come from the framework's own reachability).
//! - Client traffic: [`RaftKv`] is a
//!   [`KeyValueStore`](tf_core::workloads::KeyValueStore) (linearizable
//!   reads, writes and compare-and-sets), so the framework's key-value
//!   workload drives it and checks its history.
//! - Workloads: [`leader_failover`] and [`leader_partition`] (the
//!   framework's fault workload aimed at the leader, confirmed through
//!   observation), [`DeposedLeaderWrites`].
//! - Expectations in [`expectations`], scenarios in [`scenarios`].

mod app;
pub mod expectations;
mod kv;
mod observer;
pub mod scenarios;
#[cfg(feature = "cucumber")]
pub mod steps;
mod workloads;

pub use app::{RaftKv, node_id, node_name};
pub use observer::{Leader, NodeView, RaftEvent, RaftObserver, RaftSnapshot};
pub use workloads::{
    DEPOSED_KEY, DeposedLeaderWrites, leader_failover, leader_one_way, leader_partition, slow_links,
};
