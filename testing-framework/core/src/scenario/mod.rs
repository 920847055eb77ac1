//! Scenarios: a topology of an app's nodes, observers, workloads that drive
//! the cluster, and expectations that judge it, run by a [`Deployer`].
//! What a deployer is asked for and hands back (for deployer authors) is in
//! [`deploy`].
//!
//! ```text
//! run(scenario, deployer):
//!   deploy -> wait ready (observed) -> start observers
//!   -> workloads + always/eventually checks (fail fast)
//!   -> cooldown -> at-end checks -> cleanup -> RunReport (+ report.json)
//! ```

mod application;
mod builder;
pub(crate) mod clients;
mod context;
mod control;
pub mod deploy;
mod expectation;
mod group;
mod judge;
mod observer_slot;
mod readiness;
mod reads;
mod replay;
mod runner;
mod settling;
pub(crate) mod window;
mod workload;

pub use application::{
    API_PORT, Application, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec, PortMap, PortSpec,
    Protocol, UnknownPort,
};
pub use builder::{Scenario, ScenarioBuilder, ScenarioError};
pub use context::{FaultId, MissingObserver, RunContext, RunSettings};
pub(crate) use context::{ObserverChoice, ObserverEntry, Unrecorded};
pub use control::NodeAction;
pub use deploy::{Deployer, NewNode, NodeBuild, ReadinessObserver};
pub use expectation::{Always, AtEnd, Eventually, Expectation, Violation};
pub use group::{DEFAULT_GROUP, Group, Topology, TopologyError, UnknownGroup, node_name};
pub(crate) use reads::observer_key;
pub use replay::{ReplayError, replay};
pub(crate) use runner::say;
pub use runner::{Progress, RunOptions, run};
pub use settling::{RecoversWithin, SettlesWithin};
pub use workload::Workload;
