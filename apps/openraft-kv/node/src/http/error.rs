//! How handlers fail: one error type that always renders as JSON, and a body
//! extractor whose rejections are such errors.
//!
//! axum's own `Json` extractor answers malformed bodies with plain text and
//! 415/422; the API promises a 400 with `{"error": ...}` for all of them, so
//! bodies are read as bytes and decoded here.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openraft::error::{ChangeMembershipError, ClientWriteError, ForwardToLeader, RaftError};
use serde::de::DeserializeOwned;

use crate::api::{ErrorBody, NotLeader};
use crate::types::{Node, NodeId};

/// A failed request, rendered as a JSON body with a fitting status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: the request itself is wrong.
    BadRequest(String),
    /// 404: no such route.
    NotFound(String),
    /// 409: valid, but conflicts with the cluster's state (already initialized,
    /// membership change in progress).
    Conflict(String),
    /// 421: only the leader can do this.
    NotLeader(NotLeader),
    /// 503: Raft is shut down or did not finish in time; the outcome is unknown.
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::NotLeader(body) => {
                return (StatusCode::MISDIRECTED_REQUEST, Json(body)).into_response();
            }
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
        };
        (status, Json(ErrorBody { error: message })).into_response()
    }
}

impl From<ForwardToLeader<NodeId, Node>> for ApiError {
    fn from(forward: ForwardToLeader<NodeId, Node>) -> Self {
        ApiError::NotLeader(NotLeader::new(
            forward.leader_id,
            forward.leader_node.map(|node| node.addr),
        ))
    }
}

impl From<RaftError<NodeId, ClientWriteError<NodeId, Node>>> for ApiError {
    fn from(error: RaftError<NodeId, ClientWriteError<NodeId, Node>>) -> Self {
        match error {
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => forward.into(),
            RaftError::APIError(ClientWriteError::ChangeMembershipError(change)) => match change {
                ChangeMembershipError::InProgress(e) => ApiError::Conflict(e.to_string()),
                other => ApiError::BadRequest(other.to_string()),
            },
            RaftError::Fatal(fatal) => ApiError::Unavailable(fatal.to_string()),
        }
    }
}

/// A JSON request body; any decoding failure is an [`ApiError::BadRequest`].
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("cannot read request body: {e}")))?;
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }
}
