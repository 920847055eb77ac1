//! A scenario description that cannot run is a clear error at build time.

use std::time::Duration;

use async_trait::async_trait;
use tf_core::BoxError;
use tf_core::observation::{ObservationConfig, Observer, Sources};
use tf_core::scenario::*;

struct Fake;

#[async_trait]
impl Application for Fake {
    type Client = ();
    fn name(&self) -> &str {
        "fake"
    }
    fn binary(&self) -> NodeBinary {
        NodeBinary::named("fake-node", "FAKE_NODE_BIN")
    }
    fn node_command(&self, _: &NodeSpec, _: &[NodeSpec]) -> Result<NodeCommand, BoxError> {
        Ok(NodeCommand::default())
    }
    fn client(&self, _: &NodeEndpoint) -> Result<(), BoxError> {
        Ok(())
    }
    async fn ready(&self, _: &()) -> Result<(), BoxError> {
        Ok(())
    }
}

struct Counter;

#[async_trait]
impl Observer for Counter {
    type Source = ();
    type State = u64;
    type Snapshot = u64;
    type Event = ();
    async fn init(&self, _: &Sources<'_, ()>) -> Result<u64, BoxError> {
        Ok(0)
    }
    async fn poll(&self, _: &Sources<'_, ()>, n: &mut u64) -> Result<Vec<()>, BoxError> {
        *n += 1;
        Ok(vec![])
    }
    fn snapshot(&self, n: &u64) -> u64 {
        *n
    }
}

fn counted(name: &str) -> impl Expectation<Fake> {
    AtEnd::new(name, |n: &u64| {
        if *n > 0 {
            Ok(())
        } else {
            Err("nothing counted".into())
        }
    })
}

fn error_of(builder: ScenarioBuilder<Fake>) -> String {
    builder
        .build()
        .err()
        .expect("the scenario must be refused")
        .to_string()
}

#[test]
fn a_valid_scenario_builds() {
    let scenario = Scenario::builder("ok", Fake)
        .nodes(5)
        .duration(Duration::from_secs(3))
        .observer(Counter, ObservationConfig::default())
        .expect(counted("counted"))
        .build()
        .unwrap();
    assert_eq!(
        (scenario.name(), scenario.nodes(), scenario.duration()),
        ("ok", 5, Duration::from_secs(3))
    );
}

#[test]
fn zero_nodes_is_refused() {
    assert!(error_of(Scenario::builder("s", Fake).nodes(0)).contains("at least one node"));
}

#[test]
fn zero_duration_is_refused() {
    assert!(error_of(Scenario::builder("s", Fake).duration(Duration::ZERO)).contains("run window"));
}

#[test]
fn a_duplicate_observer_is_refused_by_name() {
    let err = error_of(
        Scenario::builder("s", Fake)
            .observer(Counter, ObservationConfig::default())
            .observer(Counter, ObservationConfig::default()),
    );
    assert!(err.contains("observer `Counter` was added twice"), "{err}");
}

#[test]
fn an_invalid_observer_config_is_refused() {
    let err = error_of(Scenario::builder("s", Fake).observer(
        Counter,
        ObservationConfig::default().with_poll_interval(Duration::ZERO),
    ));
    assert!(
        err.contains("observer `Counter`") && err.contains("poll_interval"),
        "{err}"
    );
}

#[test]
fn two_expectations_with_one_name_are_refused() {
    let err = error_of(
        Scenario::builder("s", Fake)
            .expect(counted("same"))
            .expect(counted("same")),
    );
    assert!(err.contains("two expectations are named `same`"), "{err}");
}

#[test]
fn an_empty_name_is_refused() {
    assert!(error_of(Scenario::builder(" ", Fake)).contains("needs a name"));
}

#[test]
fn a_name_that_cannot_name_a_directory_is_refused() {
    for name in ["../escape", "a/b", ".hidden", "sp ace"] {
        let err = error_of(Scenario::builder(name, Fake));
        assert!(err.contains("it names the run directory"), "{name}: {err}");
    }
}

/// An app with a client type of its own that forgot `Application::client`.
struct NoClient;

#[async_trait]
impl Application for NoClient {
    type Client = String;
    fn name(&self) -> &str {
        "no-client"
    }
    fn binary(&self) -> NodeBinary {
        NodeBinary::named("fake-node", "FAKE_NODE_BIN")
    }
    fn node_command(&self, _: &NodeSpec, _: &[NodeSpec]) -> Result<NodeCommand, BoxError> {
        Ok(NodeCommand::default())
    }
    async fn ready(&self, _: &String) -> Result<(), BoxError> {
        Ok(())
    }
}

#[test]
fn a_client_type_with_no_default_and_no_client_fn_is_refused_at_build() {
    let error = Scenario::builder("no-client", NoClient)
        .build()
        .err()
        .expect("refused");
    assert_eq!(
        error.to_string(),
        "group `node`: the app's client type alloc::string::String has no default; implement \
         Application::client to make one from the node's endpoint (only JsonClient and () are \
         made without it)"
    );
    assert!(Scenario::builder("fake", Fake).build().is_ok());
}
