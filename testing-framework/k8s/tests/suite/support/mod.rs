//! A small Kubernetes API server in memory, enough for the deployer: it
//! keeps namespaces, pods (which run as soon as they are created, and go
//! as soon as they are deleted, unless told otherwise), the other objects
//! of a run and network policies;
//! answers lists and watches of pods with resource versions; streams pod
//! logs; and records every request. A `kube::Client` talks to it through a
//! `tower` service, so no cluster and no socket are involved.
//!
//! [`FakeDialer`] stands in for the API's port-forward: a tunnel to a pod
//! that runs greets with the pod's name and incarnation, then echoes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use kube::Client;
use kube::client::Body;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tf_k8s::forward::{PodDialer, Tunnel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

type Reply = Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>;

/// What a created pod does.
#[derive(Clone, Debug)]
pub enum Fate {
    /// It runs.
    Runs,
    /// Its image cannot be pulled.
    NoImage,
    /// It exits at once with this code.
    Exits(i32),
    /// The scheduler finds no room for it.
    Unschedulable,
}

#[derive(Default)]
struct State {
    namespaces: BTreeMap<String, Value>,
    /// By (namespace, kind, name); pods too.
    objects: BTreeMap<(String, String, String), Value>,
    version: u64,
    /// Every pod event so far, with its resource version.
    events: Vec<(u64, Value)>,
    watchers: Vec<mpsc::UnboundedSender<Value>>,
    requests: Vec<String>,
    bodies: Vec<(String, Value)>,
    fates: BTreeMap<String, Fate>,
    /// What partition probes (`tf-probe-N`) do; `None`: they find the cut.
    probe: Option<Fate>,
    logs: BTreeMap<String, String>,
    /// Pod name to how many pods of that name were created.
    incarnations: BTreeMap<String, u64>,
    /// Pod creations still to refuse as the service account admission
    /// does while a new namespace's default account is not there yet.
    no_account_yet: usize,
    /// Pods a controller recreates when they are deleted.
    controlled: std::collections::BTreeSet<(String, String)>,
    /// Pods whose node ignores SIGTERM: deleted with a grace period, they
    /// stay (terminating) until deleted with none.
    ignore_term: std::collections::BTreeSet<String>,
    /// How adding an ephemeral container is refused (status, message);
    /// `None`: it is added and runs.
    ephemeral_refusal: Option<(u16, String)>,
}

/// The fake API server.
#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

fn reply(status: u16, body: Value) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(
            http_body_util::Full::new(Bytes::from(body.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

fn status(code: u16, reason: &str, message: &str) -> Reply {
    reply(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "code": code, "reason": reason, "message": message, "metadata": {}}),
    )
}

fn pod_status(fate: &Fate) -> Value {
    if let Fate::Unschedulable = fate {
        return json!({"phase": "Pending", "conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient memory."}]});
    }
    let state = match fate {
        Fate::Unschedulable => unreachable!(),
        Fate::Runs => json!({"running": {"startedAt": "2026-12-01T00:00:00Z"}}),
        Fate::NoImage => json!({"waiting": {"reason": "ImagePullBackOff",
            "message": "Back-off pulling image \"img:1\""}}),
        Fate::Exits(code) => json!({"terminated": {"exitCode": code, "reason": "Error"}}),
    };
    json!({"phase": "Running", "containerStatuses": [{
        "name": "node", "image": "img:1", "imageID": "", "ready": true,
        "restartCount": 0, "state": state}]})
}

impl FakeApi {
    /// A client of this server.
    pub fn client(&self) -> Client {
        let api = self.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.handle(request).await) }
        });
        Client::new(service, "default")
    }

    /// Pods named `pod` meet `fate` from now on.
    pub fn set_fate(&self, pod: &str, fate: Fate) {
        self.state.lock().fates.insert(pod.into(), fate);
    }

    /// The next `count` pod creations are refused for want of the
    /// namespace's service account, as on a busy control plane.
    pub fn refuse_pods_for_service_account(&self, count: usize) {
        self.state.lock().no_account_yet = count;
    }

    /// Pods named `pod` ignore SIGTERM from now on: a deletion with a
    /// grace period leaves them terminating; one with none removes them.
    pub fn ignore_term(&self, pod: &str) {
        self.state.lock().ignore_term.insert(pod.into());
    }

    /// Partition probes meet `fate` from now on.
    pub fn set_probe_fate(&self, fate: Fate) {
        self.state.lock().probe = Some(fate);
    }

    /// Adding ephemeral containers is refused with `code` and `message`.
    pub fn refuse_ephemeral(&self, code: u16, message: &str) {
        self.state.lock().ephemeral_refusal = Some((code, message.to_owned()));
    }

    /// The names of pod `pod`'s ephemeral containers.
    pub fn ephemeral(&self, namespace: &str, pod: &str) -> Vec<String> {
        self.object(namespace, "pods", pod)
            .and_then(|p| p["spec"]["ephemeralContainers"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    }

    /// What pod `pod`'s container prints.
    pub fn set_log(&self, pod: &str, text: &str) {
        self.state.lock().logs.insert(pod.into(), text.into());
    }

    /// Every request so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().requests.clone()
    }

    /// The bodies of requests whose line contains `what`.
    pub fn bodies(&self, what: &str) -> Vec<Value> {
        let state = self.state.lock();
        state
            .bodies
            .iter()
            .filter(|(line, _)| line.contains(what))
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// How many times pod `pod`'s log was asked for.
    pub fn log_requests(&self, pod: &str) -> usize {
        let path = format!("/pods/{pod}/log?");
        self.requests().iter().filter(|r| r.contains(&path)).count()
    }

    /// The namespaces there are.
    pub fn namespaces(&self) -> Vec<String> {
        self.state.lock().namespaces.keys().cloned().collect()
    }

    /// The object `kind/name` of `namespace`, if there is one.
    pub fn object(&self, namespace: &str, kind: &str, name: &str) -> Option<Value> {
        self.state
            .lock()
            .objects
            .get(&(namespace.into(), kind.into(), name.into()))
            .cloned()
    }

    /// Names of `kind` objects in `namespace`.
    pub fn names(&self, namespace: &str, kind: &str) -> Vec<String> {
        self.state
            .lock()
            .objects
            .keys()
            .filter(|(ns, k, _)| ns == namespace && k == kind)
            .map(|(_, _, n)| n.clone())
            .collect()
    }

    /// Pods that ran so far under `pod`'s name.
    pub fn incarnations(&self, pod: &str) -> u64 {
        self.state
            .lock()
            .incarnations
            .get(pod)
            .copied()
            .unwrap_or(0)
    }

    /// Whether pod `pod` of `namespace` runs.
    pub fn runs(&self, namespace: &str, pod: &str) -> bool {
        self.object(namespace, "pods", pod)
            .is_some_and(|p| p["status"]["containerStatuses"][0]["state"]["running"].is_object())
    }

    /// A StatefulSet's pods made by someone else: `<prefix>-0` .. in
    /// `namespace`, labelled `app=<prefix>`, port `api` 7000, each
    /// recreated by the controller when deleted (unless `controlled` is
    /// false).
    pub fn stateful_set(&self, namespace: &str, prefix: &str, count: usize, controlled: bool) {
        let mut state = self.state.lock();
        state
            .namespaces
            .insert(namespace.into(), json!({"metadata": {"name": namespace}}));
        for i in 0..count {
            let name = format!("{prefix}-{i}");
            if controlled {
                state.controlled.insert((namespace.into(), name.clone()));
            }
            state.create_pod(namespace, &name, prefix);
        }
    }

    /// Pod `pod`'s container exits with `code`, as if it crashed.
    pub fn exit(&self, namespace: &str, pod: &str, code: i32) {
        let mut state = self.state.lock();
        let key = (namespace.to_owned(), "pods".to_owned(), pod.to_owned());
        let Some(mut object) = state.objects.get(&key).cloned() else {
            panic!("no pod {pod}");
        };
        object["status"] = pod_status(&Fate::Exits(code));
        state.put(key, object, "MODIFIED");
    }

    /// Pod `pod` is deleted, as by someone else.
    pub fn delete_pod(&self, namespace: &str, pod: &str) {
        let mut state = self.state.lock();
        let key = (namespace.to_owned(), "pods".to_owned(), pod.to_owned());
        state.remove(&key);
    }

    async fn handle(&self, request: Request<Body>) -> Reply {
        let (parts, body) = request.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let line = format!("{} {path}?{query}", parts.method);
        {
            let mut state = self.state.lock();
            state.requests.push(line.clone());
            state.bodies.push((line, body.clone()));
        }
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        // /api/v1/... or /apis/<group>/<version>/...
        let rest: &[&str] = match segments.as_slice() {
            ["api", "v1", rest @ ..] => rest,
            ["apis", _, _, rest @ ..] => rest,
            _ => return status(404, "NotFound", "no such path"),
        };
        match (parts.method.clone(), rest) {
            (Method::POST, ["namespaces"]) => self.create_namespace(body),
            (Method::DELETE, ["namespaces", ns]) => self.delete_namespace(ns),
            (Method::GET, ["namespaces", ns, "pods"]) if query.contains("watch=true") => {
                self.watch(&query)
            }
            (Method::GET, ["namespaces", ns, "pods"]) => self.list(ns, &query),
            (Method::GET, ["namespaces", _, "pods", pod, "log"]) => self.log(pod, &query),
            (Method::POST, ["namespaces", ns, kind]) => self.create(ns, kind, body),
            (Method::DELETE, ["namespaces", ns, kind, name]) => self.delete(ns, kind, name, &body),
            (Method::PATCH, ["namespaces", ns, "pods", name]) => self.patch(ns, name, body),
            (Method::PATCH, ["namespaces", ns, "pods", name, "ephemeralcontainers"]) => {
                self.add_ephemeral(ns, name, body)
            }
            // Cluster-wide objects (roles, bindings) under the namespace "".
            (Method::POST, [kind]) => self.create_cluster_wide(kind, body),
            (Method::DELETE, [kind, name]) => self.delete("", kind, name, &body),
            _ => status(404, "NotFound", &format!("{} {path}", parts.method)),
        }
    }

    fn create_namespace(&self, mut body: Value) -> Reply {
        let mut state = self.state.lock();
        let name = body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if state.namespaces.contains_key(&name) {
            return status(409, "AlreadyExists", "namespace exists");
        }
        body["metadata"]["uid"] = json!(format!("uid-{name}"));
        state.namespaces.insert(name, body.clone());
        reply(201, body)
    }

    fn delete_namespace(&self, ns: &str) -> Reply {
        let mut state = self.state.lock();
        let Some(mut namespace) = state.namespaces.remove(ns) else {
            return status(404, "NotFound", "no such namespace");
        };
        let keys: Vec<_> = state
            .objects
            .keys()
            .filter(|k| k.0 == ns)
            .cloned()
            .collect();
        for key in keys {
            state.remove(&key);
        }
        namespace["status"] = json!({"phase": "Terminating"});
        reply(200, namespace)
    }

    fn create(&self, ns: &str, kind: &str, mut body: Value) -> Reply {
        let mut state = self.state.lock();
        if !state.namespaces.contains_key(ns) {
            return status(404, "NotFound", &format!("namespaces \"{ns}\" not found"));
        }
        let name = body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = (ns.to_owned(), kind.to_owned(), name.clone());
        if state.objects.contains_key(&key) {
            return status(
                409,
                "AlreadyExists",
                &format!("{kind} \"{name}\" already exists"),
            );
        }
        if kind == "pods" && state.no_account_yet > 0 {
            state.no_account_yet -= 1;
            return status(
                403,
                "Forbidden",
                &format!(
                    "pods \"{name}\" is forbidden: error looking up service account {ns}/default: serviceaccount \"default\" not found"
                ),
            );
        }
        if kind == "pods" {
            let incarnation = state.incarnations.entry(name.clone()).or_insert(0);
            *incarnation += 1;
            body["metadata"]["uid"] = json!(format!("{name}-{incarnation}"));
            let fate = if name.starts_with("tf-probe-") {
                state.probe.clone().unwrap_or(Fate::Exits(0))
            } else {
                state.fates.get(&name).cloned().unwrap_or(Fate::Runs)
            };
            body["status"] = pod_status(&fate);
            if matches!(fate, Fate::Runs) {
                let number = state.version % 250 + 2;
                body["status"]["podIP"] = json!(format!("10.1.0.{number}"));
            }
        }
        if kind == "services" && body["spec"]["type"] == "NodePort" {
            let base = 30000 + state.version as usize * 10;
            if let Some(ports) = body["spec"]["ports"].as_array_mut() {
                for (i, port) in ports.iter_mut().enumerate() {
                    port["nodePort"] = json!(base + i);
                }
            }
        }
        if kind == "jobs" {
            // The job controller's part: one pod of the template,
            // `<job>-pod`.
            let pod_name = format!("{name}-pod");
            let fate = state.fates.get(&pod_name).cloned().unwrap_or(Fate::Runs);
            let pod = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": ns,
                             "labels": body["spec"]["template"]["metadata"]["labels"]},
                "spec": body["spec"]["template"]["spec"],
                "status": pod_status(&fate),
            });
            state.put((ns.to_owned(), "pods".into(), pod_name), pod, "ADDED");
        }
        state.put(key, body.clone(), "ADDED");
        reply(201, body)
    }

    fn create_cluster_wide(&self, kind: &str, body: Value) -> Reply {
        let mut state = self.state.lock();
        let name = body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let key = (String::new(), kind.to_owned(), name.clone());
        if state.objects.contains_key(&key) {
            return status(
                409,
                "AlreadyExists",
                &format!("{kind} \"{name}\" already exists"),
            );
        }
        state.put(key, body.clone(), "ADDED");
        reply(201, body)
    }

    fn delete(&self, ns: &str, kind: &str, name: &str, options: &Value) -> Reply {
        let mut state = self.state.lock();
        let key = (ns.to_owned(), kind.to_owned(), name.to_owned());
        let graceful = options["gracePeriodSeconds"].as_u64() != Some(0);
        if kind == "pods" && graceful && state.ignore_term.contains(name) {
            // The kubelet sent SIGTERM, which the node ignores: the pod
            // stays, terminating.
            let Some(mut pod) = state.objects.get(&key).cloned() else {
                return status(404, "NotFound", &format!("pods \"{name}\" not found"));
            };
            pod["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
            state.put(key, pod.clone(), "MODIFIED");
            return reply(200, pod);
        }
        match state.remove(&key) {
            Some(object) => {
                if kind == "pods" && state.controlled.contains(&(ns.to_owned(), name.to_owned())) {
                    let app = object["metadata"]["labels"]["app"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    state.create_pod(ns, name, &app);
                }
                reply(200, object)
            }
            None => status(404, "NotFound", &format!("{kind} \"{name}\" not found")),
        }
    }

    fn patch(&self, ns: &str, name: &str, body: Value) -> Reply {
        let mut state = self.state.lock();
        let key = (ns.to_owned(), "pods".to_owned(), name.to_owned());
        let Some(mut pod) = state.objects.get(&key).cloned() else {
            return status(404, "NotFound", &format!("pods \"{name}\" not found"));
        };
        if let Some(labels) = body["metadata"]["labels"].as_object() {
            for (key, value) in labels {
                if value.is_null() {
                    pod["metadata"]["labels"]
                        .as_object_mut()
                        .map(|l| l.remove(key));
                } else {
                    pod["metadata"]["labels"][key] = value.clone();
                }
            }
        }
        state.put(key, pod.clone(), "MODIFIED");
        reply(200, pod)
    }

    /// The ephemeral containers subresource: the containers of the patch
    /// join the pod's and run at once (unless refused).
    fn add_ephemeral(&self, ns: &str, name: &str, body: Value) -> Reply {
        let mut state = self.state.lock();
        if let Some((code, message)) = state.ephemeral_refusal.clone() {
            return status(code, "Forbidden", &message);
        }
        let key = (ns.to_owned(), "pods".to_owned(), name.to_owned());
        let Some(mut pod) = state.objects.get(&key).cloned() else {
            return status(404, "NotFound", &format!("pods \"{name}\" not found"));
        };
        for container in body["spec"]["ephemeralContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let status = json!({"name": container["name"], "image": container["image"],
                "imageID": "", "ready": false, "restartCount": 0,
                "state": {"running": {"startedAt": "2026-12-01T00:00:00Z"}}});
            match pod["spec"]["ephemeralContainers"].as_array_mut() {
                Some(list) => list.push(container),
                None => pod["spec"]["ephemeralContainers"] = json!([container]),
            }
            match pod["status"]["ephemeralContainerStatuses"].as_array_mut() {
                Some(list) => list.push(status),
                None => pod["status"]["ephemeralContainerStatuses"] = json!([status]),
            }
        }
        state.put(key, pod.clone(), "MODIFIED");
        reply(200, pod)
    }

    fn list(&self, ns: &str, query: &str) -> Reply {
        let state = self.state.lock();
        let wanted = selector(query);
        let items: Vec<Value> = state
            .objects
            .iter()
            .filter(|((n, k, _), _)| n == ns && k == "pods")
            .filter(|(_, pod)| matches(&wanted, pod))
            .map(|(_, v)| v.clone())
            .collect();
        reply(
            200,
            json!({"kind": "PodList", "apiVersion": "v1",
                   "metadata": {"resourceVersion": state.version.to_string()}, "items": items}),
        )
    }

    fn watch(&self, query: &str) -> Reply {
        let since: u64 = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("resourceVersion="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (send, receive) = mpsc::unbounded_channel();
        {
            let mut state = self.state.lock();
            for (version, event) in &state.events {
                if *version > since {
                    let _ = send.send(event.clone());
                }
            }
            state.watchers.push(send);
        }
        let lines = tokio_stream::wrappers::UnboundedReceiverStream::new(receive)
            .map(|event| Ok::<_, Infallible>(Frame::data(Bytes::from(event.to_string() + "\n"))));
        Response::builder()
            .status(200)
            .body(BodyExt::boxed(StreamBody::new(lines)))
            .unwrap()
    }

    fn log(&self, pod: &str, query: &str) -> Reply {
        let mut text = self.state.lock().logs.get(pod).cloned().unwrap_or_default();
        // The kubelet's stamps: line N at N nanoseconds past midnight.
        if query.contains("timestamps=true") {
            text = text
                .lines()
                .enumerate()
                .map(|(i, line)| format!("2026-12-01T00:00:00.{:09}Z {line}\n", i + 1))
                .collect();
        }
        Response::builder()
            .status(200)
            .body(
                http_body_util::Full::new(Bytes::from(text))
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .unwrap()
    }
}

/// The `key=value` terms of a query's label selector.
fn selector(query: &str) -> Vec<(String, String)> {
    let Some(raw) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("labelSelector="))
    else {
        return Vec::new();
    };
    let decoded = raw.replace("%3D", "=").replace("%2C", ",");
    decoded
        .split(',')
        .filter_map(|term| term.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Whether `object` carries every label of `wanted`.
fn matches(wanted: &[(String, String)], object: &Value) -> bool {
    wanted
        .iter()
        .all(|(k, v)| object["metadata"]["labels"][k].as_str() == Some(v.as_str()))
}

impl State {
    /// A running pod of app `app` (a controller's, not the deployer's).
    fn create_pod(&mut self, ns: &str, name: &str, app: &str) {
        let incarnation = self.incarnations.entry(name.to_owned()).or_insert(0);
        *incarnation += 1;
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": format!("{name}-{incarnation}"),
                         "labels": {"app": app}},
            "spec": {"containers": [{"name": "node", "image": "theirs:1",
                     "ports": [{"name": "api", "containerPort": 7000}]}]},
            "status": pod_status(&Fate::Runs),
        });
        self.put(
            (ns.to_owned(), "pods".into(), name.to_owned()),
            pod,
            "ADDED",
        );
    }

    /// Stores `object` under a new resource version; pods are watched.
    fn put(&mut self, key: (String, String, String), mut object: Value, kind: &str) {
        self.version += 1;
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        if key.1 == "pods" {
            self.event(kind, object.clone());
        }
        self.objects.insert(key, object);
    }

    fn remove(&mut self, key: &(String, String, String)) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        self.version += 1;
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        if key.1 == "pods" {
            self.event("DELETED", object.clone());
        }
        Some(object)
    }

    fn event(&mut self, kind: &str, object: Value) {
        let event = json!({"type": kind, "object": object});
        self.events.push((self.version, event.clone()));
        self.watchers.retain(|w| w.send(event.clone()).is_ok());
    }
}

/// Tunnels to the fake API's running pods.
#[derive(Clone)]
pub struct FakeDialer {
    api: FakeApi,
    namespace: Arc<Mutex<String>>,
    tunnels: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl FakeDialer {
    /// Tunnels to `api`'s pods (in whichever namespace the run has).
    pub fn new(api: &FakeApi) -> Self {
        FakeDialer {
            api: api.clone(),
            namespace: Arc::default(),
            tunnels: Arc::default(),
        }
    }

    /// Drops every open tunnel, as a network blip would.
    pub fn drop_all(&self) {
        for tunnel in self.tunnels.lock().drain(..) {
            tunnel.abort();
        }
    }
}

#[async_trait]
impl PodDialer for FakeDialer {
    async fn dial(&self, pod: &str, port: u16) -> Result<Box<dyn Tunnel>, String> {
        let namespaces = self.api.namespaces();
        let Some(namespace) = namespaces.iter().find(|ns| self.api.runs(ns, pod)) else {
            return Err(format!("pod {pod} does not run"));
        };
        *self.namespace.lock() = namespace.clone();
        let greeting = format!("{pod}#{} port {port}\n", self.api.incarnations(pod));
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let task = tokio::spawn(async move {
            if theirs.write_all(greeting.as_bytes()).await.is_err() {
                return;
            }
            let mut buffer = [0u8; 256];
            while let Ok(n) = theirs.read(&mut buffer).await {
                if n == 0 || theirs.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        });
        self.tunnels.lock().push(task);
        Ok(Box::new(ours))
    }
}

/// Waits until `done` holds, for at most 10 s.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still not so after 10 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A link cut: from a pod to an address.
type Cut = (String, std::net::Ipv4Addr);

/// Stands in for the API's exec into the link fault helper: it answers the
/// helper's requests as an agent would, from what was applied (a cut
/// link's connects get no answer; anything else answers in 0.1 ms), and
/// only in a pod the fake API gave the helper.
#[derive(Clone)]
pub struct FakeExec {
    api: FakeApi,
    /// (pod, receiver address) cut, by fault number.
    cuts: Arc<Mutex<BTreeMap<u16, Vec<Cut>>>>,
    /// Every request, as `pod: op`.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeExec {
    pub fn new(api: &FakeApi) -> Self {
        FakeExec {
            api: api.clone(),
            cuts: Arc::default(),
            requests: Arc::default(),
        }
    }

    /// The requests so far, as `pod: op`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().clone()
    }
}

#[async_trait]
impl tf_k8s::PodExec for FakeExec {
    async fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: Vec<String>,
    ) -> Result<String, String> {
        if !self
            .api
            .ephemeral(namespace, pod)
            .iter()
            .any(|c| c == container)
        {
            return Err(format!("container {container} is not in pod {pod}"));
        }
        let request: tf_netfault::Request =
            serde_json::from_str(command.last().ok_or("no request")?).map_err(|e| e.to_string())?;
        use tf_netfault::{Counters, Request, Response, Rtt};
        let response = match request {
            Request::Probe { targets, .. } => {
                self.requests.lock().push(format!("{pod}: probe"));
                let cuts = self.cuts.lock();
                let rtts = targets
                    .iter()
                    .map(|target| {
                        let cut = cuts.values().flatten().any(|(from, to)| {
                            from == pod && std::net::IpAddr::V4(*to) == target.ip()
                        });
                        Rtt {
                            target: *target,
                            median: (!cut).then(|| Duration::from_micros(100)),
                            lost: if cut { 2 } else { 0 },
                        }
                    })
                    .collect();
                Response::Probed { rtts }
            }
            Request::Apply { id, to, fault, .. } => {
                self.requests.lock().push(format!("{pod}: apply {fault}"));
                if fault.is_cut() {
                    let cut = to.iter().map(|ip| (pod.to_owned(), *ip)).collect();
                    self.cuts.lock().insert(id, cut);
                }
                Response::Applied
            }
            Request::Fence { subnet } => {
                self.requests.lock().push(format!("{pod}: fence {subnet}"));
                Response::Applied
            }
            Request::Remove { id } => {
                self.requests.lock().push(format!("{pod}: remove"));
                let dropped = self
                    .cuts
                    .lock()
                    .remove(&id)
                    .map_or(0, |c| c.len() as u64 * 6);
                Response::Removed {
                    counters: Counters {
                        packets: dropped.max(10),
                        dropped,
                        ..Counters::default()
                    },
                }
            }
        };
        Ok(serde_json::to_string(&response).unwrap())
    }
}
