//! Link faults on compose: a helper container beside each sender, in the
//! node's network namespace (`network_mode: container:<node>`) with
//! `NET_ADMIN`, running the framework's `tf-netfault` agent, driven
//! through the engine's exec API. The node itself needs no capability,
//! and only what goes to its peers' addresses on the peers network is
//! touched: the runner's way in (the access network) never is.
//!
//! Every helper fences its node off the peers network when it starts
//! ([`Request::Fence`]): harmless while the node is on it, and what holds a
//! partition while the engine rewrites its isolation rules between
//! networks (it takes them out for a moment whenever any network is
//! created or removed, this run's or another's, and a cut-off node's
//! packets to its peers would pass through the access network meanwhile).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::CreateContainerOptions;
use futures::StreamExt;
use tf_core::scenario::deploy::{DeployError, DeploymentRequest};
use tf_core::scenario::{NodeBinary, NodeBuild, Progress};
use tf_netfault::driver::Helpers;
use tf_netfault::{EXTENSIONS, Request, Response};
use tokio::sync::{Mutex as AsyncMutex, OnceCell};

use crate::engine::describe;
use crate::image::{BINARY_DIR, NodeImage, build_files, linked_files};
use crate::labels;
use crate::network::{self, Net};
use crate::node::remove_container;

/// The helpers' role label value.
const HELPER: &str = "net-helper";
/// How long one request to a helper may take (probes of cut links wait
/// for their connects to time out).
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// The run's helper containers: their image, and the helper of each node.
#[derive(Default)]
pub(crate) struct HelperPool {
    /// How the helper's binary is built, and where that is said: the run's
    /// (a link along with the runner, a progress line), not a build of its
    /// own in the middle of a fault.
    build: NodeBuild,
    progress: Option<Progress>,
    image: OnceCell<String>,
    /// The peers network's subnet, which each helper fences its node off
    /// (`None`: this machine has no iptables for the helper to do it).
    fence: OnceCell<Option<String>>,
    /// Helper container by node, started once however many ask at once;
    /// a helper serves the node's life it was started in, and is made
    /// again after the node restarts.
    helpers: AsyncMutex<HashMap<String, Arc<OnceCell<String>>>>,
}

/// What the faults need of the cluster: the engine, the run, and each
/// node's container and a TCP port to probe it at.
pub(crate) struct Nodes<'a> {
    pub(crate) docker: &'a Docker,
    pub(crate) run: &'a str,
    pub(crate) labels: &'a HashMap<String, String>,
    /// Node name -> (container, a TCP port it listens on).
    pub(crate) containers: HashMap<String, (String, u16)>,
    /// The nodes running and not paused: those a connect should reach.
    pub(crate) answering: Vec<String>,
    pub(crate) pool: &'a HelperPool,
}

#[async_trait]
impl Helpers for Nodes<'_> {
    async fn ask(&self, node: &str, request: &Request) -> Result<Response, String> {
        let helper = self.helper(node).await?;
        ask(self.docker, &helper, request).await
    }

    async fn has_helper(&self, node: &str) -> bool {
        self.pool
            .helpers
            .lock()
            .await
            .get(node)
            .is_some_and(|cell| cell.initialized())
    }

    async fn address(&self, node: &str) -> Result<SocketAddr, String> {
        let (container, port) = self
            .containers
            .get(node)
            .ok_or_else(|| format!("no node named `{node}` in this cluster"))?;
        let address = peer_address(self.docker, self.run, container).await?;
        Ok(SocketAddr::from((address, *port)))
    }

    fn is_node(&self, node: &str) -> bool {
        self.containers.contains_key(node)
    }

    fn answering(&self) -> Vec<String> {
        self.answering.clone()
    }

    async fn renew(&self, node: &str) -> Result<(), String> {
        let old = self.pool.helpers.lock().await.remove(node);
        if let Some(old) = old.and_then(|cell| cell.get().cloned()) {
            remove_container(self.docker, &old).await?;
        }
        Ok(())
    }
}

impl HelperPool {
    /// A pool whose helper binary is built as `request`'s node binaries are.
    pub(crate) fn for_run(request: &DeploymentRequest) -> Self {
        HelperPool {
            build: request.build.clone(),
            progress: request.progress.clone(),
            ..HelperPool::default()
        }
    }

    /// Forgets `node`'s helper (the node was removed with it).
    pub(crate) async fn forget(&self, node: &str) {
        self.helpers.lock().await.remove(node);
    }
}

impl Nodes<'_> {
    /// Makes sure `node` (running) is fenced off the peers network from
    /// inside, as every helper fences its node when it starts.
    pub(crate) async fn fenced(&self, node: &str) -> Result<(), String> {
        self.helper(node).await.map(drop)
    }

    /// The subnet helpers fence their node off, if they can.
    async fn fence_subnet(&self) -> Result<Option<String>, String> {
        self.pool
            .fence
            .get_or_try_init(|| async {
                if !has_iptables() {
                    return Ok(None);
                }
                network::subnet(self.docker, &Net::Peers.name(self.run))
                    .await
                    .map(Some)
            })
            .await
            .cloned()
    }

    /// `node`'s helper, started if it has none: once, however many ask
    /// at once.
    async fn helper(&self, node: &str) -> Result<String, String> {
        // The pool's lock is not held while a helper starts, so senders
        // start theirs together.
        let cell = Arc::clone(
            self.pool
                .helpers
                .lock()
                .await
                .entry(node.to_owned())
                .or_default(),
        );
        cell.get_or_try_init(|| self.start_helper(node))
            .await
            .cloned()
    }

    /// Starts a helper in `node`'s network namespace, fenced off the peers
    /// network; its container name.
    async fn start_helper(&self, node: &str) -> Result<String, String> {
        let image = self
            .pool
            .image
            .get_or_try_init(|| async {
                let (build, progress) = (&self.pool.build, &self.pool.progress);
                build_helper_image_with(self.docker, build, progress.clone())
                    .await
                    .map(|image| image.tag)
                    .map_err(|e| e.to_string())
            })
            .await?
            .clone();
        let (container, _) = self
            .containers
            .get(node)
            .ok_or_else(|| format!("no node named `{node}` in this cluster"))?;
        let name = format!("{container}-net");
        // One a crashed earlier attempt left is replaced.
        remove_container(self.docker, &name).await?;
        let mut helper_labels = self.labels.clone();
        helper_labels.insert(labels::NODE.to_owned(), node.to_owned());
        helper_labels.insert(labels::ROLE.to_owned(), HELPER.to_owned());
        let body = ContainerCreateBody {
            image: Some(image),
            entrypoint: Some(vec![
                format!("{BINARY_DIR}/{}", tf_netfault::BINARY),
                "agent".into(),
            ]),
            env: Some(vec![format!("XTABLES_LIBDIR={EXTENSIONS}")]),
            labels: Some(helper_labels),
            host_config: Some(HostConfig {
                network_mode: Some(format!("container:{container}")),
                cap_add: Some(vec!["NET_ADMIN".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(|e| {
                format!(
                    "cannot create the link fault helper of {node}: {}",
                    describe(&e)
                )
            })?;
        if let Err(e) = self
            .docker
            .start_container(
                &name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            let _ = remove_container(self.docker, &name).await;
            return Err(format!(
                "cannot start the link fault helper of {node} (is {node} running?): {}",
                describe(&e)
            ));
        }
        if let Some(subnet) = self.fence_subnet().await? {
            let fenced = match ask(self.docker, &name, &Request::Fence { subnet }).await {
                Ok(Response::Applied) => Ok(()),
                Ok(Response::Error { message }) => Err(message),
                Ok(other) => Err(format!("unexpected answer {other:?}")),
                Err(error) => Err(error),
            };
            if let Err(why) = fenced {
                let _ = remove_container(self.docker, &name).await;
                return Err(format!(
                    "cannot fence {node} off the peers network from inside: {why}"
                ));
            }
        }
        Ok(name)
    }
}

/// The link fault helper's image: `tf-netfault`, this machine's iptables
/// with its extensions, and the libraries they link; built unless one of
/// the same content exists (`tf-netfault:<content hash>`). The k8s
/// deployer runs it as an ephemeral container once tagged `latest`.
pub async fn build_helper_image(docker: &Docker) -> Result<NodeImage, DeployError> {
    build_helper_image_with(docker, &NodeBuild::default(), None).await
}

/// [`build_helper_image`], its binary built as `build` says and the build
/// said to `progress`.
async fn build_helper_image_with(
    docker: &Docker,
    build: &NodeBuild,
    progress: Option<Progress>,
) -> Result<NodeImage, DeployError> {
    let build = build.clone();
    let files = tokio::task::spawn_blocking(move || helper_files(&build, progress))
        .await
        .map_err(|e| DeployError::Other(format!("assembling the helper image failed: {e}")))??;
    build_files(docker, tf_netfault::BINARY, files).await
}

/// Where iptables is on this machine; the helper's copy runs the same.
const IPTABLES: &str = "/usr/sbin/iptables";

/// Whether this machine has the iptables the helper image carries.
fn has_iptables() -> bool {
    Path::new(IPTABLES).exists()
}

fn helper_files(
    build: &NodeBuild,
    progress: Option<Progress>,
) -> Result<Vec<(String, PathBuf)>, DeployError> {
    let spec = NodeBinary::named(tf_netfault::BINARY, "TF_NETFAULT_BIN").from_workspace(
        "tf-netfault",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../netfault"),
    );
    // It applies rules and answers probes: never optimized.
    let agent = tf_core::deployer_kit::binary::resolve_with(&spec, &build.unoptimized(), progress)?;
    let mut files = vec![(
        format!("{BINARY_DIR}/{}", tf_netfault::BINARY),
        agent.clone(),
    )];
    files.extend(linked_files(&agent)?);
    let iptables = Path::new(IPTABLES);
    if !has_iptables() {
        // Probes (partitions are confirmed by them) need no iptables; a
        // link fault then fails saying what to install.
        tracing::warn!(
            "{IPTABLES} is missing: the link fault helper can confirm partitions but neither apply link faults nor fence a cut-off node (so a partition may leak while Docker networks are created or removed); install iptables (apt install iptables)"
        );
        return Ok(files);
    }
    files.push((IPTABLES.to_owned(), iptables.to_path_buf()));
    let linked = linked_files(iptables)?;
    // iptables loads its matches and targets at run time from `xtables/`
    // next to libxtables.
    let extensions = linked
        .iter()
        .find(|(at, _)| at.contains("libxtables.so"))
        .and_then(|(_, path)| path.parent().map(|dir| dir.join("xtables")))
        .or_else(|| {
            ["/usr/lib/x86_64-linux-gnu/xtables", "/usr/lib/xtables"]
                .map(PathBuf::from)
                .into_iter()
                .find(|d| d.is_dir())
        });
    files.extend(linked);
    let Some(extensions) = extensions.filter(|d| d.is_dir()) else {
        return Err(DeployError::Other(
            "iptables' extensions (the xtables directory) are not on this machine; reinstall iptables".into(),
        ));
    };
    let entries = std::fs::read_dir(&extensions)
        .map_err(|e| DeployError::Other(format!("cannot read {}: {e}", extensions.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "so") {
            let at = format!("{EXTENSIONS}/{}", entry.file_name().to_string_lossy());
            files.push((at, path));
        }
    }
    Ok(files)
}

/// The node's address on the peers network.
async fn peer_address(docker: &Docker, run: &str, container: &str) -> Result<Ipv4Addr, String> {
    let inspected = docker
        .inspect_container(
            container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .map_err(|e| format!("cannot inspect {container}: {}", describe(&e)))?;
    let peers = Net::Peers.name(run);
    inspected
        .network_settings
        .and_then(|s| s.networks)
        .and_then(|mut n| n.remove(&peers))
        .and_then(|n| n.ip_address)
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| format!("{container} has no address on {peers} (is it running?)"))?
        .parse()
        .map_err(|e| format!("{container}'s address on {peers} is not IPv4: {e}"))
}

/// Sends `request` to `helper`'s agent through the engine's exec; its
/// answer, or what went wrong.
async fn ask(docker: &Docker, helper: &str, request: &Request) -> Result<Response, String> {
    let json = serde_json::to_string(request).map_err(|e| e.to_string())?;
    let exec = docker
        .create_exec(
            helper,
            CreateExecOptions {
                cmd: Some(vec![
                    format!("{BINARY_DIR}/{}", tf_netfault::BINARY),
                    "ctl".to_owned(),
                    json,
                ]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("cannot run a request in {helper}: {}", describe(&e)))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    let run = async {
        match docker.start_exec(&exec.id, None).await {
            Ok(StartExecResults::Attached { mut output, .. }) => {
                while let Some(chunk) = output.next().await {
                    match chunk {
                        Ok(bollard::container::LogOutput::StdOut { message }) => {
                            stdout.push_str(&String::from_utf8_lossy(&message));
                        }
                        Ok(other) => stderr.push_str(&other.to_string()),
                        Err(e) => return Err(describe(&e)),
                    }
                }
                Ok(())
            }
            Ok(StartExecResults::Detached) => Err("the exec detached".into()),
            Err(e) => Err(describe(&e)),
        }
    };
    tokio::time::timeout(EXEC_TIMEOUT, run)
        .await
        .map_err(|_| format!("{helper} did not answer within {EXEC_TIMEOUT:?}"))?
        .map_err(|e| format!("a request in {helper} failed: {e}"))?;
    let response: Response = serde_json::from_str(stdout.trim()).map_err(|e| {
        format!(
            "{helper} answered something else than a response ({e}): {} {}",
            stdout.trim(),
            stderr.trim()
        )
    })?;
    Ok(response)
}
