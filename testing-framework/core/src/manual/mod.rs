//! Manual clusters: the same clusters scenarios run on, driven step by step
//! by a test (plain Rust tests, Cucumber steps). Nodes are added, removed
//! and broken as the test goes; endpoints of networks the test does not
//! control are attached as sources; every observation runtime started over
//! the cluster follows each change of its source set.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::time::Duration;
//! # use tf_core::manual::ManualCluster;
//! # use tf_core::scenario::{Application, Deployer};
//! # async fn example<A: Application>(app: A, deployer: &dyn Deployer) -> Result<(), Box<dyn std::error::Error>> {
//! let mut cluster = ManualCluster::start(Arc::new(app), deployer, "my-test", 3).await?;
//! cluster.wait_ready(Duration::from_secs(20)).await?;
//! cluster.stop("node-1").await?;
//! let node = cluster.add_node(Default::default()).await?; // node-3, peers: every node
//! cluster.wait_ready(Duration::from_secs(20)).await?;
//! cluster.cleanup().await;
//! # Ok(()) }
//! ```

mod cluster;
mod journal;
mod sources;

pub use cluster::{GroupOf, ManualCluster, ManualError};
pub use journal::Journal;
pub use sources::ClusterSources;
