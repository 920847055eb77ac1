//! `tf-core`: the core of the testing framework.
//!
//! The [`observation`] module is the runtime every wait in the framework
//! stands on. [`scenario`] describes and runs scenarios against clusters
//! that deployers (such as `tf-local`) start. With the `http` feature,
//! the `http` module gives app node clients a JSON-over-HTTP client with bounded
//! answers and errors that name the node.

#![warn(missing_docs)]

pub mod catalog;
pub mod checker;
mod error_chain;
pub mod fault;
pub mod history;
pub mod host;
#[cfg(feature = "http")]
pub mod http;
pub mod manual;
pub mod observation;
pub mod report;
mod rng;
pub mod scenario;
pub mod testing;
pub mod workloads;

pub use error_chain::ErrorChain;
