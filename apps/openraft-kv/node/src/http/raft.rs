//! Server half of the Raft RPCs: hands each request to the local Raft and
//! answers its `Result` as JSON, for `network::PeerConnection` to decode.

use axum::Json;
use axum::extract::State;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::{ApiJson, AppState};
use crate::types::{NodeId, TypeConfig};

type RaftAnswer<T, E = openraft::error::Infallible> = Json<Result<T, RaftError<NodeId, E>>>;

/// `POST /raft/append`.
pub async fn append(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<AppendEntriesRequest<TypeConfig>>,
) -> RaftAnswer<AppendEntriesResponse<NodeId>> {
    Json(app.raft.append_entries(request).await)
}

/// `POST /raft/vote`.
pub async fn vote(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<VoteRequest<NodeId>>,
) -> RaftAnswer<VoteResponse<NodeId>> {
    Json(app.raft.vote(request).await)
}

/// `POST /raft/snapshot`: one chunk of a snapshot being installed.
pub async fn snapshot(
    State(app): State<AppState>,
    ApiJson(request): ApiJson<InstallSnapshotRequest<TypeConfig>>,
) -> RaftAnswer<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
    Json(app.raft.install_snapshot(request).await)
}
