//! What the framework needs of a key-value system: read, write and
//! (optionally) compare-and-set through the app's client.

use async_trait::async_trait;

use crate::scenario::{Application, RunContext};

/// Why a request did not succeed, in the terms a history needs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// It certainly did not take effect: refused before it could (not the
    /// leader, the connection could not be made, a bad request).
    #[error("refused: {0}")]
    Refused(String),
    /// It may have taken effect: a timeout, a connection that broke after
    /// the request was sent, an answer that says the outcome is unknown.
    #[error("outcome unknown: {0}")]
    Indeterminate(String),
    /// The system does not do this (compare-and-set).
    #[error("not supported")]
    Unsupported,
}

/// Which kind of request is being routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvRequest {
    /// A read.
    Read,
    /// A write.
    Write,
    /// A compare-and-set.
    Cas,
}

/// An app whose nodes are a key-value store: implement these few methods
/// over the app's client and the framework's [`KvWorkload`](super::KvWorkload)
/// drives it with concurrent clients, records what they saw, reads every
/// key back at the end and checks the history (every acknowledged write
/// survives; linearizability).
///
/// It is implemented on the app type (the adopter's own, so no orphan
/// rule stands in the way), mapping the client's errors to [`KvError`]: a
/// refused request is [`KvError::Refused`], one that may have been applied
/// is [`KvError::Indeterminate`]. `openraft_kv_tf::RaftKv` and
/// `testing-framework/local/examples/adopter.rs` are worked examples.
#[async_trait]
pub trait KeyValueStore: Application + Sized {
    /// Reads `key` through `client`: its value, `None` if it has none.
    /// Any error counts as a failed read (a read changes nothing).
    async fn kv_read(&self, client: &Self::Client, key: &str) -> Result<Option<String>, KvError>;

    /// Writes `value` to `key` through `client`.
    async fn kv_write(&self, client: &Self::Client, key: &str, value: &str) -> Result<(), KvError>;

    /// Sets `key` to `new` if it holds `expected` (`None`: no value):
    /// `Ok(false)` when it did not. By default not supported, and the
    /// workload leaves compare-and-set out.
    async fn kv_cas(
        &self,
        client: &Self::Client,
        key: &str,
        expected: Option<&str>,
        new: &str,
    ) -> Result<bool, KvError> {
        let _ = (client, key, expected, new);
        Err(KvError::Unsupported)
    }

    /// The node a request should go to (the leader from an observer's
    /// snapshot, say); `None`, the default, lets the workload spread
    /// requests over every node.
    fn kv_route(&self, ctx: &RunContext<Self>, request: KvRequest) -> Option<String> {
        let _ = (ctx, request);
        None
    }
}
