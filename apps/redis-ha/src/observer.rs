//! What the cluster looks like from outside: each server's role and
//! replication offset, and the primary each Sentinel names.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_core::BoxError;
use tf_core::observation::{Observer, Sources};
use tf_core::report::{ReportEvent, ReportSnapshot, SeriesPoint, Severity};

use crate::app::MASTER;
use crate::client::{Kind, RedisClient};

/// One data node, as it answered last.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    /// `master` or `slave`.
    pub role: String,
    /// Its replication offset.
    pub offset: u64,
    /// A replica's primary, by node name (`None`: a primary, or an address
    /// that is no node of the cluster).
    pub primary: Option<String>,
    /// Whether a replica's link to its primary is up.
    pub link_up: bool,
}

/// The cluster as observed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaState {
    /// Data nodes that answered last time.
    pub servers: BTreeMap<String, ServerView>,
    /// Per Sentinel, the node it names as primary (`None`: it did not
    /// answer, or named an address that is no node of the cluster).
    pub sentinels: BTreeMap<String, Option<String>>,
}

impl HaState {
    /// The node a majority of the Sentinels name as primary.
    pub fn agreed_primary(&self) -> Option<&str> {
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for named in self.sentinels.values().flatten() {
            *votes.entry(named).or_default() += 1;
        }
        votes
            .into_iter()
            .find(|(_, n)| *n > self.sentinels.len() / 2)
            .map(|(node, _)| node)
    }

    /// Whether `node` answers as a replica of `primary` with its link up.
    pub fn replicates(&self, node: &str, primary: &str) -> bool {
        self.servers.get(node).is_some_and(|s| {
            s.role == "slave" && s.link_up && s.primary.as_deref() == Some(primary)
        })
    }

    /// Whether all is well: a majority of the Sentinels names one primary,
    /// it is the only node answering as a primary, and every other data
    /// node replicates it; what is wrong when not.
    pub fn settled(&self) -> Result<(), String> {
        let primary = self
            .agreed_primary()
            .ok_or("no majority of the Sentinels names a primary")?;
        if self.primaries() != [primary] {
            return Err(format!(
                "the Sentinels name {primary}, but {:?} answer as primaries",
                self.primaries()
            ));
        }
        let lagging: Vec<&str> = self
            .servers
            .keys()
            .filter(|n| n.as_str() != primary && !self.replicates(n, primary))
            .map(String::as_str)
            .collect();
        if lagging.is_empty() {
            Ok(())
        } else {
            Err(format!("{} do not replicate {primary}", lagging.join(", ")))
        }
    }

    /// The data nodes that answer as primaries.
    pub fn primaries(&self) -> Vec<&str> {
        self.servers
            .iter()
            .filter(|(_, s)| s.role == "master")
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

impl ReportSnapshot for HaState {
    fn series(&self) -> Vec<SeriesPoint> {
        self.servers
            .iter()
            .map(|(node, s)| SeriesPoint::new("replication offset", node, s.offset as f64))
            .collect()
    }
}

/// A change worth a line on the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HaEvent {
    /// A majority of the Sentinels now name `node` (`None`: no majority).
    Primary(Option<String>),
    /// A data node answers with another role.
    Role {
        /// The node.
        node: String,
        /// `master` or `slave`.
        role: String,
    },
}

impl ReportEvent for HaEvent {
    fn label(&self) -> String {
        match self {
            HaEvent::Primary(Some(node)) => format!("the Sentinels name {node} primary"),
            HaEvent::Primary(None) => "no majority of the Sentinels names a primary".into(),
            HaEvent::Role { node, role } => format!("{node} is now a {role}"),
        }
    }

    fn severity(&self) -> Severity {
        Severity::Notice
    }
}

/// Reads `INFO replication` from the data nodes and the named primary
/// from the Sentinels (any group whose clients are [`RedisClient`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct HaObserver;

/// The node behind `address` (`host:port` as a Sentinel or a replica
/// names it): the data node with that port. Ports tell nodes apart on
/// local processes and compose, where every node has its own.
fn node_at(address: &str, servers: &[(String, String)]) -> Option<String> {
    let port = address.rsplit(':').next()?;
    servers
        .iter()
        .find(|(_, at)| at.rsplit(':').next() == Some(port))
        .map(|(node, _)| node.clone())
}

#[async_trait]
impl Observer for HaObserver {
    type Source = RedisClient;
    type State = HaState;
    type Snapshot = HaState;
    type Event = HaEvent;

    fn name(&self) -> &str {
        "redis-ha"
    }

    async fn init(&self, _: &Sources<'_, RedisClient>) -> Result<HaState, BoxError> {
        Ok(HaState::default())
    }

    async fn poll(
        &self,
        sources: &Sources<'_, RedisClient>,
        state: &mut HaState,
    ) -> Result<Vec<HaEvent>, BoxError> {
        let servers: Vec<(String, String)> = sources
            .iter()
            .filter(|s| s.source.kind == Kind::Server)
            .map(|s| (s.name.to_string(), s.source.address.clone()))
            .collect();
        let polled = sources
            .poll_each(|s| async move {
                match s.source.kind {
                    Kind::Server => s.source.replication().await.map(Ok),
                    Kind::Sentinel => s.source.sentinel_primary(MASTER).await.map(Err),
                }
            })
            .await;
        let mut next = HaState::default();
        for poll in polled {
            let node = poll.source.name.to_string();
            match poll.result {
                Ok(Ok(replication)) => {
                    let primary = replication
                        .primary
                        .as_deref()
                        .and_then(|a| node_at(a, &servers));
                    next.servers.insert(
                        node,
                        ServerView {
                            role: replication.role,
                            offset: replication.offset,
                            primary,
                            link_up: replication.link_up,
                        },
                    );
                }
                Ok(Err(named)) => {
                    let primary = named.as_deref().and_then(|a| node_at(a, &servers));
                    next.sentinels.insert(node, primary);
                }
                Err(_) if poll.source.source.kind == Kind::Sentinel => {
                    next.sentinels.insert(node, None);
                }
                Err(_) => {}
            }
        }
        let mut events = Vec::new();
        if next.agreed_primary() != state.agreed_primary() {
            events.push(HaEvent::Primary(next.agreed_primary().map(str::to_owned)));
        }
        for (node, server) in &next.servers {
            if state
                .servers
                .get(node)
                .is_some_and(|s| s.role != server.role)
            {
                events.push(HaEvent::Role {
                    node: node.clone(),
                    role: server.role.clone(),
                });
            }
        }
        *state = next;
        Ok(events)
    }

    fn snapshot(&self, state: &HaState) -> HaState {
        state.clone()
    }
}
