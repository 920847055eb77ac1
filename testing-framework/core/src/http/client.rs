//! [`JsonClient`]: JSON over HTTP to one node.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::body::{self, BodyError};
use super::error::{Call, HttpError, STATUS_EXCERPT_CHARS, Stage};

/// The default [`JsonClient::timeout`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// The connect timeout of [`JsonClient::http_builder`].
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// The default [`JsonClient::max_body`].
const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// Sends JSON requests to one node at `host:port` and decodes its JSON
/// answers, with a timeout and a bound on the answer's size; cheap to clone.
///
/// Clients made with [`at`](JsonClient::at) or given one
/// [`reqwest::Client`] through [`with_http`](JsonClient::with_http) share
/// its connection pool, so an observer of a thousand nodes holds one pool,
/// not a thousand.
///
/// ```
/// use std::time::Duration;
/// use tf_core::http::JsonClient;
///
/// let first = JsonClient::new("127.0.0.1:7000")
///     .timeout(Duration::from_millis(300))
///     .max_body(64 * 1024);
/// let nodes: Vec<JsonClient> = (7000..7004)
///     .map(|port| first.at(format!("127.0.0.1:{port}")))
///     .collect();
/// assert_eq!(nodes[3].addr(), "127.0.0.1:7003");
/// ```
#[derive(Clone, Debug)]
pub struct JsonClient {
    http: reqwest::Client,
    addr: Arc<str>,
    timeout: Duration,
    max_body: usize,
}

impl JsonClient {
    /// A client of the node at `addr` (`host:port`) with its own connection
    /// pool made by [`http_builder`](JsonClient::http_builder): connect
    /// timeout 500 ms, no proxy. Request timeout 1 s, answers up to 4 MiB.
    ///
    /// # Panics
    ///
    /// If reqwest cannot make a client, as [`reqwest::Client::new`] does;
    /// that takes a TLS backend that fails to start. To handle it, build the
    /// client yourself and pass it to [`with_http`](JsonClient::with_http).
    pub fn new(addr: impl Into<String>) -> Self {
        let http = Self::http_builder()
            .build()
            .expect("reqwest could not make an HTTP client");
        Self::with_http(addr, http)
    }

    /// A client of the node at `addr` (`host:port`) that sends through
    /// `http`, sharing its connection pool; its connect timeout and proxy
    /// settings apply. Request timeout 1 s, answers up to 4 MiB.
    pub fn with_http(addr: impl Into<String>, http: reqwest::Client) -> Self {
        JsonClient {
            http,
            addr: addr.into().into(),
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// A [`reqwest::ClientBuilder`] with the settings nodes on a test
    /// network want: connect timeout 500 ms, no proxy (a proxy from the
    /// environment would swallow requests to `127.0.0.1`). Change what you
    /// need, build, and share the client with
    /// [`with_http`](JsonClient::with_http).
    pub fn http_builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
            .no_proxy()
    }

    /// A client of another node with this one's connection pool, timeout
    /// and bound.
    pub fn at(&self, addr: impl Into<String>) -> Self {
        JsonClient {
            addr: addr.into().into(),
            ..self.clone()
        }
    }

    /// Gives up on a request, body included, after `timeout` (default 1 s).
    pub fn timeout(self, timeout: Duration) -> Self {
        JsonClient { timeout, ..self }
    }

    /// Refuses answers whose body has more than `bytes` bytes (default
    /// 4 MiB), and stops reading them as soon as that shows.
    pub fn max_body(self, bytes: usize) -> Self {
        JsonClient {
            max_body: bytes,
            ..self
        }
    }

    /// The node's address (`host:port`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `GET path`, decoding the answer's JSON as `T`.
    ///
    /// An empty answer decodes as JSON `null`, so `()` and `Option<_>`
    /// accept `204 No Content`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, HttpError> {
        self.send(Method::GET, path, |request| request).await
    }

    /// `POST path` with `body` as JSON, decoding the answer's JSON as `T`.
    ///
    /// An empty answer decodes as JSON `null`, so `()` and `Option<_>`
    /// accept `204 No Content`.
    pub async fn post<B, T>(&self, path: &str, body: &B) -> Result<T, HttpError>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.send(Method::POST, path, |request| request.json(body))
            .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        with_body: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<T, HttpError> {
        let call = Call {
            addr: &self.addr,
            method,
            path,
        };
        let slash = if path.starts_with('/') { "" } else { "/" };
        let url = format!("http://{}{slash}{path}", self.addr);
        let request = self
            .http
            .request(call.method.clone(), url)
            .timeout(self.timeout);
        let response = with_body(request)
            .send()
            .await
            .map_err(|error| call.failed(error, self.timeout, Stage::AwaitingHeaders))?;

        let status = response.status();
        if !status.is_success() {
            // A char is at most 4 bytes; the status is the news, so a body
            // that fails to arrive just shows less.
            let start = body::read_prefix(response, 4 * STATUS_EXCERPT_CHARS).await;
            return Err(call.status(status, &start));
        }

        let body =
            body::read_bounded(response, self.max_body)
                .await
                .map_err(|error| match error {
                    BodyError::TooLarge => call.too_large(self.max_body),
                    BodyError::Read(error, received) => {
                        call.failed(error, self.timeout, Stage::ReadingBody { status, received })
                    }
                })?;
        let json: &[u8] = if body.is_empty() { b"null" } else { &body };
        serde_json::from_slice(json).map_err(|error| call.malformed(error, &body))
    }
}
