//! Wiring and lifecycle of one node: bind, open storage, start Raft,
//! optionally initialize, serve HTTP until told to stop, then shut down.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{Fatal, InitializeError, NetworkError, RaftError};
use tokio::net::TcpListener;

use crate::config::{ConfigError, NodeConfig};
use crate::http::{AppState, router};
use crate::network::HttpNetwork;
use crate::store::{DbError, Stores};
use crate::types::{Node, NodeId, Raft};

/// How long in-flight HTTP requests get to finish after a shutdown signal.
const HTTP_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a node could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("address {0} is already in use")]
    AddrInUse(SocketAddr),
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot open storage: {0}")]
    Storage(#[from] DbError),
    #[error("cannot set up the Raft network: {0}")]
    Network(#[from] NetworkError),
    #[error("raft failed: {0}")]
    Raft(Box<Fatal<NodeId>>),
    #[error("cannot initialize the cluster: {0}")]
    Init(String),
    #[error("HTTP server failed: {0}")]
    Serve(io::Error),
    #[error("raft did not shut down cleanly: {0}")]
    Shutdown(String),
}

impl From<Fatal<NodeId>> for NodeError {
    fn from(fatal: Fatal<NodeId>) -> Self {
        NodeError::Raft(Box::new(fatal))
    }
}

/// Binds `config.addr`, reporting a taken port as [`NodeError::AddrInUse`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == io::ErrorKind::AddrInUse {
            NodeError::AddrInUse(addr)
        } else {
            NodeError::Bind { addr, source }
        }
    })
}

/// Runs a node until `shutdown` completes, then stops HTTP and Raft.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    let members = config.members()?;
    let raft_config = config.raft_config()?;
    tracing::info!(
        id = config.id,
        addr = %config.addr,
        data_dir = %config.data_dir.display(),
        peers = ?config.peers.iter().map(|p| format!("{}={}", p.id, p.addr)).collect::<Vec<_>>(),
        init = config.init,
        stale_reads = config.stale_reads,
        "starting openraft-kv-node"
    );

    // Bind before touching storage: a taken port is the likeliest failure
    // and should not leave a half-started Raft behind.
    let listener = bind(config.addr).await?;
    let stores = Stores::open(&config.data_dir)?;
    let kv = stores.state_machine.state();
    let network = HttpNetwork::new(config.id)?;
    let raft = Raft::new(
        config.id,
        Arc::new(raft_config),
        network,
        stores.log,
        stores.state_machine,
    )
    .await?;

    if config.init {
        initialize_once(&raft, members).await?;
    }

    let app = router(AppState {
        id: config.id,
        raft: raft.clone(),
        kv,
        stale_reads: config.stale_reads,
    });
    let served = serve(listener, app, shutdown).await;
    tracing::info!("shutting down raft");
    let stopped = raft
        .shutdown()
        .await
        .map_err(|e| NodeError::Shutdown(e.to_string()));
    served?;
    stopped?;
    tracing::info!("stopped");
    Ok(())
}

/// Initializes the cluster unless this node already has Raft state, so that
/// a restarted `--init` node rejoins instead of failing.
async fn initialize_once(raft: &Raft, members: BTreeMap<NodeId, String>) -> Result<(), NodeError> {
    if raft.is_initialized().await? {
        tracing::info!("already initialized; not initializing again");
        return Ok(());
    }
    let nodes: BTreeMap<NodeId, Node> = members
        .into_iter()
        .map(|(id, addr)| (id, Node::new(addr)))
        .collect();
    tracing::info!(voters = ?nodes.keys().collect::<Vec<_>>(), "initializing cluster");
    match raft.initialize(nodes).await {
        Ok(()) => Ok(()),
        Err(RaftError::APIError(InitializeError::NotAllowed(e))) => {
            tracing::info!("already initialized: {e}");
            Ok(())
        }
        Err(e) => Err(NodeError::Init(e.to_string())),
    }
}

/// Serves `app` until `shutdown`, then gives in-flight requests
/// [`HTTP_DRAIN_TIMEOUT`] to finish.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                // A dropped sender means the same as a sent signal: stop.
                let _ = stopped.await;
            })
            .await
    });
    tokio::select! {
        () = shutdown => tracing::info!("shutdown requested"),
        result = &mut server => return server_outcome(result),
    }
    let _ = stop.send(());
    match tokio::time::timeout(HTTP_DRAIN_TIMEOUT, &mut server).await {
        Ok(result) => server_outcome(result),
        Err(_) => {
            tracing::warn!(
                "HTTP requests still running after {HTTP_DRAIN_TIMEOUT:?}; dropping them"
            );
            server.abort();
            Ok(())
        }
    }
}

fn server_outcome(result: Result<io::Result<()>, tokio::task::JoinError>) -> Result<(), NodeError> {
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(NodeError::Serve(e)),
        Err(e) => Err(NodeError::Serve(io::Error::other(e.to_string()))),
    }
}
