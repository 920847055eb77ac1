//! Observation endpoints: `/state` for observers, `/health` for readiness.

use axum::Json;
use axum::extract::State;
use openraft::ServerState;

use super::AppState;
use crate::api::{HealthResponse, NodeState, Role};

/// `GET /state`: Raft metrics and a summary of the local map.
pub async fn state(State(app): State<AppState>) -> Json<NodeState> {
    let (role, leader, term, last_log_index, last_applied, voters) = {
        let metrics = app.raft.metrics();
        let m = metrics.borrow();
        let role = if m.running_state.is_err() {
            Role::Shutdown
        } else {
            role_of(m.state)
        };
        (
            role,
            m.current_leader,
            m.current_term,
            m.last_log_index,
            m.last_applied.map(|log_id| log_id.index),
            m.membership_config.membership().voter_ids().collect(),
        )
    };
    let (kv_len, kv_digest) = app.kv.len_and_digest();
    Json(NodeState {
        id: app.id,
        role,
        leader,
        term,
        last_log_index,
        last_applied,
        voters,
        kv_len,
        kv_digest,
    })
}

fn role_of(state: ServerState) -> Role {
    match state {
        ServerState::Leader => Role::Leader,
        ServerState::Follower => Role::Follower,
        ServerState::Candidate => Role::Candidate,
        ServerState::Learner => Role::Learner,
        ServerState::Shutdown => Role::Shutdown,
    }
}

/// `GET /health`: answers as soon as the server is up.
pub async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { ok: true })
}
