//! Command line of a node and the Raft configuration derived from it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Parser;

use crate::types::NodeId;

/// A Raft key-value node with an HTTP API.
#[derive(Debug, Clone, Parser)]
#[command(name = "openraft-kv-node", version)]
pub struct NodeConfig {
    /// This node's id; must be stable across restarts.
    #[arg(long)]
    pub id: NodeId,
    /// Address the HTTP server binds to, e.g. 127.0.0.1:7001; peers use it
    /// too unless `--advertise` says otherwise.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Address peers reach this node at, as <host:port>, when it is not the
    /// bound one (in a container: bound to 0.0.0.0, reached by name).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub advertise: Option<String>,
    /// Directory of the node's database (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Another member of the cluster as <id>=<host:port>; repeat for each peer.
    #[arg(long = "peer", value_name = "ID=HOST:PORT")]
    pub peers: Vec<Peer>,
    /// Initialize the cluster (this node and all peers as voters) if this
    /// node's Raft state is still empty. Give it to exactly one node.
    #[arg(long)]
    pub init: bool,
    /// Leader heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout in milliseconds.
    #[arg(long, default_value_t = 400)]
    pub election_min_ms: u64,
    /// Upper bound of the randomized election timeout in milliseconds.
    #[arg(long, default_value_t = 800)]
    pub election_max_ms: u64,
    /// Build a snapshot after this many new log entries.
    #[arg(long, default_value_t = 5000)]
    pub snapshot_every: u64,
    /// Log entries to keep behind the latest snapshot before purging them.
    #[arg(long, default_value_t = 1000)]
    pub keep_logs: u64,
    /// A deliberate bug, to prove that tests catch it: linearizable reads
    /// are answered from this node's local state without asking the
    /// leader, so a follower or a deposed leader serves stale values.
    #[arg(long)]
    pub stale_reads: bool,
}

/// A `--peer` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: NodeId,
    pub addr: String,
}

/// Why a command line is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid peer {0:?}: expected <id>=<host:port>")]
    PeerSyntax(String),
    #[error("peer id {0} is this node's own id")]
    PeerIsSelf(NodeId),
    #[error("peer id {0} is given twice")]
    DuplicatePeer(NodeId),
    #[error("invalid raft timing: {0}")]
    Raft(String),
}

impl FromStr for Peer {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || ConfigError::PeerSyntax(text.to_string());
        let (id, addr) = text.split_once('=').ok_or_else(syntax)?;
        let id = id.trim().parse().map_err(|_| syntax())?;
        let addr = addr.trim();
        if !is_host_port(addr) {
            return Err(syntax());
        }
        Ok(Self {
            id,
            addr: addr.to_string(),
        })
    }
}

fn parse_host_port(text: &str) -> Result<String, String> {
    if is_host_port(text) {
        Ok(text.to_owned())
    } else {
        Err(format!("expected <host:port>, got {text:?}"))
    }
}

/// Whether `addr` looks like `host:port` with a non-empty host and a valid port.
pub fn is_host_port(addr: &str) -> bool {
    match addr.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

impl NodeConfig {
    /// This node's address as members see it.
    pub fn advertised_addr(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| self.addr.to_string())
    }

    /// All members, this node included, by id: the initial voter set of `--init`.
    pub fn members(&self) -> Result<BTreeMap<NodeId, String>, ConfigError> {
        let mut members = BTreeMap::new();
        members.insert(self.id, self.advertised_addr());
        for peer in &self.peers {
            if peer.id == self.id {
                return Err(ConfigError::PeerIsSelf(peer.id));
            }
            if members.insert(peer.id, peer.addr.clone()).is_some() {
                return Err(ConfigError::DuplicatePeer(peer.id));
            }
        }
        Ok(members)
    }

    /// openraft's configuration, validated.
    pub fn raft_config(&self) -> Result<openraft::Config, ConfigError> {
        let config = openraft::Config {
            cluster_name: "openraft-kv".to_string(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_min_ms,
            election_timeout_max: self.election_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.keep_logs,
            // Chunks travel as JSON byte arrays (~4x bigger): keep them small.
            snapshot_max_chunk_size: 1024 * 1024,
            ..Default::default()
        };
        config
            .validate()
            .map_err(|e| ConfigError::Raft(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<NodeConfig, clap::Error> {
        let mut argv = vec!["openraft-kv-node"];
        argv.extend_from_slice(args);
        NodeConfig::try_parse_from(argv)
    }

    #[test]
    fn parses_the_documented_command_line() {
        let config = parse(&[
            "--id",
            "0",
            "--addr",
            "127.0.0.1:7000",
            "--data-dir",
            "/tmp/x",
            "--peer",
            "1=127.0.0.1:7001",
            "--peer",
            "2=localhost:7002",
            "--init",
        ])
        .expect("valid command line");
        assert_eq!(config.peers.len(), 2);
        assert_eq!(config.peers[1].addr, "localhost:7002");
        assert!(config.init);
        assert_eq!(config.heartbeat_ms, 100);
        let members = config.members().expect("valid members");
        assert_eq!(members.get(&0).map(String::as_str), Some("127.0.0.1:7000"));
        assert!(config.raft_config().is_ok());
    }

    #[test]
    fn rejects_bad_peers_and_timings() {
        let bad = ["1", "x=127.0.0.1:1", "1=127.0.0.1", "1=:80", "1=h:99999"];
        for peer in bad {
            assert!(peer.parse::<Peer>().is_err(), "{peer} accepted");
        }
        let base = ["--id", "0", "--addr", "127.0.0.1:7000", "--data-dir", "d"];
        let mut args = base.to_vec();
        args.extend(["--peer", "0=127.0.0.1:7001"]);
        let config = parse(&args).expect("parses");
        assert_eq!(config.members(), Err(ConfigError::PeerIsSelf(0)));

        let mut args = base.to_vec();
        args.extend(["--election-min-ms", "900", "--election-max-ms", "800"]);
        let config = parse(&args).expect("parses");
        assert!(config.raft_config().is_err());
    }
}
