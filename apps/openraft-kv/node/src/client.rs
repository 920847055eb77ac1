//! Typed HTTP client for one node's client-facing API.
//!
//! Used by the test framework to drive and observe nodes. Every failure mode a
//! misbehaving, crashed or partitioned node can produce is a [`ClientError`]
//! value, never a panic: observers must survive the faults they inject.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::api::{
    CasRequest, CasResponse, ErrorBody, HealthResponse, NodeState, NotLeader, ReadResponse,
    WriteRequest, WriteResponse,
};

/// Default per-request timeout: short, because a node that does not answer
/// within a second is, for an observer, as good as down.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// How much of an unexpected body is quoted in an error message.
const QUOTE_LIMIT: usize = 200;

/// Why a request to a node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be made (refused, no route, ...): the
    /// request never reached the node.
    #[error("node {addr} is unreachable: {message}")]
    Unreachable { addr: String, message: String },
    /// The connection broke after the request was sent: it may have
    /// reached the node.
    #[error("the connection to node {addr} broke before its answer: {message}")]
    Interrupted { addr: String, message: String },
    /// The node did not answer within the client's timeout.
    #[error("node {addr} did not answer in time")]
    Timeout { addr: String },
    /// The node is not the leader; retry at `leader_addr` if known.
    #[error("node is not the leader (leader id {leader_id:?}, addr {leader_addr:?})")]
    NotLeader {
        leader_id: Option<u64>,
        leader_addr: Option<String>,
    },
    /// The node answered with an error status.
    #[error("node answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    /// The node answered 2xx (or 421) with a body that is not what the API promises.
    #[error("malformed answer from node: {message}")]
    Decode { message: String },
    /// The underlying HTTP client could not be built.
    #[error("cannot build HTTP client: {message}")]
    Build { message: String },
}

/// Client for one node. Cloning is cheap: the connection pool is shared.
#[derive(Debug, Clone)]
pub struct KvClient {
    http: reqwest::Client,
    addr: String,
    base: String,
}

impl KvClient {
    /// A client for the node at `addr` (`host:port`, an `http://` prefix is
    /// tolerated) with [`DEFAULT_TIMEOUT`].
    pub fn new(addr: impl Into<String>) -> Result<Self, ClientError> {
        Self::with_timeout(addr, DEFAULT_TIMEOUT)
    }

    /// Like [`KvClient::new`] with an explicit per-request timeout.
    pub fn with_timeout(addr: impl Into<String>, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // Nodes are on loopback: an environment proxy would only get in the way.
            .no_proxy()
            .build()
            .map_err(|e| ClientError::Build {
                message: e.to_string(),
            })?;
        Ok(Self::with_http(addr, http))
    }

    /// A client that shares an existing `reqwest::Client` (and its pool and timeout).
    pub fn with_http(addr: impl Into<String>, http: reqwest::Client) -> Self {
        let addr: String = addr.into();
        let addr = addr.trim_start_matches("http://").to_string();
        let base = format!("http://{addr}");
        Self { http, addr, base }
    }

    /// The node's `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `GET /state`.
    pub async fn state(&self) -> Result<NodeState, ClientError> {
        self.get("/state", &[]).await
    }

    /// `POST /kv/write`; returns the committed log index.
    pub async fn write(
        &self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<u64, ClientError> {
        let body = WriteRequest {
            key: key.into(),
            value: value.into(),
        };
        let request = self.http.post(self.url("/kv/write")).json(&body);
        let answer: WriteResponse = self.send(request).await?;
        Ok(answer.index)
    }

    /// `GET /kv/read`: this node's local value, `None` for an unknown key.
    pub async fn read(&self, key: &str) -> Result<Option<String>, ClientError> {
        let answer: ReadResponse = self.get("/kv/read", &[("key", key)]).await?;
        Ok(answer.value)
    }

    /// `GET /kv/read?consistency=linearizable`: the value as of now, read
    /// through the leader; a follower answers [`ClientError::NotLeader`].
    pub async fn read_linearizable(&self, key: &str) -> Result<Option<String>, ClientError> {
        let query = [("key", key), ("consistency", "linearizable")];
        let answer: ReadResponse = self.get("/kv/read", &query).await?;
        Ok(answer.value)
    }

    /// `POST /kv/cas`: sets `key` to `new` if it holds `expected`;
    /// whether it did.
    pub async fn cas(
        &self,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, ClientError> {
        let body = CasRequest {
            key: key.to_owned(),
            expected: expected.map(str::to_owned),
            new: new.to_owned(),
        };
        let request = self.http.post(self.url("/kv/cas")).json(&body);
        let answer: CasResponse = self.send(request).await?;
        Ok(answer.swapped)
    }

    /// `GET /kv/all`: this node's whole local map.
    pub async fn all(&self) -> Result<BTreeMap<String, String>, ClientError> {
        self.get("/kv/all", &[]).await
    }

    /// `GET /health`: `Ok` once the node's HTTP server answers.
    pub async fn health(&self) -> Result<(), ClientError> {
        let answer: HealthResponse = self.get("/health", &[]).await?;
        if answer.ok {
            Ok(())
        } else {
            Err(ClientError::Http {
                status: 200,
                message: "node reports ok=false".to_string(),
            })
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ClientError> {
        let request = self.http.get(self.url(path)).query(query);
        self.send(request).await
    }

    /// Sends a request and turns every outcome into a typed value or error.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        decode_answer(status, &body)
    }

    fn transport_error(&self, error: reqwest::Error) -> ClientError {
        if error.is_timeout() {
            ClientError::Timeout {
                addr: self.addr.clone(),
            }
        } else if error.is_connect() {
            ClientError::Unreachable {
                addr: self.addr.clone(),
                message: error_chain(&error),
            }
        } else {
            ClientError::Interrupted {
                addr: self.addr.clone(),
                message: error_chain(&error),
            }
        }
    }
}

/// Maps a status and body to the API's typed outcome.
fn decode_answer<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, ClientError> {
    if status == StatusCode::MISDIRECTED_REQUEST {
        let not_leader: NotLeader = decode(body)?;
        return Err(ClientError::NotLeader {
            leader_id: not_leader.leader_id,
            leader_addr: not_leader.leader_addr,
        });
    }
    if !status.is_success() {
        let message = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(error) => error.error,
            Err(_) => quote(body),
        };
        return Err(ClientError::Http {
            status: status.as_u16(),
            message,
        });
    }
    decode(body)
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        message: format!("{e}; received: {}", quote(body)),
    })
}

/// The body as text, cut at [`QUOTE_LIMIT`] characters, for error messages.
fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut quoted: String = text.chars().take(QUOTE_LIMIT).collect();
    if text.chars().count() > QUOTE_LIMIT {
        quoted.push_str("...");
    }
    format!("{quoted:?}")
}

/// reqwest's top-level message is often just "error sending request"; the
/// cause (e.g. "Connection refused") is further down the chain.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_leader_body_becomes_not_leader_error() {
        let body = br#"{"error":"not_leader","leader_id":2,"leader_addr":"127.0.0.1:9"}"#;
        let result: Result<WriteResponse, _> = decode_answer(StatusCode::MISDIRECTED_REQUEST, body);
        assert_eq!(
            result,
            Err(ClientError::NotLeader {
                leader_id: Some(2),
                leader_addr: Some("127.0.0.1:9".to_string()),
            })
        );
    }

    #[test]
    fn malformed_success_body_is_a_decode_error_quoting_it() {
        let body = "x".repeat(1000);
        let result: Result<NodeState, _> = decode_answer(StatusCode::OK, body.as_bytes());
        let Err(ClientError::Decode { message }) = result else {
            panic!("expected a decode error, got {result:?}");
        };
        assert!(message.contains("received: \"xxx"), "{message}");
        assert!(message.len() < 400, "not truncated: {message}");
    }

    #[test]
    fn error_status_carries_the_json_message_or_the_raw_text() {
        let json: Result<NodeState, _> =
            decode_answer(StatusCode::BAD_REQUEST, br#"{"error":"bad key"}"#);
        assert_eq!(
            json,
            Err(ClientError::Http {
                status: 400,
                message: "bad key".to_string(),
            })
        );
        let text: Result<NodeState, _> = decode_answer(StatusCode::BAD_GATEWAY, b"oops");
        assert_eq!(
            text,
            Err(ClientError::Http {
                status: 502,
                message: "\"oops\"".to_string(),
            })
        );
    }

    #[test]
    fn garbage_421_is_a_decode_error_not_a_panic() {
        let result: Result<WriteResponse, _> =
            decode_answer(StatusCode::MISDIRECTED_REQUEST, b"\xff\xfe");
        assert!(matches!(result, Err(ClientError::Decode { .. })));
    }
}
