//! A node restarted on the persistent backend keeps its chain: same tip,
//! same final block, same balances, forks included.

use chain_node::block::{Block, BlockHeader};
use chain_node::crypto::Keypair;
use chain_node::ledger::Ledger;
use chain_node::storage::{RedbStorage, load_tree, save_block};
use chain_node::tree::BlockTree;
use chain_node::tx::{Output, Transaction};

fn chain(from: &BlockHeader, slot: u64, n: usize, producer: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for i in 0..n {
        let parent = blocks.last().map_or(from, |b| &b.header).clone();
        blocks.push(Block::child(&parent, slot + i as u64 + 1, producer, vec![]));
    }
    blocks
}

#[test]
fn a_restarted_node_on_redb_keeps_its_chain() {
    let (alice, bob) = (Keypair::named("alice"), Keypair::named("bob"));
    let ledger = Ledger::genesis(&[(alice.address(), 100)]);
    let (point, _) = ledger.utxos_of(&alice.address())[0];
    let pay = Transaction::signed(
        vec![point],
        vec![Output {
            owner: bob.address(),
            amount: 100,
        }],
        &[&alice],
    );
    let genesis = Block::genesis();
    let first = Block::child(&genesis.header, 1, "node-0", vec![pay]);
    let mut blocks = vec![first.clone()];
    blocks.extend(chain(&first.header, 1, 7, "node-0"));
    blocks.extend(chain(&blocks[5].header.clone(), 50, 1, "node-1")); // a side branch

    let dir = tempfile::tempdir().unwrap();
    let (tip, final_block) = {
        let storage = RedbStorage::open(dir.path()).unwrap();
        let mut tree = BlockTree::new(genesis.clone(), ledger.clone(), 3);
        for block in &blocks {
            tree.insert(block.clone()).unwrap();
            save_block(&storage, block).unwrap();
        }
        (tree.tip().id(), tree.final_block().id())
    };

    let storage = RedbStorage::open(dir.path()).unwrap();
    let tree = load_tree(&storage, genesis, ledger, 3).unwrap();
    assert_eq!(tree.tip().id(), tip);
    assert_eq!(tree.final_block().id(), final_block);
    assert_eq!(tree.len(), blocks.len() + 1, "the side branch too");
    assert_eq!(tree.ledger_at(&tip).unwrap().balance(&bob.address()), 100);
}
