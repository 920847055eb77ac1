//! The key-value client API. Writes and compare-and-sets go through Raft
//! on the leader; reads answer from this node's local state machine (they
//! may be stale on a follower, which is what convergence checks want to
//! see), or, asked for `consistency=linearizable`, through the leader's
//! linearizable-read protocol.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use openraft::error::{CheckIsLeaderError, RaftError};

use super::{ApiError, ApiJson, AppState, bounded};
use crate::api::{
    AllResponse, CasRequest, CasResponse, Consistency, ReadQuery, ReadResponse, WriteRequest,
    WriteResponse,
};
use crate::types::{KvCommand, Node, NodeId};

/// `POST /kv/write`: 200 with the log index, 421 on a follower.
pub async fn write(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<WriteRequest>,
) -> Result<Json<WriteResponse>, ApiError> {
    let command = KvCommand::Set {
        key: request.key,
        value: request.value,
    };
    let written = bounded("write", app.raft.client_write(command)).await??;
    Ok(Json(WriteResponse {
        index: written.log_id.index,
    }))
}

/// `POST /kv/cas`: 200 saying whether it swapped, 421 on a follower.
pub async fn cas(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<CasRequest>,
) -> Result<Json<CasResponse>, ApiError> {
    let command = KvCommand::Cas {
        key: request.key,
        expected: request.expected,
        new: request.new,
    };
    let written = bounded("compare-and-set", app.raft.client_write(command)).await??;
    Ok(Json(CasResponse {
        swapped: !written.data.cas_failed,
        index: written.log_id.index,
    }))
}

/// `GET /kv/read?key=...[&consistency=linearizable]`: the value, `null`
/// if the key is unknown.
pub async fn read(
    State(app): State<AppState>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<ReadResponse>, ApiError> {
    let Query(ReadQuery { key, consistency }) =
        query.map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?;
    // The deliberate bug (`--stale-reads`): answer from local state as if
    // it were linearizable.
    if consistency == Consistency::Linearizable && !app.stale_reads {
        bounded("linearizable read", app.raft.ensure_linearizable())
            .await?
            .map_err(read_error)?;
    }
    let value = app.kv.get(&key);
    Ok(Json(ReadResponse { key, value }))
}

fn read_error(error: RaftError<NodeId, CheckIsLeaderError<NodeId, Node>>) -> ApiError {
    match error {
        RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward)) => forward.into(),
        RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(quorum)) => {
            ApiError::Unavailable(format!("cannot confirm leadership: {quorum}"))
        }
        RaftError::Fatal(fatal) => ApiError::Unavailable(fatal.to_string()),
    }
}

/// `GET /kv/all`: the whole local map.
pub async fn all(State(app): State<AppState>) -> Json<AllResponse> {
    Json(app.kv.all())
}
