//! The deployer's conversation with the API, against a mocked API server
//! (a `kube::Client` over a `tower-test` mock pair): what it sends, in what
//! order, and what a refusal becomes.

use std::sync::Arc;

use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use tf_core::scenario::deploy::DeploymentRequest;
use tf_core::testing::FakeApp;
use tf_k8s::{K8sSettings, api};
use tower_test::mock;

type Handle = mock::Handle<Request<Body>, Response<Body>>;

fn client() -> (Client, Handle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

fn plan() -> tf_k8s::Plan {
    let request = DeploymentRequest::new(Arc::new(FakeApp::default()), "api-test", 2);
    tf_k8s::plan(&request, "0123456789ab", &K8sSettings::for_image("img:1")).unwrap()
}

/// A response with `status` and a JSON body.
fn json(status: u16, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(body.to_string().into_bytes()))
        .unwrap()
}

/// The query string of `request`.
fn query(request: &Request<Body>) -> String {
    request.uri().query().unwrap_or_default().to_owned()
}

/// Answers the next request: echoes a created object back (201), or
/// answers with `status` and a Status body.
async fn answer(handle: &mut Handle, status: Option<(u16, &str, &str)>) -> (Method, String) {
    let (request, send) = handle.next_request().await.expect("a request");
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let body = request.into_body().collect_bytes().await.unwrap();
    let response = match status {
        None => Response::builder()
            .status(201)
            .body(Body::from(body.to_vec()))
            .unwrap(),
        Some((code, reason, message)) => json(
            code,
            &serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "status": "Failure",
                "code": code, "reason": reason, "message": message,
            }),
        ),
    };
    send.send_response(response);
    (method, path)
}

#[tokio::test]
async fn a_run_is_created_in_order_namespace_first() {
    let (client, mut handle) = client();
    let plan = plan();
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(answer(&mut handle, None).await);
        }
        seen
    });
    api::create(&client, &plan).await.unwrap();
    let seen = server.await.unwrap();
    let paths: Vec<&str> = seen.iter().map(|(_, p)| p.as_str()).collect();
    assert!(seen.iter().all(|(m, _)| m == Method::POST));
    assert_eq!(
        paths,
        [
            "/api/v1/namespaces",
            "/api/v1/namespaces/tf-0123456789ab/services",
            "/api/v1/namespaces/tf-0123456789ab/configmaps",
            "/api/v1/namespaces/tf-0123456789ab/persistentvolumeclaims",
            "/api/v1/namespaces/tf-0123456789ab/pods",
            "/api/v1/namespaces/tf-0123456789ab/configmaps",
            "/api/v1/namespaces/tf-0123456789ab/persistentvolumeclaims",
            "/api/v1/namespaces/tf-0123456789ab/pods",
        ]
    );
}

#[tokio::test]
async fn a_forbidden_pod_names_it_says_what_to_do_and_leaves_nothing() {
    let (client, mut handle) = client();
    let plan = plan();
    let server = tokio::spawn(async move {
        for _ in 0..4 {
            answer(&mut handle, None).await;
        }
        answer(
            &mut handle,
            Some((
                403,
                "Forbidden",
                "pods is forbidden: User \"ci\" cannot create resource \"pods\"",
            )),
        )
        .await;
        // The namespace is deleted again, with what was created in it.
        let (request, send) = handle.next_request().await.expect("the cleanup");
        let seen = (request.method().clone(), request.uri().path().to_owned());
        send.send_response(json(
            200,
            &serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ));
        seen
    });
    let error = api::create(&client, &plan).await.unwrap_err().to_string();
    assert!(
        error.contains("cannot create pod/node-0: forbidden"),
        "{error}"
    );
    assert!(error.contains("give the account"), "{error}");
    let cleanup = server.await.unwrap();
    assert_eq!(
        cleanup,
        (
            Method::DELETE,
            "/api/v1/namespaces/tf-0123456789ab".to_owned()
        )
    );
}

#[tokio::test]
async fn an_exceeded_quota_and_a_gone_namespace_are_told_apart() {
    let (client, mut handle) = client();
    let server = tokio::spawn(async move {
        answer(
            &mut handle,
            Some((404, "NotFound", "namespaces \"tf-0123456789ab\" not found")),
        )
        .await
    });
    // Deleting a namespace that is gone already is fine.
    api::delete_namespace(&client, "tf-0123456789ab")
        .await
        .unwrap();
    server.await.unwrap();

    let quota = kube::Error::Api(Box::new(kube::core::Status {
        code: 403,
        reason: "Forbidden".into(),
        message: "exceeded quota: compute, requested: limits.cpu=1, used: limits.cpu=4, limited: limits.cpu=4".into(),
        ..kube::core::Status::default()
    }));
    let message = api::api_error("create pod/node-3", &quota).to_string();
    assert!(
        message.contains("resource quota is exceeded") && message.contains("limits.cpu"),
        "{message}"
    );
}

fn pod_with(plan: &tf_k8s::Plan, node: usize, state: serde_json::Value) -> serde_json::Value {
    let pod = plan
        .objects
        .iter()
        .filter_map(|o| match o {
            tf_k8s::Object::Pod(p) => Some(p),
            _ => None,
        })
        .nth(node)
        .unwrap();
    let mut json = serde_json::to_value(pod.as_ref()).unwrap();
    json["metadata"]["resourceVersion"] = "11".into();
    json["status"] = serde_json::json!({
        "phase": "Pending",
        "containerStatuses": [{
            "name": "node", "image": "img:1", "imageID": "", "ready": false,
            "restartCount": 0, "state": state,
        }],
    });
    json
}

/// Answers the watcher's list with `listed`, then its watch with `events`.
async fn list_then_watch(
    handle: &mut Handle,
    listed: Vec<serde_json::Value>,
    events: Vec<serde_json::Value>,
) {
    let (request, send) = handle.next_request().await.expect("the list");
    let asked = query(&request);
    assert!(!asked.contains("watch=true"), "{asked}");
    assert!(
        asked.contains("labelSelector=dev.tf.run%3D0123456789ab"),
        "{asked}"
    );
    let list = serde_json::json!({
        "kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "10"}, "items": listed,
    });
    send.send_response(json(200, &list));
    let (request, send) = handle.next_request().await.expect("the watch");
    let asked = query(&request);
    assert!(asked.contains("watch=true"), "{asked}");
    let lines: String = events
        .into_iter()
        .map(|object| serde_json::json!({"type": "MODIFIED", "object": object}).to_string() + "\n")
        .collect();
    send.send_response(
        Response::builder()
            .status(200)
            .body(Body::from(lines.into_bytes()))
            .unwrap(),
    );
}

#[tokio::test]
async fn the_pods_are_followed_through_a_watch_until_all_run() {
    let (client, mut handle) = client();
    let plan = plan();
    let pending = serde_json::json!({"waiting": {"reason": "ContainerCreating"}});
    let running = serde_json::json!({"running": {"startedAt": "2026-12-01T00:00:00Z"}});
    let listed = vec![
        pod_with(&plan, 0, pending.clone()),
        pod_with(&plan, 1, pending),
    ];
    let events = vec![
        pod_with(&plan, 0, running.clone()),
        pod_with(&plan, 1, running),
    ];
    let server = tokio::spawn(async move {
        list_then_watch(&mut handle, listed, events).await;
        handle
    });
    tf_k8s::pods::wait_running(&client, &plan, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    drop(server.await.unwrap());
}

#[tokio::test]
async fn a_pod_that_cannot_pull_its_image_stops_the_wait_with_its_name() {
    let (client, mut handle) = client();
    let plan = plan();
    let pending = serde_json::json!({"waiting": {"reason": "ContainerCreating"}});
    let pull = serde_json::json!({"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"img:1\""}});
    let listed = vec![
        pod_with(&plan, 0, pending.clone()),
        pod_with(&plan, 1, pending),
    ];
    let events = vec![pod_with(&plan, 1, pull)];
    let server = tokio::spawn(async move {
        list_then_watch(&mut handle, listed, events).await;
        handle
    });
    let error = tf_k8s::pods::wait_running(&client, &plan, std::time::Duration::from_secs(10))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("pod node-1 cannot get its image img:1 (ImagePullBackOff"),
        "{error}"
    );
    drop(server.await.unwrap());
}
