//! One line of a history: an operation invoked by a client process, or its
//! completion.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an [`Event`] says about its operation, in Jepsen's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The client sent the request.
    Invoke,
    /// It took effect; `value` is what the client got back.
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// Its outcome is unknown: it may have taken effect, now or later (a
    /// timeout, a connection dropped after the request was sent).
    Info,
}

impl EventKind {
    /// Jepsen's keyword for it (`invoke`, `ok`, `fail`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Invoke => "invoke",
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            EventKind::Info => "info",
        }
    }

    /// Reads Jepsen's keyword.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "invoke" => Some(EventKind::Invoke),
            "ok" => Some(EventKind::Ok),
            "fail" => Some(EventKind::Fail),
            "info" => Some(EventKind::Info),
            _ => None,
        }
    }
}

/// One line of `history.jsonl` (and one map of `history.edn`).
///
/// A process is one single-threaded client: it invokes an operation, and
/// its next event is that operation's completion. An operation whose
/// outcome is unknown retires its process; the client goes on under a new
/// one, so that the history stays honest about concurrency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, from 0; it orders events in real time.
    pub index: u64,
    /// Invoke or completion.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The client process.
    pub process: u64,
    /// The operation's function (`read`, `write`, `cas`, `append`).
    pub f: String,
    /// The invocation's input, or the completion's output.
    #[serde(default)]
    pub value: Value,
    /// Nanoseconds since the history began (the run window opened), on a
    /// monotonic clock.
    pub time: u64,
    /// Why it failed or its outcome is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The workload whose client this process is, if it said
    /// ([`History::client_for`](super::History::client_for)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}
