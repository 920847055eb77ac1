//! Test a workload, an expectation or an observer without processes: a
//! [`FakeDeployer`] whose clusters are in-memory [`FakeNode`]s that grow
//! a height while up, go silent when killed, and hang when paused; a
//! [`FakeApp`] whose client is the node itself; and the
//! [`ObserverDriver`] for stepping an
//! observer one poll at a time; and [`KvHistory`], histories of a
//! simulated key-value store (with an injected [`Anomaly`] if asked) for
//! testing checkers.
//!
//! ```
//! use std::time::Duration;
//! use tf_core::scenario::{Eventually, RunOptions, Scenario, run};
//! use tf_core::testing::{FakeApp, FakeDeployer, HeightObserver, fake_observation};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! let deployer = FakeDeployer::new(dir.path().join("run"));
//! let scenario = Scenario::builder("grows", FakeApp::default())
//!     .duration(Duration::from_secs(2))
//!     .observer(HeightObserver, fake_observation())
//!     .expect(Eventually::new(
//!         "every node reaches height 5",
//!         Duration::from_secs(2),
//!         |heights: &Vec<(String, Option<u64>)>| heights.iter().all(|(_, h)| *h >= Some(5)),
//!     ))
//!     .build()
//!     .unwrap();
//! let report = run(scenario, &deployer, RunOptions::default()).await;
//! report.assert_passed();
//! assert!(deployer.cleaned_up());
//! # }
//! ```

mod app;
mod deployer;
mod history;
mod node;

pub use crate::observation::driver::ObserverDriver;
pub use app::{FakeApp, HeightObserver, fake_observation};
pub use deployer::{FakeCluster, FakeDeployer};
pub use history::{Anomaly, Generated, KvHistory};
pub use node::{FakeNode, FakeNodes};
