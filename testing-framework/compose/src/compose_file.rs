//! The `docker-compose.yml` written into each run directory: the same
//! cluster, for a person to start by hand.

use std::fmt::Write;
use std::path::Path;

use tf_core::scenario::{NodeCommand, NodeSpec, Protocol};

use crate::image::NodeImage;

/// One service of the file.
pub(crate) struct Service<'a> {
    pub(crate) spec: &'a NodeSpec,
    pub(crate) command: &'a NodeCommand,
    /// The node's data directory on this machine.
    pub(crate) data: &'a Path,
    /// Its ports and their protocols.
    pub(crate) ports: Vec<(u16, Protocol)>,
    /// Its image's tag and the binary's path in it.
    pub(crate) image: &'a NodeImage,
}

/// The file's text: every node with its image, command, user, data
/// directory, published ports and networks, as the deployer ran them.
pub(crate) fn render(run: &str, user: &str, services: &[Service<'_>]) -> String {
    // Strings are written as JSON strings, which YAML reads as they are.
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# The cluster of run {run}, as the framework deployed it. Start it by hand with\n#   docker-compose -f docker-compose.yml up\n# (after the run: it publishes the same ports on 127.0.0.1 and uses the\n# run's data directories).\nservices:"
    );
    for service in services {
        let spec = service.spec;
        let _ = writeln!(out, "  {}:", spec.name);
        let _ = writeln!(out, "    image: {}", q(&service.image.tag));
        let mut command = vec![q(&service.image.binary)];
        command.extend(service.command.args.iter().map(|a| q(a)));
        let _ = writeln!(out, "    entrypoint: [{}]", command.join(", "));
        if !service.command.env.is_empty() {
            let _ = writeln!(out, "    environment:");
            for (key, value) in &service.command.env {
                let _ = writeln!(out, "      {}: {}", q(key), q(value));
            }
        }
        let _ = writeln!(out, "    user: {}", q(user));
        let _ = writeln!(out, "    volumes:");
        let _ = writeln!(
            out,
            "      - {}",
            q(&format!(
                "{}:{}",
                service.data.display(),
                spec.data_dir.display()
            ))
        );
        let _ = writeln!(out, "    ports:");
        for &(port, protocol) in &service.ports {
            let _ = writeln!(
                out,
                "      - {}",
                q(&port_key(port, protocol, "127.0.0.1:"))
            );
        }
        let _ = writeln!(
            out,
            "    networks:\n      access: {{}}\n      peers:\n        aliases: [{}]",
            q(&spec.name)
        );
    }
    let _ = writeln!(
        out,
        "networks:\n  access:\n    driver_opts:\n      com.docker.network.bridge.enable_icc: \"false\"\n  peers:\n    internal: true"
    );
    out
}

/// `7000/tcp` as the engine names a container port (with `prefix`, the
/// compose file's `127.0.0.1:7000:7000/tcp`).
pub(crate) fn port_key(port: u16, protocol: Protocol, prefix: &str) -> String {
    let protocol = match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    if prefix.is_empty() {
        format!("{port}/{protocol}")
    } else {
        format!("{prefix}{port}:{port}/{protocol}")
    }
}
