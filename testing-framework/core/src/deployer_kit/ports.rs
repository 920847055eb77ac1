//! Free ports on 127.0.0.1, chosen below the kernel's ephemeral range.
//!
//! A node keeps its port across restarts. Were it in the ephemeral range,
//! an outgoing connection (a peer retrying it, say) could be given that port
//! while the node is down, and the restart would fail to bind.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lowest port used.
const FLOOR: u16 = 10_000;

use crate::scenario::Protocol;

/// A port held while the others are chosen, so that all are distinct.
enum Held {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Held {
    fn bind(protocol: Protocol, port: u16) -> std::io::Result<Held> {
        match protocol {
            Protocol::Tcp => TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map(Held::Tcp),
            Protocol::Udp => UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).map(Held::Udp),
        }
    }

    fn port(&self) -> std::io::Result<u16> {
        match self {
            Held::Tcp(l) => l.local_addr().map(|a| a.port()),
            Held::Udp(s) => s.local_addr().map(|a| a.port()),
        }
    }
}

/// One distinct port per entry of `protocols` (every port of every node),
/// each free a moment ago for its protocol. All are held until all are
/// found, so none collide, within a node or across nodes; another process
/// may still take one before the node binds it, which the node then
/// reports at start.
pub fn free_ports(protocols: &[Protocol]) -> std::io::Result<Vec<u16>> {
    let count = protocols.len();
    let ceiling = ephemeral_floor().unwrap_or(32_768);
    let span = u32::from(ceiling.saturating_sub(FLOOR));
    if span < count as u32 * 4 {
        return any_ports(protocols);
    }
    // A varying start, so concurrent runs do not all probe the same ports.
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id();
    let mut held = Vec::with_capacity(count);
    for step in 0..span {
        if held.len() == count {
            break;
        }
        let port = FLOOR + ((seed.wrapping_add(step.wrapping_mul(7919))) % span) as u16;
        if let Ok(socket) = Held::bind(protocols[held.len()], port) {
            held.push(socket);
        }
    }
    if held.len() < count {
        return any_ports(protocols);
    }
    held.iter().map(Held::port).collect()
}

/// Ports picked by the kernel, when the range below the ephemeral one is
/// too small or full.
fn any_ports(protocols: &[Protocol]) -> std::io::Result<Vec<u16>> {
    let held = protocols
        .iter()
        .map(|p| Held::bind(*p, 0))
        .collect::<std::io::Result<Vec<_>>>()?;
    held.iter().map(Held::port).collect()
}

/// The first port of the kernel's ephemeral range (Linux).
fn ephemeral_floor() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_free_and_below_the_ephemeral_range() {
        let ports = free_ports(&[
            Protocol::Tcp,
            Protocol::Tcp,
            Protocol::Udp,
            Protocol::Tcp,
            Protocol::Udp,
        ])
        .unwrap();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 5);
        let ceiling = ephemeral_floor().unwrap_or(32_768);
        assert!(
            ports.iter().all(|p| *p >= FLOOR && *p < ceiling),
            "{ports:?}"
        );
        for port in &ports[..2] {
            TcpListener::bind((Ipv4Addr::LOCALHOST, *port)).expect("released after choosing");
        }
        UdpSocket::bind((Ipv4Addr::LOCALHOST, ports[2])).expect("released after choosing");
    }
}
