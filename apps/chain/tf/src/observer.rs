//! `ChainObserver`: every node's head and final block, and the graph of
//! every block any node had, fetched incrementally (only what is new).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use chain_node::block::{BlockHeader, BlockId};
use chain_node::client::ChainClient;
use chain_node::graph::HeaderLookup;
use chain_node::service::NodeInfo;
use tf_core::observation::{BoxError, Observer, Sources};

/// Blocks fetched per node per poll at most (a node far ahead is caught up
/// over several polls).
const MAX_FETCH: usize = 200;

/// One node's view.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// What the observer publishes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainSnapshot {
    /// Every node's view, by name.
    pub nodes: BTreeMap<String, NodeHead>,
    /// The newest block all reachable heads share.
    pub common_ancestor: Option<(BlockId, u64)>,
    /// Distinct heads among reachable nodes.
    pub live_forks: usize,
    /// Highest minus lowest height among reachable nodes.
    pub height_spread: u64,
    /// Blocks seen, all branches.
    pub blocks_seen: usize,
    /// Blocks with more than one child seen: where forks happened.
    pub fork_points: usize,
    /// Head switches between branches seen, and the deepest.
    pub reorgs: u64,
    /// The deepest reorg seen.
    pub max_reorg_depth: u64,
    /// Final blocks reported per height (more than one is a safety
    /// violation).
    pub finals_by_height: BTreeMap<u64, BTreeSet<BlockId>>,
    /// Nodes whose final block went backwards or off its chain.
    pub finality_reverted: Vec<String>,
}

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// The observer's state.
#[derive(Default)]
pub struct ChainState {
    headers: HashMap<BlockId, BlockHeader>,
    children: HashMap<BlockId, usize>,
    snapshot: ChainSnapshot,
}

impl ChainState {
    fn height(&self, id: &BlockId) -> Option<u64> {
        self.headers.header(id).map(|h| h.height)
    }
}

/// Polls `/info` of every node, fetches the blocks it has not seen yet.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChainObserver;

#[async_trait]
impl Observer for ChainObserver {
    type Source = ChainClient;
    type State = ChainState;
    type Snapshot = ChainSnapshot;
    type Event = ChainEvent;

    async fn init(&self, _: &Sources<'_, ChainClient>) -> Result<ChainState, BoxError> {
        Ok(ChainState::default())
    }

    async fn poll(
        &self,
        sources: &Sources<'_, ChainClient>,
        state: &mut ChainState,
    ) -> Result<Vec<ChainEvent>, BoxError> {
        let infos = sources.poll_each(|s| s.source.info()).await;
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
            // Walk back from the node's tip and from the tips of its other
            // branches until a known block: only new blocks are fetched.
            let mut starts = vec![info.tip];
            starts.extend(info.leaves.iter().copied().filter(|leaf| *leaf != info.tip));
            let mut budget = MAX_FETCH;
            for mut missing in starts {
                while budget > 0 {
                    budget -= 1;
                    if state.headers.contains_key(&missing) {
                        break;
                    }
                    let Ok(block) = polled.source.source.block(missing).await else {
                        break;
                    };
                    let header = block.header;
                    events.push(ChainEvent::NewBlock {
                        id: missing,
                        height: header.height,
                        first_seen_on: name.clone(),
                    });
                    if header.height > 0 {
                        *state.children.entry(header.parent).or_default() += 1;
                    }
                    let parent = header.parent;
                    let genesis = header.height == 0;
                    state.headers.insert(missing, header);
                    if genesis {
                        break;
                    }
                    missing = parent;
                }
            }
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
            state
                .snapshot
                .finals_by_height
                .entry(info.final_height)
                .or_default()
                .insert(info.final_id);
            state.snapshot.nodes.insert(
                name,
                NodeHead {
                    head: info.tip,
                    height: info.height,
                    final_id: info.final_id,
                    final_height: info.final_height,
                    reachable: true,
                },
            );
        }
        summarize(state);
        Ok(events)
    }

    fn snapshot(&self, state: &ChainState) -> ChainSnapshot {
        state.snapshot.clone()
    }

    /// Each fetched header is added whole, so a poll cut off by the cycle
    /// timeout leaves a usable graph; dropping it would refetch the whole
    /// chain on the next cycle, and a long catch-up could never finish.
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
    let snapshot = &mut state.snapshot;
    snapshot.live_forks = distinct.len();
    snapshot.height_spread = heights.clone().max().unwrap_or(0) - heights.min().unwrap_or(0);
    snapshot.common_ancestor = common.and_then(|c| Some((c, state.headers.get(&c)?.height)));
    snapshot.blocks_seen = state.headers.len();
    snapshot.fork_points = state.children.values().filter(|n| **n > 1).count();
}
