//! Waiting until transactions are included deep enough on the nodes'
//! branches, with a timeout that says, node by node, what is missing.

use std::fmt;
use std::time::Duration;

use chain_node::tx::TxId;
use tf_core::observation::ObservationHandle;

use crate::observer::{ChainApi, ChainObserver, ChainSnapshot};

/// At what depth, and on which nodes, a transaction counts as included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inclusion {
    /// 1: in the head block; 2: in its parent…
    pub depth: u64,
    /// The nodes; `None` is every node the observer knows.
    pub nodes: Option<Vec<String>>,
}

impl Inclusion {
    /// Included at least `depth` deep on every node.
    pub fn at_depth(depth: u64) -> Self {
        Inclusion {
            depth: depth.max(1),
            nodes: None,
        }
    }

    /// Only on `nodes`.
    pub fn on<I: IntoIterator<Item = S>, S: Into<String>>(mut self, nodes: I) -> Self {
        self.nodes = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    fn node_names<'a>(&'a self, snapshot: &'a ChainSnapshot) -> Vec<&'a str> {
        match &self.nodes {
            Some(nodes) => nodes.iter().map(String::as_str).collect(),
            None => snapshot.nodes.keys().map(String::as_str).collect(),
        }
    }

    /// Whether `tx` is included deep enough on every chosen node.
    pub fn holds(&self, snapshot: &ChainSnapshot, tx: &TxId) -> bool {
        let nodes = self.node_names(snapshot);
        !nodes.is_empty() && nodes.iter().all(|n| self.on_node(snapshot, tx, n).is_ok())
    }

    /// Why `tx` is not yet included deep enough on `node`, if it is not.
    pub fn on_node(&self, snapshot: &ChainSnapshot, tx: &TxId, node: &str) -> Result<(), String> {
        let Some(view) = snapshot.nodes.get(node) else {
            return Err(format!("{node}: never observed"));
        };
        if !view.reachable {
            return Err(format!("{node}: unreachable"));
        }
        let Some(ledger) = &view.ledger else {
            return Err(format!(
                "{node}: its head (height {}) is not projected yet; its ancestors are still being fetched",
                view.height
            ));
        };
        match ledger.depth_of(tx) {
            Some(depth) if depth >= self.depth => Ok(()),
            Some(depth) => Err(format!(
                "{node}: included at height {}, depth {depth} of {}",
                ledger.height() + 1 - depth,
                self.depth
            )),
            None => {
                let elsewhere = snapshot.txs.blocks_with(tx);
                if elsewhere.is_empty() {
                    Err(format!(
                        "{node}: not on its branch (head height {}); no observed block has it",
                        view.height
                    ))
                } else {
                    let blocks: Vec<String> = elsewhere
                        .iter()
                        .map(|(id, h)| format!("{} at height {h}", id.short()))
                        .collect();
                    Err(format!(
                        "{node}: not on its branch (head height {}); only on other branches, in {}",
                        view.height,
                        blocks.join(", ")
                    ))
                }
            }
        }
    }

    /// Waits until every one of `txs` holds, at most `within`.
    pub async fn wait<S: ChainApi>(
        &self,
        chain: &ObservationHandle<ChainObserver<S>>,
        txs: &[TxId],
        within: Duration,
    ) -> Result<(), InclusionTimeout> {
        let waited = chain
            .wait_until(|s| txs.iter().all(|tx| self.holds(s, tx)), within)
            .await;
        let Err(error) = waited else {
            return Ok(());
        };
        let latest = chain.latest_snapshot();
        let mut missing = Vec::new();
        let mut count = 0;
        if let Some(latest) = &latest {
            let snapshot = &latest.snapshot;
            for tx in txs.iter().filter(|tx| !self.holds(snapshot, tx)) {
                count += 1;
                if missing.len() < MAX_EXPLAINED {
                    let nodes = self.node_names(snapshot);
                    let reasons = nodes
                        .iter()
                        .filter_map(|n| self.on_node(snapshot, tx, n).err())
                        .collect::<Vec<_>>();
                    let reasons = if nodes.is_empty() {
                        vec!["no node observed yet".to_owned()]
                    } else {
                        reasons
                    };
                    missing.push((*tx, reasons));
                }
            }
        } else {
            count = txs.len();
        }
        Err(InclusionTimeout {
            depth: self.depth,
            within,
            total: txs.len(),
            count,
            missing,
            observer: error.to_string(),
        })
    }
}

/// Transactions explained one by one in an [`InclusionTimeout`].
const MAX_EXPLAINED: usize = 5;

/// Transactions not included deep enough in time, and why, node by node.
#[derive(Debug)]
pub struct InclusionTimeout {
    /// The depth asked for.
    pub depth: u64,
    /// How long was waited.
    pub within: Duration,
    /// Transactions waited for.
    pub total: usize,
    /// Of which not included deep enough.
    pub count: usize,
    /// The first few, with each node's reason.
    pub missing: Vec<(TxId, Vec<String>)>,
    /// The observer's own diagnostics (last snapshot, source health).
    pub observer: String,
}

impl fmt::Display for InclusionTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} of {} transaction(s) not included at depth {} on every node within {:?}:",
            self.count, self.total, self.depth, self.within
        )?;
        for (tx, reasons) in &self.missing {
            writeln!(f, "  tx {}:", tx.short())?;
            for reason in reasons {
                writeln!(f, "    {reason}")?;
            }
        }
        if self.count > self.missing.len() {
            writeln!(f, "  … and {} more", self.count - self.missing.len())?;
        }
        write!(f, "observer: {}", self.observer)
    }
}

impl std::error::Error for InclusionTimeout {}
