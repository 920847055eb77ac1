//! Plugging your own node into TF, from zero: a node with two ports (an
//! HTTP API and a peer port), written in Python, found on `PATH`. This file
//! is everything an adopter writes: the `Application`, an observer, the
//! framework's fault workload, two expectations, a scenario and a test.
//!
//! ```sh
//! cargo run -p tf-local --example adopter     # run the scenario
//! cargo test -p tf-local --example adopter    # the same, as a test
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use tf_core::BoxError;
use tf_core::http::JsonClient;
use tf_core::observation::{ObservationConfig, Sources, StateObserver};
use tf_core::report::RunReport;
use tf_core::scenario::{
    Application, NodeBinary, NodeCommand, NodeSpec, PortSpec, RecoversWithin, RunOptions, Scenario,
    SettlesWithin, run,
};
use tf_core::workloads::{FaultKind, NodeFault};
use tf_local::LocalDeployer;

/// The node as the framework starts it.
struct Ticker;

#[async_trait]
impl Application for Ticker {
    type Client = JsonClient;

    fn name(&self) -> &str {
        "ticker"
    }

    fn binary(&self) -> NodeBinary {
        NodeBinary::named("python3", "TICKER_PYTHON")
    }

    fn ports(&self) -> Vec<PortSpec> {
        vec![PortSpec::tcp("api"), PortSpec::tcp("peer")]
    }

    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        let peers = node.peer_addresses(topology, "peer")?;
        Ok(NodeCommand::args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ticker-node.py").to_owned(),
            "--name".into(),
            node.name.clone(),
            "--api".into(),
            node.bind_address("api")?,
            "--peer".into(),
            node.bind_address("peer")?,
            "--peers".into(),
            peers.join(","),
        ]))
    }

    async fn ready(&self, client: &JsonClient) -> Result<(), BoxError> {
        client.get::<NodeState>("/state").await?;
        Ok(())
    }
}

/// What `GET /state` answers.
#[derive(Clone, Debug, Deserialize)]
struct NodeState {
    ticks: u64,
    /// The last count read from each peer's peer port; `null` if it failed.
    peers: BTreeMap<String, Option<u64>>,
}

/// Every node's last answer, by name; `None` while it does not answer.
type Ticks = BTreeMap<String, Option<NodeState>>;

struct TickerObserver;

#[async_trait]
impl StateObserver for TickerObserver {
    type Source = JsonClient;
    type State = Ticks;
    type Event = ();

    async fn poll(
        &self,
        nodes: &Sources<'_, JsonClient>,
        ticks: &mut Ticks,
    ) -> Result<Vec<()>, BoxError> {
        for answer in nodes
            .poll_each(|n| n.source.get::<NodeState>("/state"))
            .await
        {
            ticks.insert(answer.source.name.to_string(), answer.result.ok());
        }
        Ok(Vec::new())
    }
}

/// Every node answers and reads every peer over the peer port.
fn all_connected(ticks: &Ticks) -> bool {
    !ticks.is_empty()
        && ticks.values().all(|node| {
            node.as_ref().is_some_and(|n| {
                n.ticks > 0
                    && n.peers.len() == ticks.len() - 1
                    && n.peers.values().all(Option::is_some)
            })
        })
}

fn scenario() -> Scenario<Ticker> {
    let observing = ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(100))
        .with_source_timeout(Duration::from_millis(500));
    Scenario::builder("ticker-chaos", Ticker)
        .nodes(3)
        .duration(Duration::from_secs(12))
        .observer(TickerObserver, observing)
        // One node killed, then another paused, each confirmed down and
        // back: one fault workload takes one node down at a time.
        .workload(
            NodeFault::new("faults", FaultKind::Kill)
                .mixed_with(FaultKind::Pause)
                .every(Duration::from_secs(3))
                .max_faults(2),
        )
        .expect(RecoversWithin::new(
            "every node reconnects to its peers within 5s",
            Duration::from_secs(5),
            all_connected,
        ))
        .expect(SettlesWithin::new(
            "at the end, every node reads every peer",
            Duration::from_secs(5),
            all_connected,
        ))
        .build()
        .expect("a valid scenario")
}

async fn run_locally() -> RunReport {
    run(scenario(), &LocalDeployer::new(), RunOptions::default()).await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let report = run_locally().await;
    println!("{report}");
    report.exit_code()
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_two_port_node_in_python_passes_through_a_kill_and_a_pause() {
        let report = super::run_locally().await;
        report.assert_passed();
        for (fault, back) in [
            ("kill node-0", "observed node-0 back"),
            ("pause node-1", "observed node-1 back"),
        ] {
            let said = |what: &str| {
                report
                    .timeline
                    .iter()
                    .any(|e| e.source == "faults" && e.what == what)
            };
            assert!(
                said(fault) && said(back),
                "no confirmed `{fault}`:\n{report}"
            );
        }
    }
}
