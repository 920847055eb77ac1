//! Wire types of the node's client-facing HTTP API.
//!
//! They live in the library so that the node (server side) and every client
//! (the test framework, the integration tests) share one definition and cannot
//! drift apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Body of `POST /kv/write`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteRequest {
    pub key: String,
    pub value: String,
}

/// Answer of a successful `POST /kv/write`: the log index the write was
/// committed at, so callers can reason about ordering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteResponse {
    pub index: u64,
}

/// Body of the HTTP 421 answer a non-leader gives to writes and membership
/// changes, telling the caller where to retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotLeader {
    /// Always `"not_leader"`; lets a client recognise the body without the status.
    pub error: String,
    pub leader_id: Option<u64>,
    pub leader_addr: Option<String>,
}

impl NotLeader {
    /// The `error` field value that marks a [`NotLeader`] body.
    pub const ERROR: &'static str = "not_leader";

    pub fn new(leader_id: Option<u64>, leader_addr: Option<String>) -> Self {
        Self {
            error: Self::ERROR.to_string(),
            leader_id,
            leader_addr,
        }
    }
}

/// Generic error body: every 4xx/5xx except 421 carries one of these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// Query of `GET /kv/read?key=...[&consistency=linearizable]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadQuery {
    pub key: String,
    /// `local` (the default) or `linearizable`.
    #[serde(default)]
    pub consistency: Consistency,
}

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// This node's state machine as it is: may be stale on a follower,
    /// which is what convergence checks want to see.
    #[default]
    Local,
    /// Through the leader, which confirms with a quorum that it still
    /// leads and waits until it has applied everything committed before
    /// answering; a follower answers 421.
    Linearizable,
}

/// Body of `POST /kv/cas`: set `key` to `new` if it holds `expected`
/// (`null`: no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasRequest {
    pub key: String,
    pub expected: Option<String>,
    pub new: String,
}

/// Answer of `POST /kv/cas`: whether it swapped, and the log index of the
/// command (committed either way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CasResponse {
    pub swapped: bool,
    pub index: u64,
}

/// Answer of `GET /kv/read`: `value` is `null` for an unknown key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResponse {
    pub key: String,
    pub value: Option<String>,
}

/// Answer of `GET /kv/all`: the node's whole local map.
pub type AllResponse = BTreeMap<String, String>;

/// Raft role of a node as reported by `GET /state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

/// Answer of `GET /state`: what an observer needs to judge leadership and
/// convergence without reading the whole map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    pub id: u64,
    pub role: Role,
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub voters: Vec<u64>,
    pub kv_len: usize,
    /// Hex FNV-1a 64 of the sorted `key=value\n` lines; equal maps give equal digests.
    pub kv_digest: String,
}

/// Answer of `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    pub ok: bool,
}

/// Body of `POST /cluster/init`: every initial voter, by id, with its address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitRequest {
    pub members: BTreeMap<u64, String>,
}

/// Body of `POST /cluster/add-learner`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddLearnerRequest {
    pub id: u64,
    pub addr: String,
}

/// Body of `POST /cluster/change-membership`: the complete new voter set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeMembershipRequest {
    pub voters: Vec<u64>,
}

/// Answer of the `/cluster/*` endpoints that succeed without a log index
/// (`init`), and of those that produce one (`add-learner`,
/// `change-membership`), where `index` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterResponse {
    pub ok: bool,
    pub index: Option<u64>,
}
