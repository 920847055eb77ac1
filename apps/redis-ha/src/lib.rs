//! Redis high availability under the testing framework, from Debian's
//! packages: nobody here wrote these servers. A group of data nodes (the
//! first starts as the primary, the others replicate it) and a group of
//! Sentinels that start once the data nodes are ready, watch them and elect
//! a new primary when it fails.
//!
//! - [`RedisServer`], [`Sentinel`]: the two groups' apps (both run
//!   `redis-server`; a Sentinel from a configuration file it rewrites).
//! - [`HaObserver`]: each server's role and replication offset, and the
//!   primary each Sentinel names.
//! - [`scenarios`]: `redis-failover`, the primary killed or frozen while
//!   clients write through whichever node the Sentinels name.
//!
//! Redis replicates asynchronously: a write the primary acknowledged and
//! had not yet sent on is lost when a replica takes over. The checks state
//! a bound on that loss instead of pretending it is zero.

mod app;
mod client;
mod observer;
pub mod scenarios;

pub use app::{MASTER, RedisServer, Sentinel};
pub use client::{Kind, RedisClient, Replication};
pub use observer::{HaEvent, HaObserver, HaState, ServerView};
