//! `ChainObserver`: every node's head and final block, the graph of every
//! block any node had (fetched incrementally: only what is new), and the
//! [`WalletProjection`] of those blocks.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::marker::PhantomData;

use async_trait::async_trait;
use chain_node::block::{Block, BlockHeader, BlockId};
use chain_node::client::ChainClient;
use chain_node::graph::HeaderLookup;
use chain_node::ledger::DEFAULT_WALLETS;
use chain_node::service::NodeInfo;
use serde::{Deserialize, Serialize};
use tf_core::BoxError;
use tf_core::observation::{Observer, Sources};
use tf_core::report::{ReportEvent, ReportSnapshot, SeriesPoint, Severity};

use crate::sync::{SyncView, sync_view};
use crate::wallets::{LedgerAt, TxIndex, WalletProjection};

/// Blocks fetched per node per poll at most (a node far ahead is caught up
/// over several polls).
const MAX_FETCH: usize = 200;

/// What the observer needs from a node: its `/info` and its blocks.
/// [`ChainClient`] is the real one; [`crate::memory::MemoryNode`] is a
/// scripted one for tests and benchmarks.
#[async_trait]
pub trait ChainApi: Send + Sync + 'static {
    /// The node's tip, final block and live branch tips.
    async fn info(&self) -> Result<NodeInfo, BoxError>;
    /// One block by id.
    async fn block(&self, id: BlockId) -> Result<Block, BoxError>;
}

#[async_trait]
impl ChainApi for ChainClient {
    async fn info(&self) -> Result<NodeInfo, BoxError> {
        Ok(ChainClient::info(self).await?)
    }

    async fn block(&self, id: BlockId) -> Result<Block, BoxError> {
        Ok(ChainClient::block(self, id).await?)
    }
}

/// One node's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHead {
    /// Its tip.
    pub head: BlockId,
    /// The tip's height.
    pub height: u64,
    /// Its final block.
    pub final_id: BlockId,
    /// The final block's height.
    pub final_height: u64,
    /// Whether the last poll reached it.
    pub reachable: bool,
    /// Total value on its branch, once the head is projected.
    pub supply: Option<u64>,
    /// How far its wall clock is from the runner's, in milliseconds
    /// (positive: ahead), as of its last answer; `None` for a node that
    /// does not say its time.
    #[serde(default)]
    pub clock_offset_ms: Option<i64>,
    /// Blocks it held or refused so far because their slot had not begun
    /// on its clock.
    #[serde(default)]
    pub from_the_future: u64,
    /// The ledger at its head (balances, outputs, included transactions),
    /// once every block down to genesis is known. Not recorded.
    #[serde(skip)]
    pub ledger: Option<LedgerAt>,
}

/// A node's clock `time_ms` (when it answered) against the runner's now;
/// `None` when it did not say. The answer's travel time (milliseconds on
/// the machines we run on) is within the error.
fn clock_offset(time_ms: u64) -> Option<i64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as i64;
    (time_ms > 0).then(|| time_ms as i64 - now)
}

/// What the observer publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSnapshot {
    /// Every node's view, by name.
    pub nodes: BTreeMap<String, NodeHead>,
    /// The newest block all reachable heads share, and its height.
    pub common_ancestor: Option<(BlockId, u64)>,
    /// Distinct heads among reachable nodes.
    pub live_forks: usize,
    /// Highest minus lowest height among reachable nodes.
    pub height_spread: u64,
    /// Blocks seen, all branches.
    pub blocks_seen: usize,
    /// Blocks with more than one child seen: where forks happened.
    pub fork_points: usize,
    /// Head switches between branches seen.
    pub reorgs: u64,
    /// The deepest reorg seen.
    pub max_reorg_depth: u64,
    /// Two final blocks at one height (a safety violation), as found.
    pub final_conflicts: Vec<String>,
    /// Nodes whose final block went backwards or off its chain.
    pub finality_reverted: Vec<String>,
    /// Total value at genesis: every branch must hold exactly this.
    pub genesis_supply: u64,
    /// Transactions in blocks that do not add up on their branch.
    pub ledger_anomalies: Vec<String>,
    /// Where each transaction was included, on every branch. Not recorded.
    #[serde(skip)]
    pub txs: TxIndex,
    /// Against the public majority, when the observer was made
    /// [`syncing_to`](ChainObserver::syncing_to) public peers.
    #[serde(default)]
    pub sync: Option<SyncView>,
}

impl ChainSnapshot {
    /// The height of a block final on every one of `nodes`, all observed
    /// and reachable: the lowest of their final blocks, once it is known to
    /// be on every head's chain (the heads' common ancestor is at or above
    /// it, so every higher final block descends from it). `None` while a
    /// node is unseen or unreachable, or their finals are not yet known to
    /// share a chain. Nodes polled a moment apart on a fast chain rarely
    /// report the same final block; they share the lowest one. The common
    /// ancestor is that of every reachable node observed, so asking about
    /// some of them is conservative: it may wait for the others.
    pub fn shared_final<'a>(&self, nodes: impl IntoIterator<Item = &'a str>) -> Option<u64> {
        let (lowest, _) = self.final_range(nodes)?;
        let (_, common) = self.common_ancestor?;
        (common >= lowest).then_some(lowest)
    }

    /// Whether every observed node's final block is under every head
    /// (the heads' common ancestor is at or above the highest of them):
    /// the nodes have converged, none is left behind another's final
    /// block. Stronger than [`shared_final`](Self::shared_final), which a
    /// node stuck far behind on the same chain still passes.
    pub fn finals_converged(&self) -> bool {
        let Some((_, highest)) = self.final_range(self.nodes.keys().map(String::as_str)) else {
            return false;
        };
        self.common_ancestor
            .is_some_and(|(_, common)| common >= highest)
    }

    /// The lowest and highest final heights of `nodes`, all observed and
    /// reachable (`None` otherwise, or for no node).
    fn final_range<'a>(&self, nodes: impl IntoIterator<Item = &'a str>) -> Option<(u64, u64)> {
        let mut range: Option<(u64, u64)> = None;
        for node in nodes {
            let height = self.nodes.get(node).filter(|v| v.reachable)?.final_height;
            range = Some(range.map_or((height, height), |(l, h)| (l.min(height), h.max(height))));
        }
        range
    }

    /// The ledger at `node`'s head, once projected.
    pub fn ledger(&self, node: &str) -> Option<&LedgerAt> {
        self.nodes.get(node).and_then(|n| n.ledger.as_ref())
    }
}

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainEvent {
    /// A block no observed node had before, and who had it first.
    NewBlock {
        /// The block.
        id: BlockId,
        /// Its height.
        height: u64,
        /// The node it was seen on first.
        first_seen_on: String,
    },
    /// A node's head moved; `reorg_depth` is 0 when it just extended.
    HeadChanged {
        /// The node.
        node: String,
        /// Its new head's height.
        height: u64,
        /// Blocks of its old branch it left.
        reorg_depth: u64,
    },
    /// A node's final block advanced.
    FinalAdvanced {
        /// The node.
        node: String,
        /// The new final height.
        height: u64,
    },
}

impl fmt::Display for ChainEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainEvent::NewBlock {
                id,
                height,
                first_seen_on,
            } => write!(
                f,
                "new block {} at height {height} (first on {first_seen_on})",
                id.short()
            ),
            ChainEvent::HeadChanged {
                node,
                height,
                reorg_depth: 0,
            } => write!(f, "{node} extended to height {height}"),
            ChainEvent::HeadChanged {
                node,
                height,
                reorg_depth,
            } => write!(
                f,
                "{node} reorganized: left {reorg_depth} block(s), now at height {height}"
            ),
            ChainEvent::FinalAdvanced { node, height } => {
                write!(f, "{node} final block at height {height}")
            }
        }
    }
}

impl ReportEvent for ChainEvent {
    fn label(&self) -> String {
        self.to_string()
    }

    fn severity(&self) -> Severity {
        match self {
            ChainEvent::HeadChanged { reorg_depth, .. } if *reorg_depth > 0 => Severity::Notice,
            _ => Severity::Info,
        }
    }

    /// Blocks, extensions and final blocks come several times a second:
    /// they are recorded, but only reorgs make the timeline (nodes going
    /// silent and back come from the framework's reachability).
    fn on_timeline(&self) -> bool {
        matches!(
            self,
            ChainEvent::HeadChanged {
                reorg_depth: 1..,
                ..
            }
        )
    }
}

impl ReportSnapshot for ChainSnapshot {
    fn series(&self) -> Vec<SeriesPoint> {
        let mut points = Vec::new();
        for (node, view) in self.nodes.iter().filter(|(_, v)| v.reachable) {
            points.push(SeriesPoint::new("height", node, view.height as f64));
            points.push(SeriesPoint::new(
                "final height",
                node,
                view.final_height as f64,
            ));
        }
        points.push(SeriesPoint::new(
            "live forks",
            "all",
            self.live_forks as f64,
        ));
        points
    }
}

/// The observer's state.
pub struct ChainState {
    headers: HashMap<BlockId, BlockHeader>,
    /// Blocks known to be missing (a walk stopped there): fetched first
    /// on the next poll.
    gaps: BTreeSet<BlockId>,
    children: HashMap<BlockId, usize>,
    finals: HashMap<u64, BlockId>,
    conflicts_seen: HashSet<(BlockId, BlockId)>,
    projection: WalletProjection,
    snapshot: ChainSnapshot,
}

impl ChainState {
    fn new(wallets: usize) -> Self {
        let projection = WalletProjection::for_wallets(wallets);
        ChainState {
            headers: HashMap::new(),
            gaps: BTreeSet::new(),
            children: HashMap::new(),
            finals: HashMap::new(),
            conflicts_seen: HashSet::new(),
            snapshot: ChainSnapshot {
                genesis_supply: projection.genesis_supply(),
                ..ChainSnapshot::default()
            },
            projection,
        }
    }

    fn height(&self, id: &BlockId) -> Option<u64> {
        self.headers.header(id).map(|h| h.height)
    }

    /// The wallet projection of every block seen.
    pub fn projection(&self) -> &WalletProjection {
        &self.projection
    }
}

/// Polls `/info` of every node, fetches the blocks it has not seen yet, and
/// projects wallets over them. `S` is how nodes are reached: HTTP by
/// default.
pub struct ChainObserver<S = ChainClient> {
    wallets: usize,
    public_prefix: Option<String>,
    source: PhantomData<fn() -> S>,
}

impl<S> ChainObserver<S> {
    /// Observes nodes started with `--wallets wallets` (the genesis the
    /// wallet projection starts from).
    pub fn with_wallets(wallets: usize) -> Self {
        ChainObserver {
            wallets,
            public_prefix: None,
            source: PhantomData,
        }
    }

    /// Also derives the [`SyncView`]: sources named `prefix...` are peers
    /// of a public network, the others local nodes syncing to it.
    pub fn syncing_to(mut self, prefix: impl Into<String>) -> Self {
        self.public_prefix = Some(prefix.into());
        self
    }
}

impl<S> Default for ChainObserver<S> {
    fn default() -> Self {
        Self::with_wallets(DEFAULT_WALLETS)
    }
}

impl<S> Clone for ChainObserver<S> {
    fn clone(&self) -> Self {
        ChainObserver {
            wallets: self.wallets,
            public_prefix: self.public_prefix.clone(),
            source: PhantomData,
        }
    }
}

impl<S> fmt::Debug for ChainObserver<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainObserver")
            .field("wallets", &self.wallets)
            .finish()
    }
}

#[async_trait]
impl<S: ChainApi> Observer for ChainObserver<S> {
    type Source = S;
    type State = ChainState;
    type Snapshot = ChainSnapshot;
    type Event = ChainEvent;

    async fn init(&self, _: &Sources<'_, S>) -> Result<ChainState, BoxError> {
        Ok(ChainState::new(self.wallets))
    }

    async fn poll(
        &self,
        sources: &Sources<'_, S>,
        state: &mut ChainState,
    ) -> Result<Vec<ChainEvent>, BoxError> {
        let infos = sources.poll_each(|s| s.source.info()).await;
        // A node that left the cluster is no longer one of its nodes: its
        // last view would hold every "all nodes" condition back.
        let current: HashSet<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        state
            .snapshot
            .nodes
            .retain(|name, _| current.contains(name.as_str()));
        // No node's head can fall below the lowest final block any node
        // reported, so the projection need not keep ledgers under it.
        if let Some(horizon) = state.snapshot.nodes.values().map(|n| n.final_height).min() {
            state.projection.set_horizon(horizon);
        }
        // With no walk unfinished, every node's final block is known and
        // kept, and new blocks attach at or above it: older ledgers can go.
        if state.gaps.is_empty() && state.projection.waiting() == 0 {
            state.projection.prune();
        }
        let mut events = Vec::new();
        for polled in infos {
            let name = polled.source.name.to_string();
            let info: NodeInfo = match polled.result {
                Ok(info) => info,
                Err(_) => {
                    if let Some(view) = state.snapshot.nodes.get_mut(&name) {
                        view.reachable = false;
                    }
                    continue;
                }
            };
            // Walk back from the node's tip, the tips of its other branches,
            // and where earlier walks stopped, until a known block: only new
            // blocks are fetched, and a long catch-up resumes where it left.
            let mut starts = vec![info.tip];
            starts.extend(info.leaves.iter().copied().filter(|leaf| *leaf != info.tip));
            starts.extend(state.gaps.iter().copied());
            let mut budget = MAX_FETCH;
            for mut missing in starts {
                while !state.headers.contains_key(&missing) {
                    // Recorded before the fetch, so a poll cut off by the
                    // cycle timeout resumes here next time.
                    state.gaps.insert(missing);
                    if budget == 0 {
                        break;
                    }
                    budget -= 1;
                    let Ok(block) = polled.source.source.block(missing).await else {
                        break;
                    };
                    state.gaps.remove(&missing);
                    let header = block.header.clone();
                    events.push(ChainEvent::NewBlock {
                        id: missing,
                        height: header.height,
                        first_seen_on: name.clone(),
                    });
                    if header.height > 0 {
                        let children = state.children.entry(header.parent).or_default();
                        *children += 1;
                        if *children == 2 {
                            state.snapshot.fork_points += 1;
                        }
                    }
                    let parent = header.parent;
                    let genesis = header.height == 0;
                    state.headers.insert(missing, header);
                    state.projection.add(missing, block);
                    if genesis {
                        break;
                    }
                    missing = parent;
                }
            }
            state.gaps.retain(|gap| !state.headers.contains_key(gap));
            let previous = state.snapshot.nodes.get(&name).cloned();
            if let Some(previous) = &previous {
                if previous.head != info.tip {
                    let depth = state
                        .headers
                        .common_ancestor(previous.head, info.tip)
                        .and_then(|c| state.height(&c))
                        .map_or(0, |c| previous.height.saturating_sub(c));
                    if depth > 0 {
                        state.snapshot.reorgs += 1;
                        state.snapshot.max_reorg_depth = state.snapshot.max_reorg_depth.max(depth);
                    }
                    events.push(ChainEvent::HeadChanged {
                        node: name.clone(),
                        height: info.height,
                        reorg_depth: depth,
                    });
                }
                if previous.final_id != info.final_id {
                    let forward = info.final_height > previous.final_height
                        && state.headers.is_ancestor(previous.final_id, info.final_id);
                    if !forward && state.headers.contains_key(&info.final_id) {
                        state.snapshot.finality_reverted.push(format!(
                            "{name}: final block went from height {} to {}",
                            previous.final_height, info.final_height
                        ));
                    }
                    events.push(ChainEvent::FinalAdvanced {
                        node: name.clone(),
                        height: info.final_height,
                    });
                }
            }
            let first_final = *state
                .finals
                .entry(info.final_height)
                .or_insert(info.final_id);
            if first_final != info.final_id {
                state.snapshot.final_conflicts.push(format!(
                    "{name} finalized {} at height {}, another node {}",
                    info.final_id.short(),
                    info.final_height,
                    first_final.short()
                ));
            }
            state.snapshot.nodes.insert(
                name,
                NodeHead {
                    head: info.tip,
                    height: info.height,
                    final_id: info.final_id,
                    final_height: info.final_height,
                    reachable: true,
                    supply: None,
                    clock_offset_ms: clock_offset(info.time_ms),
                    from_the_future: info.future_held + info.future_refused,
                    ledger: None,
                },
            );
        }
        summarize(state);
        if let Some(prefix) = &self.public_prefix {
            let view = sync_view(&state.snapshot.nodes, &state.headers, |n| {
                n.starts_with(prefix.as_str())
            });
            state.snapshot.sync = Some(view);
        }
        Ok(events)
    }

    fn snapshot(&self, state: &ChainState) -> ChainSnapshot {
        state.snapshot.clone()
    }

    /// Each fetched block is added whole and where a walk stands is
    /// recorded before each fetch, so a poll cut off by the cycle timeout
    /// leaves a usable graph that the next poll resumes; dropping it would
    /// refetch the whole chain, and a long catch-up could never finish.
    fn keep_state_after_interrupt(&self, _: &ChainState) -> bool {
        true
    }
}

fn summarize(state: &mut ChainState) {
    let heads: Vec<(BlockId, u64)> = state
        .snapshot
        .nodes
        .values()
        .filter(|n| n.reachable)
        .map(|n| (n.head, n.height))
        .collect();
    let distinct: BTreeSet<BlockId> = heads.iter().map(|(h, _)| *h).collect();
    let common = heads
        .iter()
        .map(|(h, _)| *h)
        .try_fold(None::<BlockId>, |acc, head| match acc {
            None => Some(Some(head)),
            Some(c) => state.headers.common_ancestor(c, head).map(Some),
        })
        .flatten();
    let heights = heads.iter().map(|(_, h)| *h);
    // Every final block must be on the chain of the highest one: finals at
    // different heights on different branches conflict too. Judged only
    // when no walk is unfinished, so the ancestry between them is known.
    let finals: Vec<(String, BlockId, u64)> = state
        .snapshot
        .nodes
        .iter()
        .filter(|(_, n)| state.headers.contains_key(&n.final_id))
        .map(|(name, n)| (name.clone(), n.final_id, n.final_height))
        .collect();
    let top = finals
        .iter()
        .max_by_key(|(_, _, h)| *h)
        .filter(|_| state.gaps.is_empty());
    if let Some((top_node, top, top_height)) = top {
        for (node, id, height) in &finals {
            if !state.headers.is_ancestor(*id, *top) && state.conflicts_seen.insert((*id, *top)) {
                state.snapshot.final_conflicts.push(format!(
                    "{node}'s final block {} (height {height}) is not an ancestor of {top_node}'s final block {} (height {top_height})",
                    id.short(),
                    top.short()
                ));
            }
        }
    }
    let projection = &state.projection;
    let snapshot = &mut state.snapshot;
    for view in snapshot.nodes.values_mut() {
        view.ledger = projection.at(&view.head).cloned();
        view.supply = view.ledger.as_ref().map(LedgerAt::supply);
    }
    snapshot.live_forks = distinct.len();
    snapshot.height_spread = heights.clone().max().unwrap_or(0) - heights.min().unwrap_or(0);
    snapshot.common_ancestor = common.and_then(|c| Some((c, state.headers.get(&c)?.height)));
    snapshot.blocks_seen = state.headers.len();

    if snapshot.ledger_anomalies.len() < projection.anomalies().len() {
        snapshot.ledger_anomalies = projection.anomalies().to_vec();
    }
    snapshot.txs = projection.txs().clone();
}

#[cfg(test)]
mod tests {
    use chain_node::crypto::Hash32;

    use super::*;

    fn id(byte: u8) -> BlockId {
        Hash32([byte; 32])
    }

    fn head(height: u64, final_height: u64, reachable: bool) -> NodeHead {
        NodeHead {
            head: id(height as u8),
            height,
            final_id: id(final_height as u8),
            final_height,
            reachable,
            supply: None,
            clock_offset_ms: None,
            from_the_future: 0,
            ledger: None,
        }
    }

    fn snapshot(nodes: &[(&str, NodeHead)], common: Option<u64>) -> ChainSnapshot {
        ChainSnapshot {
            nodes: nodes
                .iter()
                .map(|(n, h)| (n.to_string(), h.clone()))
                .collect(),
            common_ancestor: common.map(|h| (id(h as u8), h)),
            ..ChainSnapshot::default()
        }
    }

    #[test]
    fn the_shared_final_block_is_the_lowest_once_every_head_descends_from_it() {
        // Polled a moment apart: final at 68 and 73, heads sharing block 74.
        let apart = snapshot(
            &[
                ("node-0", head(74, 68, true)),
                ("node-2", head(79, 73, true)),
            ],
            Some(74),
        );
        assert_eq!(apart.shared_final(["node-0", "node-2"]), Some(68));
        // Heads on two branches since block 60: their finals are not
        // known to share a chain.
        let forked = snapshot(
            &[
                ("node-0", head(74, 68, true)),
                ("node-2", head(79, 73, true)),
            ],
            Some(60),
        );
        assert_eq!(forked.shared_final(["node-0", "node-2"]), None);
        // A node unreachable, or not observed at all.
        let down = snapshot(
            &[
                ("node-0", head(74, 68, true)),
                ("node-2", head(79, 73, false)),
            ],
            Some(74),
        );
        assert_eq!(down.shared_final(["node-0", "node-2"]), None);
        assert_eq!(apart.shared_final(["node-0", "node-1"]), None);
        assert_eq!(apart.shared_final(["node-0"]), Some(68));
    }

    #[test]
    fn finals_converge_once_every_head_holds_the_highest_final_block() {
        // Polled a moment apart: every head holds block 73.
        let apart = snapshot(
            &[
                ("node-0", head(74, 68, true)),
                ("node-2", head(79, 73, true)),
            ],
            Some(74),
        );
        assert!(apart.finals_converged());
        // node-0 stuck at 40 on the same chain: it shares final block 34,
        // but has not converged.
        let behind = snapshot(
            &[
                ("node-0", head(40, 34, true)),
                ("node-2", head(79, 73, true)),
            ],
            Some(40),
        );
        assert_eq!(behind.shared_final(["node-0", "node-2"]), Some(34));
        assert!(!behind.finals_converged());
        let down = snapshot(
            &[
                ("node-0", head(74, 68, true)),
                ("node-2", head(79, 73, false)),
            ],
            Some(74),
        );
        assert!(!down.finals_converged());
        assert!(!ChainSnapshot::default().finals_converged());
    }
}
