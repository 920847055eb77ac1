//! Sources going silent and answering again, as the runtime's own
//! per-source health sees them: every observer gets these in its stream
//! without writing "unreachable / back" events of its own.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A source that stopped answering, or answers again. Published in the
/// [`Observation`](super::Observation) of the cycle that saw it, from the
/// results of [`Sources::poll_each`](super::Sources::poll_each); a cycle
/// that fails publishes nothing, so its changes come with the next one that
/// succeeds. Observers that do not poll through `poll_each` get none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    /// The source.
    pub source: String,
    /// Whether it answers now.
    pub reachable: bool,
    /// Why it does not (its first failed poll's error).
    pub error: Option<String>,
}

impl Reachability {
    /// Whether this is `source` going silent.
    pub fn is_lost(&self, source: &str) -> bool {
        !self.reachable && self.source == source
    }

    /// Whether this is `source` answering again.
    pub fn is_back(&self, source: &str) -> bool {
        self.reachable && self.source == source
    }
}

impl fmt::Display for Reachability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.error, self.reachable) {
            (_, true) => write!(f, "{} answers again", self.source),
            (Some(error), false) => write!(f, "{} unreachable: {error}", self.source),
            (None, false) => write!(f, "{} unreachable", self.source),
        }
    }
}
