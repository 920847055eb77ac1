//! What the clients saw: a history of client operations, recorded by the
//! framework while a run goes on, and judged afterwards.
//!
//! A workload takes a [`HistoryClient`] per concurrent client and records
//! each request: [`HistoryClient::invoke`], then [`PendingOp::ok`],
//! [`PendingOp::fail`] (it certainly did not take effect) or
//! [`PendingOp::unknown`] (it may have: a timeout, a connection dropped
//! after the request was sent). The semantics are Jepsen's: an unknown
//! operation may take effect at any time after its invocation, or never,
//! and its process is retired.
//!
//! The history streams to `history.jsonl` in the run directory and is
//! exported as Jepsen's EDN (`history.edn`) for Knossos or Elle; both are
//! read back by [`read_history`]. The checkers in [`crate::checker`] judge it.

mod edn;
mod event;
mod operation;
mod read;
mod recorder;
mod stats;

pub use edn::{EDN_FILE, export_edn, parse_edn, write_edn};
pub use event::{Event, EventKind};
pub use operation::{Operation, Outcome, operations};
pub use read::{HistoryError, for_each_event, parse_jsonl, read_history};
pub use recorder::{HISTORY_FILE, History, HistoryClient, Op, PendingOp};
pub use stats::{ClientStats, UNNAMED_CLIENT};
