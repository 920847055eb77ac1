//! Workloads every app can use as they are, configured with its observer.
//!
//! - [`NodeFault`]: take nodes down one after another (kill, stop or
//!   pause), confirm through observation that each went down and came
//!   back, and shade each fault on the report's charts.
//! - [`KvWorkload`]: concurrent key-value clients for an app that is a
//!   [`KeyValueStore`], every request recorded in the run's history and
//!   judged by the history's checks (see [`kv`]).

pub mod kv;
mod node_fault;
mod schedule;

pub use kv::{KeyValueStore, KvError, KvRequest, KvWorkload};
pub use node_fault::{Around, FaultKind, NodeFault};
pub use schedule::{FaultMix, Schedule, Scheduled};
