//! Plugging in your own key-value system: a primary and its replicas,
//! written in Python (`kv-node.py`), JSON over HTTP. This file is all an
//! adopter writes: the `Application`, the few lines that make it a
//! `KeyValueStore`, and a scenario. The framework brings the clients, the
//! history, the final reads, the checks (no acknowledged write lost,
//! linearizability), the faults and the report.
//!
//! ```sh
//! cargo run -p tf-local --example kv_adopter     # run the scenario
//! cargo test -p tf-local --example kv_adopter    # the same, as a test
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use tf_core::BoxError;
use tf_core::checker::AvailabilitySlo;
use tf_core::http::{HttpError, JsonClient};
use tf_core::observation::ObservationConfig;
use tf_core::scenario::deploy::*;
use tf_core::scenario::*;
use tf_core::workloads::{FaultKind, KeyValueStore, KvError, KvWorkload, NodeFault};
use tf_local::LocalDeployer;

struct PyKv;

#[async_trait]
impl Application for PyKv {
    type Client = JsonClient;

    fn name(&self) -> &str {
        "py-kv"
    }

    fn binary(&self) -> NodeBinary {
        NodeBinary::named("python3", "PY_KV_PYTHON")
    }

    fn node_command(&self, node: &NodeSpec, all: &[NodeSpec]) -> Result<NodeCommand, BoxError> {
        let mut args = vec![
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/kv-node.py").to_owned(),
            "--name".into(),
            node.name.clone(),
            "--api".into(),
            node.bind_address(API_PORT)?,
            "--data-dir".into(),
            node.data_dir.display().to_string(),
        ];
        // node-0 is the primary; the others forward to it.
        if node.index > 0 {
            args.extend(["--primary".into(), all[0].address(API_PORT)?]);
        }
        Ok(NodeCommand::args(args))
    }

    async fn ready(&self, client: &JsonClient) -> Result<(), BoxError> {
        client.get::<serde_json::Value>("/state").await?;
        Ok(())
    }
}

#[derive(Deserialize)]
struct Read {
    value: Option<String>,
}

#[derive(Deserialize)]
struct Cas {
    swapped: bool,
}

/// Refused before it could take effect, or perhaps applied.
fn outcome(error: HttpError) -> KvError {
    let refused = error
        .status()
        .is_some_and(|s| s.is_client_error() || s == 502);
    if error.never_sent() || refused {
        KvError::Refused(error.to_string())
    } else {
        KvError::Indeterminate(error.to_string())
    }
}

#[async_trait]
impl KeyValueStore for PyKv {
    async fn kv_read(&self, node: &JsonClient, key: &str) -> Result<Option<String>, KvError> {
        let read = node.get::<Read>(&format!("/kv/{key}")).await;
        read.map(|r| r.value)
            .map_err(|e| KvError::Refused(e.to_string()))
    }

    async fn kv_write(&self, node: &JsonClient, key: &str, value: &str) -> Result<(), KvError> {
        let body = json!({ "value": value });
        let written = node
            .post::<_, serde_json::Value>(&format!("/kv/{key}"), &body)
            .await;
        written.map(drop).map_err(outcome)
    }

    async fn kv_cas(
        &self,
        node: &JsonClient,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, KvError> {
        let body = json!({ "expected": expected, "new": new });
        let cas = node.post::<_, Cas>(&format!("/cas/{key}"), &body).await;
        cas.map(|c| c.swapped).map_err(outcome)
    }
}

fn scenario() -> Scenario<PyKv> {
    let probe = ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(100))
        .with_source_timeout(Duration::from_millis(500));
    Scenario::builder("py-kv-chaos", PyKv)
        .nodes(3)
        .duration(Duration::from_secs(12))
        .observer(ReadinessObserver::new(Arc::new(PyKv)), probe)
        // Nodes killed and paused in turn, one at a time, each confirmed.
        .workload(
            NodeFault::new("faults", FaultKind::Kill)
                .mixed_with(FaultKind::Pause)
                .every(Duration::from_secs(2))
                .max_faults(3),
        )
        .key_value(KvWorkload::new().clients(4).rate(40.0).keys(5))
        .expect(AvailabilitySlo::new(Duration::from_secs(3)).of("kv-clients"))
        .build()
        .expect("a valid scenario")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let report = run(scenario(), &LocalDeployer::new(), RunOptions::default()).await;
    println!("{report}");
    report.exit_code()
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_python_key_value_store_is_linearizable_through_kills_and_pauses() {
        let deployer = tf_local::LocalDeployer::new();
        let report = tf_core::scenario::run(super::scenario(), &deployer, Default::default()).await;
        report.assert_passed();
        assert!(
            report
                .clients
                .iter()
                .any(|c| c.client == "kv-clients" && c.ok > 100)
        );
    }
}
