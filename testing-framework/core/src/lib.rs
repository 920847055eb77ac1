//! `tf-core`: the core of TF, a testing framework for distributed systems.
//!
//! A [`Scenario`] is a topology of an [`Application`]'s nodes, the
//! [`Observer`]s that turn their APIs into typed state, the [`Workload`]s
//! that drive them and the [`Expectation`]s ([`Always`], [`Eventually`],
//! [`AtEnd`]) that judge them. [`run`] deploys it with a [`Deployer`]
//! (`tf_local::LocalDeployer` for processes, `tf_compose` for containers,
//! `tf_k8s` for pods) as [`RunOptions`] say and hands back a [`RunReport`].
//! Every wait stands on the [`ObservationRuntime`] and its
//! [`ObservationHandle`]s.
//!
//! Start from these; the modules hold the rest:
//!
//! | module | what |
//! |---|---|
//! | [`scenario`] | scenarios, applications and their nodes, groups, expectations, the runner, the deployer interface |
//! | [`observation`] | the observation runtime: sources, observers, handles, waits |
//! | [`workloads`] | the framework's workloads: faults in turn, clients, schedules |
//! | [`fault`] | link and clock faults |
//! | [`history`], [`checker`] | client histories and the checkers that judge them (linearizability, lost writes, SLOs) |
//! | [`report`] | what a run hands back and writes: `report.json`, JUnit, HTML |
//! | [`catalog`] | named scenarios with typed parameters, for a CLI |
//! | [`manual`] | clusters driven step by step (Cucumber, plain tests) |
//! | [`testing`] | a fake deployer and observer drivers, for tests without processes |
//! | [`deployer_kit`] | for deployer authors: node binaries, ports, run directories, labels, runner identity, cleanup on drop |
//! | `http` | (feature `http`) a JSON-over-HTTP node client with bounded answers |
//!
//! The guide (`guide/` in the repository) walks through all of it.

#![warn(missing_docs)]

pub mod catalog;
pub mod checker;
pub mod deployer_kit;
mod error_chain;
pub mod fault;
pub mod history;
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
pub use observation::error::BoxError;
pub use observation::{ObservationHandle, ObservationRuntime, Observer};
pub use report::RunReport;
pub use scenario::{
    Always, Application, AtEnd, Deployer, Eventually, Expectation, RunOptions, Scenario, Workload,
    run,
};
