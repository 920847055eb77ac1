//! Ready-made chain scenarios.

use std::time::Duration;

use tf_core::observation::ObservationConfig;
use tf_core::scenario::{Scenario, ScenarioBuilder, ScenarioError};

use crate::expectations::{FinalConvergence, liveness, safety};
use crate::{ChainApp, ChainObserver};

/// How the chain observer polls in scenarios.
pub fn chain_observation() -> ObservationConfig {
    ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(200))
        .with_source_timeout(Duration::from_millis(800))
        .with_cycle_timeout(Duration::from_secs(3))
}

/// `chain-liveness` without `build()`, to add to.
pub fn chain_liveness_builder(nodes: usize, duration: Duration) -> ScenarioBuilder<ChainApp> {
    let app = ChainApp::default();
    // Blocks come about every slot; ask for a third of that.
    let expected_height = duration.as_millis() as u64 / app.slot_ms / 3;
    Scenario::builder("chain-liveness", app)
        .nodes(nodes)
        .duration(duration)
        .cooldown(Duration::from_secs(1))
        .observer(ChainObserver, chain_observation())
        .expect(safety())
        .expect(liveness(expected_height.max(3), duration))
        .expect(FinalConvergence(Duration::from_secs(10)))
}

/// `chain-liveness`: nodes produce, fork and converge; safety always,
/// liveness within the run, a shared final block at the end.
pub fn chain_liveness(
    nodes: usize,
    duration: Duration,
) -> Result<Scenario<ChainApp>, ScenarioError> {
    chain_liveness_builder(nodes, duration).build()
}
