//! The objects of a run, against a golden file, and read back as the API
//! types: what a reviewer sees in a dry run is what the deployer sends.
//!
//! `TF_UPDATE_GOLDEN=1 cargo test -p tf-k8s` rewrites the golden file after
//! an intended change; review its diff.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Pod, Service};
use tf_core::observation::BoxError;
use tf_core::scenario::{
    API_PORT, Application, DeploymentRequest, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec,
    PortSpec,
};
use tf_k8s::{K8sSettings, Object, plan};

/// A two-port app whose nodes take their peers and an environment.
struct Gossip;

#[async_trait]
impl Application for Gossip {
    type Client = ();

    fn name(&self) -> &str {
        "gossip"
    }

    fn binary(&self) -> NodeBinary {
        NodeBinary::named("gossip-node", "GOSSIP_NODE_BIN")
    }

    fn ports(&self) -> Vec<PortSpec> {
        vec![PortSpec::tcp(API_PORT), PortSpec::udp("gossip")]
    }

    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        let mut args = vec![
            "--listen".to_owned(),
            node.bind_address(API_PORT)?,
            "--data".to_owned(),
            node.data_dir.display().to_string(),
        ];
        for peer in topology.iter().filter(|p| p.index != node.index) {
            args.push("--peer".into());
            args.push(peer.address("gossip")?);
        }
        let mut command = NodeCommand::args(args);
        command.env.push(("GOSSIP_NAME".into(), node.name.clone()));
        Ok(command)
    }

    fn client(&self, _: &NodeEndpoint) {}

    async fn ready(&self, _: &()) -> Result<(), BoxError> {
        Ok(())
    }
}

fn request() -> DeploymentRequest {
    DeploymentRequest::new(Arc::new(Gossip), "gossip-smoke test", 2)
}

#[test]
fn the_objects_of_a_run_match_the_golden_file() {
    let plan = plan(
        &request(),
        "0123456789ab",
        &K8sSettings::for_image("tf-gossip-node:abc"),
    )
    .unwrap();
    let yaml = plan.to_yaml().unwrap();
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/two-nodes.yaml");
    if std::env::var("TF_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(golden, &yaml).unwrap();
    }
    let expected = std::fs::read_to_string(golden).unwrap();
    assert_eq!(
        yaml, expected,
        "the objects changed; if intended, TF_UPDATE_GOLDEN=1 rewrites {golden}"
    );
}

#[test]
fn every_object_reads_back_as_its_api_type() {
    let plan = plan(&request(), "0123456789ab", &K8sSettings::for_image("img:1")).unwrap();
    let ids: Vec<String> = plan.objects.iter().map(Object::id).collect();
    assert_eq!(
        ids,
        [
            "namespace/tf-0123456789ab",
            "service/nodes",
            "configmap/node-0-env",
            "persistentvolumeclaim/node-0-data",
            "pod/node-0",
            "configmap/node-1-env",
            "persistentvolumeclaim/node-1-data",
            "pod/node-1",
        ]
    );
    for object in &plan.objects {
        let yaml = object.to_yaml().unwrap();
        let back = match object {
            Object::Namespace(_) => {
                Object::Namespace(serde_yaml::from_str::<Namespace>(&yaml).unwrap())
            }
            Object::ConfigMap(_) => {
                Object::ConfigMap(serde_yaml::from_str::<ConfigMap>(&yaml).unwrap())
            }
            Object::Claim(_) => {
                Object::Claim(serde_yaml::from_str::<PersistentVolumeClaim>(&yaml).unwrap())
            }
            Object::Pod(_) => Object::Pod(Box::new(serde_yaml::from_str::<Pod>(&yaml).unwrap())),
            Object::Service(_) => Object::Service(serde_yaml::from_str::<Service>(&yaml).unwrap()),
        };
        assert_eq!(&back, object, "{} does not read back:\n{yaml}", object.id());
    }
}

#[test]
fn nodes_reach_each_other_by_service_dns_and_keep_their_data_in_a_claim() {
    let plan = plan(&request(), "0123456789ab", &K8sSettings::for_image("img:1")).unwrap();
    assert_eq!(
        plan.nodes[1].host,
        "node-1.nodes.tf-0123456789ab.svc.cluster.local"
    );
    let pod = plan
        .objects
        .iter()
        .find_map(|o| match o {
            Object::Pod(p) if p.metadata.name.as_deref() == Some("node-0") => Some(p),
            _ => None,
        })
        .unwrap();
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("node-0"));
    assert_eq!(spec.subdomain.as_deref(), Some("nodes"));
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    let container = &spec.containers[0];
    let args = container.args.as_ref().unwrap();
    assert!(
        args.contains(&"node-1.nodes.tf-0123456789ab.svc.cluster.local:7001".to_owned()),
        "{args:?}"
    );
    assert_eq!(
        container.command.as_ref().unwrap(),
        &["/usr/local/bin/gossip-node"]
    );
    let claim = spec.volumes.as_ref().unwrap()[0]
        .persistent_volume_claim
        .as_ref()
        .unwrap();
    assert_eq!(claim.claim_name, "node-0-data");
    let resources = container.resources.as_ref().unwrap();
    assert!(resources.requests.is_some() && resources.limits.is_some());
    // Scenario names are made valid label values.
    assert_eq!(
        pod.metadata.labels.as_ref().unwrap()["dev.tf.scenario"],
        "gossip-smoke-test"
    );
}

#[test]
fn a_bad_declaration_is_refused_before_any_object() {
    struct NoPorts;
    #[async_trait]
    impl Application for NoPorts {
        type Client = ();
        fn name(&self) -> &str {
            "none"
        }
        fn binary(&self) -> NodeBinary {
            NodeBinary::named("none", "NONE_BIN")
        }
        fn ports(&self) -> Vec<PortSpec> {
            Vec::new()
        }
        fn node_command(&self, _: &NodeSpec, _: &[NodeSpec]) -> Result<NodeCommand, BoxError> {
            Ok(NodeCommand::args(Vec::<String>::new()))
        }
        fn client(&self, _: &NodeEndpoint) {}
        async fn ready(&self, _: &()) -> Result<(), BoxError> {
            Ok(())
        }
    }
    let request = DeploymentRequest::new(Arc::new(NoPorts), "x", 1);
    let error = plan(&request, "r", &K8sSettings::for_image("i"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("declares no port"), "{error}");
}
