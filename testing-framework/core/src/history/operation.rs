//! A history's events paired into operations: each invocation with its
//! completion, by process.

use std::collections::HashMap;

use serde_json::Value;

use super::{Event, EventKind, HistoryError};

/// How an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It took effect; what the client got back.
    Ok(Value),
    /// It certainly did not take effect.
    Fail(Option<String>),
    /// It may have taken effect, at any time after its invocation.
    Unknown(Option<String>),
}

/// One client operation: an invocation and its completion.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// The client process.
    pub process: u64,
    /// The workload it belongs to, if its client said.
    pub client: Option<String>,
    /// Its function.
    pub f: String,
    /// What was invoked.
    pub input: Value,
    /// How it ended.
    pub outcome: Outcome,
    /// Position of the invocation in the history.
    pub invoke_index: u64,
    /// Position of the completion; `None` when none was recorded.
    pub complete_index: Option<u64>,
    /// When it was invoked (ns since the history began).
    pub invoked_at: u64,
    /// When it completed; `None` when no completion was recorded.
    pub completed_at: Option<u64>,
}

impl Operation {
    /// What it returned, if it took effect.
    pub fn output(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Ok(value) => Some(value),
            _ => None,
        }
    }

    /// Whether it took effect for certain.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok(_))
    }

    /// Whether it may have taken effect without the client knowing.
    pub fn is_unknown(&self) -> bool {
        matches!(self.outcome, Outcome::Unknown(_))
    }

    /// Its latency, when it completed ok or failed.
    pub fn latency_ns(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Unknown(_) => None,
            _ => Some(self.completed_at?.saturating_sub(self.invoked_at)),
        }
    }

    /// `process 3 write ["k","v"] -> ok ["k","v"] (1.204s..1.209s)`, for
    /// people.
    pub fn describe(&self) -> String {
        let outcome = match &self.outcome {
            Outcome::Ok(value) => format!("ok {value}"),
            Outcome::Fail(_) => "fail".to_owned(),
            Outcome::Unknown(_) => "unknown".to_owned(),
        };
        let end = self
            .completed_at
            .map_or("?".to_owned(), |t| format!("{:.3}s", t as f64 / 1e9));
        format!(
            "process {} {} {} -> {outcome} ({:.3}s..{end}, events {}..{})",
            self.process,
            self.f,
            self.input,
            self.invoked_at as f64 / 1e9,
            self.invoke_index,
            self.complete_index
                .map_or("?".to_owned(), |i| i.to_string())
        )
    }
}

/// Pairs events into operations as they come: each invocation with the
/// next event of its process. Holds only the operations in flight, so a
/// history of any length streams through it.
#[derive(Default)]
pub(crate) struct Pairing {
    pending: HashMap<u64, Operation>,
}

impl Pairing {
    /// Takes the next event; returns the operation it completes, if any.
    pub(crate) fn push(&mut self, event: &Event) -> Result<Option<Operation>, HistoryError> {
        if event.kind == EventKind::Invoke {
            if let Some(open) = self.pending.get(&event.process) {
                return Err(HistoryError::Inconsistent(format!(
                    "event {}: process {} invokes {} while its {} of event {} is in flight; a process runs one operation at a time, and one whose outcome is unknown must be retired (a new process takes over)",
                    event.index, event.process, event.f, open.f, open.invoke_index
                )));
            }
            self.pending.insert(
                event.process,
                Operation {
                    process: event.process,
                    client: event.client.clone(),
                    f: event.f.clone(),
                    input: event.value.clone(),
                    outcome: Outcome::Unknown(Some("no completion was recorded".into())),
                    invoke_index: event.index,
                    complete_index: None,
                    invoked_at: event.time,
                    completed_at: None,
                },
            );
            return Ok(None);
        }
        let Some(mut op) = self.pending.remove(&event.process) else {
            return Err(HistoryError::Inconsistent(format!(
                "event {}: process {} completes {} ({}) but has no operation in flight",
                event.index,
                event.process,
                event.f,
                event.kind.as_str()
            )));
        };
        if op.f != event.f {
            return Err(HistoryError::Inconsistent(format!(
                "event {}: process {} completes {} but invoked {} (event {})",
                event.index, event.process, event.f, op.f, op.invoke_index
            )));
        }
        op.complete_index = Some(event.index);
        op.completed_at = Some(event.time);
        op.outcome = match event.kind {
            EventKind::Ok => Outcome::Ok(event.value.clone()),
            EventKind::Fail => Outcome::Fail(event.error.clone()),
            _ => Outcome::Unknown(event.error.clone()),
        };
        Ok(Some(op))
    }

    /// The operations still in flight at the end: of unknown outcome.
    pub(crate) fn finish(self) -> impl Iterator<Item = Operation> {
        self.pending.into_values()
    }
}

/// Pairs each invocation with the next event of its process, in the order
/// of invocation. An invocation never completed is unknown.
pub fn operations(events: &[Event]) -> Result<Vec<Operation>, HistoryError> {
    let mut pairing = Pairing::default();
    let mut ops = Vec::with_capacity(events.len() / 2);
    for event in events {
        ops.extend(pairing.push(event)?);
    }
    ops.extend(pairing.finish());
    ops.sort_by_key(|op| op.invoke_index);
    Ok(ops)
}
