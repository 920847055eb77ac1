//! Scenarios: a topology of an app's nodes, observers, workloads that drive
//! the cluster, and expectations that judge it, run by a [`Deployer`].
//!
//! ```text
//! run(scenario, deployer):
//!   deploy -> wait ready (observed) -> start observers
//!   -> workloads + always/eventually checks (fail fast)
//!   -> cooldown -> at-end checks -> cleanup -> RunReport (+ report.json)
//! ```

mod application;
mod builder;
mod context;
mod deploy;
mod expectation;
mod readiness;
mod replay;
mod report;
mod runner;
mod settling;
mod summary;
mod workload;

pub use application::{
    API_PORT, Application, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec, PortMap, PortSpec,
    Protocol, UnknownPort,
};
pub use builder::{Scenario, ScenarioBuilder, ScenarioError};
pub use context::{FaultId, MissingObserver, RunContext};
pub use deploy::{
    CleanupReport, Cluster, ControlError, DeployError, Deployer, DeploymentRequest, NodeAction,
    NodeControl, NodeExit,
};
pub use expectation::{Always, AtEnd, Eventually, Expectation, Timing, Violation};
pub use readiness::Readiness;
pub use replay::{ReplayError, ReplayReport, replay};
pub use report::{
    ExpectationReport, FaultWindow, PhaseTimings, ReadReportError, RunReport, SourceReport,
    TimelineEntry, TimelineKind, Verdict, WorkloadFailure,
};
pub use runner::{Progress, RunOptions, run};
pub use settling::{RecoversWithin, SettlesWithin};
pub use summary::verdict_word;
pub use workload::Workload;
