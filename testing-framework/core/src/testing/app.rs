//! An app of fake nodes, and an observer of their heights.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{FakeNode, FakeNodes};
use crate::observation::error::BoxError;
use crate::observation::{ObservationConfig, Observer, Sources};
use crate::scenario::{Application, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec, PortSpec};

/// The app of [`FakeDeployer`](super::FakeDeployer)'s nodes: its client
/// is the node. Ready when the node answers, unless `never_ready`.
#[derive(Clone, Debug)]
pub struct FakeApp {
    /// Readiness never comes (to test ready timeouts).
    pub never_ready: bool,
    /// The ports it declares (one `api` by default).
    pub ports: Vec<PortSpec>,
}

impl Default for FakeApp {
    fn default() -> Self {
        FakeApp {
            never_ready: false,
            ports: vec![PortSpec::tcp(crate::scenario::API_PORT)],
        }
    }
}

#[async_trait]
impl Application for FakeApp {
    type Client = Arc<FakeNode>;

    fn name(&self) -> &str {
        "fake"
    }

    fn binary(&self) -> NodeBinary {
        NodeBinary::named("fake-node", "TF_FAKE_NODE_BIN")
    }

    fn ports(&self) -> Vec<PortSpec> {
        self.ports.clone()
    }

    fn node_command(&self, node: &NodeSpec, _: &[NodeSpec]) -> Result<NodeCommand, BoxError> {
        let ports: Vec<String> = node
            .ports
            .iter()
            .map(|(n, p)| format!("--{n}={p}"))
            .collect();
        Ok(NodeCommand::args(ports))
    }

    fn client(&self, endpoint: &NodeEndpoint) -> Result<Arc<FakeNode>, BoxError> {
        Ok(FakeNodes::get(&endpoint.address))
    }

    async fn ready(&self, node: &Arc<FakeNode>) -> Result<(), BoxError> {
        node.height().await?;
        if self.never_ready {
            return Err("still starting".into());
        }
        Ok(())
    }
}

/// Every node's height, `None` while it does not answer.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeightObserver;

#[async_trait]
impl Observer for HeightObserver {
    type Source = Arc<FakeNode>;
    type State = Vec<(String, Option<u64>)>;
    type Snapshot = Vec<(String, Option<u64>)>;
    type Event = ();

    async fn init(&self, _: &Sources<'_, Arc<FakeNode>>) -> Result<Self::State, BoxError> {
        Ok(Vec::new())
    }

    async fn poll(
        &self,
        sources: &Sources<'_, Arc<FakeNode>>,
        state: &mut Self::State,
    ) -> Result<Vec<()>, BoxError> {
        let polled = sources.poll_each(|s| s.source.height()).await;
        *state = polled
            .into_iter()
            .map(|p| (p.source.name.to_string(), p.result.ok()))
            .collect();
        Ok(Vec::new())
    }

    fn snapshot(&self, state: &Self::State) -> Self::Snapshot {
        state.clone()
    }
}

/// Polls every 50 ms with a 200 ms source timeout: a paused node shows as
/// failing within one timeout.
pub fn fake_observation() -> ObservationConfig {
    ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(50))
        .with_source_timeout(Duration::from_millis(200))
        .with_cycle_timeout(Duration::from_secs(1))
}
