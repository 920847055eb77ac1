//! `WalletProjection`: the ledger as of every block the chain observer has
//! seen, derived from the blocks themselves and kept per block.
//!
//! Each block's ledger is its parent's plus the block's transactions, held
//! in persistent maps (`imbl`), so a block costs only what it changes and a
//! ledger is cloned in O(1). The ledger at any node's head is therefore one
//! lookup, and it is right across reorgs because it follows the head's
//! actual ancestry: there is nothing to undo.
//!
//! The projection checks what a second, independent bookkeeper can check:
//! an input that is unknown or already spent on the block's branch, and a
//! transaction whose outputs do not add up to its inputs, are recorded as
//! anomalies. Signatures are the nodes' business and are not checked again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use chain_node::block::{Block, BlockId};
use chain_node::crypto::Address;
use chain_node::ledger::Ledger;
use chain_node::tx::{OutPoint, Output, TxId};

/// An unspent output as the projection holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utxo {
    /// Its owner.
    pub owner: Address,
    /// Its value.
    pub amount: u64,
    /// Height of the block that created it (0 for genesis).
    pub height: u64,
}

/// One wallet's holdings as of one block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalletAt {
    /// The sum of its outputs.
    pub balance: u64,
    /// Its unspent outputs: value and creation height.
    pub utxos: imbl::OrdMap<OutPoint, Utxo>,
}

/// The ledger as of one block: every unspent output, every wallet's
/// holdings, the total value, and where each transaction of the branch was
/// included. Cloning is O(1).
#[derive(Clone)]
pub struct LedgerAt {
    block: BlockId,
    height: u64,
    supply: u64,
    utxos: imbl::HashMap<OutPoint, Utxo>,
    wallets: imbl::HashMap<Address, WalletAt>,
    included: imbl::HashMap<TxId, u64>,
}

impl LedgerAt {
    fn genesis(block: BlockId, ledger: &Ledger) -> Self {
        let mut at = LedgerAt {
            block,
            height: 0,
            supply: 0,
            utxos: imbl::HashMap::new(),
            wallets: imbl::HashMap::new(),
            included: imbl::HashMap::new(),
        };
        for (point, output) in ledger.utxos() {
            at.create(*point, *output);
        }
        at
    }

    fn create(&mut self, point: OutPoint, output: Output) {
        let utxo = Utxo {
            owner: output.owner,
            amount: output.amount,
            height: self.height,
        };
        self.supply = self.supply.saturating_add(output.amount);
        self.utxos.insert(point, utxo);
        let wallet = self.wallets.entry(output.owner).or_default();
        wallet.balance = wallet.balance.saturating_add(output.amount);
        wallet.utxos.insert(point, utxo);
    }

    fn spend(&mut self, point: &OutPoint) -> Option<Utxo> {
        let utxo = self.utxos.remove(point)?;
        // Saturating like `create`: node data must not be able to panic the
        // projection (a supply past u64::MAX is itself a finding).
        self.supply = self.supply.saturating_sub(utxo.amount);
        if let Some(wallet) = self.wallets.get_mut(&utxo.owner) {
            wallet.balance = wallet.balance.saturating_sub(utxo.amount);
            wallet.utxos.remove(point);
        }
        Some(utxo)
    }

    /// `block`'s ledger, from this one (its parent's); what does not add up
    /// goes to `anomalies`.
    fn child(
        &self,
        id: BlockId,
        block: &Block,
        tx_ids: &[TxId],
        anomalies: &mut Vec<String>,
    ) -> LedgerAt {
        let mut next = self.clone();
        next.block = id;
        next.height = block.header.height;
        for (tx, &tx_id) in block.txs.iter().zip(tx_ids) {
            let mut spent = 0u64;
            let mut missing = false;
            for input in &tx.inputs {
                match next.spend(input) {
                    Some(utxo) => spent = spent.saturating_add(utxo.amount),
                    None => {
                        missing = true;
                        anomalies.push(format!(
                            "block {} (height {}): transaction {} spends {}:{}, which is unknown or already spent on that branch",
                            id.short(),
                            next.height,
                            tx_id.short(),
                            input.tx.short(),
                            input.index
                        ));
                    }
                }
            }
            let mut created = 0u64;
            for (index, output) in tx.outputs.iter().enumerate() {
                created = created.saturating_add(output.amount);
                let point = OutPoint {
                    tx: tx_id,
                    index: index as u32,
                };
                next.create(point, *output);
            }
            if !missing && created != spent {
                anomalies.push(format!(
                    "block {} (height {}): transaction {} creates {created} from inputs worth {spent}",
                    id.short(),
                    next.height,
                    tx_id.short()
                ));
            }
            next.included.insert(tx_id, next.height);
        }
        next
    }

    /// The block this is the ledger of.
    pub fn block(&self) -> BlockId {
        self.block
    }

    /// That block's height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// All value in existence on this branch.
    pub fn supply(&self) -> u64 {
        self.supply
    }

    /// Unspent outputs on this branch.
    pub fn utxo_count(&self) -> usize {
        self.utxos.len()
    }

    /// An unspent output.
    pub fn utxo(&self, point: &OutPoint) -> Option<&Utxo> {
        self.utxos.get(point)
    }

    /// `owner`'s balance (0 for an unknown wallet).
    pub fn balance(&self, owner: &Address) -> u64 {
        self.wallets.get(owner).map_or(0, |w| w.balance)
    }

    /// `owner`'s holdings, if it ever held anything on this branch.
    pub fn wallet(&self, owner: &Address) -> Option<&WalletAt> {
        self.wallets.get(owner)
    }

    /// `owner`'s unspent outputs, in outpoint order.
    pub fn utxos_of(&self, owner: &Address) -> Vec<(OutPoint, Utxo)> {
        self.wallets
            .get(owner)
            .map(|w| w.utxos.iter().map(|(p, u)| (*p, *u)).collect())
            .unwrap_or_default()
    }

    /// The height of the block on this branch that included `tx`.
    pub fn included_at(&self, tx: &TxId) -> Option<u64> {
        self.included.get(tx).copied()
    }

    /// How deep `tx` is on this branch: 1 in this block, 2 in its parent…
    pub fn depth_of(&self, tx: &TxId) -> Option<u64> {
        self.included_at(tx)
            .and_then(|h| self.height.checked_sub(h))
            .map(|d| d + 1)
    }
}

/// Two ledgers of the same block are the same ledger.
impl PartialEq for LedgerAt {
    fn eq(&self, other: &Self) -> bool {
        self.block == other.block
    }
}

impl Eq for LedgerAt {}

/// A summary: the maps can be large.
impl fmt::Debug for LedgerAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerAt")
            .field("block", &self.block.short())
            .field("height", &self.height)
            .field("supply", &self.supply)
            .field("utxos", &self.utxos.len())
            .field("wallets", &self.wallets.len())
            .finish()
    }
}

/// Every block, on any branch, that included each transaction. Cloning is
/// O(1).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TxIndex(imbl::HashMap<TxId, Arc<[(BlockId, u64)]>>);

impl TxIndex {
    /// The blocks (id, height) that included `tx`, in the order seen.
    pub fn blocks_with(&self, tx: &TxId) -> Vec<(BlockId, u64)> {
        self.0
            .get(tx)
            .map(|blocks| blocks.to_vec())
            .unwrap_or_default()
    }

    /// Records that block `id` at `height` included `tx`. Almost every
    /// transaction is in one block, so a small slice beats a vector.
    fn insert(&mut self, tx: TxId, id: BlockId, height: u64) {
        let blocks = match self.0.get(&tx) {
            Some(blocks) => blocks.iter().copied().chain([(id, height)]).collect(),
            None => Arc::from([(id, height)]),
        };
        self.0.insert(tx, blocks);
    }

    /// Transactions seen in any block.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no block had a transaction.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for TxIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxIndex({} transactions)", self.0.len())
    }
}

/// The ledger as of every block seen, built block by block in any order: a
/// block whose parent is not projected yet waits for it.
///
/// Ledgers are kept from the *horizon* up: the lowest final height among
/// the nodes (see [`set_horizon`](Self::set_horizon)). A node's head is at
/// or above its final block, so what is below is computed on the way (a
/// catch-up from genesis) and dropped: the per-block ledgers held follow
/// the unfinalized part of the chain, not its length. (The transaction
/// index and each ledger's "included at" map still grow with every
/// transaction.) A node restarted without storage, or reached late, has
/// its head below the horizon until it catches up: its ledger is unknown
/// meanwhile. A block that attaches below the horizon (a fork below every
/// node's final block, which no node can adopt) is never projected and
/// stays waiting.
pub struct WalletProjection {
    ledgers: HashMap<BlockId, LedgerAt>,
    by_height: BTreeMap<u64, Vec<BlockId>>,
    horizon: u64,
    waiting: HashMap<BlockId, Vec<(BlockId, Block)>>,
    waiting_ids: HashSet<BlockId>,
    waiting_count: usize,
    txs: TxIndex,
    genesis: BlockId,
    genesis_supply: u64,
    anomalies: Vec<String>,
}

impl WalletProjection {
    /// A projection from `genesis` holding `ledger`.
    pub fn new(genesis: &Block, ledger: &Ledger) -> Self {
        let id = genesis.id();
        let at = LedgerAt::genesis(id, ledger);
        WalletProjection {
            genesis_supply: at.supply,
            ledgers: HashMap::from([(id, at)]),
            by_height: BTreeMap::from([(0, vec![id])]),
            horizon: 0,
            waiting: HashMap::new(),
            waiting_ids: HashSet::new(),
            waiting_count: 0,
            txs: TxIndex::default(),
            genesis: id,
            anomalies: Vec::new(),
        }
    }

    /// The projection of the chain nodes start with `--wallets wallets`.
    pub fn for_wallets(wallets: usize) -> Self {
        Self::new(&Block::genesis(), &Ledger::genesis_wallets(wallets))
    }

    /// Keeps ledgers only from `height` up (it only rises): pass the lowest
    /// final height among the nodes. Blocks projected from now on below it
    /// are computed and not kept; ledgers already kept below it go at the
    /// next [`prune`](Self::prune).
    pub fn set_horizon(&mut self, height: u64) {
        self.horizon = self.horizon.max(height);
    }

    /// Drops kept ledgers below the horizon (genesis stays: a catch-up from
    /// scratch starts there). Call it only when no catch-up is under way
    /// (no block waits for a parent, no walk toward a known block is
    /// unfinished): such a walk may end at any kept ledger.
    pub fn prune(&mut self) {
        if self.horizon <= 1 {
            return;
        }
        let below: Vec<u64> = self
            .by_height
            .range(1..self.horizon)
            .map(|(h, _)| *h)
            .collect();
        for h in below {
            for id in self.by_height.remove(&h).unwrap_or_default() {
                self.ledgers.remove(&id);
            }
        }
    }

    /// The height below which ledgers are not kept.
    pub fn horizon(&self) -> u64 {
        self.horizon
    }

    /// Adds block `id`: projects it if its parent is projected (and then
    /// every waiting descendant), else keeps it until the parent comes.
    /// Returns how many blocks were projected.
    pub fn add(&mut self, id: BlockId, block: Block) -> usize {
        if self.ledgers.contains_key(&id) {
            return 0;
        }
        if block.header.height == 0 {
            if id != self.genesis {
                self.anomalies.push(format!(
                    "block {} claims height 0 but is not the genesis block {}",
                    id.short(),
                    self.genesis.short()
                ));
            }
            return 0;
        }
        let Some(parent) = self.ledgers.get(&block.header.parent).cloned() else {
            if self.waiting_ids.insert(id) {
                self.waiting
                    .entry(block.header.parent)
                    .or_default()
                    .push((id, block));
                self.waiting_count += 1;
            }
            return 0;
        };
        // Each entry carries its parent's ledger, so ledgers below the
        // horizon need not be stored to project their descendants.
        let mut projected = 0;
        let mut ready = vec![(id, block, parent)];
        while let Some((id, block, parent)) = ready.pop() {
            self.waiting_ids.remove(&id);
            if self.ledgers.contains_key(&id) {
                continue;
            }
            if block.header.height != parent.height + 1 {
                self.anomalies.push(format!(
                    "block {} claims height {} on a parent at height {}; it and its descendants are not projected",
                    id.short(),
                    block.header.height,
                    parent.height
                ));
                continue;
            }
            let tx_ids: Vec<TxId> = block.txs.iter().map(|tx| tx.id()).collect();
            let height = block.header.height;
            let at = parent.child(id, &block, &tx_ids, &mut self.anomalies);
            for tx_id in tx_ids {
                self.txs.insert(tx_id, id, height);
            }
            projected += 1;
            if let Some(children) = self.waiting.remove(&id) {
                self.waiting_count -= children.len();
                ready.extend(children.into_iter().map(|(c, b)| (c, b, at.clone())));
            }
            if height >= self.horizon {
                self.ledgers.insert(id, at);
                self.by_height.entry(height).or_default().push(id);
            }
        }
        projected
    }

    /// The ledger as of block `id`, once it is projected.
    pub fn at(&self, id: &BlockId) -> Option<&LedgerAt> {
        self.ledgers.get(id)
    }

    /// Value at genesis: what every branch must hold.
    pub fn genesis_supply(&self) -> u64 {
        self.genesis_supply
    }

    /// What did not add up, oldest first.
    pub fn anomalies(&self) -> &[String] {
        &self.anomalies
    }

    /// Where each transaction was included, on every branch.
    pub fn txs(&self) -> &TxIndex {
        &self.txs
    }

    /// Ledgers held (blocks projected at or above the horizon).
    pub fn len(&self) -> usize {
        self.ledgers.len()
    }

    /// Whether no ledger is held (never, in practice: the horizon is a
    /// final block, whose ledger is kept).
    pub fn is_empty(&self) -> bool {
        self.ledgers.is_empty()
    }

    /// Blocks waiting for a parent.
    pub fn waiting(&self) -> usize {
        self.waiting_count
    }
}

#[cfg(test)]
mod tests {
    use chain_node::ledger::{GENESIS_AMOUNT, genesis_wallet};
    use chain_node::tx::Transaction;

    use super::*;

    fn transfer(from: usize, input: OutPoint, to: usize, amount: u64, change: u64) -> Transaction {
        let key = genesis_wallet(from);
        let mut outputs = vec![Output {
            owner: genesis_wallet(to).address(),
            amount,
        }];
        if change > 0 {
            outputs.push(Output {
                owner: key.address(),
                amount: change,
            });
        }
        Transaction::signed(vec![input], outputs, &[&key])
    }

    fn genesis_output(projection: &WalletProjection, wallet: usize) -> OutPoint {
        let genesis = projection.at(&Block::genesis().id()).unwrap();
        genesis.utxos_of(&genesis_wallet(wallet).address())[0].0
    }

    #[test]
    fn blocks_in_any_order_follow_their_branch() {
        let mut projection = WalletProjection::for_wallets(3);
        let genesis = Block::genesis();
        let w = |i: usize| genesis_wallet(i).address();
        let input = genesis_output(&projection, 0);
        let a1 = Block::child(
            &genesis.header,
            1,
            "a",
            vec![transfer(0, input, 1, 300, 700)],
        );
        let a2 = Block::child(&a1.header, 2, "a", vec![]);
        let b1 = Block::child(
            &genesis.header,
            1,
            "b",
            vec![transfer(0, input, 2, 1000, 0)],
        );
        // Child first: it waits for its parent.
        assert_eq!(projection.add(a2.id(), a2.clone()), 0);
        assert_eq!(projection.waiting(), 1);
        assert_eq!(projection.add(a1.id(), a1.clone()), 2);
        assert_eq!(projection.add(b1.id(), b1.clone()), 1);
        assert_eq!(projection.waiting(), 0);

        let at_a2 = projection.at(&a2.id()).unwrap();
        assert_eq!(at_a2.balance(&w(0)), 700);
        assert_eq!(at_a2.balance(&w(1)), GENESIS_AMOUNT + 300);
        assert_eq!(at_a2.depth_of(&a1.txs[0].id()), Some(2));
        let at_b1 = projection.at(&b1.id()).unwrap();
        assert_eq!(at_b1.balance(&w(0)), 0);
        assert_eq!(at_b1.balance(&w(2)), GENESIS_AMOUNT + 1000);
        assert_eq!(at_b1.depth_of(&a1.txs[0].id()), None);
        for at in [at_a2, at_b1] {
            assert_eq!(at.supply(), 3 * GENESIS_AMOUNT);
        }
        assert!(
            projection.anomalies().is_empty(),
            "{:?}",
            projection.anomalies()
        );
        assert_eq!(
            projection.txs().blocks_with(&b1.txs[0].id()),
            [(b1.id(), 1)]
        );
    }

    #[test]
    fn ledgers_below_the_horizon_are_dropped_and_a_catch_up_still_projects() {
        let genesis = Block::genesis();
        let mut chain = vec![genesis.clone()];
        for slot in 1..=20 {
            let parent = chain.last().unwrap().header.clone();
            chain.push(Block::child(&parent, slot, "a", vec![]));
        }
        let mut projection = WalletProjection::for_wallets(2);
        projection.set_horizon(15);
        // Newest first, as a catch-up fetches them.
        for block in chain[1..].iter().rev() {
            projection.add(block.id(), block.clone());
        }
        assert_eq!(projection.waiting(), 0);
        assert_eq!(projection.len(), 7, "genesis and heights 15..=20");
        assert!(projection.at(&chain[14].id()).is_none());
        assert_eq!(
            projection.at(&chain[20].id()).unwrap().supply(),
            2 * GENESIS_AMOUNT
        );
        projection.set_horizon(18);
        assert_eq!(projection.len(), 7, "nothing dropped before prune");
        projection.prune();
        assert_eq!(projection.len(), 4);
        assert!(projection.at(&chain[17].id()).is_none());
        assert!(projection.at(&chain[18].id()).is_some());
    }

    #[test]
    fn double_spends_and_value_from_nothing_are_anomalies() {
        let mut projection = WalletProjection::for_wallets(2);
        let genesis = Block::genesis();
        let input = genesis_output(&projection, 0);
        let a1 = Block::child(
            &genesis.header,
            1,
            "a",
            vec![transfer(0, input, 1, 1000, 0)],
        );
        // The same output again on the same branch.
        let a2 = Block::child(&a1.header, 2, "a", vec![transfer(0, input, 1, 1000, 0)]);
        let other = genesis_output(&projection, 1);
        // 1000 in, 1500 out.
        let a3 = Block::child(&a2.header, 3, "a", vec![transfer(1, other, 0, 1000, 500)]);
        for block in [a1, a2, a3.clone()] {
            projection.add(block.id(), block);
        }
        let anomalies = projection.anomalies();
        assert_eq!(anomalies.len(), 2, "{anomalies:?}");
        assert!(anomalies[0].contains("already spent"), "{anomalies:?}");
        assert!(anomalies[1].contains("creates 1500 from inputs worth 1000"));
        assert_ne!(
            projection.at(&a3.id()).unwrap().supply(),
            projection.genesis_supply()
        );
    }
}
