//! The network component: gossips blocks to peers, fetches missing parents,
//! and syncs with peers' tips (catching up after a start or a restart).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::block::{Block, BlockId};
use crate::service::{ChainHandle, NodeInfo, Outgoing};
use crate::tx::Transaction;

/// Peers by `host:port`, and the HTTP client that reaches them.
#[derive(Clone)]
pub struct Network {
    http: reqwest::Client,
    peers: Arc<Vec<String>>,
    fetching: Arc<Mutex<HashSet<BlockId>>>,
}

impl Network {
    /// A network of `peers`.
    pub fn new(peers: Vec<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .no_proxy()
            .build()
            .unwrap_or_default();
        Network {
            http,
            peers: Arc::new(peers),
            fetching: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// Sends what the chain wants sent, and syncs with peers every
    /// `sync_every`.
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
            let mut ticks = tokio::time::interval(sync_every);
            loop {
                ticks.tick().await;
                for peer in self.peers.iter() {
                    let url = format!("http://{peer}/info");
                    let Ok(response) = self.http.get(url).send().await else {
                        continue;
                    };
                    let Ok(info) = response.json::<NodeInfo>().await else {
                        continue;
                    };
                    if matches!(chain.get_block(info.tip).await, Ok(None)) {
                        self.fetch(info.tip, chain.clone());
                    }
                }
            }
        });
    }

    fn announce(&self, block: Block) {
        for peer in self.peers.iter() {
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
