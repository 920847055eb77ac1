//! What a run on Kubernetes needs beyond the request: the image, and the
//! resources each node asks for.

use std::collections::BTreeMap;

/// CPU and memory, as Kubernetes quantities (`250m`, `256Mi`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resources {
    /// CPU (`250m`: a quarter core).
    pub cpu: String,
    /// Memory (`256Mi`).
    pub memory: String,
}

/// How nodes run on Kubernetes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct K8sSettings {
    /// The node image. It must hold the node binary at
    /// `/usr/local/bin/<binary>`, as the compose deployer's images do.
    pub image: String,
    /// What each node container is guaranteed.
    pub requests: Resources,
    /// What each node container may use at most.
    pub limits: Resources,
    /// The size of each node's data volume (`1Gi`).
    pub storage: String,
    /// The port every node listens on for the app's first declared port;
    /// the others follow (each pod has its own address, so all nodes use
    /// the same numbers).
    pub first_port: u16,
    /// The cluster's DNS domain (`cluster.local` unless the cluster was
    /// set up otherwise; `$TF_K8S_CLUSTER_DOMAIN`).
    pub cluster_domain: String,
    /// The images of groups other than the first, by group; a group not
    /// named here runs [`image`](Self::image).
    pub group_images: BTreeMap<String, String>,
}

impl K8sSettings {
    /// Settings for `image`, with modest resources: nodes of a test
    /// cluster, many to a machine.
    pub fn for_image(image: impl Into<String>) -> Self {
        K8sSettings {
            image: image.into(),
            requests: Resources {
                cpu: "100m".into(),
                memory: "64Mi".into(),
            },
            limits: Resources {
                cpu: "1".into(),
                memory: "512Mi".into(),
            },
            storage: "1Gi".into(),
            first_port: 7000,
            cluster_domain: cluster_domain(),
            group_images: BTreeMap::new(),
        }
    }

    /// The image `group`'s nodes run.
    pub fn image_of(&self, group: &str) -> &str {
        self.group_images.get(group).unwrap_or(&self.image)
    }
}

/// The image of nodes of `binary` when none is given: `$TF_K8S_IMAGE`,
/// else `tf-<binary>:latest` (what `scenarios image` builds and tags).
pub fn default_image(binary: &str) -> String {
    std::env::var("TF_K8S_IMAGE")
        .ok()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| format!("{}:latest", tf_core::deployer_kit::image_name(binary)))
}

/// The cluster's DNS domain: `$TF_K8S_CLUSTER_DOMAIN`, else
/// `cluster.local`.
pub fn cluster_domain() -> String {
    std::env::var("TF_K8S_CLUSTER_DOMAIN")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "cluster.local".into())
}

/// The image `$var` names, else `tf-<binary>:latest`; `None` when it says
/// `off`.
pub(crate) fn image_from_env(var: &str, binary: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|i| !i.is_empty()) {
        Some(off) if off == "off" => None,
        Some(image) => Some(image),
        None => Some(format!(
            "{}:latest",
            tf_core::deployer_kit::image_name(binary)
        )),
    }
}
