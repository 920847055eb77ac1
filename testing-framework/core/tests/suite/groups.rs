//! Topologies of several groups: the order of start, and every way a
//! topology can be wrong is a clear error before anything starts.

use std::sync::Arc;

use async_trait::async_trait;
use tf_core::BoxError;
use tf_core::observation::{ObservationConfig, Observer, Sources};
use tf_core::scenario::deploy::*;
use tf_core::scenario::*;

/// An app whose client is `C`.
struct App<C>(std::marker::PhantomData<C>);

fn app<C>() -> App<C> {
    App(std::marker::PhantomData)
}

#[async_trait]
impl<C: Clone + Default + Send + Sync + 'static> Application for App<C> {
    type Client = C;
    fn name(&self) -> &str {
        "app"
    }
    fn binary(&self) -> NodeBinary {
        NodeBinary::named("app-node", "APP_NODE_BIN")
    }
    fn node_command(&self, _: &NodeSpec, _: &[NodeSpec]) -> Result<NodeCommand, BoxError> {
        Ok(NodeCommand::default())
    }
    fn client(&self, _: &NodeEndpoint) -> Result<C, BoxError> {
        Ok(C::default())
    }
    async fn ready(&self, _: &C) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Reads `u8` clients.
struct Bytes;

#[async_trait]
impl Observer for Bytes {
    type Source = u8;
    type State = ();
    type Snapshot = ();
    type Event = ();
    fn name(&self) -> &str {
        "bytes"
    }
    async fn init(&self, _: &Sources<'_, u8>) -> Result<(), BoxError> {
        Ok(())
    }
    async fn poll(&self, _: &Sources<'_, u8>, _: &mut ()) -> Result<Vec<()>, BoxError> {
        Ok(vec![])
    }
    fn snapshot(&self, _: &()) {}
}

fn two_groups() -> ScenarioBuilder<App<()>> {
    Scenario::builder("groups", app::<()>())
        .group_name("validator")
        .nodes(2)
        .group(Group::new("rpc", app::<u8>()).nodes(2).after("validator"))
}

fn error_of(builder: ScenarioBuilder<App<()>>) -> String {
    match builder.build() {
        Ok(_) => panic!("the scenario was accepted"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn nodes_are_named_after_their_group_and_numbered_in_it() {
    let scenario = two_groups().build().unwrap();
    let request = scenario.request();
    let names: Vec<String> = request.slots().iter().map(NodeSlot::name).collect();
    assert_eq!(names, ["validator-0", "validator-1", "rpc-0", "rpc-1"]);
    assert_eq!(request.stages().unwrap(), [vec!["validator"], vec!["rpc"]]);
    assert_eq!(scenario.nodes(), 4);
}

#[test]
fn a_single_app_scenario_is_one_group_named_node() {
    let scenario = Scenario::builder("one", app::<()>()).build().unwrap();
    let request = scenario.request();
    let names: Vec<String> = request.slots().iter().map(NodeSlot::name).collect();
    assert_eq!(names, ["node-0", "node-1", "node-2"]);
    assert_eq!(request.stages().unwrap(), [vec!["node"]]);
}

#[test]
fn groups_that_wait_for_nothing_start_together_and_a_chain_starts_in_stages() {
    let scenario = Scenario::builder("ha", app::<()>())
        .group_name("primary")
        .nodes(1)
        .group(Group::new("replica", app::<()>()).nodes(2).after("primary"))
        .group(
            Group::new("sentinel", app::<()>())
                .nodes(3)
                .after("primary")
                .after("replica"),
        )
        .group(Group::new("db", app::<()>()))
        .build()
        .unwrap();
    assert_eq!(
        scenario.request().stages().unwrap(),
        [vec!["primary", "db"], vec!["replica"], vec!["sentinel"]]
    );
}

#[test]
fn a_wrong_topology_is_refused_with_what_to_do() {
    let error = error_of(two_groups().group(Group::new("rpc", app::<()>())));
    assert!(error.contains("two groups are named `rpc`"), "{error}");

    let error = error_of(two_groups().group(Group::new("Indexer", app::<()>())));
    assert!(
        error.contains("group name `Indexer` must start with a lowercase letter"),
        "{error}"
    );

    let error = error_of(two_groups().group(Group::new("db", app::<()>()).nodes(0)));
    assert!(
        error.contains("group `db` has 0 node(s) but needs at least 1"),
        "{error}"
    );
    two_groups()
        .group(Group::new("db", app::<()>()).nodes(0).at_least(0))
        .build()
        .expect("a group may be left out when it says so");

    let error = error_of(two_groups().group(Group::new("db", app::<()>()).after("database")));
    assert!(
        error.contains("group `db` starts after `database`, which is not a group of this topology (groups: validator, rpc, db)"),
        "{error}"
    );

    let error = error_of(
        two_groups()
            .after("sentinel")
            .group(Group::new("sentinel", app::<()>()).after("rpc")),
    );
    assert!(
        error.contains("the start order has a cycle: validator -> sentinel -> rpc -> validator"),
        "{error}"
    );

    let error = error_of(Scenario::builder("none", app::<()>()).nodes(0));
    assert!(error.contains("at least one node"), "{error}");
}

#[test]
fn an_observer_watches_groups_that_exist_and_make_its_clients() {
    two_groups()
        .observer_on(&["rpc"], Bytes, ObservationConfig::default())
        .build()
        .expect("rpc's app makes u8 clients");

    let error =
        error_of(two_groups().observer_on(&["indexer"], Bytes, ObservationConfig::default()));
    assert!(
        error.contains("observer `bytes` watches group `indexer`, which is not a group of this scenario (groups: validator, rpc)"),
        "{error}"
    );
    let error =
        error_of(two_groups().observer_on(&["validator"], Bytes, ObservationConfig::default()));
    assert!(
        error.contains("observer `bytes` reads `u8` clients but group `validator`'s app `app` makes `()` clients"),
        "{error}"
    );
}

#[test]
fn a_node_command_names_peers_by_role_and_an_unknown_role_is_an_error() {
    let spec = |name: &str, group: &str, index| NodeSpec {
        index,
        name: name.into(),
        group: group.into(),
        host: "127.0.0.1".into(),
        bind_host: "127.0.0.1".into(),
        ports: PortMap::new([("api".to_owned(), 7000 + index as u16)]),
        data_dir: "/tmp".into(),
    };
    let topology = vec![
        spec("validator-0", "validator", 0),
        spec("validator-1", "validator", 1),
        spec("rpc-0", "rpc", 2),
    ];
    let validators: Vec<&str> = topology
        .group("validator")
        .unwrap()
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(validators, ["validator-0", "validator-1"]);
    assert_eq!(topology.groups(), ["validator", "rpc"]);
    let error = topology.group("sentinel").unwrap_err().to_string();
    assert_eq!(
        error,
        "no group `sentinel` in this topology (groups: validator, rpc)"
    );

    // Through a request, the error names the node whose command failed.
    struct AsksForSentinels;
    #[async_trait]
    impl Application for AsksForSentinels {
        type Client = ();
        fn name(&self) -> &str {
            "asks"
        }
        fn binary(&self) -> NodeBinary {
            NodeBinary::named("x", "X_BIN")
        }
        fn node_command(
            &self,
            _: &NodeSpec,
            topology: &[NodeSpec],
        ) -> Result<NodeCommand, BoxError> {
            topology.group("sentinel")?;
            Ok(NodeCommand::default())
        }
        fn client(&self, _: &NodeEndpoint) -> Result<(), BoxError> {
            Ok(())
        }
        async fn ready(&self, _: &()) -> Result<(), BoxError> {
            Ok(())
        }
    }
    let request = DeploymentRequest::of_groups(
        "s",
        vec![
            GroupRequest::new("validator", Arc::new(app::<()>()), 2),
            GroupRequest::new("rpc", Arc::new(AsksForSentinels), 1),
        ],
    );
    let error = request
        .command(&topology[2], &topology)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "cannot build the command of rpc-0: no group `sentinel` in this topology (groups: validator, rpc)"
    );
}
