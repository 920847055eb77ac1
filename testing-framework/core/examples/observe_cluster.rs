//! The observation runtime on a simulated cluster: four in-memory "nodes"
//! produce blocks, one becomes unreachable for a while, and a test waits on
//! what the observer sees instead of sleeping.
//!
//! Run: `cargo run -p tf-core --example observe_cluster`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tf_core::observation::error::*;
use tf_core::observation::stream::*;
use tf_core::observation::*;

/// A simulated node: a block height that grows, and a switch that makes it
/// unreachable. A real source would be an HTTP client of a node.
#[derive(Default)]
struct SimNode {
    height: AtomicU64,
    down: AtomicBool,
}

impl SimNode {
    async fn height(&self) -> Result<u64, String> {
        // Simulated network latency of a status request.
        tokio::time::sleep(Duration::from_millis(2)).await;
        if self.down.load(Ordering::Relaxed) {
            return Err("connection refused".to_owned());
        }
        Ok(self.height.load(Ordering::Relaxed))
    }
}

/// What the observer publishes: the last height each node reported.
#[derive(Debug, Default, Clone)]
struct Heights {
    by_node: BTreeMap<String, u64>,
}

impl Heights {
    fn min(&self) -> u64 {
        self.by_node.values().copied().min().unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
enum ClusterEvent {
    Unreachable { node: String, error: String },
    Back { node: String, height: u64 },
}

impl std::fmt::Display for ClusterEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterEvent::Unreachable { node, error } => write!(f, "{node} unreachable: {error}"),
            ClusterEvent::Back { node, height } => write!(f, "{node} back at height {height}"),
        }
    }
}

#[derive(Default)]
struct HeightState {
    heights: Heights,
    unreachable: BTreeMap<String, bool>,
}

/// Follows each node's height and tells when a node drops out or comes back.
struct HeightObserver;

#[async_trait::async_trait]
impl Observer for HeightObserver {
    type Source = Arc<SimNode>;
    type State = HeightState;
    type Snapshot = Heights;
    type Event = ClusterEvent;

    async fn init(&self, _: &Sources<'_, Arc<SimNode>>) -> Result<HeightState, BoxError> {
        Ok(HeightState::default())
    }

    async fn poll(
        &self,
        sources: &Sources<'_, Arc<SimNode>>,
        state: &mut HeightState,
    ) -> Result<Vec<ClusterEvent>, BoxError> {
        let mut events = Vec::new();
        for polled in sources.poll_each(|s| s.source.height()).await {
            let node = polled.source.name.to_string();
            let was_down = state.unreachable.get(&node).copied().unwrap_or(false);
            match polled.result {
                Ok(height) => {
                    if was_down {
                        events.push(ClusterEvent::Back {
                            node: node.clone(),
                            height,
                        });
                    }
                    state.unreachable.insert(node.clone(), false);
                    state.heights.by_node.insert(node, height);
                }
                Err(error) if !was_down => {
                    state.unreachable.insert(node.clone(), true);
                    events.push(ClusterEvent::Unreachable {
                        node,
                        error: error.to_string(),
                    });
                }
                Err(_) => {}
            }
        }
        Ok(events)
    }

    fn snapshot(&self, state: &HeightState) -> Heights {
        state.heights.clone()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes: Vec<Arc<SimNode>> = (0..4).map(|_| Arc::new(SimNode::default())).collect();
    let sources: SourceSet<Arc<SimNode>> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| ObservedSource::new(format!("node-{i}"), Arc::clone(node)))
        .collect();

    // The "cluster": each node makes a block every 20-35 ms; node-2 is
    // unreachable from 0.3 s to 0.8 s.
    for (i, node) in nodes.iter().enumerate() {
        let node = Arc::clone(node);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(20 + 5 * i as u64));
            for tick in 0u64.. {
                ticks.tick().await;
                node.height.fetch_add(1, Ordering::Relaxed);
                if i == 2 {
                    let elapsed_ms = tick * 30;
                    node.down
                        .store((300..800).contains(&elapsed_ms), Ordering::Relaxed);
                }
            }
        });
    }

    let config = ObservationConfig::default().with_poll_interval(Duration::from_millis(50));
    let runtime = ObservationRuntime::start(sources, HeightObserver, config)?;
    let handle = runtime.handle();

    // Print what the observer sees happen, as it happens.
    let mut events = handle.subscribe_from(Cursor::START);
    tokio::spawn(async move {
        while let Some(Ok(observation)) = events.next().await {
            for event in &observation.events {
                println!("  cycle {:>3}: {event}", observation.cycle);
            }
        }
    });

    println!("waiting until every node reaches height 40 ...");
    let reached = handle
        .wait_until(
            |heights| heights.by_node.len() == 4 && heights.min() >= 40,
            Duration::from_secs(10),
        )
        .await?;
    println!(
        "ok: all 4 nodes at height >= 40 in cycle {} ({:?})\n",
        reached.cycle, reached.snapshot.by_node
    );

    println!("per-source health:");
    for source in handle.source_health() {
        println!(
            "  {}: {} ok, {} failed, mean latency {:.1?}",
            source.name,
            source.successes,
            source.failures,
            source.latency.mean()
        );
    }

    println!("\nnow a wait that cannot succeed in time, to show what a timeout reports:\n");
    nodes[3].down.store(true, Ordering::Relaxed);
    match handle
        .wait_until(
            |heights| heights.min() >= 100_000,
            Duration::from_millis(500),
        )
        .await
    {
        Ok(_) => unreachable!("no node gets that high in half a second"),
        Err(error) => println!("{error}"),
    }

    runtime.stop().await;
    println!("runtime stopped: {}", handle.lifecycle());
    Ok(())
}
