//! Groups on the k8s deployer, against the API server in memory: one
//! headless service for every group (a pod's DNS name does not depend on
//! its group), each node's objects labelled with its group, each group's
//! own ports and image, and a group that starts after another created only
//! once the other's pods answer.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{FakeApi, FakeDialer, Fate};
use async_trait::async_trait;
use tf_core::BoxError;
use tf_core::scenario::deploy::{DeploymentRequest, GroupRequest};
use tf_core::scenario::{
    Application, Deployer, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec, PortSpec, Topology,
};
use tf_k8s::K8sDeployer;
use tokio::io::AsyncReadExt;

/// Nodes that greet on connect (the fake tunnels do); ready once a
/// connection to the node's first port gets its greeting.
struct Greeter {
    binary: &'static str,
    ports: Vec<PortSpec>,
    /// Never ready, though its pod runs and greets.
    stuck: bool,
}

#[async_trait]
impl Application for Greeter {
    type Client = String;

    fn name(&self) -> &str {
        self.binary
    }

    fn binary(&self) -> NodeBinary {
        NodeBinary::named(self.binary, "TF_GREETER_BIN")
    }

    fn ports(&self) -> Vec<PortSpec> {
        self.ports.clone()
    }

    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        // Members name the seeds by role.
        let seeds: Vec<String> = topology
            .group("seed")?
            .iter()
            .map(|s| s.address("api"))
            .collect::<Result<_, _>>()?;
        Ok(NodeCommand::args([
            format!("--name={}", node.name),
            format!("--seeds={}", seeds.join(",")),
        ]))
    }

    fn client(&self, endpoint: &NodeEndpoint) -> Result<String, BoxError> {
        Ok(endpoint.address.clone())
    }

    async fn ready(&self, address: &String) -> Result<(), BoxError> {
        if self.stuck {
            return Err("still loading its state".into());
        }
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let mut byte = [0u8; 1];
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut byte)).await??;
        Ok(())
    }
}

fn request() -> DeploymentRequest {
    request_with(false)
}

/// The seed and its members; a `stuck` seed never gets ready.
fn request_with(stuck: bool) -> DeploymentRequest {
    let seed = GroupRequest::new(
        "seed",
        Arc::new(Greeter {
            binary: "seed-node",
            ports: vec![PortSpec::tcp("api")],
            stuck,
        }),
        1,
    );
    let mut member = GroupRequest::new(
        "member",
        Arc::new(Greeter {
            binary: "member-node",
            ports: vec![PortSpec::tcp("api"), PortSpec::tcp("gossip")],
            stuck: false,
        }),
        2,
    );
    member.after.push("seed".into());
    DeploymentRequest::of_groups("k8s-groups", vec![seed, member])
        .with_ready_timeout(Duration::from_secs(5))
}

fn deployer(api: &FakeApi, dialer: &FakeDialer, runs: &tempfile::TempDir) -> K8sDeployer {
    K8sDeployer::new()
        .with_image("seed:1")
        .with_group_image("member", "member:2")
        .with_client(api.client())
        .with_dialer(Arc::new(dialer.clone()))
        .with_runs_root(runs.path())
        .with_ready_timeout(Duration::from_secs(10))
}

/// What was created, in order: `kind/name` of every POST's object.
fn created(api: &FakeApi) -> Vec<String> {
    api.bodies("POST")
        .iter()
        .map(|b| {
            format!(
                "{}/{}",
                b["kind"].as_str().unwrap_or_default(),
                b["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn groups_get_their_ports_images_and_labels_and_start_in_order() {
    let api = FakeApi::default();
    let dialer = FakeDialer::new(&api);
    let runs = tempfile::tempdir().unwrap();
    let mut cluster = deployer(&api, &dialer, &runs)
        .deploy(&request())
        .await
        .unwrap();
    let names: Vec<(String, String)> = cluster
        .endpoints()
        .into_iter()
        .map(|e| (e.name, e.group))
        .collect();
    assert_eq!(
        names,
        [
            ("seed-0".to_owned(), "seed".to_owned()),
            ("member-0".to_owned(), "member".to_owned()),
            ("member-1".to_owned(), "member".to_owned())
        ]
    );
    // The seed's objects first; the members' only after it (the deployer
    // waited for the seed to answer in between).
    let order = created(&api);
    let seed_pod = order.iter().position(|o| o == "Pod/seed-0").unwrap();
    let first_member = order
        .iter()
        .position(|o| o.ends_with("member-0-env"))
        .unwrap();
    assert!(seed_pod < first_member, "{order:?}");
    let ns = api.namespaces()[0].clone();
    let service = api.object(&ns, "services", "nodes").unwrap();
    let ports: Vec<(String, i64)> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["port"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ports,
        [("api".to_owned(), 7000), ("gossip".to_owned(), 7001)]
    );
    let member = api.object(&ns, "pods", "member-1").unwrap();
    assert_eq!(member["metadata"]["labels"]["dev.tf.group"], "member");
    let container = &member["spec"]["containers"][0];
    assert_eq!(container["image"], "member:2");
    assert_eq!(container["command"][0], "/usr/local/bin/member-node");
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args[1].starts_with("--seeds=seed-0.nodes."), "{args:?}");
    assert_eq!(container["ports"].as_array().unwrap().len(), 2);
    let seed = api.object(&ns, "pods", "seed-0").unwrap();
    assert_eq!(seed["spec"]["containers"][0]["image"], "seed:1");
    assert_eq!(seed["metadata"]["labels"]["dev.tf.group"], "seed");
    cluster.cleanup().await;
}

#[tokio::test]
async fn a_seed_that_never_runs_stops_the_deploy_before_any_member_is_created() {
    let api = FakeApi::default();
    let dialer = FakeDialer::new(&api);
    let runs = tempfile::tempdir().unwrap();
    api.set_fate("seed-0", Fate::NoImage);
    let error = match deployer(&api, &dialer, &runs).deploy(&request()).await {
        Ok(_) => panic!("the deploy went on without its seed"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("seed-0"), "{error}");
    assert!(
        !created(&api).iter().any(|o| o.contains("member")),
        "{:?}",
        created(&api)
    );
}

#[tokio::test]
async fn a_seed_that_runs_but_never_gets_ready_holds_the_members_back() {
    let api = FakeApi::default();
    let dialer = FakeDialer::new(&api);
    let runs = tempfile::tempdir().unwrap();
    let request = request_with(true).with_ready_timeout(Duration::from_millis(500));
    let error = match deployer(&api, &dialer, &runs).deploy(&request).await {
        Ok(_) => panic!("the members started before their seed was ready"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("seed-0") && error.contains("still loading its state"),
        "{error}"
    );
    assert!(
        !created(&api).iter().any(|o| o.contains("member")),
        "{:?}",
        created(&api)
    );
}

/// Writes its configuration into its data directory, as a Sentinel does.
struct Configured;

#[async_trait]
impl Application for Configured {
    type Client = String;
    fn name(&self) -> &str {
        "configured"
    }
    fn binary(&self) -> NodeBinary {
        NodeBinary::named("configured-node", "TF_CONFIGURED_BIN")
    }
    fn node_command(&self, node: &NodeSpec, _: &[NodeSpec]) -> Result<NodeCommand, BoxError> {
        let file = node.data_dir.join("node.conf");
        Ok(NodeCommand::args([file.display().to_string()]).file("node.conf", "port 7000\n"))
    }
    fn client(&self, endpoint: &NodeEndpoint) -> Result<String, BoxError> {
        Ok(endpoint.address.clone())
    }
    async fn ready(&self, _: &String) -> Result<(), BoxError> {
        Ok(())
    }
}

#[test]
fn a_node_s_files_come_from_a_config_map_mounted_in_its_data_directory() {
    let request = DeploymentRequest::new(Arc::new(Configured), "files", 1);
    let plan = tf_k8s::plan(
        &request,
        "0123456789ab",
        &tf_k8s::K8sSettings::for_image("img:1"),
    )
    .unwrap();
    let yaml = plan.to_yaml().unwrap();
    assert!(yaml.contains("name: node-0-files"), "{yaml}");
    assert!(yaml.contains("file-0: |\n    port 7000"), "{yaml}");
    assert!(
        yaml.contains("mountPath: /data/node.conf") && yaml.contains("subPath: file-0"),
        "{yaml}"
    );
    assert!(yaml.contains("- /data/node.conf"), "{yaml}");
}
