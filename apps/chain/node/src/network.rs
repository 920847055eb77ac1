//! The network component: gossips blocks to peers, fetches missing parents,
//! and syncs with peers' tips (catching up after a start or a restart).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::block::{Block, BlockId};
use crate::service::{ChainHandle, NodeInfo, Outgoing};
use crate::tx::Transaction;

/// How many peers a block is pushed to: a node with up to this many peers
/// sends every block to all of them; with more, each node passes what is
/// new to it on to this many (epidemic gossip: a block reaches every node
/// in a few hops, for `nodes x FANOUT` messages instead of `nodes^2`), and
/// a node that missed one fetches it when a child arrives or on sync.
pub const FANOUT: usize = 8;

/// How many peers a sync asks for their tip.
pub const SYNC_PEERS: usize = 3;

/// Peers by `host:port`, and the HTTP client that reaches them.
#[derive(Clone)]
pub struct Network {
    http: reqwest::Client,
    peers: Arc<Vec<String>>,
    fetching: Arc<Mutex<HashSet<BlockId>>>,
    /// Where the next round of pushes or sync starts in `peers`: every
    /// peer is reached in turn.
    turn: Arc<AtomicUsize>,
}

impl Network {
    /// A network of `peers`.
    pub fn new(peers: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .unwrap_or_default();
        let turn = Arc::new(AtomicUsize::new(start_of(&peers)));
        Network {
            http,
            peers: Arc::new(peers),
            fetching: Arc::new(Mutex::new(HashSet::new())),
            turn,
        }
    }

    /// The next `count` peers in turn (all of them when there are no more).
    fn next_peers(&self, count: usize) -> Vec<&str> {
        let n = self.peers.len();
        if n <= count {
            return self.peers.iter().map(String::as_str).collect();
        }
        let start = self.turn.fetch_add(count, Ordering::Relaxed);
        (0..count)
            .map(|i| self.peers[(start + i) % n].as_str())
            .collect()
    }

    /// Sends what the chain wants sent, and syncs with peers every
    /// `sync_every` (from the start, and every tenth of it until a peer
    /// has answered).
    pub fn spawn(
        self,
        chain: ChainHandle,
        mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
        sync_every: Duration,
    ) {
        let sender = self.clone();
        let sending_chain = chain.clone();
        tokio::spawn(async move {
            while let Some(message) = outgoing.recv().await {
                match message {
                    Outgoing::Announce(block) => sender.announce(block),
                    Outgoing::Fetch(id) => sender.fetch(id, sending_chain.clone()),
                    Outgoing::Relay(tx) => sender.relay(tx),
                }
            }
        });
        tokio::spawn(async move {
            // Until a peer has answered, asked again ten times as often,
            // for at most as many rounds as a node waits to hear from one
            // before it produces alone.
            let mut quick_rounds = crate::service::QUIET_SLOTS;
            loop {
                for peer in self.next_peers(SYNC_PEERS) {
                    let url = format!("http://{peer}/info");
                    let Ok(response) = self.http.get(url).send().await else {
                        continue;
                    };
                    let Ok(info) = response.json::<NodeInfo>().await else {
                        continue;
                    };
                    quick_rounds = 0;
                    match chain.peer_tip(info.tip).await {
                        Ok(true) => {}
                        Ok(false) => self.fetch(info.tip, chain.clone()),
                        Err(_stopped) => return,
                    }
                }
                let pause = if quick_rounds == 0 {
                    sync_every
                } else {
                    quick_rounds -= 1;
                    sync_every / 10
                };
                tokio::time::sleep(pause).await;
            }
        });
    }

    fn announce(&self, block: Block) {
        for peer in self.next_peers(FANOUT) {
            let (http, url, block) = (
                self.http.clone(),
                format!("http://{peer}/blocks"),
                block.clone(),
            );
            tokio::spawn(async move {
                if let Err(error) = http.post(url).json(&block).send().await {
                    tracing::debug!(%error, "gossip failed");
                }
            });
        }
    }

    /// Hands a transaction to every peer.
    fn relay(&self, tx: Transaction) {
        for peer in self.peers.iter() {
            let (http, url, tx) = (self.http.clone(), format!("http://{peer}/txs"), tx.clone());
            tokio::spawn(async move {
                let relayed = http.post(url).header(crate::http::RELAYED, "1").json(&tx);
                if let Err(error) = relayed.send().await {
                    tracing::debug!(%error, "relaying a transaction failed");
                }
            });
        }
    }

    /// Finds `id` at some peer and hands it to the chain (which asks for
    /// its parent in turn if that is missing too).
    fn fetch(&self, id: BlockId, chain: ChainHandle) {
        if !self.fetching.lock().insert(id) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            for peer in this.peers.iter() {
                let url = format!("http://{peer}/blocks/{id}");
                let Ok(response) = this.http.get(url).send().await else {
                    continue;
                };
                if !response.status().is_success() {
                    continue;
                }
                if let Ok(block) = response.json::<Block>().await {
                    this.fetching.lock().remove(&id);
                    let _ = chain.block(block).await;
                    return;
                }
            }
            this.fetching.lock().remove(&id);
        });
    }
}

/// Where a node's turns start: a hash of its peer list, which lacks the
/// node itself and so differs from node to node (a process id would not:
/// in a container every node is process 1).
fn start_of(peers: &[String]) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    peers.hash(&mut hasher);
    hasher.finish() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(peers: usize) -> Network {
        Network::new(
            (0..peers)
                .map(|i| format!("127.0.0.1:{}", 9000 + i))
                .collect(),
        )
    }

    #[test]
    fn a_small_network_hears_from_everyone_every_time() {
        let network = network(FANOUT);
        for _ in 0..3 {
            assert_eq!(network.next_peers(FANOUT).len(), FANOUT);
        }
    }

    #[test]
    fn nodes_of_one_cluster_start_their_turns_at_different_peers() {
        let all: Vec<String> = (0..20).map(|i| format!("10.0.0.{i}:7000")).collect();
        let starts: HashSet<usize> = (0..20)
            .map(|me| {
                let peers: Vec<String> = all.iter().filter(|p| **p != all[me]).cloned().collect();
                start_of(&peers) % peers.len()
            })
            .collect();
        assert!(starts.len() > 5, "starts spread over the peers: {starts:?}");
    }

    #[test]
    fn a_big_network_is_reached_in_turn_and_in_full() {
        let network = network(50);
        let mut heard = HashSet::new();
        for _ in 0..50usize.div_ceil(FANOUT) {
            let round = network.next_peers(FANOUT);
            assert_eq!(round.len(), FANOUT);
            assert_eq!(
                round.iter().collect::<HashSet<_>>().len(),
                FANOUT,
                "{round:?}"
            );
            heard.extend(round.into_iter().map(str::to_owned));
        }
        assert_eq!(heard.len(), 50, "every peer in turn");
    }
}
