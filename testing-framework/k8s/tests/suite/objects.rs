//! The objects of a run, against a golden file, and read back as the API
//! types: what a reviewer sees in a dry run is what the deployer sends.
//!
//! `TF_UPDATE_GOLDEN=1 cargo test -p tf-k8s` rewrites the golden file after
//! an intended change; review its diff.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use tf_core::BoxError;
use tf_core::scenario::deploy::DeploymentRequest;
use tf_core::scenario::{API_PORT, Application, NodeBinary, NodeCommand, NodeSpec, PortSpec};
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
    assert_golden("two-nodes.yaml", &plan.to_yaml().unwrap());
}

/// `yaml` is what `tests/golden/<name>` holds (`TF_UPDATE_GOLDEN=1`
/// rewrites it).
fn assert_golden(name: &str, yaml: &str) {
    let golden = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var("TF_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&golden, yaml).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(
        yaml, expected,
        "the objects changed; if intended, TF_UPDATE_GOLDEN=1 rewrites {golden}"
    );
}

/// `object` written as YAML and read back as its API type.
fn read_back(object: &Object) -> Object {
    let yaml = object.to_yaml().unwrap();
    fn parse<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
        serde_yaml::from_str(yaml).unwrap()
    }
    match object {
        Object::Namespace(_) => Object::Namespace(parse::<Namespace>(&yaml)),
        Object::ConfigMap(_) => Object::ConfigMap(parse::<ConfigMap>(&yaml)),
        Object::Claim(_) => Object::Claim(parse::<PersistentVolumeClaim>(&yaml)),
        Object::Pod(_) => Object::Pod(Box::new(parse::<Pod>(&yaml))),
        Object::Service(_) => Object::Service(parse::<Service>(&yaml)),
        Object::ServiceAccount(_) => Object::ServiceAccount(parse::<ServiceAccount>(&yaml)),
        Object::ClusterRole(_) => Object::ClusterRole(parse::<ClusterRole>(&yaml)),
        Object::ClusterRoleBinding(_) => {
            Object::ClusterRoleBinding(parse::<ClusterRoleBinding>(&yaml))
        }
        Object::Job(_) => Object::Job(Box::new(parse::<Job>(&yaml))),
    }
}

fn runner() -> tf_k8s::Plan {
    let args: Vec<String> = [
        "run",
        "raft-failover",
        "--deployer",
        "k8s",
        "--set",
        "nodes=5",
    ]
    .map(String::from)
    .to_vec();
    tf_k8s::runner::runner_plan(
        "0123456789ab",
        "tf-scenarios:latest",
        "tf-openraft-kv-node:latest",
        &args,
        &K8sSettings::for_image("tf-openraft-kv-node:latest"),
    )
}

#[test]
fn the_in_cluster_runner_matches_the_golden_file_and_reads_back() {
    let plan = runner();
    assert_golden("runner.yaml", &plan.to_yaml().unwrap());
    let ids: Vec<String> = plan.objects.iter().map(Object::id).collect();
    assert_eq!(
        ids,
        [
            "namespace/tf-runner-0123456789ab",
            "serviceaccount/runner",
            "clusterrole/tf-runner-0123456789ab",
            "clusterrolebinding/tf-runner-0123456789ab",
            "job/runner",
        ]
    );
    for object in &plan.objects {
        assert_eq!(&read_back(object), object, "{}", object.id());
    }
}

#[test]
fn the_runner_may_do_what_a_run_needs_and_is_let_through_partitions() {
    let plan = runner();
    let Some(Object::ClusterRole(role)) = plan.objects.get(2) else {
        panic!("no role");
    };
    let rules = role.rules.as_ref().unwrap();
    let may = |resource: &str, verb: &str| {
        rules.iter().any(|r| {
            r.resources.iter().flatten().any(|x| x == resource) && r.verbs.iter().any(|v| v == verb)
        })
    };
    for (resource, verb) in [
        ("namespaces", "create"),
        ("namespaces", "delete"),
        ("pods", "watch"),
        ("pods", "patch"),
        ("pods/log", "get"),
        ("networkpolicies", "create"),
        ("persistentvolumeclaims", "create"),
    ] {
        assert!(may(resource, verb), "the runner may not {verb} {resource}");
    }
    let Some(Object::Job(job)) = plan.objects.get(4) else {
        panic!("no job");
    };
    let template = &job.spec.as_ref().unwrap().template;
    let labels = template.metadata.as_ref().unwrap().labels.as_ref().unwrap();
    assert_eq!(labels[tf_k8s::runner::ROLE], tf_k8s::runner::RUNNER_ROLE);
    let pod = template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("runner"));
    let env = pod.containers[0].env.as_ref().unwrap();
    assert!(
        env.iter().any(|e| e.name == "TF_K8S_IMAGE"
            && e.value.as_deref() == Some("tf-openraft-kv-node:latest"))
    );
    assert_eq!(job.spec.as_ref().unwrap().backoff_limit, Some(0));
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
        assert_eq!(
            &read_back(object),
            object,
            "{} does not read back",
            object.id()
        );
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
