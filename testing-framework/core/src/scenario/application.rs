//! What an app tells the framework about its nodes. Deployers use only this
//! to start nodes; the framework never learns what a leader or a key is.

use std::any::{Any, TypeId, type_name};
use std::path::PathBuf;

use async_trait::async_trait;

use crate::observation::error::BoxError;

/// A port every node of an app listens on, by name (`api`, `peer`,
/// `metrics`). Deployers give each node its own number for each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Its name, unique within the app.
    pub name: String,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Whether it is the port the framework reaches the node at (see
    /// [`observed`](Self::observed)).
    pub observed: bool,
}

/// The transport of a [`PortSpec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl PortSpec {
    /// A TCP port called `name`.
    pub fn tcp(name: impl Into<String>) -> Self {
        PortSpec {
            name: name.into(),
            protocol: Protocol::Tcp,
            observed: false,
        }
    }

    /// A UDP port called `name`.
    pub fn udp(name: impl Into<String>) -> Self {
        PortSpec {
            name: name.into(),
            protocol: Protocol::Udp,
            observed: false,
        }
    }

    /// Marks it as the port the framework reaches each node at: the
    /// address of [`NodeEndpoint::address`] (which the app's client is made
    /// from, and so its observers' polls and the readiness probe). Without
    /// a mark, the first declared port is.
    pub fn observed(mut self) -> Self {
        self.observed = true;
        self
    }
}

/// The API port's name in [`Application::ports`]' default.
pub const API_PORT: &str = "api";

/// A port name the app did not declare in [`Application::ports`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{node} has no port `{port}`; the app declares {declared}; add it to Application::ports")]
pub struct UnknownPort {
    /// The node asked about.
    pub node: String,
    /// The name asked for.
    pub port: String,
    /// The names the app declares.
    pub declared: String,
}

/// Named ports with their numbers; the first is the observed one (see
/// [`PortSpec::observed`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMap(Vec<(String, u16)>);

impl PortMap {
    /// From `(name, number)` pairs, the API first.
    pub fn new(ports: impl IntoIterator<Item = (String, u16)>) -> Self {
        PortMap(ports.into_iter().collect())
    }

    /// The number of the port called `name`.
    pub fn get(&self, name: &str) -> Option<u16> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, p)| *p)
    }

    /// The observed port (see [`PortSpec::observed`]): the first one.
    pub fn api(&self) -> Option<u16> {
        self.0.first().map(|(_, p)| *p)
    }

    /// Every port number.
    pub fn numbers(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().map(|(_, p)| *p)
    }

    /// Every `(name, number)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u16)> {
        self.0.iter().map(|(n, p)| (n.as_str(), *p))
    }

    fn names(&self) -> String {
        let names: Vec<String> = self.0.iter().map(|(n, _)| format!("`{n}`")).collect();
        if names.is_empty() {
            "no ports".to_owned()
        } else {
            names.join(", ")
        }
    }
}

/// One node of a planned topology, as a deployer placed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    /// Position in the topology, from 0.
    pub index: usize,
    /// Its name in reports, logs and sources (`node-0`, `rpc-1`): its
    /// group's name and its number in the group.
    pub name: String,
    /// Its group ([`DEFAULT_GROUP`](super::DEFAULT_GROUP) in a scenario of
    /// one app).
    pub group: String,
    /// The host its peers reach it at (`127.0.0.1`, a container's
    /// address, a pod's DNS name).
    pub host: String,
    /// The address it should bind (`127.0.0.1` on local processes,
    /// `0.0.0.0` inside a container).
    pub bind_host: String,
    /// Every port the app declares, with this node's number for it.
    pub ports: PortMap,
    /// Directory that survives restarts of this node.
    pub data_dir: PathBuf,
}

impl NodeSpec {
    /// The number of its port `name`.
    pub fn port(&self, name: &str) -> Result<u16, UnknownPort> {
        self.ports.get(name).ok_or_else(|| UnknownPort {
            node: self.name.clone(),
            port: name.to_owned(),
            declared: self.ports.names(),
        })
    }

    /// `host:port` of its port `name`, as peers reach it.
    pub fn address(&self, name: &str) -> Result<String, UnknownPort> {
        Ok(format!("{}:{}", self.host, self.port(name)?))
    }

    /// `bind_host:port` of its port `name`: what the node should listen on.
    pub fn bind_address(&self, name: &str) -> Result<String, UnknownPort> {
        Ok(format!("{}:{}", self.bind_host, self.port(name)?))
    }

    /// `host:port` of port `name` of every other node of its own group in
    /// `topology`: its peers' addresses, in the topology's order.
    pub fn peer_addresses(
        &self,
        topology: &[NodeSpec],
        name: &str,
    ) -> Result<Vec<String>, UnknownPort> {
        topology
            .iter()
            .filter(|peer| peer.index != self.index && peer.group == self.group)
            .map(|peer| peer.address(name))
            .collect()
    }
}

/// Where the framework reaches a running node (which may differ from where
/// its peers do: a published port, a port-forward).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NodeEndpoint {
    /// The node's name.
    pub name: String,
    /// Its group.
    pub group: String,
    /// `host:port` of its observed port (see [`PortSpec::observed`]): the
    /// app's client is made from it.
    pub address: String,
    /// The host every port below is reached at.
    pub host: String,
    /// Every port, by name, as the framework reaches it.
    pub ports: PortMap,
}

impl NodeEndpoint {
    /// A node reached on 127.0.0.1 at its own port numbers (a local
    /// process, or a container whose ports are published as they are),
    /// in the default group until [`in_group`](Self::in_group).
    pub fn loopback(name: &str, ports: &PortMap) -> Self {
        NodeEndpoint {
            name: name.to_owned(),
            group: super::DEFAULT_GROUP.to_owned(),
            address: format!("127.0.0.1:{}", ports.api().unwrap_or_default()),
            host: "127.0.0.1".into(),
            ports: ports.clone(),
        }
    }

    /// In `group`.
    pub fn in_group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// `host:port` of its port `name`, as the framework reaches it.
    pub fn address_of(&self, name: &str) -> Result<String, UnknownPort> {
        let port = self.ports.get(name).ok_or_else(|| UnknownPort {
            node: self.name.clone(),
            port: name.to_owned(),
            declared: self.ports.names(),
        })?;
        Ok(format!("{}:{port}", self.host))
    }
}

/// How to start one node: its arguments, extra environment, and files it
/// reads at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeCommand {
    /// Arguments after the binary.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Files written into the node's data directory before it first
    /// starts: a path relative to [`NodeSpec::data_dir`], and the text.
    /// See [`file`](Self::file).
    pub files: Vec<(String, String)>,
}

impl NodeCommand {
    /// A command with these arguments.
    pub fn args<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        NodeCommand {
            args: args.into_iter().map(Into::into).collect(),
            ..NodeCommand::default()
        }
    }

    /// With a file written at `path` in the node's data directory before
    /// the node first starts (a configuration file: Redis Sentinel's, a
    /// PostgreSQL `postgresql.conf`). Name it to the node as
    /// `node.data_dir.join(path)`. The node may rewrite it: the file is
    /// written once, and restarts keep the data directory as the node
    /// left it. On Kubernetes it is mounted from a ConfigMap, read-only.
    pub fn file(mut self, path: impl Into<String>, contents: impl Into<String>) -> Self {
        self.files.push((path.into(), contents.into()));
        self
    }

    /// With one more environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// The node binary of an app and how it is found: the environment
/// override, then [`path`](Self::path), then `PATH`, then next to the
/// running executable, then a cargo build of
/// [`cargo_package`](Self::cargo_package).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBinary {
    /// File name of the binary (`openraft-kv-node`, `python3`).
    pub name: String,
    /// Environment variable that overrides where it is.
    pub env_override: String,
    /// An explicit path (`/usr/sbin/etcd`), tried after the override.
    pub path: Option<PathBuf>,
    /// Cargo package that builds it, when it is in this workspace.
    pub cargo_package: Option<String>,
    /// The package's directory: a binary older than any file in it is
    /// rebuilt (with `cargo_package`) rather than run stale.
    pub source_dir: Option<PathBuf>,
}

impl NodeBinary {
    /// A binary found by name on `PATH` or next to the running executable,
    /// overridable with the environment variable `env_override`.
    pub fn named(name: impl Into<String>, env_override: impl Into<String>) -> Self {
        NodeBinary {
            name: name.into(),
            env_override: env_override.into(),
            path: None,
            cargo_package: None,
            source_dir: None,
        }
    }

    /// Tried at `path` first (after the environment override).
    pub fn at(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Built by cargo from this workspace's package `package` in
    /// `source_dir` when it is missing or older than its sources.
    pub fn from_workspace(
        mut self,
        package: impl Into<String>,
        source_dir: impl Into<PathBuf>,
    ) -> Self {
        self.cargo_package = Some(package.into());
        self.source_dir = Some(source_dir.into());
        self
    }
}

/// An app under test, as deployers see it.
#[async_trait]
pub trait Application: Send + Sync + 'static {
    /// The app's client of one node; cheap to clone. It is also the source
    /// type of the app's observers.
    type Client: Clone + Send + Sync + 'static;

    /// The app's name, for reports.
    fn name(&self) -> &str;

    /// The binary that runs a node.
    fn binary(&self) -> NodeBinary;

    /// The ports every node listens on. The one marked
    /// [`PortSpec::observed`], else the first, is the one the framework
    /// reaches: [`NodeEndpoint::address`], from which [`client`](Self::client)
    /// makes the client that observers poll and readiness probes. One TCP
    /// port called `api` by default.
    fn ports(&self) -> Vec<PortSpec> {
        vec![PortSpec::tcp(API_PORT)]
    }

    /// How to start `node`, given every node of the topology (`node`
    /// included; the others are its peers), of every group: name peers by
    /// role with [`Topology::group`](super::Topology::group). Ask `node`
    /// for its ports and addresses by name; an error (an undeclared port,
    /// a group there is not) fails the deploy before any node starts.
    fn node_command(&self, node: &NodeSpec, topology: &[NodeSpec])
    -> Result<NodeCommand, BoxError>;

    /// A client of the node at `endpoint`. An error (a port the client
    /// needs that the endpoint lacks, an address that does not parse) ends
    /// the run before any workload starts, naming the node.
    ///
    /// Written only for a client of the app's own: by default, a
    /// `tf_core::http::JsonClient` (feature `http`) is made of
    /// [`NodeEndpoint::address`] (a node with an HTTP/JSON API), and `()` is the client of an app that needs none.
    /// Any other client type without this method is refused there, with
    /// the type named.
    fn client(&self, endpoint: &NodeEndpoint) -> Result<Self::Client, BoxError> {
        default_client(endpoint)
    }

    /// Whether the node behind `client` is ready to serve. Polled through
    /// an observation runtime until every node is ready.
    async fn ready(&self, client: &Self::Client) -> Result<(), BoxError>;
}

/// A `JsonClient` of the node's observed address, when `C` is that type.
#[cfg(feature = "http")]
fn json_client<C: 'static>(endpoint: &NodeEndpoint) -> Option<Box<dyn Any>> {
    (TypeId::of::<C>() == TypeId::of::<crate::http::JsonClient>())
        .then(|| Box::new(crate::http::JsonClient::new(&endpoint.address)) as Box<dyn Any>)
}

/// Without feature `http` there is no `JsonClient` to make (`C` is kept
/// so that both builds are called alike).
#[cfg(not(feature = "http"))]
#[allow(clippy::extra_unused_type_parameters)]
fn json_client<C>(_: &NodeEndpoint) -> Option<Box<dyn Any>> {
    None
}

/// An app whose client type the framework cannot make did not write
/// [`Application::client`]; `ScenarioBuilder::build` finds it first.
#[derive(Debug, thiserror::Error)]
#[error(
    "the app's client type {0} has no default; implement Application::client to make one from \
     the node's endpoint (only JsonClient and () are made without it)"
)]
pub(crate) struct NoDefaultClient(pub(crate) &'static str);

/// The client [`Application::client`] makes when an app does not write it:
/// `()`, or a `JsonClient` of the node's observed address.
fn default_client<C: 'static>(endpoint: &NodeEndpoint) -> Result<C, BoxError> {
    let client: Box<dyn Any> = if TypeId::of::<C>() == TypeId::of::<()>() {
        Box::new(())
    } else if let Some(client) = json_client::<C>(endpoint) {
        client
    } else {
        return Err(Box::new(NoDefaultClient(type_name::<C>())));
    };
    client.downcast::<C>().map(|client| *client).map_err(|_| {
        format!(
            "{} is not the client type it was checked to be",
            type_name::<C>()
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> NodeEndpoint {
        NodeEndpoint::loopback("node-0", &PortMap::new([("api".to_owned(), 4100)]))
    }

    #[cfg(feature = "http")]
    #[test]
    fn a_json_client_and_no_client_are_made_by_default() {
        let client: crate::http::JsonClient = default_client(&endpoint()).unwrap();
        assert_eq!(client.addr(), "127.0.0.1:4100");
        let (): () = default_client(&endpoint()).unwrap();
    }

    #[test]
    fn any_other_client_type_is_refused_with_its_name_and_the_fix() {
        let error = default_client::<String>(&endpoint()).unwrap_err();
        assert!(error.is::<NoDefaultClient>());
        let error = error.to_string();
        assert!(
            error.contains("alloc::string::String has no default")
                && error.contains("implement Application::client"),
            "{error}"
        );
    }
}
