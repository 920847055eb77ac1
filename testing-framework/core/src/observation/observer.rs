//! The app-owned side: an [`Observer`] turns polls of sources into typed
//! state, a snapshot of it, and events.

use std::fmt::Debug;

use async_trait::async_trait;

use super::Sources;
use super::error::BoxError;

/// App logic that materializes typed state from a set of sources.
///
/// The runtime calls [`init`](Observer::init) once (and again after a failure
/// that left the state unusable), then [`poll`](Observer::poll) every cycle,
/// then [`snapshot`](Observer::snapshot) to publish what readers see.
/// `init` and `poll` are bounded by the cycle timeout; a panic in any
/// observer method is caught and recorded, never propagated.
///
/// `init` and `poll` must not block their thread (no `std::thread::sleep`,
/// no blocking I/O): the cycle timeout can only interrupt a future that
/// yields. `snapshot` is synchronous and cannot be interrupted: keep it a
/// cheap copy of the state (readers are never blocked by it, but the next
/// cycle waits for it). Use
/// [`Sources::poll_each`] to reach many sources concurrently with a
/// per-source timeout; it also feeds the per-source health that wait
/// timeouts print.
///
/// ```
/// use tf_core::observation::{Observer, Sources};
/// use tf_core::BoxError;
///
/// /// Follows the highest block height reported by any node.
/// struct MaxHeight;
///
/// #[async_trait::async_trait]
/// impl Observer for MaxHeight {
///     type Source = std::sync::Arc<std::sync::atomic::AtomicU64>;
///     type State = u64;
///     type Snapshot = u64;
///     type Event = u64; // a new maximum
///
///     async fn init(&self, _: &Sources<'_, Self::Source>) -> Result<u64, BoxError> {
///         Ok(0)
///     }
///
///     async fn poll(&self, sources: &Sources<'_, Self::Source>, max: &mut u64)
///         -> Result<Vec<u64>, BoxError>
///     {
///         let heights = sources
///             .poll_each(|s| async move {
///                 Ok::<_, BoxError>(s.source.load(std::sync::atomic::Ordering::Relaxed))
///             })
///             .await;
///         let best = heights.iter().filter_map(|h| h.result.as_ref().ok()).max().copied();
///         match best {
///             Some(h) if h > *max => {
///                 *max = h;
///                 Ok(vec![h])
///             }
///             _ => Ok(vec![]),
///         }
///     }
///
///     fn snapshot(&self, max: &u64) -> u64 {
///         *max
///     }
/// }
/// ```
#[async_trait]
pub trait Observer: Send + Sync + 'static {
    /// What is polled, usually a node client. Cloned never by the runtime.
    type Source: Send + Sync + 'static;
    /// Materialized state, owned by the runtime and lent to `poll`.
    type State: Send + 'static;
    /// What readers see. `Debug` is what a wait timeout prints, so make it
    /// readable. To be recorded in a run's `observations.jsonl`
    /// (`ScenarioBuilder::recorded_observer`), it also needs serde's
    /// `Serialize` and `Deserialize` and [`ReportSnapshot`](crate::report::ReportSnapshot).
    type Snapshot: Debug + Send + Sync + 'static;
    /// A delta worth telling subscribers about (a leader changed, a block
    /// arrived). To be recorded, it needs serde and
    /// [`ReportEvent`](crate::report::ReportEvent) too.
    type Event: Clone + Debug + Send + Sync + 'static;

    /// A name for messages; the type's name without path or generics by
    /// default (`RaftObserver` for `my_app::RaftObserver<Client>`).
    fn name(&self) -> &str {
        let full = std::any::type_name::<Self>();
        let without_generics = full.split('<').next().unwrap_or(full);
        without_generics
            .rsplit("::")
            .next()
            .unwrap_or(without_generics)
    }

    /// Builds the initial state. An error fails the cycle and is retried on
    /// the next one.
    async fn init(&self, sources: &Sources<'_, Self::Source>) -> Result<Self::State, BoxError>;

    /// Polls the sources and updates `state`, returning the events of this
    /// cycle. An error fails the cycle and keeps `state` as `poll` left it.
    async fn poll(
        &self,
        sources: &Sources<'_, Self::Source>,
        state: &mut Self::State,
    ) -> Result<Vec<Self::Event>, BoxError>;

    /// What readers see of `state`. Runs after every successful poll, on the
    /// runtime's task, never under a lock readers wait on.
    fn snapshot(&self, state: &Self::State) -> Self::Snapshot;

    /// Whether `state` may be kept after `poll` or `snapshot` panicked, or
    /// `poll` was cut off by the cycle timeout halfway through. By default it
    /// is dropped and the observer is re-initialized on the next cycle; the
    /// last published snapshot stays readable meanwhile, and the events of a
    /// cycle whose `snapshot` panicked are published with the next
    /// observation.
    fn keep_state_after_interrupt(&self, _state: &Self::State) -> bool {
        false
    }
}
