//! `tf-compose`: the container deployer.
//!
//! Each node runs in its own Docker container, from an image built here
//! `FROM scratch` (the node binary and the shared libraries it links; no
//! registry is needed). A run gets its own networks:
//!
//! - `peers` (internal): the only network nodes reach each other on, each
//!   node under its name (`node-1`) as a network alias;
//! - `access`: the runner's way in. Every named port of the app is
//!   published on 127.0.0.1 through it, and containers cannot talk to each
//!   other on it, so a partition of `peers` stays a partition while the
//!   runner still observes both sides.
//!
//! A partition moves one side of the cluster from `peers` onto a network
//! of its own; healing moves it back. Both are confirmed by connects from
//! inside the nodes and from the runner. Data directories and logs live in
//! the run directory, in the same layout as the local deployer's
//! (`<run>/node-N/{data,node.log}`), and a `docker-compose.yml` there
//! reproduces the cluster by hand.
//!
//! Everything created is labelled ([`labels`]) and removed on cleanup, on
//! drop (a panic), by the run's [`reaper`] when its runner is killed, and
//! by [`sweep`] for what is left after that (a crashed engine, a reaper
//! turned off).

mod cluster;
mod compose_file;
mod control;
mod deployer;
mod engine;
mod image;
pub mod labels;
mod links;
mod network;
mod node;
mod partition;
mod placement;
pub mod reaper;
pub mod sweep;

pub use cluster::ComposeCluster;
pub use deployer::ComposeDeployer;
pub use engine::{connect, docker_available};
pub use image::{NodeImage, build_image, tag_latest};
pub use links::build_helper_image;
pub use tf_core::deployer_kit::shared_libraries;
