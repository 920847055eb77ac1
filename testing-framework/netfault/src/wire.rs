//! What the deployer and the agent say to each other, one JSON line each.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tf_core::fault::LinkFault;

/// A request to the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Applies `fault` to what this node sends to `to`.
    Apply {
        /// The fault's number, unique in the cluster (its chain and queue).
        id: u16,
        /// The receivers' addresses.
        to: Vec<Ipv4Addr>,
        /// What happens to the packets.
        fault: LinkFault,
        /// Seeds the delay line's random choices.
        seed: u64,
    },
    /// Removes fault `id`; answers with its counters.
    Remove {
        /// The fault.
        id: u16,
    },
    /// Fences this namespace off network `subnet` (CIDR, `10.1.0.0/16`):
    /// what it sends there from an address outside it is dropped. While
    /// the node is on that network its packets there leave from its
    /// address on it and pass; once it is taken off, nothing reaches the
    /// network through the node's other ways out, even while the engine
    /// rewrites its own isolation rules between networks. In force until
    /// the namespace goes; asking again changes nothing.
    Fence {
        /// The network's subnet.
        subnet: String,
    },
    /// Times TCP connects to `targets`.
    Probe {
        /// Where.
        targets: Vec<SocketAddr>,
        /// How long a connect may take before it counts as no answer
        /// (default [`crate::probe::TIMEOUT`]).
        #[serde(default, with = "humantime_serde")]
        timeout: Option<Duration>,
    },
}

/// The agent's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// The fault (or fence) is in force.
    Applied,
    /// The fault is gone.
    Removed {
        /// What it did.
        counters: Counters,
    },
    /// Connect times.
    Probed {
        /// One a target.
        rtts: Vec<Rtt>,
    },
    /// It could not be done.
    Error {
        /// Why, and what to do.
        message: String,
    },
}

/// The median time of a few TCP connects to a target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rtt {
    /// Where.
    pub target: SocketAddr,
    /// Of the connects that got an answer; `None`: none did.
    pub median: Option<Duration>,
    /// Connects that got no answer in time.
    pub lost: usize,
}

impl Rtt {
    /// `0.3ms`, `52.1ms (1 lost)`, or `no answer`.
    pub fn describe(&self) -> String {
        match (self.median, self.lost) {
            (Some(d), 0) => format!("{:.1}ms", d.as_secs_f64() * 1000.0),
            (Some(d), lost) => format!("{:.1}ms ({lost} lost)", d.as_secs_f64() * 1000.0),
            (None, _) => "no answer".into(),
        }
    }
}

/// What a fault did to the packets that met it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Packets sent to the fault's receivers.
    pub packets: u64,
    /// Of those, dropped.
    pub dropped: u64,
    /// Copies sent.
    pub duplicated: u64,
    /// Packets held in the delay line.
    pub delayed: u64,
}
