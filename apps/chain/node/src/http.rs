//! The node's HTTP API. Every error is JSON `{"error": "..."}` with a 4xx or
//! 5xx status; malformed input never panics.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::block::{Block, BlockId};
use crate::crypto::Hash32;
use crate::service::{ChainHandle, Stopped};
use crate::tree::{BlockError, Inserted};
use crate::tx::Transaction;

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(json!({ "error": message.to_string() }))).into_response()
}

impl IntoResponse for Stopped {
    fn into_response(self) -> Response {
        error(StatusCode::SERVICE_UNAVAILABLE, self)
    }
}

/// Why a request is malformed (answered 400).
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        error(StatusCode::BAD_REQUEST, self.0)
    }
}

fn parse_id(text: &str) -> Result<BlockId, BadRequest> {
    serde_json::from_value::<Hash32>(json!(text))
        .map_err(|e| BadRequest(format!("`{text}` is not a block id (64 hex digits): {e}")))
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, BadRequest> {
    serde_json::from_slice(body).map_err(|e| BadRequest(format!("malformed {what}: {e}")))
}

/// The node's routes.
pub fn router(chain: ChainHandle) -> Router {
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({ "ok": true })) }),
        )
        .route("/info", get(info))
        .route("/blocks/{id}", get(block))
        .route("/blocks", post(receive_block))
        .route("/headers", get(headers))
        .route("/txs", post(submit))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .with_state(chain)
}

async fn info(State(chain): State<ChainHandle>) -> Result<Response, Stopped> {
    Ok(axum::Json(chain.info().await?).into_response())
}

async fn block(
    State(chain): State<ChainHandle>,
    Path(id): Path<String>,
) -> Result<Response, Stopped> {
    let id = match parse_id(&id) {
        Ok(id) => id,
        Err(bad) => return Ok(bad.into_response()),
    };
    Ok(match chain.get_block(id).await? {
        Some(block) => axum::Json(block).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("block {id} is not known here"),
        ),
    })
}

async fn receive_block(State(chain): State<ChainHandle>, body: Bytes) -> Result<Response, Stopped> {
    let block: Block = match parse_body(&body, "block") {
        Ok(block) => block,
        Err(bad) => return Ok(bad.into_response()),
    };
    Ok(match chain.block(block).await? {
        Ok(Inserted::Known) => {
            (StatusCode::OK, axum::Json(json!({ "status": "known" }))).into_response()
        }
        Ok(Inserted::Held) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "status": "held until its slot begins" })),
        )
            .into_response(),
        Ok(_) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "status": "accepted" })),
        )
            .into_response(),
        // Kept until its parent arrives; the node fetches it.
        Err(BlockError::UnknownParent(_)) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "status": "waiting for parent" })),
        )
            .into_response(),
        Err(e @ BlockError::BelowFinal { .. }) => error(StatusCode::CONFLICT, e),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    })
}

#[derive(Deserialize)]
struct HeadersQuery {
    from: String,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

async fn headers(
    State(chain): State<ChainHandle>,
    query: Result<Query<HeadersQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Stopped> {
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                format!("expected ?from=<block id>[&limit=N]: {e}"),
            ));
        }
    };
    let from = match parse_id(&query.from) {
        Ok(id) => id,
        Err(bad) => return Ok(bad.into_response()),
    };
    Ok(match chain.headers(from, query.limit.min(1_000)).await? {
        Some(headers) => axum::Json(headers).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("block {from} is not on this node's branch"),
        ),
    })
}

/// Marks a transaction a peer relayed (it is not relayed again).
pub const RELAYED: &str = "x-chain-relayed";

async fn submit(
    State(chain): State<ChainHandle>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, Stopped> {
    let tx: Transaction = match parse_body(&body, "transaction") {
        Ok(tx) => tx,
        Err(bad) => return Ok(bad.into_response()),
    };
    let submitted = if headers.contains_key(RELAYED) {
        chain.submit_relayed(tx).await?
    } else {
        chain.submit(tx).await?
    };
    Ok(match submitted {
        Ok(id) => (StatusCode::ACCEPTED, axum::Json(json!({ "id": id }))).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    })
}
