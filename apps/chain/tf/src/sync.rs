//! Sync to a public network: the block most public peers agree on, and
//! which local nodes have it.
//!
//! A node syncing to a network it does not control cannot trust any one
//! peer: one may lie (serve another branch) or be down. The target is the
//! highest block that is final on a strict majority of *all* the public
//! peers (a down peer counts against, so it cannot move the target, and a
//! lying minority cannot either); a local node has reached it when the
//! block is on its own chain.

use std::collections::BTreeMap;

use chain_node::block::BlockId;
use chain_node::graph::HeaderLookup;
use serde::{Deserialize, Serialize};

use crate::NodeHead;

/// Where the local nodes stand against the public majority.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncView {
    /// The public peers, reachable or not.
    pub public: Vec<String>,
    /// The majority target: block and height, if a majority agrees.
    pub target: Option<(BlockId, u64)>,
    /// The public peers whose final block is the target or above it.
    pub agreeing: Vec<String>,
    /// Local nodes whose chain holds the target.
    pub reached: Vec<String>,
    /// Local nodes that do not have it yet, with their height.
    pub behind: BTreeMap<String, u64>,
}

impl SyncView {
    /// Whether `node` has reached the target.
    pub fn has_reached(&self, node: &str) -> bool {
        self.target.is_some() && self.reached.iter().any(|n| n == node)
    }
}

/// The view of `nodes` (named as sources: public peers are those
/// `is_public` says), over the blocks `headers` knows.
pub(crate) fn sync_view(
    nodes: &BTreeMap<String, NodeHead>,
    headers: &impl HeaderLookup,
    is_public: impl Fn(&str) -> bool,
) -> SyncView {
    let public: Vec<(&String, &NodeHead)> = nodes.iter().filter(|(n, _)| is_public(n)).collect();
    let majority = public.len() / 2 + 1;
    // Candidates: the reachable public peers' final blocks, highest first;
    // the first one that a majority's final blocks descend from is the
    // highest block a majority agrees on (a lower common one would be
    // below it on the same chain).
    let mut candidates: Vec<(BlockId, u64)> = public
        .iter()
        .filter(|(_, v)| v.reachable)
        .map(|(_, v)| (v.final_id, v.final_height))
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.1));
    candidates.dedup();
    let agreeing_with = |(id, _): &(BlockId, u64)| -> Vec<String> {
        public
            .iter()
            .filter(|(_, v)| v.reachable && headers.is_ancestor(*id, v.final_id))
            .map(|(n, _)| (*n).clone())
            .collect()
    };
    let mut view = SyncView {
        public: public.iter().map(|(n, _)| (*n).clone()).collect(),
        ..SyncView::default()
    };
    // Below every candidate, the common ancestor of those finals may be
    // the majority's; try each candidate's ancestors down to the lowest
    // candidate's height.
    let lowest = candidates.last().map_or(0, |c| c.1);
    'search: for candidate in &candidates {
        let mut at = Some(candidate.0);
        let mut height = candidate.1;
        while let Some(id) = at {
            let agreeing = agreeing_with(&(id, height));
            if agreeing.len() >= majority {
                view.target = Some((id, height));
                view.agreeing = agreeing;
                break 'search;
            }
            if height <= lowest {
                break;
            }
            at = headers.header(&id).map(|h| h.parent);
            height -= 1;
        }
    }
    for (name, node) in nodes.iter().filter(|(n, _)| !is_public(n)) {
        match view.target {
            Some((target, _)) if node.reachable && headers.is_ancestor(target, node.head) => {
                view.reached.push(name.clone())
            }
            _ => {
                view.behind.insert(name.clone(), node.height);
            }
        }
    }
    view
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chain_node::block::BlockHeader;
    use chain_node::crypto::Hash32;

    use super::*;

    /// A chain of `len` blocks above `from` (its id's first byte is
    /// `branch`, its second the height).
    fn chain(
        headers: &mut HashMap<BlockId, BlockHeader>,
        from: BlockId,
        from_height: u64,
        branch: u8,
        len: u64,
    ) -> Vec<BlockId> {
        let mut ids = Vec::new();
        let mut parent = from;
        for h in from_height + 1..=from_height + len {
            let mut bytes = [0u8; 32];
            bytes[0] = branch;
            bytes[1] = h as u8;
            let id = Hash32(bytes);
            headers.insert(
                id,
                BlockHeader {
                    parent,
                    slot: h,
                    height: h,
                    producer: String::new(),
                    tx_root: Hash32([0; 32]),
                },
            );
            ids.push(id);
            parent = id;
        }
        ids
    }

    fn head(final_id: BlockId, final_height: u64, reachable: bool) -> NodeHead {
        NodeHead {
            head: final_id,
            height: final_height,
            final_id,
            final_height,
            reachable,
            supply: None,
            clock_offset_ms: None,
            from_the_future: 0,
            ledger: None,
        }
    }

    fn setup() -> (HashMap<BlockId, BlockHeader>, Vec<BlockId>, Vec<BlockId>) {
        let mut headers = HashMap::new();
        let genesis = Hash32([0; 32]);
        headers.insert(
            genesis,
            BlockHeader {
                parent: Hash32([0; 32]),
                slot: 0,
                height: 0,
                producer: String::new(),
                tx_root: Hash32([0; 32]),
            },
        );
        let honest = chain(&mut headers, genesis, 0, 1, 20);
        let lie = chain(&mut headers, genesis, 0, 2, 30);
        (headers, honest, lie)
    }

    fn is_public(name: &str) -> bool {
        name.starts_with("public-")
    }

    #[test]
    fn the_target_is_the_highest_block_a_majority_has_final() {
        let (headers, honest, _) = setup();
        // Finals at heights 10, 12 and 15 of one chain: the majority (2 of
        // 3) has height 12 final.
        let nodes = BTreeMap::from([
            ("public-0".to_owned(), head(honest[9], 10, true)),
            ("public-1".to_owned(), head(honest[11], 12, true)),
            ("public-2".to_owned(), head(honest[14], 15, true)),
            ("node-0".to_owned(), head(honest[12], 13, true)),
            ("node-1".to_owned(), head(honest[5], 6, true)),
        ]);
        let view = sync_view(&nodes, &headers, is_public);
        assert_eq!(view.target, Some((honest[11], 12)));
        assert_eq!(view.agreeing, ["public-1", "public-2"]);
        assert_eq!(view.reached, ["node-0"]);
        assert_eq!(view.behind.get("node-1"), Some(&6));
    }

    #[test]
    fn a_lying_peer_on_another_branch_does_not_move_the_target() {
        let (headers, honest, lie) = setup();
        let nodes = BTreeMap::from([
            ("public-0".to_owned(), head(honest[14], 15, true)),
            ("public-1".to_owned(), head(honest[14], 15, true)),
            ("public-2".to_owned(), head(honest[13], 14, true)),
            // Higher, on its own branch.
            ("public-liar".to_owned(), head(lie[29], 30, true)),
            ("node-0".to_owned(), head(lie[29], 30, true)),
        ]);
        let view = sync_view(&nodes, &headers, is_public);
        assert_eq!(view.target, Some((honest[13], 14)));
        assert!(!view.agreeing.contains(&"public-liar".to_owned()));
        // A local node that followed the liar has not reached it.
        assert!(!view.has_reached("node-0"));
    }

    #[test]
    fn a_down_peer_counts_against_and_too_few_leave_no_target() {
        let (headers, honest, lie) = setup();
        // 2 of 3 up and agreeing: still a majority of all three.
        let mut nodes = BTreeMap::from([
            ("public-0".to_owned(), head(honest[9], 10, true)),
            ("public-1".to_owned(), head(honest[9], 10, true)),
            // Down, with a stale view far ahead: ignored.
            ("public-2".to_owned(), head(honest[19], 20, false)),
        ]);
        let view = sync_view(&nodes, &headers, is_public);
        assert_eq!(view.target, Some((honest[9], 10)));
        // One honest peer up and one liar: no majority of three.
        nodes.insert("public-1".to_owned(), head(lie[9], 10, true));
        let view = sync_view(&nodes, &headers, is_public);
        assert_eq!(view.target, None);
    }
}
