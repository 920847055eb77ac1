//! The source set of a manual cluster, as a provider every observation
//! runtime over it reads on each cycle.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::observation::error::BoxError;
use crate::observation::{SourceProvider, SourceSet};

/// The cluster's current sources: its nodes and the attached external
/// endpoints. Reading it is one reference-count increment; the set is
/// replaced, never edited, when the cluster changes.
pub struct ClusterSources<S>(watch::Receiver<SourceSet<S>>);

impl<S> Clone for ClusterSources<S> {
    fn clone(&self) -> Self {
        ClusterSources(self.0.clone())
    }
}

impl<S> ClusterSources<S> {
    /// The set as it is now.
    pub fn current(&self) -> SourceSet<S> {
        self.0.borrow().clone()
    }
}

#[async_trait]
impl<S: Send + Sync + 'static> SourceProvider<S> for ClusterSources<S> {
    async fn sources(&self) -> Result<SourceSet<S>, BoxError> {
        Ok(self.current())
    }
}

/// The writing side, kept by the cluster.
pub(crate) struct SourcesTx<S>(Arc<watch::Sender<SourceSet<S>>>);

impl<S> SourcesTx<S> {
    pub(crate) fn new() -> Self {
        SourcesTx(Arc::new(watch::channel(SourceSet::empty()).0))
    }

    pub(crate) fn set(&self, sources: SourceSet<S>) {
        self.0.send_replace(sources);
    }

    pub(crate) fn provider(&self) -> ClusterSources<S> {
        ClusterSources(self.0.subscribe())
    }
}
