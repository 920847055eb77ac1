//! Test harness: real node processes on free loopback ports, killed on drop,
//! and bounded polling of their HTTP API.

#![allow(dead_code)] // Each test binary uses a different subset.

mod cluster;
mod process;

use std::net::TcpListener;
use std::time::Duration;

pub use cluster::Cluster;
pub use process::NodeProcess;

/// Pause between two polls of a bounded wait.
pub const POLL: Duration = Duration::from_millis(50);

/// `n` distinct free loopback ports: all are bound at once, then released.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}
