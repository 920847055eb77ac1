//! A client of one node's HTTP API, for observers and tests.

use std::time::Duration;

use crate::block::{Block, BlockId};
use crate::service::NodeInfo;
use crate::tx::{Transaction, TxId};

/// Why a request to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer (refused, reset, timed out).
    #[error("node {addr} is unreachable: {message}")]
    Unreachable {
        /// The node.
        addr: String,
        /// What happened.
        message: String,
    },
    /// An error status, with the node's message.
    #[error("node {addr} answered {status}: {message}")]
    Status {
        /// The node.
        addr: String,
        /// The status.
        status: u16,
        /// Its message.
        message: String,
    },
    /// An answer that is not what the API promises.
    #[error("node {addr} sent a malformed answer: {message}")]
    Malformed {
        /// The node.
        addr: String,
        /// What was wrong.
        message: String,
    },
}

/// Talks to one node; cheap to clone.
#[derive(Clone, Debug)]
pub struct ChainClient {
    http: reqwest::Client,
    addr: String,
}

impl ChainClient {
    /// A client of the node at `addr` (`host:port`), sharing `http`.
    pub fn new(addr: impl Into<String>, http: reqwest::Client) -> Self {
        ChainClient {
            http,
            addr: addr.into(),
        }
    }

    /// An HTTP client suited to nodes on this machine.
    pub fn default_http() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .unwrap_or_default()
    }

    /// The node's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.decode(response).await
    }

    async fn decode<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
    ) -> Result<T, ClientError> {
        let status = response.status();
        let body = response.text().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            return Err(ClientError::Status {
                addr: self.addr.clone(),
                status: status.as_u16(),
                message: body.chars().take(200).collect(),
            });
        }
        serde_json::from_str(&body).map_err(|e| ClientError::Malformed {
            addr: self.addr.clone(),
            message: format!("{e}; got `{}`", body.chars().take(120).collect::<String>()),
        })
    }

    fn unreachable(&self, error: reqwest::Error) -> ClientError {
        // reqwest's own message hides why ("error sending request for url
        // ..."): the causes say it (connection refused, reset, closed).
        let causes: Vec<String> =
            std::iter::successors(Some(&error as &dyn std::error::Error), |e| e.source())
                .map(ToString::to_string)
                .collect();
        ClientError::Unreachable {
            addr: self.addr.clone(),
            message: causes.join(": "),
        }
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<NodeInfo, ClientError> {
        self.get("/info").await
    }

    /// `GET /blocks/{id}`.
    pub async fn block(&self, id: BlockId) -> Result<Block, ClientError> {
        self.get(&format!("/blocks/{id}")).await
    }

    /// `POST /txs`: the transaction's id once the node accepted it.
    pub async fn submit(&self, tx: &Transaction) -> Result<TxId, ClientError> {
        #[derive(serde::Deserialize)]
        struct Accepted {
            id: TxId,
        }
        let response = self
            .http
            .post(format!("http://{}/txs", self.addr))
            .json(tx)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        self.decode::<Accepted>(response).await.map(|a| a.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_node_that_hangs_up_without_answering_is_unreachable_with_the_cause() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            // Accept, read nothing, close: the request gets no answer.
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let error = ChainClient::new(&addr, ChainClient::default_http())
            .info()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "node {addr} is unreachable: error sending request"
            )),
            "{error}"
        );
        // The part reqwest's own message leaves out.
        assert!(
            error.matches(": ").count() >= 2,
            "no cause behind the outer message: {error}"
        );
    }
}
