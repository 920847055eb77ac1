//! The link fault helper, `tf-netfault`: a small program that runs in a
//! node's network namespace (a container sharing the node's network, with
//! `NET_ADMIN`) and applies [`LinkFault`]s to what the node sends to some
//! of its peers. Deployers drive it; the node needs no capability.
//!
//! - Drops (a cut, a loss percentage) and duplicates are iptables rules in
//!   a chain of the fault's own, jumped to from `OUTPUT` for the fault's
//!   receivers; their counters say what the fault did.
//! - Delay, jitter, reordering and a rate limit hold packets in a delay
//!   line ([`tf_core::fault::DelayLine`]) on a netfilter queue, since the
//!   kernels we run on may have no netem.
//! - A fence keeps a node taken off a network from reaching it another
//!   way: one `mangle` `OUTPUT` rule (met before any fault's) drops what
//!   goes to the network's subnet from an address outside it (compose's
//!   partitions; see [`Request::Fence`]).
//! - A probe times TCP connects to a peer: a fault is confirmed by the
//!   round trip before and after.
//!
//! [`driver`] is the deployers' side: which helper gets which request,
//! and how each fault is confirmed, whatever runs the helper.
//!
//! `tf-netfault agent` is the helper's main process: it holds the delay
//! lines and listens on [`SOCKET`]. `tf-netfault ctl <request>` (run with
//! the engine's exec) sends it one [`Request`] as JSON and prints the
//! [`Response`].
//!
//! [`LinkFault`]: tf_core::fault::LinkFault

pub mod agent;
pub mod driver;
pub mod probe;
mod queue;
pub mod rules;
mod wire;

pub use wire::{Counters, Request, Response, Rtt};

/// Where the agent listens, inside the helper.
pub const SOCKET: &str = "/run/tf-netfault.sock";

/// The helper binary's file name.
pub const BINARY: &str = "tf-netfault";

/// Where the helper's image holds it (as every framework image holds its
/// binary).
pub const IN_IMAGE: &str = "/usr/local/bin/tf-netfault";

/// Where the helper's image holds iptables' extensions
/// (`XTABLES_LIBDIR`).
pub const EXTENSIONS: &str = "/usr/lib/xtables";
