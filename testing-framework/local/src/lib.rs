//! `tf-local`: the local-process deployer, the framework's default.
//!
//! Each node is a process of the app's binary on 127.0.0.1, with its own
//! data directory and log file under one run directory
//! (`target/tf-runs/<scenario>-<time>/node-N/{data,node.log}`). Ports are
//! picked free. Restarts keep the data directory; stop is SIGTERM then
//! SIGKILL after a grace period, kill is SIGKILL. Nodes run in their own
//! process group and die with the runner (parent-death signal), and the
//! cluster kills them when dropped, so no node outlives a run.

mod cluster;
mod deployer;
pub mod leftovers;
mod node;
mod process;

pub use cluster::LocalCluster;
pub use deployer::LocalDeployer;
