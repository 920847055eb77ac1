//! `tf-core`: the core of the testing framework.
//!
//! The [`observation`] module is the runtime every wait in the framework
//! stands on. [`scenario`] describes and runs scenarios against clusters
//! that deployers (such as `tf-local`) start.

#![warn(missing_docs)]

pub mod catalog;
mod error_chain;
pub mod observation;
pub mod report;
pub mod scenario;
pub mod testing;
pub mod workloads;

pub use error_chain::ErrorChain;
