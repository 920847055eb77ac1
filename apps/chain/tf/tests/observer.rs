//! The chain observer and its wallet projection on a scripted block graph:
//! a fork, a reorg, finality, a node going down, a block that breaks
//! conservation, and incremental catch-up. Sources are in memory and the
//! clock is paused, so every step is exact.

use std::time::Duration;

use chain_node::block::BlockId;
use chain_node::ledger::{GENESIS_AMOUNT, Ledger, genesis_wallet};
use chain_node::tx::{OutPoint, Output, Transaction};
use chain_tf::memory::{MemoryChain, MemoryNode};
use chain_tf::{ChainEvent, ChainObserver, ChainSnapshot, Inclusion};
use tf_core::observation::{
    ObservationConfig, ObservationHandle, ObservationRuntime, ObservedSource, SourceSet,
};

const WALLETS: usize = 3;
const WAIT: Duration = Duration::from_secs(5);

type Observer = ChainObserver<MemoryNode>;

fn observe(chain: &MemoryChain, nodes: &[&str]) -> ObservationRuntime<Observer> {
    let sources: SourceSet<MemoryNode> = nodes
        .iter()
        .map(|n| ObservedSource::new(*n, chain.node(n)))
        .collect();
    ObservationRuntime::start(
        sources,
        ChainObserver::with_wallets(WALLETS),
        ObservationConfig::default().with_poll_interval(Duration::from_millis(10)),
    )
    .unwrap()
}

fn genesis_output(wallet: usize) -> OutPoint {
    Ledger::genesis_wallets(WALLETS).utxos_of(&genesis_wallet(wallet).address())[0].0
}

/// `from` pays `amount` of its genesis output to `to`, the rest back.
fn pay(from: usize, to: usize, amount: u64) -> Transaction {
    let key = genesis_wallet(from);
    let mut outputs = vec![Output {
        owner: genesis_wallet(to).address(),
        amount,
    }];
    if amount < GENESIS_AMOUNT {
        outputs.push(Output {
            owner: key.address(),
            amount: GENESIS_AMOUNT - amount,
        });
    }
    Transaction::signed(vec![genesis_output(from)], outputs, &[&key])
}

fn balances(s: &ChainSnapshot, node: &str) -> Vec<u64> {
    let ledger = s.ledger(node).expect("head projected");
    (0..WALLETS)
        .map(|w| ledger.balance(&genesis_wallet(w).address()))
        .collect()
}

async fn wait_head(
    handle: &ObservationHandle<Observer>,
    node: &str,
    head: BlockId,
) -> ChainSnapshot {
    let node = node.to_owned();
    handle
        .wait_until(|s| s.ledger(&node).is_some_and(|l| l.block() == head), WAIT)
        .await
        .unwrap()
        .snapshot
        .clone()
}

#[tokio::test(start_paused = true)]
async fn reorg_moves_events_snapshot_and_balances_to_the_new_branch() {
    let chain = MemoryChain::new();
    let g = chain.genesis();
    // Branch a: wallet-0 pays wallet-1 300. Branch b spends the same output:
    // wallet-0 pays wallet-2 everything.
    let to_1 = pay(0, 1, 300);
    let to_2 = pay(0, 2, GENESIS_AMOUNT);
    let a1 = chain.extend(g, "node-0", vec![to_1.clone()]);
    let a2 = chain.extend_by(a1, "node-0", 1);
    let b1 = chain.extend(g, "node-1", vec![to_2.clone()]);
    let b3 = chain.extend_by(b1, "node-1", 2);
    chain.set_head("node-0", a2, g, &[]);
    chain.set_head("node-1", a2, g, &[]);

    let runtime = observe(&chain, &["node-0", "node-1"]);
    let handle = runtime.handle();
    let s = wait_head(&handle, "node-1", a2).await;
    assert_eq!(balances(&s, "node-0"), [700, 1300, 1000]);
    assert_eq!((s.live_forks, s.fork_points, s.reorgs), (1, 0, 0));
    assert_eq!(s.nodes["node-0"].supply, Some(3 * GENESIS_AMOUNT));
    assert_eq!(s.genesis_supply, 3 * GENESIS_AMOUNT);
    assert!(Inclusion::at_depth(2).holds(&s, &to_1.id()));
    assert!(!Inclusion::at_depth(3).holds(&s, &to_1.id()));

    // node-1 switches to the longer branch b, leaving a1 and a2.
    let cursor = handle.cursor();
    chain.set_head("node-1", b3, g, &[a2]);
    let event = handle
        .wait_for_event_from(
            cursor,
            |e| matches!(e, ChainEvent::HeadChanged { node, .. } if node == "node-1"),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        event,
        ChainEvent::HeadChanged {
            node: "node-1".into(),
            height: 3,
            reorg_depth: 2
        }
    );
    let s = wait_head(&handle, "node-1", b3).await;
    assert_eq!(balances(&s, "node-1"), [0, 1000, 2000]);
    assert_eq!(balances(&s, "node-0"), [700, 1300, 1000]);
    assert_eq!(s.nodes["node-1"].supply, Some(3 * GENESIS_AMOUNT));
    assert_eq!((s.live_forks, s.fork_points), (2, 1));
    assert_eq!((s.reorgs, s.max_reorg_depth), (1, 2));
    assert_eq!(s.common_ancestor, Some((g, 0)));
    assert_eq!(s.height_spread, 1);
    assert_eq!(s.blocks_seen, 6);
    // The b blocks were discovered through node-1.
    let new_blocks: Vec<ChainEvent> = handle
        .history()
        .iter()
        .flat_map(|o| o.events.clone())
        .filter(|e| matches!(e, ChainEvent::NewBlock { id, .. } if *id == b1 || *id == b3))
        .collect();
    assert_eq!(new_blocks.len(), 2, "{new_blocks:?}");
    assert!(new_blocks.iter().all(
        |e| matches!(e, ChainEvent::NewBlock { first_seen_on, .. } if first_seen_on == "node-1")
    ));

    // Inclusion follows each node's own branch, and says why not.
    let both = Inclusion::at_depth(1);
    assert!(!both.holds(&s, &to_1.id()));
    let why = both.on_node(&s, &to_1.id(), "node-1").unwrap_err();
    assert!(why.contains("only on other branches"), "{why}");
    assert!(Inclusion::at_depth(3).on(["node-1"]).holds(&s, &to_2.id()));
    let timeout = both
        .wait(&handle, &[to_1.id()], Duration::from_millis(100))
        .await
        .unwrap_err();
    let text = timeout.to_string();
    assert!(
        text.contains("1 of 1 transaction(s) not included"),
        "{text}"
    );
    assert!(text.contains("node-1: not on its branch"), "{text}");

    // node-0 follows; b3 becomes final on both: no safety finding.
    let b4 = chain.extend_by(b3, "node-1", 1);
    chain.set_head("node-0", b4, b1, &[]);
    chain.set_head("node-1", b4, b1, &[]);
    let s = wait_head(&handle, "node-0", b4).await;
    let s = if s.ledger("node-1").is_some_and(|l| l.block() == b4) {
        s
    } else {
        wait_head(&handle, "node-1", b4).await
    };
    assert_eq!(balances(&s, "node-0"), [0, 1000, 2000]);
    assert_eq!(s.live_forks, 1);
    assert!(s.final_conflicts.is_empty() && s.finality_reverted.is_empty());
    assert!(s.ledger_anomalies.is_empty(), "{:?}", s.ledger_anomalies);
    assert!(both.holds(&s, &to_2.id()));

    // A node going down and back is seen, by the framework's reachability.
    let cursor = handle.cursor();
    chain.set_down("node-0", true);
    handle
        .wait_for_reachability_from(cursor, |r| r.is_lost("node-0"), WAIT)
        .await
        .unwrap();
    chain.set_down("node-0", false);
    handle
        .wait_for_reachability_from(cursor, |r| r.is_back("node-0"), WAIT)
        .await
        .unwrap();
    runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_block_that_creates_value_breaks_conservation_and_says_where() {
    let chain = MemoryChain::new();
    let g = chain.genesis();
    // 1000 in, 1500 out: the node should never have accepted it.
    let key = genesis_wallet(0);
    let inflated = Transaction::signed(
        vec![genesis_output(0)],
        vec![Output {
            owner: genesis_wallet(1).address(),
            amount: 1500,
        }],
        &[&key],
    );
    let a1 = chain.extend(g, "node-0", vec![inflated]);
    chain.set_head("node-0", a1, g, &[]);
    let runtime = observe(&chain, &["node-0"]);
    let s = wait_head(&runtime.handle(), "node-0", a1).await;
    assert_eq!(s.nodes["node-0"].supply, Some(3 * GENESIS_AMOUNT + 500));
    assert_eq!(s.ledger_anomalies.len(), 1);
    assert!(
        s.ledger_anomalies[0].contains("creates 1500 from inputs worth 1000"),
        "{:?}",
        s.ledger_anomalies
    );
    runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn catch_up_is_incremental_and_a_long_chain_is_fetched_over_several_polls() {
    let chain = MemoryChain::new();
    let g = chain.genesis();
    let tip = chain.extend_by(g, "node-0", 500);
    chain.set_head("node-0", tip, g, &[]);
    chain.set_head("node-1", g, g, &[]);
    let runtime = observe(&chain, &["node-0", "node-1"]);
    let handle = runtime.handle();
    let s = wait_head(&handle, "node-0", tip).await;
    assert_eq!(s.blocks_seen, 501);
    // Every block once (genesis too, as it is fetched from node-1's head).
    assert_eq!(chain.block_requests(), 501);
    // The lagging node catches up: nothing to fetch, the ledger is there.
    chain.set_head("node-1", tip, g, &[]);
    let s = wait_head(&handle, "node-1", tip).await;
    assert_eq!(s.nodes["node-1"].height, 500);
    assert_eq!(chain.block_requests(), 501);
    // One more block: one more fetch.
    let next = chain.extend_by(tip, "node-0", 1);
    chain.set_head("node-0", next, g, &[]);
    wait_head(&handle, "node-0", next).await;
    assert_eq!(chain.block_requests(), 502);
    runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_catch_up_far_past_the_final_block_still_projects_the_new_head() {
    let chain = MemoryChain::new();
    let g = chain.genesis();
    let h100 = chain.extend_by(g, "node-0", 100);
    let ancestor = |tip: BlockId, height: u64| {
        let mut id = tip;
        while chain.height(id).unwrap() > height {
            id = chain.block(id).unwrap().header.parent;
        }
        id
    };
    chain.set_head("node-0", h100, ancestor(h100, 94), &[]);
    let runtime = observe(&chain, &["node-0"]);
    let handle = runtime.handle();
    wait_head(&handle, "node-0", h100).await;
    // The node runs 900 blocks ahead, its final block far past everything
    // the observer holds: the catch-up takes several polls, while the
    // horizon rises past the block it must attach to.
    let h1000 = chain.extend_by(h100, "node-0", 900);
    chain.set_head("node-0", h1000, ancestor(h1000, 994), &[]);
    let s = wait_head(&handle, "node-0", h1000).await;
    assert_eq!(s.nodes["node-0"].supply, Some(3 * GENESIS_AMOUNT));
    runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn final_blocks_on_different_branches_conflict_even_at_different_heights() {
    let chain = MemoryChain::new();
    let g = chain.genesis();
    let a2 = chain.extend_by(g, "node-0", 2);
    let b3 = chain.extend_by(g, "node-1", 3);
    chain.set_head("node-0", a2, a2, &[]);
    chain.set_head("node-1", b3, b3, &[]);
    let runtime = observe(&chain, &["node-0", "node-1"]);
    let s = runtime
        .handle()
        .wait_until(|s| !s.final_conflicts.is_empty(), WAIT)
        .await
        .unwrap()
        .snapshot
        .clone();
    assert_eq!(s.final_conflicts.len(), 1, "{:?}", s.final_conflicts);
    assert!(
        s.final_conflicts[0].contains("is not an ancestor"),
        "{:?}",
        s.final_conflicts
    );
    runtime.stop().await;
}
