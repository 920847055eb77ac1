//! The node's HTTP server: Raft RPCs between nodes and the client API.

mod cluster;
mod error;
mod kv;
mod raft;
mod status;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::{get, post};

pub use error::{ApiError, ApiJson};

use crate::store::KvState;
use crate::types::{NodeId, Raft};

/// Raft RPC bodies carry log batches and snapshot chunks (JSON-encoded
/// bytes are ~4x their size), far above axum's 2 MiB default.
const RAFT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// How long a write or membership change may take before the client gets a
/// 503; without a bound a request on a partitioned leader would hang.
const RAFT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub id: NodeId,
    pub raft: Raft,
    pub kv: KvState,
    /// The deliberate bug: linearizable reads answered from local state.
    pub stale_reads: bool,
}

/// All routes of a node.
pub fn router(state: AppState) -> Router {
    let raft_routes = Router::new()
        .route("/raft/append", post(raft::append))
        .route("/raft/vote", post(raft::vote))
        .route("/raft/snapshot", post(raft::snapshot))
        .layer(DefaultBodyLimit::max(RAFT_BODY_LIMIT));
    Router::new()
        .merge(raft_routes)
        .route("/kv/write", post(kv::write))
        .route("/kv/cas", post(kv::cas))
        .route("/kv/read", get(kv::read))
        .route("/kv/all", get(kv::all))
        .route("/cluster/init", post(cluster::init))
        .route("/cluster/add-learner", post(cluster::add_learner))
        .route(
            "/cluster/change-membership",
            post(cluster::change_membership),
        )
        .route("/state", get(status::state))
        .route("/health", get(status::health))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {uri}"))
}

/// Bounds a Raft operation by [`RAFT_WRITE_TIMEOUT`].
async fn bounded<T>(what: &str, operation: impl Future<Output = T>) -> Result<T, ApiError> {
    tokio::time::timeout(RAFT_WRITE_TIMEOUT, operation)
        .await
        .map_err(|_| {
            ApiError::Unavailable(format!(
                "{what} did not finish within {RAFT_WRITE_TIMEOUT:?}; its outcome is unknown"
            ))
        })
}
