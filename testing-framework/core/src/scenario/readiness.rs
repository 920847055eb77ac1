//! Readiness, observed like everything else: an observer that asks the app
//! whether each node is ready, so the wait for a cluster is a `wait_until`
//! with the usual diagnostics when it times out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::deploy::{DeploymentRequest, NodeProbe};
use super::{Application, NodeEndpoint};
use crate::observation::error::BoxError;
use crate::observation::{
    ObservationConfig, ObservationRuntime, ObservedSource, Observer, SourcePoll, SourceSet, Sources,
};

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
        *state = Readiness::of(sources.poll_each(|s| app.ready(&s.source)).await);
        Ok(vec![])
    }

    fn snapshot(&self, state: &Readiness) -> Readiness {
        state.clone()
    }
}

impl Readiness {
    /// What one round of probes answered.
    fn of<S>(probes: Vec<SourcePoll<'_, S, (), BoxError>>) -> Self {
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
        next
    }
}

/// Probes every node with its own group's [`NodeProbe`], whatever its app:
/// the readiness of a topology of several groups.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbeReadiness;

#[async_trait]
impl Observer for ProbeReadiness {
    type Source = NodeProbe;
    type State = Readiness;
    type Snapshot = Readiness;
    type Event = ();

    fn name(&self) -> &str {
        "readiness"
    }

    async fn init(&self, _: &Sources<'_, NodeProbe>) -> Result<Readiness, BoxError> {
        Ok(Readiness::default())
    }

    async fn poll(
        &self,
        sources: &Sources<'_, NodeProbe>,
        state: &mut Readiness,
    ) -> Result<Vec<()>, BoxError> {
        *state = Readiness::of(sources.poll_each(|s| s.source.probe()).await);
        Ok(vec![])
    }

    fn snapshot(&self, state: &Readiness) -> Readiness {
        state.clone()
    }
}

/// Every endpoint's probe, made by its group in `request`.
pub(crate) fn probes(
    request: &DeploymentRequest,
    endpoints: &[NodeEndpoint],
) -> Result<SourceSet<NodeProbe>, (String, String)> {
    endpoints
        .iter()
        .map(|endpoint| {
            let group = request.group(&endpoint.group).ok_or_else(|| {
                (
                    endpoint.name.clone(),
                    format!("its group `{}` is not in the request", endpoint.group),
                )
            })?;
            group
                .probe(endpoint)
                .map(|probe| ObservedSource::new(endpoint.name.clone(), probe))
                .map_err(|error| {
                    (
                        endpoint.name.clone(),
                        format!(
                            "cannot make its client: {}; see the app's Application::client",
                            crate::ErrorChain(&*error)
                        ),
                    )
                })
        })
        .collect()
}

/// Waits until every node at `endpoints` is ready, for at most `timeout`;
/// the error is a node that is not, and why.
pub(crate) async fn wait_ready(
    request: &DeploymentRequest,
    endpoints: &[NodeEndpoint],
    timeout: Duration,
) -> Result<(), (String, String)> {
    let sources = probes(request, endpoints)?;
    let nodes = endpoints.len();
    let runtime = ObservationRuntime::start(sources, ProbeReadiness, poll_often())
        .map_err(|error| (String::from("readiness"), error.to_string()))?;
    let waited = runtime
        .handle()
        .wait_until(|r| r.all_ready(nodes), timeout)
        .await;
    let last = runtime
        .handle()
        .latest_snapshot()
        .map(|l| l.snapshot.clone());
    runtime.stop().await;
    match waited {
        Ok(_) => Ok(()),
        Err(error) => Err(match last.and_then(|r| r.not_ready.into_iter().next()) {
            Some((node, why)) => (node, format!("not ready after {timeout:?}: {why}")),
            None => (
                endpoints
                    .first()
                    .map(|e| e.name.clone())
                    .unwrap_or_default(),
                error.to_string(),
            ),
        }),
    }
}

/// Readiness is probed often: starts wait on it.
pub(crate) fn poll_often() -> ObservationConfig {
    ObservationConfig::default().with_poll_interval(Duration::from_millis(50))
}
