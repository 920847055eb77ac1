//! Several nodes in one process with a gossip delay: forks happen, nodes
//! converge, no final block is ever reverted, no two nodes finalize
//! different blocks at one height, and value is conserved at every tip.
//! Deterministic: the lottery is a hash, delays are fixed per pair.

use std::collections::VecDeque;

use chain_node::block::{Block, BlockId};
use chain_node::crypto::Keypair;
use chain_node::graph::HeaderLookup;
use chain_node::ledger::Ledger;
use chain_node::mempool::Mempool;
use chain_node::producer::Producer;
use chain_node::tree::{BlockError, BlockTree, Inserted};
use chain_node::tx::{Output, Transaction};

const NODES: usize = 4;
const K: u64 = 6;
const SUPPLY: u64 = 4 * 1_000;

struct Node {
    tree: BlockTree,
    mempool: Mempool,
    producer: Producer,
    /// Blocks whose parent has not arrived yet (a real node fetches it).
    orphans: Vec<Block>,
    finals: Vec<BlockId>,
}

impl Node {
    /// Inserts `block`, then any orphans it unblocks; returns what happened.
    fn receive(&mut self, block: Block, outcomes: &mut Vec<Inserted>) {
        let mut queue = VecDeque::from([block]);
        while let Some(block) = queue.pop_front() {
            match self.tree.insert(block.clone()) {
                Ok(inserted) => {
                    outcomes.push(inserted);
                    let tip = self.tree.ledger_at(&self.tree.tip().id()).unwrap();
                    self.mempool.prune(tip);
                    let id = block.id();
                    let (ready, waiting): (Vec<Block>, Vec<Block>) =
                        std::mem::take(&mut self.orphans)
                            .into_iter()
                            .partition(|o| o.header.parent == id);
                    self.orphans = waiting;
                    queue.extend(ready);
                }
                Err(BlockError::UnknownParent(_)) => self.orphans.push(block),
                Err(BlockError::BelowFinal { .. }) => {}
                Err(error) => panic!("a valid block was refused: {error}"),
            }
            let final_id = self.tree.final_block().id();
            if self.finals.last() != Some(&final_id) {
                if let Some(previous) = self.finals.last() {
                    assert!(
                        self.tree.is_ancestor(*previous, final_id),
                        "a final block was reverted"
                    );
                }
                self.finals.push(final_id);
            }
        }
    }
}

#[test]
fn nodes_fork_converge_and_agree_on_final_blocks() {
    let wallets: Vec<Keypair> = (0..NODES)
        .map(|i| Keypair::named(&format!("wallet-{i}")))
        .collect();
    let genesis_ledger = Ledger::genesis(
        &wallets
            .iter()
            .map(|w| (w.address(), 1_000))
            .collect::<Vec<_>>(),
    );
    let mut nodes: Vec<Node> = (0..NODES)
        .map(|i| Node {
            tree: BlockTree::new(Block::genesis(), genesis_ledger.clone(), K),
            mempool: Mempool::new(100),
            producer: Producer {
                name: format!("node-{i}"),
                stake: 1.0 / NODES as f64,
                active_slot_coefficient: 0.5,
                seed: b"simulation".to_vec(),
                max_txs: 10,
            },
            orphans: Vec::new(),
            finals: Vec::new(),
        })
        .collect();
    // In flight: (delivery slot, to, block).
    let mut network: Vec<(u64, usize, Block)> = Vec::new();
    let mut outcomes = Vec::new();
    let mut produced = 0;

    for slot in 1..=400u64 {
        // Deliver what is due.
        let (due, later): (Vec<_>, Vec<_>) =
            network.into_iter().partition(|(at, _, _)| *at <= slot);
        network = later;
        for (_, to, block) in due {
            nodes[to].receive(block, &mut outcomes);
        }
        // Every 7 slots a wallet pays the next one, through some node.
        if slot % 7 == 0 {
            let from = (slot / 7) as usize % NODES;
            let node = &mut nodes[from];
            let tip = node.tree.ledger_at(&node.tree.tip().id()).unwrap().clone();
            if let Some((point, output)) = tip.utxos_of(&wallets[from].address()).first().copied() {
                let to = &wallets[(from + 1) % NODES];
                let mut outputs = vec![Output {
                    owner: to.address(),
                    amount: 1,
                }];
                if output.amount > 1 {
                    outputs.push(Output {
                        owner: wallets[from].address(),
                        amount: output.amount - 1,
                    });
                }
                let _ = node.mempool.submit(
                    Transaction::signed(vec![point], outputs, &[&wallets[from]]),
                    &tip,
                );
            }
        }
        // Winners produce on their own tip and gossip with a delay of 1-2 slots.
        for (i, node) in nodes.iter_mut().enumerate() {
            if let Some(block) = node.producer.produce(slot, &node.tree, &mut node.mempool) {
                produced += 1;
                node.receive(block.clone(), &mut outcomes);
                for to in (0..NODES).filter(|to| *to != i) {
                    network.push((slot + 1 + ((i + to) % 2) as u64, to, block.clone()));
                }
            }
        }
    }
    // Quiet: deliver everything still in flight.
    network.sort_by_key(|(at, _, _)| *at);
    for (_, to, block) in network {
        nodes[to].receive(block, &mut outcomes);
    }

    let forks = outcomes
        .iter()
        .filter(|o| matches!(o, Inserted::SideBranch | Inserted::Reorg { .. }))
        .count();
    let reorgs = outcomes
        .iter()
        .filter(|o| matches!(o, Inserted::Reorg { .. }))
        .count();
    assert!(produced > 150, "the lottery produced {produced} blocks");
    assert!(
        forks > 10 && reorgs > 0,
        "forks: {forks} side branches or reorgs, {reorgs} reorgs"
    );
    // Converged: one tip everywhere.
    let tip = nodes[0].tree.tip().id();
    assert!(
        nodes.iter().all(|n| n.tree.tip().id() == tip),
        "nodes did not converge"
    );
    assert!(nodes.iter().all(|n| n.orphans.is_empty()));
    // No two nodes finalized different blocks at one height.
    let lowest_final = nodes
        .iter()
        .map(|n| n.tree.final_block().header.height)
        .min()
        .unwrap();
    assert!(lowest_final > 50, "finality advanced to {lowest_final}");
    for height in 0..=lowest_final {
        let at: Vec<BlockId> = nodes
            .iter()
            .map(|n| {
                n.tree
                    .ancestor_at(n.tree.final_block().id(), height)
                    .unwrap()
            })
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] == w[1]),
            "nodes finalized different blocks at height {height}"
        );
    }
    // Conservation at the tip, and transfers really happened.
    let ledger = nodes[0].tree.ledger_at(&tip).unwrap();
    assert_eq!(ledger.total(), SUPPLY);
    let moved: u64 = wallets
        .iter()
        .map(|w| ledger.balance(&w.address()).abs_diff(1_000))
        .sum();
    assert!(moved > 0, "no transfer was included");
}
