//! Groups: a topology is a list of named groups of nodes, each running its
//! own app (validators and RPC nodes, Redis servers and their sentinels, a
//! database beside them), started in order.
//!
//! A scenario of one app is one group named [`DEFAULT_GROUP`], whose nodes
//! are `node-0`, `node-1`, ...; the nodes of a group `rpc` are `rpc-0`,
//! `rpc-1`, ...

use std::any::{Any, TypeId, type_name};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use super::application::NoDefaultClient;
use super::{Application, NodeBinary, NodeCommand, NodeEndpoint, NodeSpec, PortMap, PortSpec};
use crate::observation::error::BoxError;

/// The group of a scenario of one app.
pub const DEFAULT_GROUP: &str = "node";

/// The longest group name: with a node's number and a suffix (`-env`,
/// `-data`), it still names a Kubernetes object and label (63 characters).
const MAX_NAME: usize = 40;

/// The name of a group's `ordinal`-th node (`rpc-1`).
pub fn node_name(group: &str, ordinal: usize) -> String {
    format!("{group}-{ordinal}")
}

/// Builds one node's command from its place in the topology.
pub(crate) type CommandFn =
    dyn Fn(&NodeSpec, &[NodeSpec]) -> Result<NodeCommand, BoxError> + Send + Sync;

/// Makes a node's readiness probe from its endpoint.
type ProbeFn = dyn Fn(&NodeEndpoint) -> Result<NodeProbe, BoxError> + Send + Sync;

/// Makes a node's client, boxed, from its endpoint.
pub(crate) type ClientFn =
    dyn Fn(&NodeEndpoint) -> Result<Arc<dyn Any + Send + Sync>, BoxError> + Send + Sync;

/// Asks one node whether it is ready ([`Application::ready`] on its
/// client), whatever its app.
#[derive(Clone)]
pub struct NodeProbe(Arc<dyn Fn() -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>);

impl NodeProbe {
    /// Probes once.
    pub async fn probe(&self) -> Result<(), BoxError> {
        (self.0)().await
    }
}

impl fmt::Debug for NodeProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeProbe")
    }
}

/// One group of a deployment: what a deployer needs to start its nodes.
#[derive(Clone)]
pub struct GroupRequest {
    /// Its name; its nodes are called `name-0`, `name-1`, ...
    pub name: String,
    /// Its app's name.
    pub app: String,
    /// How many nodes.
    pub nodes: usize,
    /// The binary its nodes run.
    pub binary: NodeBinary,
    /// The ports each of its nodes listens on; the observed one first.
    pub ports: Vec<PortSpec>,
    /// Groups whose nodes must be ready before this group's start.
    pub after: Vec<String>,
    command: Arc<CommandFn>,
    probe: Arc<ProbeFn>,
}

impl GroupRequest {
    /// A group `name` of `nodes` nodes of `app`.
    pub fn new<A: Application>(name: impl Into<String>, app: Arc<A>, nodes: usize) -> Self {
        let probe_app = Arc::clone(&app);
        GroupRequest {
            name: name.into(),
            app: app.name().to_owned(),
            nodes,
            binary: app.binary(),
            ports: {
                // The observed port first: deployers reach nodes at the first.
                let mut ports = app.ports();
                ports.sort_by_key(|p| !p.observed);
                ports
            },
            after: Vec::new(),
            probe: Arc::new(move |endpoint| {
                let client = probe_app.client(endpoint)?;
                let app = Arc::clone(&probe_app);
                Ok(NodeProbe(Arc::new(move || {
                    let (app, client) = (Arc::clone(&app), client.clone());
                    Box::pin(async move { app.ready(&client).await })
                })))
            }),
            command: Arc::new(move |node, topology| app.node_command(node, topology)),
        }
    }

    /// The command that starts `node` of `topology`.
    pub(crate) fn command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        (self.command)(node, topology)
    }

    /// The readiness probe of the node at `endpoint`.
    pub fn probe(&self, endpoint: &NodeEndpoint) -> Result<NodeProbe, BoxError> {
        (self.probe)(endpoint)
    }

    /// Its `ordinal`-th node's name.
    pub fn node_name(&self, ordinal: usize) -> String {
        node_name(&self.name, ordinal)
    }
}

impl fmt::Debug for GroupRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupRequest")
            .field("name", &self.name)
            .field("app", &self.app)
            .field("nodes", &self.nodes)
            .field("binary", &self.binary)
            .field("ports", &self.ports)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

/// A group of a scenario's topology: a name, an app, a size and its place
/// in the order of start.
///
/// ```ignore
/// Scenario::builder("ha", RedisServer)
///     .group_name("redis")
///     .nodes(3)
///     .group(Group::new("sentinel", Sentinel).nodes(3).after("redis"))
/// ```
#[derive(Clone)]
pub struct Group {
    pub(crate) request: GroupRequest,
    /// The fewest nodes it may have.
    pub(crate) at_least: usize,
    pub(crate) client: Arc<ClientFn>,
    pub(crate) client_type: TypeId,
    pub(crate) client_type_name: &'static str,
    /// Its app's type: the scenario's own app's groups are its nodes
    /// ([`RunContext::nodes`](super::RunContext::nodes)).
    pub(crate) app_type: TypeId,
}

impl Group {
    /// A group `name` of `app`'s nodes, one node until [`nodes`](Self::nodes)
    /// says otherwise.
    pub fn new<A: Application>(name: impl Into<String>, app: A) -> Self {
        Self::of(name, Arc::new(app))
    }

    /// Like [`new`](Self::new), with the app shared.
    pub fn of<A: Application>(name: impl Into<String>, app: Arc<A>) -> Self {
        let client_app = Arc::clone(&app);
        Group {
            request: GroupRequest::new(name, app, 1),
            at_least: 1,
            client: Arc::new(move |endpoint| {
                client_app
                    .client(endpoint)
                    .map(|client| Arc::new(client) as Arc<dyn Any + Send + Sync>)
            }),
            client_type: TypeId::of::<A::Client>(),
            client_type_name: type_name::<A::Client>(),
            app_type: TypeId::of::<A>(),
        }
    }

    /// Why its app cannot make a client at all (a client type with no
    /// default and no `Application::client`), found before anything runs
    /// by asking for the client of a node that is not there.
    pub(crate) fn lacks_client(&self) -> Option<String> {
        let probe = NodeEndpoint::loopback("probe", &PortMap::new([]));
        let error = (self.client)(&probe).err()?;
        let missing = error.downcast_ref::<NoDefaultClient>()?;
        Some(format!("group `{}`: {missing}", self.name()))
    }

    /// How many nodes (default 1).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.request.nodes = nodes;
        self
    }

    /// Starts once every node of `group` is ready (replicas after their
    /// primary, sentinels after both). Call once per group it waits for.
    pub fn after(mut self, group: impl Into<String>) -> Self {
        self.request.after.push(group.into());
        self
    }

    /// The fewest nodes it may have (default 1; 0 for a group that may be
    /// left out, such as optional RPC nodes).
    pub fn at_least(mut self, nodes: usize) -> Self {
        self.at_least = nodes;
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.request.name
    }

    /// Its size.
    pub fn size(&self) -> usize {
        self.request.nodes
    }

    /// What a deployer sees of it.
    pub fn request(&self) -> &GroupRequest {
        &self.request
    }

    pub(crate) fn rename(&mut self, name: String) {
        self.request.name = name;
    }
}

/// A topology of groups that cannot be deployed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopologyError {
    /// A name that cannot name nodes, containers and pods.
    #[error(
        "group name `{0}` must start with a lowercase letter, hold only lowercase letters, digits and `-`, and be at most 40 characters long (it names the nodes, their containers and pods)"
    )]
    BadName(String),
    /// Two groups with one name.
    #[error("two groups are named `{0}`; give each group its own name")]
    Duplicate(String),
    /// Fewer nodes than the group needs.
    #[error("group `{group}` has {nodes} node(s) but needs at least {at_least}; give it more")]
    TooSmall {
        /// The group.
        group: String,
        /// Its size.
        nodes: usize,
        /// Its least size.
        at_least: usize,
    },
    /// No node at all.
    #[error("a scenario needs at least one node; give a group one or more")]
    Empty,
    /// A group waits for one that does not exist.
    #[error(
        "group `{group}` starts after `{after}`, which is not a group of this topology (groups: {groups})"
    )]
    UnknownAfter {
        /// The group.
        group: String,
        /// What it waits for.
        after: String,
        /// The groups there are.
        groups: String,
    },
    /// The start order goes round.
    #[error("the start order has a cycle: {0}; one of these groups must start without waiting")]
    Cycle(String),
}

/// Checks groups and returns the order of start: stages of group indices,
/// each stage starting once every node of the stages before is ready.
pub fn stages(
    groups: &[GroupRequest],
    at_least: &[usize],
) -> Result<Vec<Vec<usize>>, TopologyError> {
    let mut seen = BTreeMap::new();
    for (i, group) in groups.iter().enumerate() {
        let name = &group.name;
        if !name.starts_with(|c: char| c.is_ascii_lowercase())
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || name.ends_with('-')
            || name.len() > MAX_NAME
        {
            return Err(TopologyError::BadName(name.clone()));
        }
        if seen.insert(name.as_str(), i).is_some() {
            return Err(TopologyError::Duplicate(name.clone()));
        }
        let least = at_least.get(i).copied().unwrap_or(0);
        if group.nodes < least {
            return Err(TopologyError::TooSmall {
                group: name.clone(),
                nodes: group.nodes,
                at_least: least,
            });
        }
    }
    if groups.iter().all(|g| g.nodes == 0) {
        return Err(TopologyError::Empty);
    }
    let names = || {
        groups
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut waits: Vec<Vec<usize>> = Vec::with_capacity(groups.len());
    for group in groups {
        let mut on = Vec::new();
        for after in &group.after {
            match seen.get(after.as_str()) {
                Some(&i) => on.push(i),
                None => {
                    return Err(TopologyError::UnknownAfter {
                        group: group.name.clone(),
                        after: after.clone(),
                        groups: names(),
                    });
                }
            }
        }
        waits.push(on);
    }
    // Kahn's layering: a stage is every group whose waits are all placed.
    let mut stage_of: Vec<Option<usize>> = vec![None; groups.len()];
    let mut stages: Vec<Vec<usize>> = Vec::new();
    while stage_of.iter().any(Option::is_none) {
        let next: Vec<usize> = (0..groups.len())
            .filter(|&i| stage_of[i].is_none())
            .filter(|&i| {
                waits[i]
                    .iter()
                    .all(|&w| stage_of[w].is_some_and(|s| s < stages.len()))
            })
            .collect();
        if next.is_empty() {
            let left: Vec<&str> = (0..groups.len())
                .filter(|&i| stage_of[i].is_none())
                .map(|i| groups[i].name.as_str())
                .collect();
            return Err(TopologyError::Cycle(cycle_in(&left, groups, &seen)));
        }
        for &i in &next {
            stage_of[i] = Some(stages.len());
        }
        stages.push(next);
    }
    Ok(stages)
}

/// One cycle among the groups `left` (each waits for another of them), as
/// `a -> b -> a`.
fn cycle_in(left: &[&str], groups: &[GroupRequest], index: &BTreeMap<&str, usize>) -> String {
    let waits_on = |name: &str| -> Option<&str> {
        let group = &groups[index[name]];
        group
            .after
            .iter()
            .map(String::as_str)
            .find(|a| left.contains(a))
    };
    let mut path = vec![left[0]];
    while let Some(next) = waits_on(path[path.len() - 1]) {
        if let Some(at) = path.iter().position(|p| *p == next) {
            let mut cycle: Vec<&str> = path[at..].to_vec();
            cycle.push(next);
            return cycle.join(" -> ");
        }
        path.push(next);
    }
    left.join(", ")
}

/// A node command asked for a group the topology does not have.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no group `{group}` in this topology (groups: {groups})")]
pub struct UnknownGroup {
    /// The name asked for.
    pub group: String,
    /// The groups there are.
    pub groups: String,
}

/// The whole topology, as a node's command sees it: every node of every
/// group. `topology.group("validator")?` names a node's peers by role.
pub trait Topology {
    /// The nodes of `group`, in order; an error names the groups there are.
    fn group(&self, group: &str) -> Result<Vec<&NodeSpec>, UnknownGroup>;
    /// The names of the groups, in order.
    fn groups(&self) -> Vec<&str>;
}

impl Topology for [NodeSpec] {
    fn group(&self, group: &str) -> Result<Vec<&NodeSpec>, UnknownGroup> {
        let nodes: Vec<&NodeSpec> = self.iter().filter(|n| n.group == group).collect();
        if nodes.is_empty() && !self.groups().contains(&group) {
            return Err(UnknownGroup {
                group: group.to_owned(),
                groups: self.groups().join(", "),
            });
        }
        Ok(nodes)
    }

    fn groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = Vec::new();
        for node in self {
            if !groups.contains(&node.group.as_str()) {
                groups.push(&node.group);
            }
        }
        groups
    }
}
