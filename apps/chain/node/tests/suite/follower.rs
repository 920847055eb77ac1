//! A follower (an RPC node) never produces, however often it would win,
//! and hands each transaction a client submits to its peers, once; one a
//! peer relayed to it is never relayed again.

use std::sync::Arc;
use std::time::Duration;

use chain_node::block::Block;
use chain_node::crypto::Keypair;
use chain_node::ledger::Ledger;
use chain_node::producer::Producer;
use chain_node::service::{ChainService, Outgoing};
use chain_node::storage::MemoryStorage;
use chain_node::tree::BlockTree;
use chain_node::tx::{Output, Transaction};

#[tokio::test]
async fn a_follower_never_produces_and_relays_client_transactions_only() {
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
    let tree = BlockTree::new(Block::genesis(), ledger, 3);
    // It would win every slot, were it a validator.
    let producer = Producer {
        name: "rpc-0".into(),
        stake: 1.0,
        active_slot_coefficient: 1.0,
        seed: b"test".to_vec(),
        max_txs: 10,
    };
    let (chain, mut outgoing) = ChainService::spawn_as(
        tree,
        producer,
        Arc::new(MemoryStorage::default()),
        true,
        true,
    );
    // A peer answered with a tip it has: no longer waiting to hear from
    // one, so only being a follower keeps it from producing.
    assert!(chain.peer_tip(Block::genesis().id()).await.unwrap());
    for slot in 1..=5 {
        chain.tick(slot).await.unwrap();
    }
    chain.submit(pay.clone()).await.unwrap().unwrap();
    // A wallet sends it again (its answer was lost): relayed again.
    chain.submit(pay.clone()).await.unwrap().unwrap();
    // A peer relays it back: kept, not relayed.
    chain.submit_relayed(pay.clone()).await.unwrap().unwrap();
    let info = chain.info().await.unwrap();
    assert_eq!(info.height, 0, "a follower produced");
    assert!(info.follower);
    assert_eq!(info.mempool, 1);
    let mut relayed = 0;
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(100), outgoing.recv()).await
    {
        match message {
            Outgoing::Relay(tx) => {
                assert_eq!(tx.id(), pay.id());
                relayed += 1;
            }
            other => panic!("a follower sent {other:?}"),
        }
    }
    assert_eq!(
        relayed, 2,
        "each client submission is relayed once, the peer's never"
    );
}
