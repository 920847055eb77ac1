//! Free ports on 127.0.0.1.

use std::net::{Ipv4Addr, TcpListener};

/// `count` distinct ports that were free a moment ago. All are held until
/// all are found, so they are distinct; a process may still take one
/// before the node binds it, which the node then reports at start.
pub(crate) fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}
