//! Ancestry in a graph of block headers, for anything that can look up a
//! known block's header: a node's block tree, an observer's header map.

use std::collections::HashMap;

use crate::block::{BlockHeader, BlockId};

/// Looks up known headers; provides ancestry on top.
pub trait HeaderLookup {
    /// The header of a known block.
    fn header(&self, id: &BlockId) -> Option<&BlockHeader>;

    /// The ancestor of `id` at `height` (or `id` itself), if known.
    fn ancestor_at(&self, mut id: BlockId, height: u64) -> Option<BlockId> {
        loop {
            let header = self.header(&id)?;
            if header.height == height {
                return Some(id);
            }
            if header.height < height {
                return None;
            }
            id = header.parent;
        }
    }

    /// Whether `ancestor` is `of` or one of its ancestors (false if either
    /// is unknown).
    fn is_ancestor(&self, ancestor: BlockId, of: BlockId) -> bool {
        self.header(&ancestor)
            .is_some_and(|a| self.ancestor_at(of, a.height) == Some(ancestor))
    }

    /// The newest block both `a` and `b` descend from, if both are known.
    fn common_ancestor(&self, mut a: BlockId, mut b: BlockId) -> Option<BlockId> {
        let height = |id: &BlockId| self.header(id).map(|h| h.height);
        while height(&a)? > height(&b)? {
            a = self.header(&a)?.parent;
        }
        while height(&b)? > height(&a)? {
            b = self.header(&b)?.parent;
        }
        while a != b {
            a = self.header(&a)?.parent;
            b = self.header(&b)?.parent;
        }
        Some(a)
    }
}

impl HeaderLookup for HashMap<BlockId, BlockHeader> {
    fn header(&self, id: &BlockId) -> Option<&BlockHeader> {
        self.get(id)
    }
}
