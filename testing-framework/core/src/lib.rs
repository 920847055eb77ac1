//! `tf-core`: the core of the testing framework.
//!
//! The [`observation`] module is the runtime every wait in the framework
//! stands on. Scenarios, deployers and reports build on it.

#![warn(missing_docs)]

pub mod observation;
