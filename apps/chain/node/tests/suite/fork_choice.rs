//! Fork choice and finality, from the outside: build branches, insert them
//! in any order, and check which tip every node would pick.

use chain_node::block::{Block, BlockHeader};
use chain_node::crypto::Keypair;
use chain_node::graph::HeaderLookup;
use chain_node::ledger::{Ledger, TxError};
use chain_node::tree::{BlockError, BlockTree, Inserted};
use chain_node::tx::{Output, Transaction};

fn genesis_ledger() -> (Keypair, Keypair, Ledger) {
    let (alice, bob) = (Keypair::named("alice"), Keypair::named("bob"));
    let ledger = Ledger::genesis(&[(alice.address(), 100), (bob.address(), 100)]);
    (alice, bob, ledger)
}

/// `n` empty blocks on top of `from`, in slots after `slot`, by `producer`.
fn branch(from: &BlockHeader, slot: u64, n: usize, producer: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for i in 0..n {
        let parent = blocks.last().map_or(from, |b| &b.header).clone();
        blocks.push(Block::child(&parent, slot + i as u64 + 1, producer, vec![]));
    }
    blocks
}

fn tree(k: u64) -> BlockTree {
    BlockTree::new(Block::genesis(), genesis_ledger().2, k)
}

#[test]
fn a_linear_chain_extends_the_tip_and_finalizes_k_deep() {
    let mut tree = tree(2);
    for block in branch(&Block::genesis().header, 0, 5, "node-0") {
        assert_eq!(tree.insert(block), Ok(Inserted::Extended));
    }
    assert_eq!(tree.tip().header.height, 5);
    assert_eq!(tree.final_block().header.height, 3);
}

#[test]
fn equal_forks_resolve_to_the_same_tip_whatever_the_arrival_order() {
    let genesis = Block::genesis().header;
    let a = Block::child(&genesis, 1, "node-0", vec![]);
    let b = Block::child(&genesis, 1, "node-1", vec![]);
    let mut first = tree(10);
    first.insert(a.clone()).unwrap();
    first.insert(b.clone()).unwrap();
    let mut second = tree(10);
    second.insert(b.clone()).unwrap();
    second.insert(a.clone()).unwrap();
    assert_eq!(first.tip().id(), second.tip().id());
    assert_eq!(
        first.tip().id(),
        a.id().min(b.id()),
        "the smaller id wins a tie"
    );
}

#[test]
fn a_longer_fork_reorganizes_with_its_depth() {
    let genesis = Block::genesis().header;
    let mut tree = tree(10);
    let main = branch(&genesis, 0, 2, "node-0");
    let fork = branch(&genesis, 10, 3, "node-1");
    for block in &main {
        tree.insert(block.clone()).unwrap();
    }
    let results: Vec<Inserted> = fork
        .iter()
        .map(|b| tree.insert(b.clone()).unwrap())
        .collect();
    assert_eq!(
        results[0],
        Inserted::SideBranch,
        "shorter: stored, not followed"
    );
    // The switch happens once, two blocks deep: at the tie if the fork's
    // block has the smaller id, else when the fork gets longer.
    let reorgs: Vec<&Inserted> = results
        .iter()
        .filter(|r| matches!(r, Inserted::Reorg { .. }))
        .collect();
    assert_eq!(reorgs, [&Inserted::Reorg { depth: 2 }]);
    assert_eq!(tree.tip().id(), fork[2].id());
    assert_eq!(
        tree.common_ancestor(main[1].id(), fork[2].id()),
        Some(genesis.id())
    );
}

#[test]
fn the_final_block_is_never_reverted_by_a_longer_fork_below_it() {
    let genesis = Block::genesis().header;
    let mut tree = tree(2);
    let main = branch(&genesis, 0, 6, "node-0");
    for block in &main {
        tree.insert(block.clone()).unwrap();
    }
    let final_before = tree.final_block().id();
    assert_eq!(tree.final_block().header.height, 4);
    // A longer fork from height 2, below the final block.
    let fork = branch(&main[1].header, 100, 6, "node-1");
    let err = tree.insert(fork[0].clone()).unwrap_err();
    assert_eq!(err, BlockError::BelowFinal { final_height: 4 });
    assert!(err.to_string().contains("never reverted"));
    assert_eq!(tree.final_block().id(), final_before);
    assert_eq!(tree.tip().id(), main[5].id());
}

#[test]
fn a_block_whose_parent_is_unknown_asks_for_it() {
    let genesis = Block::genesis().header;
    let blocks = branch(&genesis, 0, 2, "node-0");
    let mut tree = tree(10);
    assert_eq!(
        tree.insert(blocks[1].clone()),
        Err(BlockError::UnknownParent(blocks[0].id()))
    );
    tree.insert(blocks[0].clone()).unwrap();
    assert_eq!(tree.insert(blocks[1].clone()), Ok(Inserted::Extended));
}

#[test]
fn malformed_blocks_are_refused_with_the_reason() {
    let genesis = Block::genesis().header;
    let mut tree = tree(10);
    let mut wrong_height = Block::child(&genesis, 1, "x", vec![]);
    wrong_height.header.height = 5;
    assert_eq!(
        tree.insert(wrong_height),
        Err(BlockError::BadHeight { parent: 0, got: 5 })
    );
    let same_slot = Block::child(&genesis, 0, "x", vec![]);
    assert_eq!(
        tree.insert(same_slot),
        Err(BlockError::SlotNotAfterParent { parent: 0, got: 0 })
    );
}

#[test]
fn transactions_are_validated_on_their_own_branch_and_balances_follow_the_tip() {
    let (alice, bob, ledger) = genesis_ledger();
    let genesis = Block::genesis().header;
    let mut tree = BlockTree::new(Block::genesis(), ledger.clone(), 10);
    let (point, _) = ledger.utxos_of(&alice.address())[0];
    let to = |who: &Keypair, amount| Output {
        owner: who.address(),
        amount,
    };
    // The same coin spent on two branches: valid on each, a conflict on none.
    let pay_bob = Transaction::signed(vec![point], vec![to(&bob, 100)], &[&alice]);
    let pay_self =
        Transaction::signed(vec![point], vec![to(&alice, 60), to(&alice, 40)], &[&alice]);
    let a = Block::child(&genesis, 1, "node-0", vec![pay_bob.clone()]);
    let b = Block::child(&genesis, 2, "node-1", vec![pay_self]);
    tree.insert(a.clone()).unwrap();
    tree.insert(b.clone()).unwrap();
    assert_eq!(
        tree.ledger_at(&a.id()).unwrap().balance(&bob.address()),
        200
    );
    assert_eq!(
        tree.ledger_at(&b.id()).unwrap().balance(&bob.address()),
        100
    );
    // Extending b makes it the tip; balances follow.
    let b2 = Block::child(&b.header, 3, "node-1", vec![]);
    tree.insert(b2.clone()).unwrap();
    assert_eq!(tree.tip().id(), b2.id());
    let at_tip = tree.ledger_at(&b2.id()).unwrap();
    assert_eq!(
        (
            at_tip.balance(&alice.address()),
            at_tip.balance(&bob.address())
        ),
        (100, 100)
    );
    assert_eq!(at_tip.total(), 200, "conservation at every head");
    // Spending the coin again on a's branch is a double spend there.
    let again = Block::child(&a.header, 4, "node-0", vec![pay_bob]);
    assert!(matches!(
        tree.insert(again),
        Err(BlockError::InvalidTx {
            index: 0,
            error: TxError::UnknownOrSpent(_)
        })
    ));
}
