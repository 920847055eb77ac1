//! A Raft key-value node on openraft with an HTTP API.
//!
//! The library holds the wire types ([`api`]) and a typed client ([`client`])
//! for the test framework, and the node's internals (storage, network, HTTP
//! server) so tests can exercise them directly. The binary only parses the
//! command line and calls [`node::run`].

pub mod api;
pub mod client;
pub mod config;
pub mod digest;
pub mod http;
pub mod network;
pub mod node;
pub mod store;
pub mod types;

pub use api::{NodeState, Role};
pub use client::{ClientError, KvClient};
