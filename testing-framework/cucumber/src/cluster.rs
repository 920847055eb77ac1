//! A manual cluster of any app, for the generic steps.

use std::any::Any;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use tf_core::fault::{ClockFault, LinkFault, Links};
use tf_core::manual::{ManualCluster, ManualError};
use tf_core::report::CleanupReport;
use tf_core::scenario::Application;
use tf_core::scenario::deploy::NewNode;

/// What the generic steps do to a cluster, whatever its app.
#[async_trait(?Send)]
pub trait AnyCluster {
    /// The app's name.
    fn app_name(&self) -> String;
    /// Its own nodes.
    fn nodes(&self) -> Vec<String>;
    /// Its groups (`node` for a cluster of one).
    fn groups(&self) -> Vec<String>;
    /// The nodes of `group`.
    fn group(&self, group: &str) -> Vec<String>;
    /// The run directory.
    fn run_dir(&self) -> &Path;
    /// Stops a node.
    async fn stop(&self, node: &str) -> Result<(), ManualError>;
    /// Starts a stopped node.
    async fn start(&self, node: &str) -> Result<(), ManualError>;
    /// Restarts a node.
    async fn restart(&self, node: &str) -> Result<(), ManualError>;
    /// Kills a node.
    async fn kill(&self, node: &str) -> Result<(), ManualError>;
    /// Freezes a node.
    async fn pause(&self, node: &str) -> Result<(), ManualError>;
    /// Thaws a node.
    async fn resume(&self, node: &str) -> Result<(), ManualError>;
    /// Cuts `side` off from the rest.
    async fn partition(&self, side: &[String]) -> Result<(), ManualError>;
    /// Ends the partition.
    async fn heal(&self) -> Result<(), ManualError>;
    /// Applies a link fault; its id.
    async fn impair(&self, links: &Links, fault: &LinkFault) -> Result<u64, ManualError>;
    /// Removes a link fault.
    async fn restore(&self, id: u64) -> Result<(), ManualError>;
    /// Sets a node's clock.
    async fn set_clock(&self, node: &str, clock: &ClockFault) -> Result<(), ManualError>;
    /// Adds a node; returns its name.
    async fn add_node(&mut self, node: NewNode) -> Result<String, ManualError>;
    /// Removes a node.
    async fn remove_node(&mut self, node: &str) -> Result<(), ManualError>;
    /// Waits until every one of `nodes` is ready.
    async fn wait_ready(&self, nodes: &[String], timeout: Duration) -> Result<(), ManualError>;
    /// Waits until `node` stops answering.
    async fn wait_not_ready(&self, node: &str, timeout: Duration) -> Result<(), ManualError>;
    /// Stops everything.
    async fn cleanup(&mut self) -> CleanupReport;
    /// For app steps: the cluster as its own type.
    fn as_any(&self) -> &dyn Any;
    /// For app steps: the cluster as its own type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

#[async_trait(?Send)]
impl<A: Application> AnyCluster for ManualCluster<A> {
    fn app_name(&self) -> String {
        self.app().name().to_owned()
    }
    fn nodes(&self) -> Vec<String> {
        ManualCluster::nodes(self)
    }
    fn groups(&self) -> Vec<String> {
        ManualCluster::groups(self)
    }
    fn group(&self, group: &str) -> Vec<String> {
        ManualCluster::group(self, group)
    }
    fn run_dir(&self) -> &Path {
        ManualCluster::run_dir(self)
    }
    async fn stop(&self, node: &str) -> Result<(), ManualError> {
        ManualCluster::stop(self, node).await
    }
    async fn start(&self, node: &str) -> Result<(), ManualError> {
        self.start_node(node).await
    }
    async fn restart(&self, node: &str) -> Result<(), ManualError> {
        ManualCluster::restart(self, node).await
    }
    async fn kill(&self, node: &str) -> Result<(), ManualError> {
        ManualCluster::kill(self, node).await
    }
    async fn pause(&self, node: &str) -> Result<(), ManualError> {
        ManualCluster::pause(self, node).await
    }
    async fn resume(&self, node: &str) -> Result<(), ManualError> {
        ManualCluster::resume(self, node).await
    }
    async fn partition(&self, side: &[String]) -> Result<(), ManualError> {
        ManualCluster::partition(self, side).await
    }
    async fn heal(&self) -> Result<(), ManualError> {
        ManualCluster::heal(self).await
    }
    async fn impair(&self, links: &Links, fault: &LinkFault) -> Result<u64, ManualError> {
        ManualCluster::impair(self, links, fault)
            .await
            .map(|i| i.id)
    }
    async fn restore(&self, id: u64) -> Result<(), ManualError> {
        ManualCluster::restore(self, id).await.map(drop)
    }
    async fn set_clock(&self, node: &str, clock: &ClockFault) -> Result<(), ManualError> {
        ManualCluster::set_clock(self, node, clock).await
    }
    async fn add_node(&mut self, node: NewNode) -> Result<String, ManualError> {
        ManualCluster::add_node(self, node).await
    }
    async fn remove_node(&mut self, node: &str) -> Result<(), ManualError> {
        ManualCluster::remove_node(self, node).await
    }
    async fn wait_ready(&self, nodes: &[String], timeout: Duration) -> Result<(), ManualError> {
        self.wait_nodes_ready(nodes, timeout).await
    }
    async fn wait_not_ready(&self, node: &str, timeout: Duration) -> Result<(), ManualError> {
        ManualCluster::wait_not_ready(self, node, timeout).await
    }
    async fn cleanup(&mut self) -> CleanupReport {
        ManualCluster::cleanup(self).await
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
