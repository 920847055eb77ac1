//! Finding and deleting what runs left on a cluster (a killed runner, a
//! machine that went away): every namespace labelled `dev.tf.managed`.

use std::fmt;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ListParams};
use tf_core::deployer_kit::labels::{MANAGED, RUNNER};
use tf_core::scenario::deploy::DeployError;

use crate::api::{api_error, delete_namespace};

/// What a sweep did.
#[derive(Debug, Default)]
pub struct K8sSweep {
    /// Namespaces deleted.
    pub deleted: Vec<String>,
    /// Namespaces left alone because their runner is alive.
    pub live: Vec<String>,
    /// What could not be deleted, and why.
    pub problems: Vec<String>,
}

impl fmt::Display for K8sSweep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, what: &str, items: &[String]| -> fmt::Result {
            if items.is_empty() {
                return writeln!(f, "{what}: none");
            }
            writeln!(f, "{what} ({}):", items.len())?;
            items.iter().try_for_each(|i| writeln!(f, "  {i}"))
        };
        list(f, "k8s namespaces deleted", &self.deleted)?;
        if !self.live.is_empty() {
            list(
                f,
                "k8s runs left alone (their runner is alive; --all deletes them too)",
                &self.live,
            )?;
        }
        if !self.problems.is_empty() {
            list(f, "k8s problems", &self.problems)?;
        }
        Ok(())
    }
}

/// Deletes the namespace of every run whose runner is gone (or of every
/// run, with `include_live`).
pub async fn sweep(client: &Client, include_live: bool) -> Result<K8sSweep, DeployError> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let listed = namespaces
        .list(&ListParams::default().labels(&format!("{MANAGED}=true")))
        .await
        .map_err(|e| api_error("list the framework's namespaces", &e))?;
    let mut report = K8sSweep::default();
    for namespace in listed.items {
        let name = namespace.metadata.name.clone().unwrap_or_default();
        let runner = namespace
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RUNNER))
            .cloned()
            .unwrap_or_default();
        if !include_live && crate::runner::alive(client, &runner).await {
            report.live.push(format!("{name} (runner {runner})"));
            continue;
        }
        // A launched runner's namespace goes with its cluster role.
        let deleted = match name.strip_prefix("tf-runner-") {
            Some(id) => crate::runner::remove(client, id).await,
            None => delete_namespace(client, &name).await,
        };
        match deleted {
            Ok(()) => report.deleted.push(name),
            Err(error) => report.problems.push(error.to_string()),
        }
    }
    Ok(report)
}
