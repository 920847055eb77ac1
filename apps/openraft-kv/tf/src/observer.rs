//! `RaftObserver`: what each node says about leadership, terms, logs and
//! its key-value state, materialized for workloads and expectations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use async_trait::async_trait;
use openraft_kv_node::api::{NodeState, Role};
use openraft_kv_node::client::ClientError;
use openraft_kv_node::client::KvClient;
use serde::{Deserialize, Serialize};
use tf_core::observation::error::{BoxError, PollError};
use tf_core::observation::{Observer, Sources};
use tf_core::report::{ReportEvent, ReportSnapshot, SeriesPoint, Severity};

/// One node as last observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// Its last answer; kept while it is unreachable.
    pub state: Option<NodeState>,
    /// Why the last poll failed, if it did.
    pub unreachable: Option<String>,
}

impl NodeView {
    /// Whether the last poll succeeded.
    pub fn reachable(&self) -> bool {
        self.unreachable.is_none() && self.state.is_some()
    }
}

/// What the observer publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftSnapshot {
    /// Every node by name.
    pub nodes: BTreeMap<String, NodeView>,
    /// The leader: a reachable node that says it leads, in the highest term.
    pub leader: Option<Leader>,
    /// The highest term any reachable node reported.
    pub term: u64,
    /// Every node id seen leading, per term, over the whole run.
    pub leaders_by_term: BTreeMap<u64, BTreeSet<u64>>,
}

/// A leader as observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leader {
    /// Its node name.
    pub node: String,
    /// Its Raft id.
    pub id: u64,
    /// Its term.
    pub term: u64,
}

impl RaftSnapshot {
    /// Names of the nodes whose last poll failed.
    pub fn unreachable(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|(_, v)| !v.reachable())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Whether every node is reachable and all report the same key-value
    /// digest and the same last applied index.
    pub fn converged(&self) -> bool {
        let states: Vec<&NodeState> = self
            .nodes
            .values()
            .filter_map(|v| v.reachable().then_some(v.state.as_ref()).flatten())
            .collect();
        states.len() == self.nodes.len()
            && !states.is_empty()
            && states
                .windows(2)
                .all(|w| w[0].kv_digest == w[1].kv_digest && w[0].last_applied == w[1].last_applied)
    }

    /// Reachable nodes that still say they lead while another leads in a
    /// higher term (a leader cut off by a partition that does not know it
    /// was replaced), with the term they claim.
    pub fn deposed_leaders(&self) -> Vec<(&str, u64)> {
        let Some(leader) = &self.leader else {
            return Vec::new();
        };
        self.nodes
            .iter()
            .filter(|(name, v)| **name != leader.node && v.reachable())
            .filter_map(|(name, v)| {
                let state = v.state.as_ref()?;
                (state.role == Role::Leader && state.term < leader.term)
                    .then_some((name.as_str(), state.term))
            })
            .collect()
    }

    /// The terms in which more than one node was seen leading.
    pub fn split_terms(&self) -> Vec<(u64, &BTreeSet<u64>)> {
        self.leaders_by_term
            .iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(t, ids)| (*t, ids))
            .collect()
    }
}

/// What changed, as seen from outside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftEvent {
    /// The observed leader changed (`None`: no leader observed).
    LeaderChanged {
        /// The leader before.
        from: Option<Leader>,
        /// The leader now.
        to: Option<Leader>,
    },
    /// The highest term moved on.
    TermChanged {
        /// Before.
        from: u64,
        /// Now.
        to: u64,
    },
    /// A node still says it leads in an older term while another leads:
    /// what an isolated old leader believes.
    DeposedLeader {
        /// The node.
        node: String,
        /// The term it claims to lead.
        term: u64,
        /// The leader of the higher term.
        leader: Leader,
    },
    /// The voters reported by the leader changed.
    MembershipChanged {
        /// Before.
        from: Vec<u64>,
        /// Now.
        to: Vec<u64>,
    },
}

impl fmt::Display for RaftEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let leader = |l: &Option<Leader>| match l {
            Some(l) => format!("{} (term {})", l.node, l.term),
            None => "none".to_owned(),
        };
        match self {
            RaftEvent::LeaderChanged { from, to } => {
                write!(f, "leader {} -> {}", leader(from), leader(to))
            }
            RaftEvent::TermChanged { from, to } => write!(f, "term {from} -> {to}"),
            RaftEvent::MembershipChanged { from, to } => write!(f, "voters {from:?} -> {to:?}"),
            RaftEvent::DeposedLeader { node, term, leader } => write!(
                f,
                "{node} still claims to lead (term {term}) while {} leads (term {})",
                leader.node, leader.term
            ),
        }
    }
}

/// Charts: per node, its term, last log index and last applied index.
impl ReportSnapshot for RaftSnapshot {
    fn series(&self) -> Vec<SeriesPoint> {
        let mut points = Vec::new();
        for (node, view) in &self.nodes {
            let Some(state) = view.state.as_ref().filter(|_| view.reachable()) else {
                continue;
            };
            points.push(SeriesPoint::new("term", node, state.term as f64));
            if let Some(index) = state.last_log_index {
                points.push(SeriesPoint::new("last log index", node, index as f64));
            }
            if let Some(applied) = state.last_applied {
                points.push(SeriesPoint::new("last applied", node, applied as f64));
            }
        }
        points
    }
}

impl ReportEvent for RaftEvent {
    fn label(&self) -> String {
        self.to_string()
    }

    fn severity(&self) -> Severity {
        match self {
            RaftEvent::LeaderChanged { to: None, .. } | RaftEvent::DeposedLeader { .. } => {
                Severity::Warning
            }
            RaftEvent::LeaderChanged { .. }
            | RaftEvent::TermChanged { .. }
            | RaftEvent::MembershipChanged { .. } => Severity::Notice,
        }
    }
}

/// Polls `GET /state` of every node each cycle.
#[derive(Clone, Copy, Debug, Default)]
pub struct RaftObserver;

#[async_trait]
impl Observer for RaftObserver {
    type Source = KvClient;
    type State = RaftSnapshot;
    type Snapshot = RaftSnapshot;
    type Event = RaftEvent;

    async fn init(&self, _: &Sources<'_, KvClient>) -> Result<RaftSnapshot, BoxError> {
        Ok(RaftSnapshot::default())
    }

    async fn poll(
        &self,
        sources: &Sources<'_, KvClient>,
        state: &mut RaftSnapshot,
    ) -> Result<Vec<RaftEvent>, BoxError> {
        let answers = sources
            .poll_each(|s| async move { s.source.state().await.map_err(contact) })
            .await;
        let mut events = Vec::new();
        let mut nodes = BTreeMap::new();
        for answer in answers {
            let name = answer.source.name.to_string();
            let before = state.nodes.get(&name);
            let view = match answer.result {
                Ok(node) => NodeView {
                    state: Some(node),
                    unreachable: None,
                },
                Err(error) => NodeView {
                    state: before.and_then(|b| b.state.clone()),
                    unreachable: Some(error.to_string()),
                },
            };
            nodes.insert(name, view);
        }

        let reachable = || {
            nodes
                .iter()
                .filter(|(_, v)| v.reachable())
                .filter_map(|(n, v)| Some((n, v.state.as_ref()?)))
        };
        // Terms only grow: an unreachable node must not make it look lower.
        let term = reachable()
            .map(|(_, s)| s.term)
            .max()
            .unwrap_or(0)
            .max(state.term);
        let mut leaders_by_term = std::mem::take(&mut state.leaders_by_term);
        for (_, s) in reachable().filter(|(_, s)| s.role == Role::Leader) {
            leaders_by_term.entry(s.term).or_default().insert(s.id);
        }
        let leader = reachable()
            .filter(|(_, s)| s.role == Role::Leader)
            .max_by_key(|(_, s)| s.term)
            .map(|(n, s)| Leader {
                node: n.clone(),
                id: s.id,
                term: s.term,
            });

        if term != state.term && state.term != 0 {
            events.push(RaftEvent::TermChanged {
                from: state.term,
                to: term,
            });
        }
        if leader != state.leader {
            events.push(RaftEvent::LeaderChanged {
                from: state.leader.clone(),
                to: leader.clone(),
            });
        }
        let voters_of = |snapshot_nodes: &BTreeMap<String, NodeView>, leader: &Option<Leader>| {
            leader
                .as_ref()
                .and_then(|l| snapshot_nodes.get(&l.node)?.state.as_ref())
                .map(|s| s.voters.clone())
        };
        if let (Some(from), Some(to)) = (
            voters_of(&state.nodes, &state.leader),
            voters_of(&nodes, &leader),
        ) {
            if from != to {
                events.push(RaftEvent::MembershipChanged { from, to });
            }
        }

        let before: Vec<String> = state
            .deposed_leaders()
            .into_iter()
            .map(|(n, _)| n.to_owned())
            .collect();
        *state = RaftSnapshot {
            nodes,
            leader,
            term,
            leaders_by_term,
        };
        if let Some(leader) = &state.leader {
            for (node, claimed) in state.deposed_leaders() {
                if !before.iter().any(|b| b == node) {
                    events.push(RaftEvent::DeposedLeader {
                        node: node.to_owned(),
                        term: claimed,
                        leader: leader.clone(),
                    });
                }
            }
        }
        Ok(events)
    }

    fn snapshot(&self, state: &RaftSnapshot) -> RaftSnapshot {
        state.clone()
    }
}

/// Tells the framework's reports how a failed poll met the node: no
/// contact ("unreachable") or an answer that was no use.
fn contact(error: ClientError) -> PollError {
    match error {
        ClientError::Unreachable { .. }
        | ClientError::Interrupted { .. }
        | ClientError::Timeout { .. } => PollError::unreachable(error),
        _ => PollError::answered(error),
    }
}
