//! Readiness, observed like everything else: an observer that asks the app
//! whether each node is ready, so the wait for a cluster is a `wait_until`
//! with the usual diagnostics when it times out.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::Application;
use crate::observation::{BoxError, Observer, Sources};

/// Per node: ready, or why not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Nodes whose probe succeeded last time.
    pub ready: Vec<String>,
    /// Nodes whose probe failed last time, with the error.
    pub not_ready: BTreeMap<String, String>,
}

impl Readiness {
    /// Whether all `nodes` are ready.
    pub fn all_ready(&self, nodes: usize) -> bool {
        self.not_ready.is_empty() && self.ready.len() == nodes
    }
}

/// Probes every node with [`Application::ready`]: the observer every wait
/// for a node to come up (or go down) stands on.
pub struct ReadinessObserver<A>(pub(crate) Arc<A>);

impl<A> ReadinessObserver<A> {
    /// Probes with `app`'s readiness check.
    pub fn new(app: Arc<A>) -> Self {
        ReadinessObserver(app)
    }
}

#[async_trait]
impl<A: Application> Observer for ReadinessObserver<A> {
    type Source = A::Client;
    type State = Readiness;
    type Snapshot = Readiness;
    type Event = ();

    fn name(&self) -> &str {
        "readiness"
    }

    async fn init(&self, _: &Sources<'_, A::Client>) -> Result<Readiness, BoxError> {
        Ok(Readiness::default())
    }

    async fn poll(
        &self,
        sources: &Sources<'_, A::Client>,
        state: &mut Readiness,
    ) -> Result<Vec<()>, BoxError> {
        let app = &self.0;
        let probes = sources.poll_each(|s| app.ready(&s.source)).await;
        let mut next = Readiness::default();
        for probe in probes {
            let name = probe.source.name.to_string();
            match probe.result {
                Ok(()) => next.ready.push(name),
                Err(error) => {
                    next.not_ready.insert(name, error.to_string());
                }
            }
        }
        *state = next;
        Ok(vec![])
    }

    fn snapshot(&self, state: &Readiness) -> Readiness {
        state.clone()
    }
}
