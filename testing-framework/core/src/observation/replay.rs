//! Publishing recorded observations into a handle, for offline replay:
//! expectations read a replayed handle exactly as they read a live one.

use std::sync::Arc;

use super::shared::{Lifecycle, Published, Shared};
use super::{ObservationConfig, ObservationHandle, Observer};

/// Feeds recorded observations to an [`ObservationHandle`] of `O`.
pub(crate) struct Replayer<O: Observer> {
    shared: Arc<Shared<O>>,
}

impl<O: Observer> Replayer<O> {
    pub(crate) fn new(observer_name: String, history_capacity: usize) -> Self {
        let config = ObservationConfig::default().with_history_capacity(history_capacity.max(1));
        let shared = Arc::new(Shared::new(observer_name, &config));
        shared.set_lifecycle(Lifecycle::Running);
        Replayer { shared }
    }

    pub(crate) fn handle(&self) -> ObservationHandle<O> {
        ObservationHandle::new(Arc::clone(&self.shared))
    }

    /// Publishes one recorded observation now (the replay's clock decides
    /// when "now" is).
    pub(crate) fn publish(
        &self,
        cycle: u64,
        source_count: usize,
        events: Vec<O::Event>,
        reachability: Vec<super::Reachability>,
        snapshot: O::Snapshot,
    ) {
        self.shared.publish(Published {
            cycle,
            began_at: tokio::time::Instant::now(),
            source_count,
            sources_added: Vec::new(),
            sources_removed: Vec::new(),
            events,
            reachability,
            snapshot,
        });
    }
}
