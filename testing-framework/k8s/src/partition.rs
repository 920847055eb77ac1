//! A partition as NetworkPolicies: the nodes of one side are labelled
//! `dev.tf.side=cut`, and two policies let each side reach only itself
//! (and the cluster's DNS, so names still resolve); a runner inside the
//! cluster still reaches both. Healing deletes both policies and the
//! labels. Whether the cluster's network plugin enforces them is found out
//! by a probe on the cut side (see `probe`): a cut that does not happen is
//! an error, and the partition is healed again.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use tf_core::deployer_kit::labels::{MANAGED, RUN};

use crate::names::{label_value, namespace_of};

/// The label a partition puts on the nodes of its cut side.
pub const SIDE: &str = "dev.tf.side";
/// Its value on the cut side.
pub const CUT: &str = "cut";

/// The run's pods on the cut side, or (with `cut == false`) the others.
fn side(run: &str, cut: bool) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(RUN.to_owned(), label_value(run))])),
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: SIDE.into(),
            operator: if cut { "In" } else { "NotIn" }.into(),
            values: Some(vec![CUT.into()]),
        }]),
    }
}

/// DNS on port 53, to anywhere: names keep resolving on both sides.
fn dns() -> NetworkPolicyEgressRule {
    NetworkPolicyEgressRule {
        ports: Some(
            ["UDP", "TCP"]
                .into_iter()
                .map(|protocol| NetworkPolicyPort {
                    port: Some(IntOrString::Int(53)),
                    protocol: Some(protocol.into()),
                    ..NetworkPolicyPort::default()
                })
                .collect(),
        ),
        to: None,
    }
}

/// The runner, when it runs in the cluster (a pod labelled
/// `dev.tf.role=runner` in any namespace): it keeps observing both sides.
fn runner() -> NetworkPolicyIngressRule {
    NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            pod_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    crate::runner::ROLE.to_owned(),
                    crate::runner::RUNNER_ROLE.to_owned(),
                )])),
                match_expressions: None,
            }),
            ..NetworkPolicyPeer::default()
        }]),
        ports: None,
    }
}

/// The two policies of a partition of run `run`: each side reaches only
/// itself.
pub fn partition_policies(run: &str) -> Vec<NetworkPolicy> {
    [("tf-partition-cut", true), ("tf-partition-rest", false)]
        .into_iter()
        .map(|(name, cut)| NetworkPolicy {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace_of(run)),
                labels: Some(BTreeMap::from([
                    (MANAGED.to_owned(), "true".to_owned()),
                    (RUN.to_owned(), label_value(run)),
                ])),
                ..ObjectMeta::default()
            },
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(side(run, cut)),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ingress: Some(vec![
                    NetworkPolicyIngressRule {
                        from: Some(vec![NetworkPolicyPeer {
                            pod_selector: Some(side(run, cut)),
                            ..NetworkPolicyPeer::default()
                        }]),
                        ports: None,
                    },
                    runner(),
                ]),
                egress: Some(vec![
                    NetworkPolicyEgressRule {
                        to: Some(vec![NetworkPolicyPeer {
                            pod_selector: Some(side(run, cut)),
                            ..NetworkPolicyPeer::default()
                        }]),
                        ports: None,
                    },
                    dns(),
                ]),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_reaches_only_itself_and_dns() {
        let policies = partition_policies("0123456789ab");
        assert_eq!(policies.len(), 2);
        for (policy, operator) in policies.iter().zip(["In", "NotIn"]) {
            let spec = policy.spec.as_ref().unwrap();
            let selector = spec.pod_selector.as_ref().unwrap();
            assert_eq!(
                selector.match_labels.as_ref().unwrap()["dev.tf.run"],
                "0123456789ab"
            );
            let requirement = &selector.match_expressions.as_ref().unwrap()[0];
            assert_eq!(
                (requirement.key.as_str(), requirement.operator.as_str()),
                (SIDE, operator)
            );
            // Ingress and egress name the same side as the policy selects.
            let from = &spec.ingress.as_ref().unwrap()[0].from.as_ref().unwrap()[0];
            assert_eq!(from.pod_selector.as_ref(), Some(selector));
            let egress = spec.egress.as_ref().unwrap();
            assert_eq!(
                egress[0].to.as_ref().unwrap()[0].pod_selector.as_ref(),
                Some(selector)
            );
            assert_eq!(egress[1].ports.as_ref().unwrap().len(), 2);
            // The runner in the cluster still reaches both sides.
            let runner = &spec.ingress.as_ref().unwrap()[1].from.as_ref().unwrap()[0];
            assert_eq!(
                runner
                    .pod_selector
                    .as_ref()
                    .unwrap()
                    .match_labels
                    .as_ref()
                    .unwrap()["dev.tf.role"],
                "runner"
            );
            assert!(runner.namespace_selector.is_some());
            assert_eq!(
                policy.metadata.namespace.as_deref(),
                Some("tf-0123456789ab")
            );
        }
        // They read back as the API type.
        let yaml = serde_yaml::to_string(&policies[0]).unwrap();
        assert!(
            yaml.starts_with("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"),
            "{yaml}"
        );
        let back: NetworkPolicy = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, policies[0]);
    }
}
