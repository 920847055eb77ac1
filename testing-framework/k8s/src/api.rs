//! The deployer's conversation with the Kubernetes API: connect, create a
//! run's objects in order, delete its namespace. Every refusal a cluster
//! user meets becomes a message naming the object and the reason.

use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, Config};
use tf_core::scenario::deploy::DeployError;

use crate::{Object, Plan};

/// A client from the usual places (`KUBECONFIG`, `~/.kube/config`, or the
/// pod's service account inside a cluster).
pub async fn connect() -> Result<Client, DeployError> {
    let config = Config::infer().await.map_err(|e| {
        DeployError::Other(format!(
            "no Kubernetes configuration found ({e}); to fix: point KUBECONFIG at your cluster's configuration (`kind get kubeconfig`, `k3d kubeconfig write`), or run inside the cluster"
        ))
    })?;
    Client::try_from(config)
        .map_err(|e| DeployError::Other(format!("cannot make a Kubernetes client: {e}")))
}

/// Whether a Kubernetes configuration is there to connect with.
pub async fn configured() -> bool {
    Config::infer().await.is_ok()
}

/// What the API said about `what` (`create pod/node-0`), for people.
pub fn api_error(what: &str, error: &kube::Error) -> DeployError {
    let kube::Error::Api(status) = error else {
        return DeployError::Other(format!(
            "cannot {what}: the API server did not answer ({error}); check that the cluster is up and KUBECONFIG points at it"
        ));
    };
    let message = &status.message;
    let text = match (status.code, status.reason.as_str()) {
        (403, _) if message.contains("exceeded quota") => format!(
            "cannot {what}: the namespace's resource quota is exceeded ({message}); to fix: raise the quota or lower the nodes' resource requests"
        ),
        (403, _) => format!(
            "cannot {what}: forbidden ({message}); to fix: give the account in your kubeconfig the rights to create namespaces, services, configmaps, persistentvolumeclaims and pods (a ClusterRole bound to it)"
        ),
        (401, _) => format!(
            "cannot {what}: the cluster does not accept your credentials ({message}); refresh the kubeconfig"
        ),
        (409, _) => format!("cannot {what}: it exists already ({message})"),
        (422, _) => format!("cannot {what}: the cluster rejects it as invalid ({message})"),
        (code, reason) => format!("cannot {what}: {code} {reason}: {message}"),
    };
    DeployError::Other(text)
}

/// Creates every object of `plan`, namespace first. On a failure the
/// namespace is deleted again (with whatever was created in it), and the
/// error names the object and the reason.
pub async fn create(client: &Client, plan: &Plan) -> Result<(), DeployError> {
    create_objects(client, &plan.namespace, plan.objects.iter()).await
}

/// Creates `objects` in `namespace`, in order; on an error, deletes the
/// namespace (unless the error was creating it).
pub async fn create_objects(
    client: &Client,
    namespace: &str,
    objects: impl Iterator<Item = &Object>,
) -> Result<(), DeployError> {
    for object in objects {
        if let Err(error) = create_one(client, namespace, object).await {
            let failed = api_error(&format!("create {}", object.id()), &error);
            if !matches!(object, Object::Namespace(_)) {
                if let Err(cleanup) = delete_namespace(client, namespace).await {
                    return Err(DeployError::Other(format!("{failed}; and {cleanup}")));
                }
            }
            return Err(failed);
        }
    }
    Ok(())
}

/// Creates `object` in `namespace`. A pod (or job) made right after its
/// namespace can be refused while the namespace's default service account
/// is not there yet; that refusal is retried for a few seconds.
pub(crate) async fn create_one(
    client: &Client,
    namespace: &str,
    object: &Object,
) -> Result<(), kube::Error> {
    let mut attempts = 0;
    loop {
        match create_once(client, namespace, object).await {
            Err(kube::Error::Api(status))
                if status.code == 403
                    && status.message.contains("service account")
                    && attempts < 20 =>
            {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

async fn create_once(client: &Client, namespace: &str, object: &Object) -> Result<(), kube::Error> {
    let post = PostParams::default();
    let c = client.clone();
    match object {
        Object::Namespace(o) => Api::all(c).create(&post, o).await.map(drop),
        Object::ConfigMap(o) => Api::namespaced(c, namespace)
            .create(&post, o)
            .await
            .map(drop),
        Object::Claim(o) => Api::namespaced(c, namespace)
            .create(&post, o)
            .await
            .map(drop),
        Object::Pod(o) => Api::namespaced(c, namespace)
            .create(&post, o.as_ref())
            .await
            .map(drop),
        Object::Service(o) => Api::namespaced(c, namespace)
            .create(&post, o)
            .await
            .map(drop),
        Object::ServiceAccount(o) => Api::namespaced(c, namespace)
            .create(&post, o)
            .await
            .map(drop),
        Object::ClusterRole(o) => Api::all(c).create(&post, o).await.map(drop),
        Object::ClusterRoleBinding(o) => Api::all(c).create(&post, o).await.map(drop),
        Object::Job(o) => Api::namespaced(c, namespace)
            .create(&post, o.as_ref())
            .await
            .map(drop),
    }
}

/// What a call on an object that may be gone already (a delete, a label)
/// came to: `Some` with its answer, `None` when the object was not there,
/// or what the API said, for people.
pub(crate) fn unless_gone<T>(
    result: kube::Result<T>,
    what: &str,
) -> Result<Option<T>, DeployError> {
    match result {
        Ok(answer) => Ok(Some(answer)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(error) => Err(api_error(what, &error)),
    }
}

/// Deletes `namespace` and everything in it; one already gone is fine.
pub async fn delete_namespace(client: &Client, namespace: &str) -> Result<(), DeployError> {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    match namespaces
        .delete(namespace, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(()),
        // Gone, or already being deleted (a second cleanup, a sweep).
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        Err(error) => Err(api_error(&format!("delete namespace/{namespace}"), &error)),
    }
}
