//! Why a request to a node failed, in words that name the node, the request
//! and the cause.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::ErrorChain;

/// How much of an error answer's body [`HttpError::Status`] shows.
pub(crate) const STATUS_EXCERPT_CHARS: usize = 200;
/// How much of an undecodable answer [`HttpError::Malformed`] shows.
const MALFORMED_EXCERPT_CHARS: usize = 120;

/// Why a [`JsonClient`](super::JsonClient) request failed. Every message
/// starts with the node's address, the method and the path, then says what
/// happened:
///
/// ```text
/// node 127.0.0.1:7000 GET /state: answer is larger than 4 MiB; raise JsonClient::max_body or fix the node
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The connection failed: refused, reset, or closed before a complete
    /// answer (connect timeouts land here too). The message carries the
    /// whole cause chain, since reqwest's own message
    /// (`error sending request for url (...)`) hides why.
    #[error("node {addr} {method} {path}: connection failed: {chain}", chain = ErrorChain(.source))]
    Unreachable {
        /// The node's address (`host:port`).
        addr: String,
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// What reqwest reported.
        source: reqwest::Error,
    },
    /// No complete answer within the request timeout.
    #[error(
        "node {addr} {method} {path}: no complete answer within {after:?} ({stage}); \
         the node may be stuck, or raise JsonClient::timeout if it is just slow"
    )]
    Timeout {
        /// The node's address (`host:port`).
        addr: String,
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// The timeout that passed.
        after: Duration,
        /// How far the request got.
        stage: Stage,
        /// What reqwest reported.
        source: reqwest::Error,
    },
    /// Something answered on the node's port, but not with HTTP.
    #[error(
        "node {addr} {method} {path}: answered, but not with HTTP ({chain}); \
         is another program listening on that port?",
        chain = ErrorChain(.source)
    )]
    NotHttp {
        /// The node's address (`host:port`).
        addr: String,
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// What reqwest reported.
        source: reqwest::Error,
    },
    /// The node answered with a status other than 2xx.
    #[error("node {addr} {method} {path}: answered {status}: {body}")]
    Status {
        /// The node's address (`host:port`).
        addr: String,
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// The status.
        status: StatusCode,
        /// The start of the answer's body (about 200 characters), usually
        /// the node's explanation.
        body: String,
    },
    /// The answer's body is larger than the client accepts; the client
    /// stopped reading and hung up.
    #[error(
        "node {addr} {method} {path}: answer is larger than {limit}; \
         raise JsonClient::max_body or fix the node",
        limit = Bytes(*.limit)
    )]
    TooLarge {
        /// The node's address (`host:port`).
        addr: String,
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// The bound, in bytes.
        limit: usize,
    },
    /// The answer is not JSON of the expected shape.
    #[error(
        "node {addr} {method} {path}: answer is not the JSON expected: {source}; {received}",
        received = Received(.excerpt)
    )]
    Malformed {
        /// The node's address (`host:port`).
        addr: String,
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// The start of what the node sent (about 120 characters).
        excerpt: String,
        /// Why it does not decode.
        source: serde_json::Error,
    },
    /// The request could not be made: the address is not `host:port`, or
    /// the body does not serialize to JSON.
    #[error(
        "node {addr} {method} {path}: request not sent: {chain}; \
         check that the address is `host:port` and the body serializes to JSON",
        chain = ErrorChain(.source)
    )]
    Invalid {
        /// The node's address, as given.
        addr: String,
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// What reqwest reported.
        source: reqwest::Error,
    },
}

impl HttpError {
    /// The node's address (`host:port`).
    pub fn addr(&self) -> &str {
        self.target().0
    }

    /// The request's method.
    pub fn method(&self) -> &Method {
        self.target().1
    }

    /// The request's path.
    pub fn path(&self) -> &str {
        self.target().2
    }

    /// Whether the connection failed ([`HttpError::Unreachable`]): the node
    /// is down, restarting, or not listening where it was expected.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HttpError::Unreachable { .. })
    }

    /// Whether the request certainly never reached the node: the
    /// connection could not be made, or the request could not be built.
    /// A write that failed so did not take effect; any other failure (a
    /// connection that broke after sending, a timeout) may have.
    pub fn never_sent(&self) -> bool {
        match self {
            HttpError::Unreachable { source, .. } => source.is_connect(),
            HttpError::Invalid { .. } => true,
            _ => false,
        }
    }

    /// Whether the request timed out ([`HttpError::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, HttpError::Timeout { .. })
    }

    /// The status of a non-2xx answer ([`HttpError::Status`]).
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn target(&self) -> (&str, &Method, &str) {
        match self {
            HttpError::Unreachable {
                addr, method, path, ..
            }
            | HttpError::Timeout {
                addr, method, path, ..
            }
            | HttpError::Status {
                addr, method, path, ..
            }
            | HttpError::TooLarge {
                addr, method, path, ..
            }
            | HttpError::Malformed {
                addr, method, path, ..
            }
            | HttpError::Invalid {
                addr, method, path, ..
            }
            | HttpError::NotHttp {
                addr, method, path, ..
            } => (addr, method, path),
        }
    }
}

/// How far a request got before it timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Connected and sent, but no answer's headers came.
    AwaitingHeaders,
    /// The headers came, but not the whole body.
    ReadingBody {
        /// The answer's status.
        status: StatusCode,
        /// The bytes of the body that came.
        received: usize,
    },
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::AwaitingHeaders => f.write_str("connected, but no answer's headers came"),
            Stage::ReadingBody { status, received } => write!(
                f,
                "the answer's headers came ({status}), but only {received} bytes of its body"
            ),
        }
    }
}

/// Whether reqwest's error is hyper failing to parse what came back:
/// something answered, but not with HTTP.
fn not_http(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if let Some(hyper) = error.downcast_ref::<hyper::Error>() {
            return hyper.is_parse() || hyper.is_parse_status();
        }
        cause = error.source();
    }
    false
}

/// One request, as its errors name it.
pub(crate) struct Call<'a> {
    pub(crate) addr: &'a str,
    pub(crate) method: Method,
    pub(crate) path: &'a str,
}

impl Call<'_> {
    /// A failure reported by reqwest, sorted by what the caller can do.
    pub(crate) fn failed(
        &self,
        source: reqwest::Error,
        timeout: Duration,
        stage: Stage,
    ) -> HttpError {
        let (addr, method, path) = self.owned();
        // A connect timeout means nobody is there, like a refused connection;
        // only a started request that ran out of time is a Timeout.
        if source.is_timeout() && !source.is_connect() {
            HttpError::Timeout {
                addr,
                method,
                path,
                after: timeout,
                stage,
                source,
            }
        } else if not_http(&source) {
            HttpError::NotHttp {
                addr,
                method,
                path,
                source,
            }
        } else if source.is_builder() {
            HttpError::Invalid {
                addr,
                method,
                path,
                source,
            }
        } else {
            HttpError::Unreachable {
                addr,
                method,
                path,
                source,
            }
        }
    }

    pub(crate) fn status(&self, status: StatusCode, body: &[u8]) -> HttpError {
        let (addr, method, path) = self.owned();
        let body = excerpt(body, STATUS_EXCERPT_CHARS);
        HttpError::Status {
            addr,
            method,
            path,
            status,
            body: if body.is_empty() {
                "(empty body)".to_owned()
            } else {
                body
            },
        }
    }

    pub(crate) fn too_large(&self, limit: usize) -> HttpError {
        let (addr, method, path) = self.owned();
        HttpError::TooLarge {
            addr,
            method,
            path,
            limit,
        }
    }

    pub(crate) fn malformed(&self, source: serde_json::Error, body: &[u8]) -> HttpError {
        let (addr, method, path) = self.owned();
        HttpError::Malformed {
            addr,
            method,
            path,
            excerpt: excerpt(body, MALFORMED_EXCERPT_CHARS),
            source,
        }
    }

    fn owned(&self) -> (String, Method, String) {
        (
            self.addr.to_owned(),
            self.method.clone(),
            self.path.to_owned(),
        )
    }
}

/// The first `chars` characters of `body` as one line of text: invalid
/// UTF-8 replaced, control characters escaped so a message stays on one
/// line, `…` where it was cut.
fn excerpt(body: &[u8], chars: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// What [`HttpError::Malformed`] says it received.
struct Received<'a>(&'a str);

impl fmt::Display for Received<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("the answer was empty")
        } else {
            write!(f, "received `{}`", self.0)
        }
    }
}

/// A byte count the way people write bounds: `4 MiB`, `64 KiB`, `1000 bytes`.
struct Bytes(usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: usize = 1024;
        const MIB: usize = 1024 * KIB;
        match self.0 {
            n if n >= MIB && n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n >= KIB && n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            1 => f.write_str("1 byte"),
            n => write!(f, "{n} bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_read_the_way_people_write_them() {
        assert_eq!(Bytes(4 * 1024 * 1024).to_string(), "4 MiB");
        assert_eq!(Bytes(64 * 1024).to_string(), "64 KiB");
        assert_eq!(Bytes(1500).to_string(), "1500 bytes");
        assert_eq!(Bytes(1).to_string(), "1 byte");
    }

    #[test]
    fn excerpts_stay_on_one_line_and_show_where_they_were_cut() {
        assert_eq!(
            excerpt(b"  line one\nline two\n", 100),
            "line one\\nline two"
        );
        assert_eq!(excerpt(b"abcdef", 3), "abc…");
        assert_eq!(excerpt(b"abc", 3), "abc");
        assert_eq!(excerpt(b"\xff\xfeok", 10), "\u{fffd}\u{fffd}ok");
    }
}
