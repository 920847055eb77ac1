//! Node control: what can be done to a cluster's nodes ([`NodeAction`]),
//! what a deployer's clusters can do ([`Capabilities`], declared once by
//! the deployer), the control itself ([`NodeControl`]) and its errors.

use std::fmt;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::fault::{ClockFault, Impaired, Link, LinkFault};
use crate::report::NodeExit;

/// Something done to a node, for asking a deployer whether it can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeAction {
    /// Start, stop, restart.
    StartStop,
    /// Kill at once.
    Kill,
    /// Freeze and thaw (the node keeps its connections but never answers).
    Pause,
    /// Cut the cluster's network in two and heal it.
    Partition,
    /// Shape or cut single links, one way or both ([`NodeControl::impair`]).
    Links,
    /// Set a node's wall clock off ([`NodeControl::set_clock`]).
    Clock,
}

impl fmt::Display for NodeAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeAction::StartStop => "start and stop",
            NodeAction::Kill => "kill",
            NodeAction::Pause => "pause",
            NodeAction::Partition => "partition",
            NodeAction::Links => "shape or cut the links of",
            NodeAction::Clock => "set the clocks of",
        })
    }
}

impl NodeAction {
    /// Every action.
    pub const ALL: [NodeAction; 6] = [
        NodeAction::StartStop,
        NodeAction::Kill,
        NodeAction::Pause,
        NodeAction::Partition,
        NodeAction::Links,
        NodeAction::Clock,
    ];

    /// What to do when a deployer cannot do it.
    pub fn remedy(self) -> &'static str {
        match self {
            NodeAction::Partition | NodeAction::Links => {
                "use a deployer that can (--deployer compose), or drop it"
            }
            NodeAction::Clock => {
                "use a deployer that can (--deployer local or compose), or drop it"
            }
            _ => "use a deployer that can, or drop it",
        }
    }
}

/// How many actions there are.
const ACTIONS: usize = NodeAction::ALL.len();

/// What a deployer's clusters can do to nodes, and why not the rest.
/// Declared once, by the deployer ([`Deployer::capabilities`](super::Deployer::capabilities)):
/// the runner refuses a scenario that needs more before any node starts
/// ([`Deployer::supports`](super::Deployer::supports)), and the deployer
/// hands the same value to its clusters' [`NodeControl`], whose provided
/// methods refuse what is not supported with the reason given here.
///
/// ```
/// use tf_core::scenario::{NodeAction};
/// use tf_core::scenario::deploy::{Capabilities};
///
/// const MINE: Capabilities = Capabilities::BASIC
///     .with(NodeAction::Pause)
///     .without_because(NodeAction::Clock, "the nodes' images hold no libfaketime");
/// assert!(MINE.supports(NodeAction::Pause));
/// assert!(!MINE.supports(NodeAction::Partition));
/// let refused = MINE.check(NodeAction::Clock, "set the clock of", "node-0");
/// assert_eq!(
///     refused.unwrap_err().to_string(),
///     "set the clock of node-0 failed: the nodes' images hold no libfaketime"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// By action (its place in [`NodeAction::ALL`]): whether it can.
    supported: [bool; ACTIONS],
    /// By action: why not, when there is more to say than that it cannot.
    why_not: [Option<&'static str>; ACTIONS],
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::BASIC
    }
}

impl Capabilities {
    /// Start, stop, restart and kill: what every deployer can do.
    pub const BASIC: Capabilities = Capabilities {
        supported: [false; ACTIONS],
        why_not: [None; ACTIONS],
    }
    .with(NodeAction::StartStop)
    .with(NodeAction::Kill);

    /// Every action.
    pub const ALL: Capabilities = Capabilities {
        supported: [true; ACTIONS],
        why_not: [None; ACTIONS],
    };

    /// And `action`.
    pub const fn with(mut self, action: NodeAction) -> Self {
        self.supported[action as usize] = true;
        self.why_not[action as usize] = None;
        self
    }

    /// But not `action`; refusals say only that this deployer does not
    /// support it.
    pub const fn without(mut self, action: NodeAction) -> Self {
        self.supported[action as usize] = false;
        self.why_not[action as usize] = None;
        self
    }

    /// But not `action`, for `why` (and what to do instead), which
    /// refusals give as their reason.
    pub const fn without_because(mut self, action: NodeAction, why: &'static str) -> Self {
        self.supported[action as usize] = false;
        self.why_not[action as usize] = Some(why);
        self
    }

    /// Whether `action` can be done.
    pub const fn supports(&self, action: NodeAction) -> bool {
        self.supported[action as usize]
    }

    /// The refusal of `verb` (`pause`) on `who`, an action that needs
    /// `action`: failed with the reason given, else unsupported.
    pub fn refusal(&self, action: NodeAction, verb: &'static str, who: &str) -> ControlError {
        match self.why_not[action as usize] {
            Some(reason) => ControlError::failed(verb, who)(reason.to_owned()),
            None => ControlError::unsupported(verb, who),
        }
    }

    /// Nothing when `action` can be done, else the
    /// [`refusal`](Self::refusal) of `verb` on `who`.
    pub fn check(
        &self,
        action: NodeAction,
        verb: &'static str,
        who: &str,
    ) -> Result<(), ControlError> {
        if self.supports(action) {
            Ok(())
        } else {
            Err(self.refusal(action, verb, who))
        }
    }
}

/// Control over a cluster's nodes, by name. Start, stop and kill are
/// every deployer's; the other actions are refused, as the deployer's
/// [`Capabilities`] say, unless implemented.
#[async_trait]
pub trait NodeControl: Send + Sync {
    /// What its nodes can be put through: the [`Capabilities`] its
    /// deployer declared ([`Deployer::capabilities`](super::Deployer::capabilities)),
    /// handed over at deploy. The provided methods refuse with the reason
    /// they give.
    fn capabilities(&self) -> Capabilities;
    /// Starts a stopped node again, with its data.
    async fn start(&self, node: &str) -> Result<(), ControlError>;
    /// Asks the node to stop (SIGTERM or the backend's equivalent), then
    /// forces it after a grace period.
    async fn stop(&self, node: &str) -> Result<(), ControlError>;
    /// Stops, then starts with the same data.
    async fn restart(&self, node: &str) -> Result<(), ControlError> {
        self.stop(node).await?;
        self.start(node).await
    }
    /// Kills the node at once (SIGKILL or the backend's equivalent).
    async fn kill(&self, node: &str) -> Result<(), ControlError>;
    /// Freezes the node (SIGSTOP): it keeps its sockets but answers
    /// nothing, like a node in a long GC pause or on an overloaded VM.
    async fn pause(&self, node: &str) -> Result<(), ControlError> {
        Err(self
            .capabilities()
            .refusal(NodeAction::Pause, "pause", node))
    }
    /// Thaws a paused node (SIGCONT).
    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        Err(self
            .capabilities()
            .refusal(NodeAction::Pause, "resume", node))
    }
    /// Cuts the network in two: the nodes in `side` reach each other but
    /// none of the rest, and the rest reach each other. The runner keeps
    /// observing every node. One partition at a time; [`heal`](Self::heal)
    /// ends it.
    async fn partition(&self, side: &[String]) -> Result<(), ControlError> {
        Err(self
            .capabilities()
            .refusal(NodeAction::Partition, "partition", &side.join(", ")))
    }
    /// Ends the partition: every node reaches every other again. Healing a
    /// cluster that is not partitioned does nothing.
    async fn heal(&self) -> Result<(), ControlError> {
        Err(self
            .capabilities()
            .refusal(NodeAction::Partition, "heal", "the cluster"))
    }
    /// Applies `fault` to every link in `links` (from the sender's side),
    /// confirms that it took, and returns how; other impairments stay in
    /// force. A deployer that cannot shape links refuses, saying which can.
    async fn impair(&self, links: &[Link], fault: &LinkFault) -> Result<Impaired, ControlError> {
        let _ = fault;
        Err(self.capabilities().refusal(
            NodeAction::Links,
            "shape the links of",
            &links
                .iter()
                .map(Link::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ))
    }
    /// Removes an impairment; returns what it did to the packets, a line a
    /// link. Restoring one already removed does nothing.
    async fn restore(&self, id: u64) -> Result<Vec<String>, ControlError> {
        let _ = id;
        Ok(Vec::new())
    }
    /// Sets `node`'s wall clock to `clock` from now on (the default
    /// [`ClockFault`] puts it back to the true time); the setting outlives
    /// the node's restarts. Needs a cluster deployed with
    /// [`DeploymentRequest::clock_faults`](super::DeploymentRequest::clock_faults).
    async fn set_clock(&self, node: &str, clock: &ClockFault) -> Result<(), ControlError> {
        let _ = clock;
        Err(self
            .capabilities()
            .refusal(NodeAction::Clock, "set the clock of", node))
    }
    /// Every exit of a node that was not asked for, so far; changes as
    /// nodes crash.
    fn unexpected_exits(&self) -> watch::Receiver<Vec<NodeExit>>;
}

/// A node could not be controlled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No node by that name.
    #[error("no node named `{0}` in this cluster")]
    UnknownNode(String),
    /// This deployer cannot do that.
    #[error("cannot {action} {node}: this deployer does not support it")]
    Unsupported {
        /// What was asked (`pause`, `resume`).
        action: &'static str,
        /// The node.
        node: String,
    },
    /// The action failed.
    #[error("{action} {node} failed: {reason}")]
    Failed {
        /// What was attempted.
        action: &'static str,
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
}

impl ControlError {
    /// `action` is not something this deployer can do.
    pub fn unsupported(action: &'static str, node: &str) -> Self {
        ControlError::Unsupported {
            action,
            node: node.to_owned(),
        }
    }

    /// `action` on `node` failed, for the reason given to the returned
    /// function (for `map_err`).
    pub fn failed<'a>(action: &'static str, node: &'a str) -> impl Fn(String) -> Self + 'a {
        move |reason| ControlError::Failed {
            action,
            node: node.to_owned(),
            reason,
        }
    }

    /// Whether `side` can be cut off a cluster of `count` nodes while
    /// `cut` is cut off already: it must hold a node and leave one, and one
    /// partition is in force at a time. The reason when not.
    pub fn check_partition(side: &[String], count: usize, cut: &[String]) -> Result<(), String> {
        if side.is_empty() || side.len() >= count {
            return Err(format!(
                "a side must hold at least one node and leave at least one of the {count} on the other"
            ));
        }
        if !cut.is_empty() {
            return Err(format!("{} is cut off already; heal first", cut.join(", ")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_action_has_its_own_place() {
        for (place, action) in NodeAction::ALL.into_iter().enumerate() {
            assert_eq!(action as usize, place, "{action:?}");
        }
    }

    #[test]
    fn capabilities_say_what_is_refused_and_why() {
        let basic = Capabilities::BASIC;
        let supported: Vec<_> = NodeAction::ALL
            .into_iter()
            .filter(|a| basic.supports(*a))
            .collect();
        assert_eq!(supported, [NodeAction::StartStop, NodeAction::Kill]);
        assert!(
            NodeAction::ALL
                .into_iter()
                .all(|a| Capabilities::ALL.supports(a))
        );
        let plain = basic
            .check(NodeAction::Pause, "pause", "node-1")
            .unwrap_err();
        assert!(
            matches!(plain, ControlError::Unsupported { .. }),
            "{plain:?}"
        );
        assert_eq!(
            plain.to_string(),
            "cannot pause node-1: this deployer does not support it"
        );
        let why = basic
            .without_because(NodeAction::Pause, "no API freezes a container")
            .check(NodeAction::Pause, "resume", "node-1")
            .unwrap_err();
        assert_eq!(
            why.to_string(),
            "resume node-1 failed: no API freezes a container"
        );
        // A later declaration wins, reason and all.
        let back = basic
            .without_because(NodeAction::Links, "off")
            .with(NodeAction::Links)
            .without(NodeAction::Links);
        assert_eq!(back, basic);
        assert!(
            basic
                .with(NodeAction::Clock)
                .check(NodeAction::Clock, "set the clock of", "n")
                .is_ok()
        );
    }
}
