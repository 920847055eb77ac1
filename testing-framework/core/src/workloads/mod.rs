//! Workloads every app can use as they are, configured with its observer.
//!
//! - [`NodeFault`]: take nodes down one after another (kill, stop or
//!   pause), confirm through observation that each went down and came
//!   back, and shade each fault on the report's charts.

mod node_fault;

pub use node_fault::{FaultKind, NodeFault};
