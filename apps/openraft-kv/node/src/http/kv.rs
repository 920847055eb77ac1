//! The key-value client API. Writes go through Raft on the leader; reads
//! answer from this node's local state machine (they may be stale on a
//! follower, which is what convergence checks want to see).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};

use super::{ApiError, ApiJson, AppState, bounded};
use crate::api::{AllResponse, ReadQuery, ReadResponse, WriteRequest, WriteResponse};
use crate::types::KvCommand;

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

/// `GET /kv/read?key=...`: the local value, `null` if the key is unknown.
pub async fn read(
    State(app): State<AppState>,
    query: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Json<ReadResponse>, ApiError> {
    let Query(ReadQuery { key }) =
        query.map_err(|e| ApiError::BadRequest(format!("invalid query: {e}")))?;
    let value = app.kv.get(&key);
    Ok(Json(ReadResponse { key, value }))
}

/// `GET /kv/all`: the whole local map.
pub async fn all(State(app): State<AppState>) -> Json<AllResponse> {
    Json(app.kv.all())
}
