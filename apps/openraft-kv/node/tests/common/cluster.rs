//! A cluster of node processes and bounded waits on what they report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use openraft_kv_node::{ClientError, KvClient, NodeState, Role};
use tempfile::TempDir;

use super::{NodeProcess, POLL, free_ports};

/// A cluster of node processes with data dirs and logs in one tempdir.
pub struct Cluster {
    pub nodes: Vec<NodeProcess>,
    pub clients: Vec<KvClient>,
    // Dropped after `nodes` (field order), so no node outlives its data dir.
    dir: TempDir,
}

impl Cluster {
    /// Starts `n` nodes, ids 0..n, node 0 with `--init`, each with `extra` args.
    pub fn start(n: usize, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = free_ports(n);
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut nodes = Vec::new();
        for (id, addr) in addrs.iter().enumerate() {
            let mut args = vec![
                "--id".to_string(),
                id.to_string(),
                "--addr".to_string(),
                addr.clone(),
                "--data-dir".to_string(),
                dir.path().join(format!("node{id}")).display().to_string(),
            ];
            for (peer, peer_addr) in addrs.iter().enumerate() {
                if peer != id {
                    args.push("--peer".to_string());
                    args.push(format!("{peer}={peer_addr}"));
                }
            }
            if id == 0 {
                args.push("--init".to_string());
            }
            args.extend(extra.iter().map(|a| a.to_string()));
            let log = dir.path().join(format!("node{id}.log"));
            let id = u64::try_from(id).expect("id fits u64");
            nodes.push(NodeProcess::new(id, addr.clone(), args, log));
        }
        let clients = addrs
            .iter()
            .map(|a| KvClient::new(a.clone()).expect("client"))
            .collect();
        Self {
            nodes,
            clients,
            dir,
        }
    }

    /// Index of the node with this address.
    pub fn index_of_addr(&self, addr: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }

    /// States of the given nodes; unreachable ones are `None`.
    pub async fn states(&self, among: &[usize]) -> Vec<Option<NodeState>> {
        let mut states = Vec::new();
        for &i in among {
            states.push(self.clients[i].state().await.ok());
        }
        states
    }

    /// Waits until exactly one of `among` is leader with a term above
    /// `min_term`, and all of `among` follow it. Returns its index and state.
    pub async fn wait_for_leader(
        &self,
        among: &[usize],
        min_term: u64,
        within: Duration,
    ) -> (usize, NodeState) {
        let deadline = Instant::now() + within;
        loop {
            let states = self.states(among).await;
            if let Some(found) = single_leader(among, &states, min_term) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no single leader above term {min_term} among {among:?} within {within:?}: {states:#?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Writes through the node at `via`, following NotLeader redirects and
    /// retrying transient failures until `within` runs out. Returns the index.
    pub async fn write(&self, via: usize, key: &str, value: &str, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        let mut target = via;
        loop {
            let error = match self.clients[target].write(key, value).await {
                Ok(index) => return index,
                Err(ClientError::NotLeader {
                    leader_addr: Some(addr),
                    ..
                }) if self.index_of_addr(&addr).is_some() => {
                    target = self.index_of_addr(&addr).unwrap_or(target);
                    continue;
                }
                Err(error) => error,
            };
            assert!(
                Instant::now() < deadline,
                "write {key}={value} via node {via} kept failing: {error}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until every node answers with the same digest and `kv_len`.
    pub async fn wait_converged(&self, kv_len: usize, within: Duration) -> Vec<NodeState> {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        let deadline = Instant::now() + within;
        loop {
            let states = self.states(&all).await;
            let converged: Option<Vec<NodeState>> = states.iter().cloned().collect();
            if let Some(states) = converged {
                let digest = &states[0].kv_digest;
                if states
                    .iter()
                    .all(|s| s.kv_len == kv_len && &s.kv_digest == digest)
                {
                    return states;
                }
            }
            assert!(
                Instant::now() < deadline,
                "nodes did not converge on {kv_len} keys within {within:?}: {states:#?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Each node's whole map.
    pub async fn maps(&self) -> Vec<BTreeMap<String, String>> {
        let mut maps = Vec::new();
        for client in &self.clients {
            maps.push(client.all().await.expect("read whole map"));
        }
        maps
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Kill first so the logs are complete, then show them if the test failed.
        for node in &mut self.nodes {
            node.kill();
        }
        if std::thread::panicking() {
            for node in &self.nodes {
                let text = node.log_text();
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                eprintln!("---- node {} log (last 40 lines) ----", node.id);
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// The single leader among `states` above `min_term` that all reachable
/// nodes of `among` agree on.
fn single_leader(
    among: &[usize],
    states: &[Option<NodeState>],
    min_term: u64,
) -> Option<(usize, NodeState)> {
    let leaders: Vec<(usize, &NodeState)> = among
        .iter()
        .zip(states)
        .filter_map(|(&i, s)| s.as_ref().map(|s| (i, s)))
        .filter(|(_, s)| s.role == Role::Leader && s.term > min_term)
        .collect();
    let [(index, leader)] = leaders.as_slice() else {
        return None;
    };
    let all_follow = states
        .iter()
        .all(|s| s.as_ref().is_some_and(|s| s.leader == Some(leader.id)));
    all_follow.then(|| (*index, (*leader).clone()))
}
