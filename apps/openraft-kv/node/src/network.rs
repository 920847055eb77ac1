//! Raft RPCs to peers over HTTP: the client half of `/raft/*`.
//!
//! Each RPC is a JSON POST whose answer is the peer's
//! `Result<response, RaftError>` as JSON. Transport failures are reported to
//! openraft as `Unreachable` or `Timeout` (it backs off and retries), never
//! as panics: peers crash and restart routinely in the tests.

use std::error::Error;
use std::time::Duration;

use openraft::RPCTypes;
use openraft::error::{
    Infallible, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::types::{Node, NodeId, TypeConfig};

/// Backstop timeout for one RPC; openraft also passes a tighter per-call one.
const RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a peer's answer could not be used, for openraft's `NetworkError`.
#[derive(Debug, thiserror::Error)]
enum PeerError {
    #[error("peer {addr} answered HTTP {status} to {path}: {body}")]
    Status {
        addr: String,
        path: &'static str,
        status: u16,
        body: String,
    },
    #[error("peer {addr} sent an undecodable answer to {path}: {source}")]
    Decode {
        addr: String,
        path: &'static str,
        source: serde_json::Error,
    },
    #[error("cannot build HTTP client: {0}")]
    Build(String),
}

/// Creates connections to peers; holds this node's id for error reports and
/// one HTTP client whose connection pool all peer connections share.
#[derive(Clone)]
pub struct HttpNetwork {
    id: NodeId,
    http: reqwest::Client,
}

impl HttpNetwork {
    pub fn new(id: NodeId) -> Result<Self, NetworkError> {
        let http = reqwest::Client::builder()
            .timeout(RPC_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| NetworkError::new(&PeerError::Build(e.to_string())))?;
        Ok(Self { id, http })
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> PeerConnection {
        PeerConnection {
            id: self.id,
            target,
            node: node.clone(),
            http: self.http.clone(),
        }
    }
}

/// A connection to one peer. Creating it does no I/O; each RPC is one request.
pub struct PeerConnection {
    id: NodeId,
    target: NodeId,
    node: Node,
    http: reqwest::Client,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>>;

impl PeerConnection {
    /// POSTs `request` to the peer's `path` and decodes its `Result` answer.
    async fn call<Req, Resp, E>(
        &self,
        path: &'static str,
        action: RPCTypes,
        request: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let addr = &self.node.addr;
        let response = self
            .http
            .post(format!("http://{addr}{path}"))
            .timeout(option.hard_ttl())
            .json(request)
            .send()
            .await
            .map_err(|e| self.transport_error(e, action, option))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e, action, option))?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(RPCError::Network(NetworkError::new(&PeerError::Status {
                addr: addr.clone(),
                path,
                status: status.as_u16(),
                body,
            })));
        }
        let answer: Result<Resp, RaftError<NodeId, E>> =
            serde_json::from_slice(&body).map_err(|source| {
                RPCError::Network(NetworkError::new(&PeerError::Decode {
                    addr: addr.clone(),
                    path,
                    source,
                }))
            })?;
        answer.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }

    fn transport_error<E: Error>(
        &self,
        error: reqwest::Error,
        action: RPCTypes,
        option: &RPCOption,
    ) -> RPCError<NodeId, Node, RaftError<NodeId, E>> {
        if error.is_timeout() {
            RPCError::Timeout(Timeout {
                action,
                id: self.id,
                target: self.target,
                timeout: option.hard_ttl(),
            })
        } else {
            RPCError::Unreachable(Unreachable::new(&error))
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, Infallible> {
        self.call("/raft/append", RPCTypes::AppendEntries, &rpc, &option)
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call("/raft/snapshot", RPCTypes::InstallSnapshot, &rpc, &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, Infallible> {
        self.call("/raft/vote", RPCTypes::Vote, &rpc, &option).await
    }
}
