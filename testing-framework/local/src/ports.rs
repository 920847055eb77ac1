//! Free ports on 127.0.0.1, chosen below the kernel's ephemeral range.
//!
//! A node keeps its port across restarts. Were it in the ephemeral range,
//! an outgoing connection (a peer retrying it, say) could be given that port
//! while the node is down, and the restart would fail to bind.

use std::net::{Ipv4Addr, TcpListener};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lowest port used.
const FLOOR: u16 = 10_000;

/// `count` distinct ports that were free a moment ago. All are held until
/// all are found, so they are distinct; another process may still take one
/// before the node binds it, which the node then reports at start.
pub(crate) fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let ceiling = ephemeral_floor().unwrap_or(32_768);
    let span = u32::from(ceiling.saturating_sub(FLOOR));
    if span < count as u32 * 4 {
        return any_ports(count);
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
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            held.push(listener);
        }
    }
    if held.len() < count {
        return any_ports(count);
    }
    held.iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// Ports picked by the kernel, when the range below the ephemeral one is
/// too small or full.
fn any_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
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
        let ports = free_ports(5).unwrap();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 5);
        let ceiling = ephemeral_floor().unwrap_or(32_768);
        assert!(
            ports.iter().all(|p| *p >= FLOOR && *p < ceiling),
            "{ports:?}"
        );
        for port in ports {
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("released after choosing");
        }
    }
}
