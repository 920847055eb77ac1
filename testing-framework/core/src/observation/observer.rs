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
        short_type_name::<Self>()
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

/// `T`'s name without path or generics (`RaftObserver` for
/// `my_app::RaftObserver<Client>`).
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let without_generics = full.split('<').next().unwrap_or(full);
    without_generics
        .rsplit("::")
        .next()
        .unwrap_or(without_generics)
}

/// An [`Observer`] with less to write: its state starts as
/// [`Default`] and readers see a clone of it, so `poll` is all there is.
/// Every `StateObserver` is an `Observer` (its `Snapshot` is its `State`).
///
/// ```
/// use std::collections::BTreeMap;
/// use tf_core::BoxError;
/// use tf_core::observation::{Sources, StateObserver};
///
/// /// Each node's height, by name; a node that did not answer is missing.
/// struct Heights;
///
/// #[async_trait::async_trait]
/// impl StateObserver for Heights {
///     type Source = u64; // a node client in real code
///     type State = BTreeMap<String, u64>;
///     type Event = ();
///
///     async fn poll(
///         &self,
///         nodes: &Sources<'_, u64>,
///         heights: &mut BTreeMap<String, u64>,
///     ) -> Result<Vec<()>, BoxError> {
///         for node in nodes.iter() {
///             heights.insert(node.name.to_string(), node.source);
///         }
///         Ok(Vec::new())
///     }
/// }
/// ```
#[async_trait]
pub trait StateObserver: Send + Sync + 'static {
    /// What is polled, usually a node client.
    type Source: Send + Sync + 'static;
    /// The state, starting as its `Default`; also what readers see.
    type State: Default + Clone + Debug + Send + Sync + 'static;
    /// A delta worth telling subscribers about.
    type Event: Clone + Debug + Send + Sync + 'static;

    /// A name for messages; the type's name by default.
    fn name(&self) -> &str {
        short_type_name::<Self>()
    }

    /// Polls the sources and updates `state`, as [`Observer::poll`].
    async fn poll(
        &self,
        sources: &Sources<'_, Self::Source>,
        state: &mut Self::State,
    ) -> Result<Vec<Self::Event>, BoxError>;
}

#[async_trait]
impl<T: StateObserver> Observer for T {
    type Source = T::Source;
    type State = T::State;
    type Snapshot = T::State;
    type Event = T::Event;

    fn name(&self) -> &str {
        StateObserver::name(self)
    }

    async fn init(&self, _: &Sources<'_, T::Source>) -> Result<T::State, BoxError> {
        Ok(T::State::default())
    }

    async fn poll(
        &self,
        sources: &Sources<'_, T::Source>,
        state: &mut T::State,
    ) -> Result<Vec<T::Event>, BoxError> {
        StateObserver::poll(self, sources, state).await
    }

    fn snapshot(&self, state: &T::State) -> T::State {
        state.clone()
    }
}
