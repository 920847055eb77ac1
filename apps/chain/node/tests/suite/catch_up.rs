//! A node far behind (after a cut) receives new blocks whose parents it
//! lacks: it fetches what is missing below everything that waits, one walk
//! back, not one walk for every block that arrives.

use std::sync::Arc;
use std::time::Duration;

use chain_node::block::Block;
use chain_node::ledger::Ledger;
use chain_node::producer::Producer;
use chain_node::service::{ChainService, Outgoing};
use chain_node::storage::MemoryStorage;
use chain_node::tree::BlockTree;

#[tokio::test]
async fn blocks_arriving_above_a_gap_all_ask_for_the_block_at_its_bottom() {
    let genesis = Block::genesis();
    let mut chain = vec![Block::child(&genesis.header, 1, "validator-0", vec![])];
    for slot in 2..=40 {
        let parent = chain.last().unwrap().header.clone();
        chain.push(Block::child(&parent, slot, "validator-0", vec![]));
    }
    let tree = BlockTree::new(genesis, Ledger::genesis(&[]), 6);
    let follower = Producer {
        name: "rpc-0".into(),
        stake: 0.0,
        active_slot_coefficient: 0.5,
        seed: b"test".to_vec(),
        max_txs: 10,
    };
    let (node, mut outgoing) = ChainService::spawn_as(
        tree,
        follower,
        Arc::new(MemoryStorage::default()),
        true,
        true,
    );
    // Blocks 11..=40 arrive newest last, as a validator announces them;
    // blocks 1..=10 are the gap.
    for block in &chain[10..] {
        node.block(block.clone()).await.unwrap().unwrap_err();
    }
    let mut asked = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(100), outgoing.recv()).await
    {
        if let Outgoing::Fetch(id) = message {
            asked.push(id);
        }
    }
    let bottom = chain[9].id();
    assert_eq!(asked.len(), 30);
    assert!(
        asked.iter().all(|id| *id == bottom),
        "every arrival should ask for block 10, the bottom of the gap; asked for {} others",
        asked.iter().filter(|id| **id != bottom).count()
    );
    // The gap filled from the bottom up, everything waiting is taken up.
    for block in chain[..10].iter().rev() {
        let _ = node.block(block.clone()).await.unwrap();
    }
    assert_eq!(node.info().await.unwrap().height, 40);
}
