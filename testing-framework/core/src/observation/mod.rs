//! The observation runtime: polls a changing set of sources, lets an
//! app-owned [`Observer`] materialize typed state from them, and publishes
//! the latest snapshot, the events of every cycle and a bounded history
//! through [`ObservationHandle`]s. Everything in the framework that waits,
//! waits on a handle.
//!
//! - [`SourceProvider`] says which [`ObservedSource`]s exist, every cycle.
//! - [`Observer`] (app code) polls them and keeps state.
//! - [`ObservationRuntime`] (write side) runs the loop: source refresh,
//!   `init` and `poll` bounded by the cycle timeout, panics in any observer
//!   code contained, failures recorded by stage.
//! - [`ObservationHandle`] (read side, cheap to clone): [`latest_snapshot`],
//!   [`subscribe`] / [`subscribe_from`], [`history`], [`last_error`],
//!   [`source_health`], [`freshness`], [`wait_until`], [`wait_for_event`].
//!
//! [`latest_snapshot`]: ObservationHandle::latest_snapshot
//! [`subscribe`]: ObservationHandle::subscribe
//! [`subscribe_from`]: ObservationHandle::subscribe_from
//! [`history`]: ObservationHandle::history
//! [`last_error`]: ObservationHandle::last_error
//! [`source_health`]: ObservationHandle::source_health
//! [`freshness`]: ObservationHandle::freshness
//! [`wait_until`]: ObservationHandle::wait_until
//! [`wait_for_event`]: ObservationHandle::wait_for_event
//!
//! The detail behind health and wait diagnostics lives in [`health`] and
//! [`diagnostics`]; [`ObserverDriver`](crate::testing::ObserverDriver), to
//! step an observer one poll at a time, in [`crate::testing`].
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//! use tf_core::BoxError;
//! use tf_core::observation::*;
//!
//! /// Counts how many sources report a height of at least 3.
//! struct AtHeight3;
//!
//! #[async_trait::async_trait]
//! impl Observer for AtHeight3 {
//!     type Source = Arc<AtomicU64>;
//!     type State = usize;
//!     type Snapshot = usize;
//!     type Event = ();
//!
//!     async fn init(&self, _: &Sources<'_, Arc<AtomicU64>>) -> Result<usize, BoxError> {
//!         Ok(0)
//!     }
//!
//!     async fn poll(&self, sources: &Sources<'_, Arc<AtomicU64>>, count: &mut usize)
//!         -> Result<Vec<()>, BoxError>
//!     {
//!         // A real source is a node client; here each poll grows the height.
//!         *count = sources.iter().filter(|s| s.source.fetch_add(1, Ordering::Relaxed) + 1 >= 3).count();
//!         Ok(vec![])
//!     }
//!
//!     fn snapshot(&self, count: &usize) -> usize {
//!         *count
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let nodes: SourceSet<Arc<AtomicU64>> = (0..3)
//!     .map(|i| ObservedSource::new(format!("node-{i}"), Arc::new(AtomicU64::new(0))))
//!     .collect();
//! let config = ObservationConfig::default().with_poll_interval(Duration::from_millis(10));
//! let runtime = ObservationRuntime::start(nodes, AtHeight3, config)?;
//! let handle = runtime.handle();
//!
//! let seen = handle.wait_until(|count| *count == 3, Duration::from_secs(5)).await?;
//! assert_eq!(seen.source_count, 3);
//! runtime.stop().await;
//! # Ok(())
//! # }
//! ```

mod by_state;
mod config;
mod contact;
mod cycle;
pub mod diagnostics;
pub(crate) mod driver;
mod handle;
pub mod health;
mod history;
mod observer;
mod poll_each;
mod reachability;
mod replay;
mod runtime;
mod shared;
mod source;
mod subscription;
mod wait;

pub use config::ObservationConfig;
pub use contact::Contact;
pub use handle::{Freshness, Latest, ObservationHandle};
// Crate-internal short paths; the public ones are `health::*`.
pub(crate) use health::{CycleFailure, FailureStage, RuntimeHealth, SourceHealth};
pub use history::Observation;
pub use observer::{Observer, StateObserver};
pub use poll_each::{SourcePoll, Sources};
pub use reachability::Reachability;
pub use runtime::{ConfigUpdater, ObservationRuntime};
pub use shared::Lifecycle;
pub use source::{ObservedSource, SourceName, SourceProvider, SourceSet};

pub(crate) use by_state::{AnySnapshot, AnyState, SeenArc, StateHandle};
pub(crate) use cycle::panic_message;
pub(crate) use replay::Replayer;

/// The observation type of observer `O`.
pub type ObservationOf<O> = Observation<<O as Observer>::Snapshot, <O as Observer>::Event>;

/// What can go wrong, and the errors observers and sources return.
pub mod error {
    pub use super::config::ConfigError;
    pub use super::contact::PollError;
    pub use super::poll_each::SourceFailure;
    pub use super::runtime::StartError;
    pub use super::wait::WaitError;

    /// The error type app code returns from providers and observers: any error,
    /// boxed. `?` converts into it, and so does `"message".into()`.
    pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
}

/// Following a handle's observations as they come: a subscription, where
/// it is ([`Cursor`](stream::Cursor)) and what it missed when it fell
/// behind ([`Lagged`](stream::Lagged)).
pub mod stream {
    pub use super::history::Cursor;
    pub use super::subscription::{Lagged, Subscription};
}
