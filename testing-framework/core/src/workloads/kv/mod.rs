//! The framework's key-value workload: an app whose nodes store keys
//! implements [`KeyValueStore`] (read, write, optionally compare-and-set,
//! over its client) and gets concurrent clients at a rate
//! ([`KvWorkload`]), every request recorded in the run's history, the
//! final reads, and the checks: every acknowledged write survives, and
//! what the clients saw is linearizable.
//!
//! ```text
//! Scenario::builder("kv-failover", MyStore::default())
//!     .nodes(3)
//!     .key_value(KvWorkload::new().clients(5).rate(50.0))
//!     .workload(NodeFault::new("failover", FaultKind::Kill))
//!     .build()?;
//! ```

mod checks;
mod clients;
mod store;

pub use checks::FinalReads;
pub use clients::KvWorkload;
pub use store::{KeyValueStore, KvError, KvRequest};
