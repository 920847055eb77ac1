//! Link faults on compose: a helper container beside each sender, in the
//! node's network namespace (`network_mode: container:<node>`) with
//! `NET_ADMIN`, running the framework's `tf-netfault` agent, driven
//! through the engine's exec API. The node itself needs no capability,
//! and only what goes to its peers' addresses on the peers network is
//! touched: the runner's way in (the access network) never is.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, ListContainersOptions};
use futures::StreamExt;
use tf_core::fault::{Impaired, Link, LinkFault};
use tf_core::scenario::{DeployError, NodeBinary};
use tf_netfault::{Request, Response, Rtt};
use tokio::sync::{Mutex as AsyncMutex, OnceCell};

use crate::engine::describe;
use crate::image::{BINARY_DIR, build_files, linked_files};
use crate::labels;
use crate::network::Net;
use crate::node::remove_container;

/// The helpers' role label value.
const HELPER: &str = "net-helper";
/// How long one request to a helper may take (probes of cut links wait
/// for their connects to time out).
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// A fault in force: per sender, its receivers.
struct Active {
    fault: LinkFault,
    senders: BTreeMap<String, Vec<String>>,
}

/// The run's helpers and the faults in force.
#[derive(Default)]
pub(crate) struct LinkFaults {
    image: OnceCell<String>,
    /// Helper container by node; a helper serves the node's life it was
    /// started in, and is made again after the node restarts.
    helpers: AsyncMutex<HashMap<String, String>>,
    active: AsyncMutex<BTreeMap<u64, Active>>,
    next: AtomicU64,
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
}

impl LinkFaults {
    /// Applies `fault` to `links`: for each sender, its helper puts the
    /// fault on the packets to its receivers and times a connect to each
    /// before and after. A fault whose effect does not show is undone and
    /// is an error.
    pub(crate) async fn impair(
        &self,
        nodes: &Nodes<'_>,
        links: &[Link],
        fault: &LinkFault,
    ) -> Result<Impaired, String> {
        fault.check()?;
        let mut senders: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for link in links {
            if link.from == link.to {
                return Err(format!("{link} joins a node to itself"));
            }
            for end in [&link.from, &link.to] {
                if !nodes.containers.contains_key(end) {
                    return Err(format!("no node named `{end}` in this cluster"));
                }
            }
            senders
                .entry(link.from.clone())
                .or_default()
                .push(link.to.clone());
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut active = self.active.lock().await;
        // Every sender in parallel, in three steps, so that no sender's
        // "before" is taken after another's fault is on.
        let placed = all(senders.iter().map(|(s, r)| self.place(nodes, s, r))).await?;
        let before = all(placed.iter().map(|p| probe(nodes, p, None))).await?;
        // After a cut no connect answers: wait only as long as one would
        // take on the link as it was, with the fault's delay, and margin.
        let slowest = before
            .iter()
            .flatten()
            .filter_map(|r| r.median)
            .max()
            .unwrap_or_default();
        let patience =
            (slowest * 4 + (fault.delay + fault.jitter) * 3).max(Duration::from_millis(300));
        let put = all(placed.iter().map(|p| put(nodes, id, p, fault))).await;
        let after = match put {
            Ok(_) => all(placed.iter().map(|p| probe(nodes, p, Some(patience)))).await,
            Err(error) => Err(error),
        };
        let confirmed = after.and_then(|after| {
            let mut lines = Vec::new();
            for ((placed, before), after) in placed.iter().zip(&before).zip(&after) {
                for ((receiver, before), after) in placed.receivers.iter().zip(before).zip(after) {
                    let line = format!(
                        "{} -> {receiver}: connect {} -> {}",
                        placed.sender,
                        before.describe(),
                        after.describe()
                    );
                    took_effect(fault, before, after)
                        .map_err(|why| format!("{fault} on {line} had no effect: {why}"))?;
                    lines.push(line);
                }
            }
            Ok(lines)
        });
        let confirmed = match confirmed {
            Ok(lines) => lines,
            Err(error) => {
                for sender in senders.keys() {
                    let _ = self.remove_at(nodes, id, sender).await;
                }
                return Err(error);
            }
        };
        active.insert(
            id,
            Active {
                fault: fault.clone(),
                senders,
            },
        );
        Ok(Impaired { id, confirmed })
    }

    /// Removes fault `id`; what it did, a line a sender. A cut is
    /// confirmed gone: every sender that answers reaches each of its
    /// receivers that answers again, or the restore is an error naming the
    /// link.
    pub(crate) async fn restore(&self, nodes: &Nodes<'_>, id: u64) -> Result<Vec<String>, String> {
        let Some(active) = self.active.lock().await.remove(&id) else {
            return Ok(Vec::new());
        };
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for (sender, receivers) in &active.senders {
            match self.remove_at(nodes, id, sender).await {
                Ok(counters) => lines.push(describe_counters(sender, receivers, &counters)),
                Err(error) => problems.push(error),
            }
        }
        if problems.is_empty() && active.fault.is_cut() {
            match self.reach_again(nodes, &active.senders).await {
                Ok(reached) => lines.extend(reached),
                Err(error) => problems.push(error),
            }
        }
        if problems.is_empty() {
            Ok(lines)
        } else {
            Err(problems.join("; "))
        }
    }

    /// After a cut is removed: each answering sender's connects to its
    /// answering receivers, which must get an answer again.
    async fn reach_again(
        &self,
        nodes: &Nodes<'_>,
        senders: &BTreeMap<String, Vec<String>>,
    ) -> Result<Vec<String>, String> {
        let up = |n: &String| nodes.answering.contains(n);
        let checked: BTreeMap<String, Vec<String>> = senders
            .iter()
            .filter(|(sender, _)| up(sender))
            .map(|(s, r)| (s.clone(), r.iter().filter(|r| up(r)).cloned().collect()))
            .filter(|(_, r): &(String, Vec<String>)| !r.is_empty())
            .collect();
        let placed = all(checked.iter().map(|(s, r)| self.place(nodes, s, r))).await?;
        let rtts = all(placed.iter().map(|p| probe(nodes, p, None))).await?;
        let mut lines = Vec::new();
        for (placed, rtts) in placed.iter().zip(&rtts) {
            for (receiver, rtt) in placed.receivers.iter().zip(rtts) {
                if rtt.median.is_none() {
                    return Err(format!(
                        "the cut is off but {} -> {receiver}: connect {}",
                        placed.sender,
                        rtt.describe()
                    ));
                }
                lines.push(format!(
                    "{} -> {receiver} answers again: connect {}",
                    placed.sender,
                    rtt.describe()
                ));
            }
        }
        Ok(lines)
    }

    /// After `node` started again (a new network namespace, perhaps a new
    /// address): its helper is made again and every fault it takes part
    /// in is put back.
    pub(crate) async fn node_started(&self, nodes: &Nodes<'_>, node: &str) -> Result<(), String> {
        if let Some(old) = self.helpers.lock().await.remove(node) {
            remove_container(nodes.docker, &old).await?;
        }
        let active = self.active.lock().await;
        for (id, fault) in active.iter() {
            for (sender, receivers) in &fault.senders {
                if sender != node && !receivers.iter().any(|r| r == node) {
                    continue;
                }
                if sender != node {
                    let _ = self.remove_at(nodes, *id, sender).await;
                }
                let placed = self.place(nodes, sender, receivers).await;
                match placed {
                    Ok(placed) => put(nodes, *id, &placed, &fault.fault).await,
                    Err(error) => Err(error),
                }
                .map_err(|e| format!("putting fault {id} back after {node} started: {e}"))?;
            }
        }
        Ok(())
    }

    /// Connect times from `from` to each of `to` (on the peers network),
    /// made inside `from`'s network namespace by its helper, each connect
    /// given `timeout` (the agent's default when `None`).
    pub(crate) async fn connects(
        &self,
        nodes: &Nodes<'_>,
        from: &str,
        to: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<Rtt>, String> {
        let placed = self.place(nodes, from, to).await?;
        probe(nodes, &placed, timeout).await
    }

    /// Forgets `node`'s helper (the node was removed with it).
    pub(crate) async fn forget(&self, node: &str) {
        self.helpers.lock().await.remove(node);
    }

    /// `sender`'s helper, started if need be, and its receivers' addresses.
    async fn place(
        &self,
        nodes: &Nodes<'_>,
        sender: &str,
        receivers: &[String],
    ) -> Result<Placed, String> {
        let helper = self.helper(nodes, sender).await?;
        let mut to = Vec::new();
        let mut targets = Vec::new();
        for receiver in receivers {
            let (container, port) = &nodes.containers[receiver];
            let address = peer_address(nodes.docker, nodes.run, container).await?;
            to.push(address);
            targets.push(SocketAddr::from((address, *port)));
        }
        Ok(Placed {
            sender: sender.to_owned(),
            helper,
            receivers: receivers.to_vec(),
            to,
            targets,
        })
    }

    async fn remove_at(
        &self,
        nodes: &Nodes<'_>,
        id: u64,
        sender: &str,
    ) -> Result<tf_netfault::Counters, String> {
        let Some(helper) = self.helpers.lock().await.get(sender).cloned() else {
            return Ok(tf_netfault::Counters::default());
        };
        match ask(nodes.docker, &helper, &Request::Remove { id: queue_of(id) }).await? {
            Response::Removed { counters } => Ok(counters),
            other => Err(unexpected(sender, &other)),
        }
    }

    /// `node`'s helper, started if it has none.
    async fn helper(&self, nodes: &Nodes<'_>, node: &str) -> Result<String, String> {
        // Not held while a helper starts, so senders start theirs together.
        if let Some(helper) = self.helpers.lock().await.get(node) {
            return Ok(helper.clone());
        }
        let image = self
            .image
            .get_or_try_init(|| async {
                helper_image(nodes.docker).await.map_err(|e| e.to_string())
            })
            .await?
            .clone();
        let (container, _) = &nodes.containers[node];
        let name = format!("{container}-net");
        // One a crashed earlier attempt left is replaced.
        remove_container(nodes.docker, &name).await?;
        let mut helper_labels = nodes.labels.clone();
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
        nodes
            .docker
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
        if let Err(e) = nodes
            .docker
            .start_container(
                &name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            let _ = remove_container(nodes.docker, &name).await;
            return Err(format!(
                "cannot start the link fault helper of {node} (is {node} running?): {}",
                describe(&e)
            ));
        }
        self.helpers
            .lock()
            .await
            .insert(node.to_owned(), name.clone());
        Ok(name)
    }
}

/// A sender ready for a fault: its helper, and its receivers' names,
/// addresses and probe targets, in the same order.
struct Placed {
    sender: String,
    helper: String,
    receivers: Vec<String>,
    to: Vec<Ipv4Addr>,
    targets: Vec<SocketAddr>,
}

/// Every future's output, or the first error.
async fn all<T>(
    futures: impl IntoIterator<Item = impl std::future::Future<Output = Result<T, String>>>,
) -> Result<Vec<T>, String> {
    futures::future::join_all(futures)
        .await
        .into_iter()
        .collect()
}

/// Connect times from `placed`'s sender to each of its receivers, each
/// connect given `timeout` (the agent's default when `None`).
async fn probe(
    nodes: &Nodes<'_>,
    placed: &Placed,
    timeout: Option<Duration>,
) -> Result<Vec<Rtt>, String> {
    let request = Request::Probe {
        targets: placed.targets.clone(),
        timeout,
    };
    match ask(nodes.docker, &placed.helper, &request).await? {
        Response::Probed { rtts } => Ok(rtts),
        other => Err(unexpected(&placed.sender, &other)),
    }
}

/// Puts fault `id` on what `placed`'s sender sends its receivers.
async fn put(nodes: &Nodes<'_>, id: u64, placed: &Placed, fault: &LinkFault) -> Result<(), String> {
    let request = Request::Apply {
        id: queue_of(id),
        to: placed.to.clone(),
        fault: fault.clone(),
        seed: id,
    };
    match ask(nodes.docker, &placed.helper, &request).await? {
        Response::Applied => Ok(()),
        other => Err(unexpected(&placed.sender, &other)),
    }
}

/// Removes every helper of run `run` (before its nodes go).
pub(crate) async fn remove_helpers(docker: &Docker, run: &str) -> Vec<String> {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![
            format!("{}={run}", labels::RUN),
            format!("{}={HELPER}", labels::ROLE),
        ],
    )]);
    let listed = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await;
    let mut problems = Vec::new();
    match listed {
        Ok(containers) => {
            for id in containers.into_iter().filter_map(|c| c.id) {
                if let Err(problem) = remove_container(docker, &id).await {
                    problems.push(problem);
                }
            }
        }
        Err(e) => problems.push(format!(
            "cannot list the link fault helpers of run {run}: {}",
            describe(&e)
        )),
    }
    problems
}

/// The helper image: `tf-netfault`, iptables with its extensions, and the
/// libraries they link; built once and tagged by content.
async fn helper_image(docker: &Docker) -> Result<String, DeployError> {
    let files = tokio::task::spawn_blocking(helper_files)
        .await
        .map_err(|e| DeployError::Other(format!("assembling the helper image failed: {e}")))??;
    Ok(build_files(docker, tf_netfault::BINARY, files).await?.tag)
}

/// Where iptables is on this machine; the helper's copy runs the same.
const IPTABLES: &str = "/usr/sbin/iptables";
/// Where the helper image holds iptables' extensions (`XTABLES_LIBDIR`).
const EXTENSIONS: &str = "/usr/lib/xtables";

fn helper_files() -> Result<Vec<(String, PathBuf)>, DeployError> {
    let spec = NodeBinary::named(tf_netfault::BINARY, "TF_NETFAULT_BIN").from_workspace(
        "tf-netfault",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../netfault"),
    );
    let agent = tf_core::host::binary::resolve(&spec)?;
    let iptables = Path::new(IPTABLES);
    if !iptables.exists() {
        return Err(DeployError::Other(format!(
            "link faults on compose need iptables on this machine ({IPTABLES} is missing): install it (apt install iptables); the helper image carries this machine's copy"
        )));
    }
    let mut files = vec![(
        format!("{BINARY_DIR}/{}", tf_netfault::BINARY),
        agent.clone(),
    )];
    files.extend(linked_files(&agent)?);
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

/// The agent's fault number of fault `id`: its chain and its queue.
fn queue_of(id: u64) -> u16 {
    (id % u64::from(u16::MAX)) as u16
}

fn unexpected(node: &str, response: &Response) -> String {
    match response {
        Response::Error { message } => format!("the link fault helper of {node}: {message}"),
        other => format!("the link fault helper of {node} answered {other:?}"),
    }
}

/// Whether `fault` shows in the connect times: a cut gets no answer, a
/// delay adds about itself. Losses and duplicates are too rare to show in
/// a few connects; their rules' counters tell on removal.
fn took_effect(fault: &LinkFault, before: &Rtt, after: &Rtt) -> Result<(), String> {
    if fault.is_cut() {
        return match after.median {
            None => Ok(()),
            Some(d) => Err(format!("a connect still took {d:?}")),
        };
    }
    let least = fault.delay.saturating_sub(fault.jitter) / 2;
    if least.is_zero() || fault.loss > 50.0 {
        return Ok(());
    }
    match (before.median, after.median) {
        (Some(before), Some(after)) if after >= before + least => Ok(()),
        (Some(before), Some(after)) => Err(format!(
            "connects took {before:?} before and {after:?} after; expected at least {least:?} more"
        )),
        // A lossy link may lose a probe: the rules are in force.
        _ => Ok(()),
    }
}

fn describe_counters(sender: &str, receivers: &[String], c: &tf_netfault::Counters) -> String {
    let mut line = format!("{sender} -> {}: {} packets", receivers.join(","), c.packets);
    if c.packets > 0 {
        let share = |n: u64| n as f64 * 100.0 / c.packets as f64;
        if c.dropped > 0 {
            line.push_str(&format!(
                ", {} dropped ({:.1}%)",
                c.dropped,
                share(c.dropped)
            ));
        }
        if c.duplicated > 0 {
            line.push_str(&format!(
                ", {} duplicated ({:.1}%)",
                c.duplicated,
                share(c.duplicated)
            ));
        }
        if c.delayed > 0 {
            line.push_str(&format!(", {} delayed", c.delayed));
        }
    }
    line
}
