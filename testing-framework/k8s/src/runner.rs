//! The runner inside the cluster, for clusters too big for port-forwards:
//! a Job runs the `scenarios` CLI in a pod of its own namespace, with a
//! service account allowed to create and watch runs; it reaches nodes by
//! their service DNS names. The launcher on the user's machine creates
//! these objects, follows the runner's log, copies the results the
//! runner prints out into the local run directory, and deletes
//! everything again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSpec,
    PodTemplateSpec, ResourceRequirements, ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DeleteParams;
use kube::{Api, Client};
use tf_core::scenario::deploy::DeployError;

use crate::objects::{labels, meta, quantities};
use crate::pods::{RunWatch, WaitEnd};
use crate::{K8sSettings, Object, Plan, PodState, api};

/// The label that marks the runner's pod; partitions let it through.
pub use tf_core::deployer_kit::labels::ROLE;
/// [`ROLE`]'s value on the runner's pod, and the name of its Job, pod and service account.
pub const RUNNER_ROLE: &str = "runner";
/// Where the runner writes its runs, in its pod.
const RUNS: &str = "/runs";
/// The lines around a result file in the runner's log.
const RESULT_START: &str = "--- tf-result ";
const RESULT_END: &str = "--- tf-result end ---";
/// How long the runner gets to stop (and delete its run) once its
/// namespace is deleted: the pod's default grace period and a margin.
const RUNNER_STOP: Duration = Duration::from_secs(60);
/// The result files the runner prints for the launcher to copy out.
pub const RESULTS: [&str; 3] = ["report.json", "junit.xml", "report.html"];
/// Set in the runner's pod: print the results at the end.
pub const RESULTS_ENV: &str = "TF_K8S_PRINT_RESULTS";
/// The runner pod's name and namespace, from the downward API.
const POD_NAME_ENV: &str = "TF_K8S_POD_NAME";
const POD_NAMESPACE_ENV: &str = "TF_K8S_POD_NAMESPACE";

/// Who runs this process, as a run's namespace is annotated: the pod
/// (`pod:<namespace>/<name>`) when it is the runner in a cluster, else
/// `<pid>@<host>`.
pub fn identity() -> String {
    match (
        std::env::var(POD_NAMESPACE_ENV),
        std::env::var(POD_NAME_ENV),
    ) {
        (Ok(namespace), Ok(name)) if !name.is_empty() => format!("pod:{namespace}/{name}"),
        _ => tf_core::deployer_kit::this_runner(),
    }
}

/// Whether the runner an annotation names is alive: a runner pod that
/// still exists and has not ended, or a process as
/// [`tf_core::deployer_kit::runner_alive`] tells.
pub async fn alive(client: &Client, runner: &str) -> bool {
    let Some((namespace, name)) = runner.strip_prefix("pod:").and_then(|p| p.split_once('/'))
    else {
        return tf_core::deployer_kit::runner_alive(runner);
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match pods.get_opt(name).await {
        Ok(Some(pod)) => !matches!(
            crate::pod_state(&pod),
            PodState::Exited { .. } | PodState::Stuck(_)
        ),
        Ok(None) => false,
        // Cannot tell: leave it alone.
        Err(_) => true,
    }
}

/// The runner of one launch: `image` (holding `scenarios` at
/// `/usr/local/bin/scenarios`) running `args` (`run raft-failover
/// --deployer k8s ...`), its nodes on `node_image`.
pub fn runner_plan(
    id: &str,
    image: &str,
    node_image: &str,
    args: &[String],
    settings: &K8sSettings,
) -> Plan {
    let namespace = runner_namespace(id);
    let ns = Some(namespace.as_str());
    let name = runner_namespace(id);
    let labels = labels(id, "runner", None);
    let mut pod_labels = labels.clone();
    pod_labels.insert(ROLE.into(), RUNNER_ROLE.into());
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| PolicyRule {
        api_groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    };
    let all = ["create", "delete", "get", "list", "watch", "patch"];
    let role = ClusterRole {
        metadata: meta(&name, None, labels.clone()),
        rules: Some(vec![
            rule(&[""], &["namespaces"], &["create", "delete", "get", "list"]),
            rule(
                &[""],
                &[
                    "pods",
                    "pods/log",
                    "configmaps",
                    "persistentvolumeclaims",
                    "services",
                ],
                &all,
            ),
            rule(&["networking.k8s.io"], &["networkpolicies"], &all),
        ]),
        ..ClusterRole::default()
    };
    let binding = ClusterRoleBinding {
        metadata: meta(&name, None, labels.clone()),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: RUNNER_ROLE.into(),
            namespace: Some(namespace.clone()),
            ..Subject::default()
        }]),
    };
    let env = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    };
    let field = |name: &str, path: &str| EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    };
    let job = Job {
        metadata: meta(RUNNER_ROLE, ns, labels.clone()),
        spec: Some(JobSpec {
            // One run: a failed scenario is a result, not a retry.
            backoff_limit: Some(0),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(RUNNER_ROLE.into()),
                    restart_policy: Some("Never".into()),
                    containers: vec![Container {
                        name: RUNNER_ROLE.into(),
                        image: Some(image.into()),
                        image_pull_policy: Some("IfNotPresent".into()),
                        command: Some(vec!["/usr/local/bin/scenarios".into()]),
                        args: Some(args.to_vec()),
                        env: Some(vec![
                            env("TF_K8S_IMAGE", node_image),
                            // Partitions are confirmed with the image at hand.
                            env("TF_K8S_PROBE_IMAGE", image),
                            env("TF_RUNS_DIR", RUNS),
                            env(RESULTS_ENV, "1"),
                            // Who runs, for the sweep: this pod.
                            field(POD_NAME_ENV, "metadata.name"),
                            field(POD_NAMESPACE_ENV, "metadata.namespace"),
                        ]),
                        resources: Some(ResourceRequirements {
                            requests: Some(quantities(&settings.requests)),
                            limits: Some(quantities(&settings.limits)),
                            ..ResourceRequirements::default()
                        }),
                        volume_mounts: Some(vec![VolumeMount {
                            name: "runs".into(),
                            mount_path: RUNS.into(),
                            ..VolumeMount::default()
                        }]),
                        ..Container::default()
                    }],
                    volumes: Some(vec![Volume {
                        name: "runs".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    }]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    };
    Plan {
        run: id.to_owned(),
        namespace: namespace.clone(),
        nodes: Vec::new(),
        objects: vec![
            Object::Namespace(k8s_openapi::api::core::v1::Namespace {
                metadata: meta(&namespace, None, labels.clone()),
                ..Default::default()
            }),
            Object::ServiceAccount(ServiceAccount {
                metadata: meta(RUNNER_ROLE, ns, labels),
                ..ServiceAccount::default()
            }),
            Object::ClusterRole(role),
            Object::ClusterRoleBinding(binding),
            Object::Job(Box::new(job)),
        ],
    }
}

/// Prints the result files of `run_dir` and every node's log between
/// marker lines, for the launcher to copy out of the runner's log.
pub fn print_results(run_dir: &Path) {
    let mut names: Vec<String> = RESULTS.iter().map(|n| (*n).to_owned()).collect();
    let mut nodes: Vec<String> = std::fs::read_dir(run_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| format!("{}/node.log", e.file_name().to_string_lossy()))
        .filter(|name| result_path(name).is_some())
        .collect();
    nodes.sort();
    names.extend(nodes);
    for name in names {
        if let Ok(text) = std::fs::read_to_string(run_dir.join(&name)) {
            println!("{RESULT_START}{name} ---");
            println!("{text}");
            println!("{RESULT_END}");
        }
    }
}

/// Where result `name` goes under the run directory, if it is one the
/// runner prints: a report file, or `node-N/node.log`. Anything else (a
/// path climbing out, say) is not written.
fn result_path(name: &str) -> Option<PathBuf> {
    if RESULTS.contains(&name) {
        return Some(PathBuf::from(name));
    }
    let node = name.strip_suffix("/node.log")?.strip_prefix("node-")?;
    (!node.is_empty() && node.bytes().all(|b| b.is_ascii_digit())).then(|| PathBuf::from(name))
}

/// How a launched runner ended.
#[derive(Debug)]
pub struct Launched {
    /// Its exit code (0: the scenario passed).
    pub code: i32,
    /// The result files copied into the local run directory.
    pub copied: Vec<PathBuf>,
}

/// Creates the runner of `plan`, follows its log into `out` (and the
/// terminal), copies its results there, and deletes everything again.
pub async fn launch(
    client: &Client,
    plan: &Plan,
    out: &Path,
    timeout: Duration,
) -> Result<Launched, DeployError> {
    std::fs::create_dir_all(out).map_err(|e| tf_core::deployer_kit::io_error("create", out, e))?;
    // Whose launch it is, so that a sweep leaves a live launcher's alone.
    let mut plan = plan.clone();
    if let Some(Object::Namespace(namespace)) = plan.objects.first_mut() {
        namespace.metadata.annotations = Some(BTreeMap::from([(
            tf_core::deployer_kit::labels::RUNNER.to_owned(),
            identity(),
        )]));
    }
    let plan = &plan;
    let created = api::create(client, plan).await;
    let result = match created {
        Ok(()) => follow(client, plan, out, timeout).await,
        Err(error) => Err(error),
    };
    let removed = remove(client, &plan.run).await;
    match (result, removed) {
        (Ok(launched), Ok(())) => Ok(launched),
        (Ok(_), Err(problem)) => Err(problem),
        (Err(error), Ok(())) => Err(error),
        (Err(error), Err(problem)) => Err(DeployError::Other(format!("{error}; and {problem}"))),
    }
}

/// The namespace (and cluster role) of launch `id`.
pub fn runner_namespace(id: &str) -> String {
    format!("tf-runner-{id}")
}

/// Deletes the namespace of launch `id`, waits until its runner pod is
/// gone (it deletes the run it deployed as it stops, which needs its
/// rights), then its cluster-wide role and binding; what is gone already is
/// fine.
pub async fn remove(client: &Client, id: &str) -> Result<(), DeployError> {
    let name = runner_namespace(id);
    let mut problems = Vec::new();
    if let Err(error) = api::delete_namespace(client, &name).await {
        problems.push(error.to_string());
    }
    let watch = RunWatch::start(client, &name, &crate::pods::run_selector(id));
    let gone = watch
        .wait(RUNNER_STOP, |p| p.synced && p.pods.is_empty())
        .await;
    if gone == Err(WaitEnd::TimedOut) {
        problems.push(format!(
            "the runner of {name} was still there {RUNNER_STOP:?} after its namespace was deleted; its role is deleted anyway"
        ));
    }
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let deleted = roles.delete(&name, &DeleteParams::default()).await;
    if let Err(error) = api::unless_gone(deleted, &format!("delete clusterrole/{name}")) {
        problems.push(error.to_string());
    }
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let deleted = bindings.delete(&name, &DeleteParams::default()).await;
    if let Err(error) = api::unless_gone(deleted, &format!("delete clusterrolebinding/{name}")) {
        problems.push(error.to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DeployError::Other(problems.join("; ")))
    }
}

/// Waits for the runner's pod, streams its log, and reads its exit code.
async fn follow(
    client: &Client,
    plan: &Plan,
    out: &Path,
    timeout: Duration,
) -> Result<Launched, DeployError> {
    let watch = RunWatch::start(
        client,
        &plan.namespace,
        &crate::pods::run_selector(&plan.run),
    );
    let pods = watch.pods();
    let first = |p: &crate::pods::Pods| {
        p.pods
            .iter()
            .next()
            .map(|(n, s)| (n.clone(), s.state.clone()))
            .unwrap_or((String::new(), PodState::Starting))
    };
    let started = watch
        .wait(timeout, |p| {
            p.pods.values().any(|s| {
                matches!(
                    s.state,
                    PodState::Running | PodState::Exited { .. } | PodState::Stuck(_)
                )
            })
        })
        .await
        .map(|p| first(&p));
    let (name, state) = match started {
        Ok(seen) => seen,
        Err(WaitEnd::Ended) => {
            return Err(DeployError::Other("the watch of the runner ended".into()));
        }
        Err(WaitEnd::TimedOut) => {
            return Err(DeployError::Other(format!(
                "the runner's pod did not start within {timeout:?}"
            )));
        }
    };
    if let PodState::Stuck(message) = state {
        return Err(DeployError::Other(format!(
            "the runner cannot run: {message}"
        )));
    }
    let log_path = out.join("runner.log");
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), &plan.namespace);
    let incarnation = pods.borrow().pods.get(&name).map_or(0, |s| s.incarnation);
    let mut log = String::new();
    crate::logs::stream_lines(&pod_api, &name, incarnation, &pods, |line| {
        if !line.starts_with(RESULT_START) && !log.contains(RESULT_START) {
            println!("{line}");
        }
        log.push_str(line);
        log.push('\n');
    })
    .await;
    std::fs::write(&log_path, &log)
        .map_err(|e| tf_core::deployer_kit::io_error("write", &log_path, e))?;
    let mut copied = vec![log_path];
    for (file, text) in results(&log) {
        let Some(relative) = result_path(&file) else {
            tracing::warn!(%file, "the runner printed a result that is not one; not written");
            continue;
        };
        let path = out.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| tf_core::deployer_kit::io_error("create", dir, e))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| tf_core::deployer_kit::io_error("write", &path, e))?;
        copied.push(path);
    }
    let ended = watch
        .wait(Duration::from_secs(60), |p| {
            p.pods
                .get(&name)
                .is_some_and(|s| matches!(s.state, PodState::Exited { .. }))
        })
        .await
        .map(|p| match &p.pods[&name].state {
            PodState::Exited { code, .. } => *code,
            _ => -1,
        });
    let code = match ended {
        Ok(code) => code,
        Err(_) => {
            return Err(DeployError::Other(format!(
                "the runner's log ended but its pod {name} did not"
            )));
        }
    };
    Ok(Launched { code, copied })
}

/// The result files printed in `log`, by name.
fn results(log: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix(RESULT_START) {
            if let Some(name) = rest.strip_suffix(" ---").filter(|n| *n != "end") {
                current = Some((name.to_owned(), String::new()));
                continue;
            }
        }
        if line == RESULT_END {
            if let Some((name, mut text)) = current.take() {
                // The file's own last newline came from println.
                text.pop();
                found.insert(name, text);
            }
            continue;
        }
        if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_reports_and_node_logs_are_written_where_they_belong() {
        assert_eq!(
            result_path("report.json"),
            Some(PathBuf::from("report.json"))
        );
        assert_eq!(
            result_path("node-12/node.log"),
            Some(PathBuf::from("node-12/node.log"))
        );
        for bad in [
            "../../etc/passwd",
            "node-/node.log",
            "node-1/../x/node.log",
            "x.txt",
        ] {
            assert_eq!(result_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn results_printed_in_a_log_are_read_back_whole() {
        let log = "scenario passed\n--- tf-result report.json ---\n{\"a\": 1}\n\n--- tf-result end ---\n--- tf-result junit.xml ---\n<testsuites/>\n\n--- tf-result end ---\n";
        let found = results(log);
        assert_eq!(found["report.json"], "{\"a\": 1}\n");
        assert_eq!(found["junit.xml"], "<testsuites/>\n");
        assert_eq!(found.len(), 2);
    }
}
