//! Membership administration: initialize a cluster, add learners, change voters.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use openraft::error::{InitializeError, RaftError};

use super::{ApiError, ApiJson, AppState, bounded};
use crate::api::{AddLearnerRequest, ChangeMembershipRequest, ClusterResponse, InitRequest};
use crate::config::is_host_port;
use crate::types::{Node, NodeId};

/// `POST /cluster/init`: 200 once initialized, 409 if it already was.
pub async fn init(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<InitRequest>,
) -> Result<Json<ClusterResponse>, ApiError> {
    let members = members(request.members)?;
    if !members.contains_key(&app.id) {
        return Err(ApiError::BadRequest(format!(
            "members must include this node ({})",
            app.id
        )));
    }
    bounded("initialize", app.raft.initialize(members))
        .await?
        .map_err(|e| match e {
            RaftError::APIError(InitializeError::NotAllowed(e)) => {
                ApiError::Conflict(format!("already initialized: {e}"))
            }
            RaftError::APIError(InitializeError::NotInMembers(e)) => {
                ApiError::BadRequest(e.to_string())
            }
            RaftError::Fatal(e) => ApiError::Unavailable(e.to_string()),
        })?;
    Ok(Json(ClusterResponse {
        ok: true,
        index: None,
    }))
}

/// `POST /cluster/add-learner`: on the leader; waits until the learner caught up.
pub async fn add_learner(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<AddLearnerRequest>,
) -> Result<Json<ClusterResponse>, ApiError> {
    check_addr(&request.addr)?;
    let node = Node::new(request.addr);
    let written = bounded("add-learner", app.raft.add_learner(request.id, node, true)).await??;
    Ok(Json(ClusterResponse {
        ok: true,
        index: Some(written.log_id.index),
    }))
}

/// `POST /cluster/change-membership`: on the leader; the new complete voter
/// set. Voters left out are removed from the cluster, not kept as learners.
pub async fn change_membership(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<ChangeMembershipRequest>,
) -> Result<Json<ClusterResponse>, ApiError> {
    let voters: BTreeSet<NodeId> = request.voters.into_iter().collect();
    if voters.is_empty() {
        return Err(ApiError::BadRequest("voters must not be empty".to_string()));
    }
    let written = bounded(
        "change-membership",
        app.raft.change_membership(voters, false),
    )
    .await??;
    Ok(Json(ClusterResponse {
        ok: true,
        index: Some(written.log_id.index),
    }))
}

fn members(requested: BTreeMap<NodeId, String>) -> Result<BTreeMap<NodeId, Node>, ApiError> {
    if requested.is_empty() {
        return Err(ApiError::BadRequest(
            "members must not be empty".to_string(),
        ));
    }
    requested
        .into_iter()
        .map(|(id, addr)| {
            check_addr(&addr)?;
            Ok((id, Node::new(addr)))
        })
        .collect()
}

fn check_addr(addr: &str) -> Result<(), ApiError> {
    if is_host_port(addr) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid address {addr:?}: expected host:port"
        )))
    }
}
