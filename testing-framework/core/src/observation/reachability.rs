//! Sources going silent and answering again, as the runtime's own
//! per-source health sees them: every observer gets these in its stream
//! without writing "unreachable / back" events of its own.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Contact;

/// A source that stopped answering usefully, or answers again: "node-1
/// unreachable: ..." when no connection or no answer came in time (a
/// timeout, a refused connection), "answered, but not usefully: ..." when
/// it answered with an error status or garbage, "poll failed: ..." when
/// the error's type does not say (return a boxed error, an I/O or a
/// `JsonClient` error, or one whose causes hold one, for the precise word).
/// Published in the
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
    /// What that error says: no contact, or an answer that was no use.
    #[serde(default)]
    pub contact: super::Contact,
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
        let error = self.error.as_deref().unwrap_or("no reason given");
        match (self.reachable, self.contact) {
            (true, _) => write!(f, "{} answers again", self.source),
            (false, Contact::Unreachable) => write!(f, "{} unreachable: {error}", self.source),
            (false, Contact::Answered) => {
                write!(f, "{} answered, but not usefully: {error}", self.source)
            }
            (false, Contact::Unknown) => write!(f, "{} poll failed: {error}", self.source),
        }
    }
}
