//! Network and clock faults: what happens to packets on a link ([`LinkFault`]:
//! delay, jitter, loss, duplication, reordering, a rate limit, or a cut)
//! and which links a fault takes ([`Links`]: a node's way out or in, one
//! link, or a partition of any shape).
//!
//! A fault is node control: [`NodeControl::impair`] applies it where the
//! packets leave their sender, confirms that it took (a round trip between
//! the pair before and after), and [`NodeControl::restore`] removes it and
//! says what it did (packets seen and dropped). The runner's own access to
//! the nodes is never taken, so observers keep seeing what each side
//! believes. Deployers that cannot shape links say so before a run starts
//! ([`NodeAction::Links`]).
//!
//! A [`ClockFault`] sets a node's wall clock ahead or behind and makes it
//! run fast or slow ([`NodeControl::set_clock`], [`NodeAction::Clock`]).
//!
//! [`NodeControl::set_clock`]: crate::scenario::deploy::NodeControl::set_clock
//! [`NodeAction::Clock`]: crate::scenario::NodeAction::Clock
//!
//! [`NodeControl::impair`]: crate::scenario::deploy::NodeControl::impair
//! [`NodeControl::restore`]: crate::scenario::deploy::NodeControl::restore
//! [`NodeAction::Links`]: crate::scenario::NodeAction::Links

mod clock;
mod link;
mod links;

pub use clock::ClockFault;
pub use link::{DelayLine, Distribution, LinkFault};
pub use links::{Link, Links};

use serde::{Deserialize, Serialize};

/// A link fault in force, as [`NodeControl::impair`] applied it.
///
/// [`NodeControl::impair`]: crate::scenario::deploy::NodeControl::impair
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Impaired {
    /// What [`NodeControl::restore`](crate::scenario::deploy::NodeControl::restore) takes.
    pub id: u64,
    /// How it was confirmed, a line a link
    /// (`node-0 -> node-1: connect 0.3ms -> 52.1ms`).
    pub confirmed: Vec<String>,
}
