//! Benchmarks of the chain observer and its wallet projection, printed as a
//! Markdown table for the performance page (guide/src/performance.md). Run: `cargo bench -p chain-tf --bench observer`.
//!
//! The chain is scripted in memory (`chain_tf::memory`): 10,000 blocks with
//! a one-block side branch every 50 blocks and 8 transfers (4 wallet pairs
//! swapping their outputs) in every block, followed by 20 nodes. Each measurement runs `RUNS` times;
//! the table shows the median and the range. One row goes over HTTP, to
//! show what real nodes cost on top.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::get;
use chain_node::block::{Block, BlockId};
use chain_node::client::ChainClient;
use chain_node::crypto::Keypair;
use chain_node::ledger::{GENESIS_AMOUNT, genesis_wallet};
use chain_node::tx::{OutPoint, Output, Transaction};
use chain_tf::memory::{MemoryChain, MemoryNode};
use chain_tf::{ChainApi, ChainObserver, LedgerAt, WalletProjection};
use tf_core::observation::{ObservationConfig, ObservedSource, SourceSet};
use tf_core::testing::ObserverDriver;

const RUNS: usize = 5;
const WALLETS: usize = 8;
const NODES: usize = 20;

/// Counts bytes held, to report what the observer's state costs.
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then a smoke run keeps the target compiling and working.
    let quick = !std::env::args().any(|a| a == "--bench");
    let blocks = if quick { 200 } else { 10_000 };
    if quick {
        println!("smoke run: reduced sizes, likely a debug build; these are not measurements.");
        println!("Measure with `cargo bench -p chain-tf --bench observer`.\n");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("| measurement | median | range ({RUNS} runs) |");
    println!("|---|---|---|");
    rt.block_on(async {
        let script = Script::build(blocks);
        observer_cycles(&script, blocks).await;
        projection_per_block(&script, quick);
        over_http(&script, blocks, if quick { 5 } else { 200 }).await;
    });
}

fn report(name: &str, mut values: Vec<f64>, unit: &str) {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    println!(
        "| {name} | {} | {} – {} |",
        fmt(median, unit),
        fmt(values[0], unit),
        fmt(values[values.len() - 1], unit)
    );
}

fn fmt(value: f64, unit: &str) -> String {
    match unit {
        "bytes" => format!("{:.1} MiB", value / (1024.0 * 1024.0)),
        "percent" => format!("{value:.2} %"),
        _ if value >= 1e6 => format!("{:.2} ms", value / 1e6),
        _ if value >= 1000.0 => format!("{:.1} µs", value / 1000.0),
        _ => format!("{value:.0} ns"),
    }
}

/// A scripted chain and the blocks of its main branch, in order.
struct Script {
    chain: MemoryChain,
    main: Vec<BlockId>,
    blocks: Vec<(BlockId, Block)>,
    wallets: Vec<Keypair>,
    next: Transfers,
}

/// Every wallet's single output. Each block swaps the outputs of wallet
/// pairs (2i, 2i+1): `WALLETS` transfers a block, every input signed by its
/// owner, and the UTXO set stays `WALLETS` large.
#[derive(Clone)]
struct Transfers {
    outputs: Vec<(OutPoint, u64)>,
}

impl Transfers {
    fn block_txs(&mut self, wallets: &[Keypair]) -> Vec<Transaction> {
        let pay = |from: usize, to: usize, (input, amount): (OutPoint, u64)| {
            Transaction::signed(
                vec![input],
                vec![Output {
                    owner: wallets[to].address(),
                    amount,
                }],
                &[&wallets[from]],
            )
        };
        let mut txs = Vec::new();
        for a in (0..WALLETS).step_by(2) {
            let b = a + 1;
            let (to_b, to_a) = (pay(a, b, self.outputs[a]), pay(b, a, self.outputs[b]));
            let (amount_a, amount_b) = (self.outputs[a].1, self.outputs[b].1);
            self.outputs[a] = (
                OutPoint {
                    tx: to_a.id(),
                    index: 0,
                },
                amount_b,
            );
            self.outputs[b] = (
                OutPoint {
                    tx: to_b.id(),
                    index: 0,
                },
                amount_a,
            );
            txs.extend([to_b, to_a]);
        }
        txs
    }
}

impl Script {
    fn build(blocks: usize) -> Self {
        let chain = MemoryChain::new();
        let wallets: Vec<Keypair> = (0..WALLETS).map(genesis_wallet).collect();
        let genesis = chain_node::ledger::Ledger::genesis_wallets(WALLETS);
        let outputs = wallets
            .iter()
            .map(|w| (genesis.utxos_of(&w.address())[0].0, GENESIS_AMOUNT))
            .collect();
        let mut next = Transfers { outputs };
        let mut tip = chain.genesis();
        let mut main = vec![tip];
        for height in 1..=blocks {
            if height % 50 == 0 {
                chain.extend(tip, "side", Vec::new());
            }
            tip = chain.extend(tip, "main", next.block_txs(&wallets));
            main.push(tip);
        }
        let blocks = main[1..]
            .iter()
            .map(|id| (*id, chain.block(*id).expect("just added")))
            .collect();
        Script {
            chain,
            main,
            blocks,
            wallets,
            next,
        }
    }

    fn point_nodes(&self, tip: BlockId) {
        let final_at = self.main[self.main.len().saturating_sub(7)];
        for i in 0..NODES {
            self.chain
                .set_head(&format!("node-{i}"), tip, final_at, &[]);
        }
    }

    fn sources(&self) -> SourceSet<MemoryNode> {
        (0..NODES)
            .map(|i| {
                let name = format!("node-{i}");
                ObservedSource::new(name.clone(), self.chain.node(&name))
            })
            .collect()
    }
}

async fn observer_cycles(script: &Script, blocks: usize) {
    let tip = *script.main.last().unwrap();
    script.point_nodes(tip);
    let config = ObservationConfig::default();
    let mut catch_up = Vec::new();
    let mut idle = Vec::new();
    let mut new_block = Vec::new();
    let mut held = Vec::new();
    for _ in 0..RUNS {
        let before = HELD.load(Ordering::Relaxed);
        let mut driver = ObserverDriver::init(
            ChainObserver::<MemoryNode>::with_wallets(WALLETS),
            script.sources(),
            config.clone(),
        )
        .await
        .unwrap();
        let started = Instant::now();
        loop {
            let (_, snapshot) = driver.cycle().await.unwrap();
            if snapshot.nodes.values().all(|n| n.ledger.is_some()) {
                break;
            }
        }
        catch_up.push(started.elapsed().as_nanos() as f64 / blocks as f64);
        held.push(HELD.load(Ordering::Relaxed).saturating_sub(before) as f64);

        let cycles = 200;
        let started = Instant::now();
        for _ in 0..cycles {
            std::hint::black_box(driver.cycle().await.unwrap());
        }
        idle.push(started.elapsed().as_nanos() as f64 / cycles as f64);

        // One new block per cycle, every node on it: the steady state.
        let mut elapsed = Duration::ZERO;
        let mut tip = tip;
        let mut transfers = script.next.clone();
        for _ in 0..cycles {
            tip = script
                .chain
                .extend(tip, "main", transfers.block_txs(&script.wallets));
            script.point_nodes(tip);
            let started = Instant::now();
            std::hint::black_box(driver.cycle().await.unwrap());
            elapsed += started.elapsed();
        }
        new_block.push(elapsed.as_nanos() as f64 / cycles as f64);
        script.point_nodes(*script.main.last().unwrap());
    }
    report(
        &format!("catch-up from nothing, per block ({blocks} blocks, {NODES} nodes)"),
        catch_up,
        "ns",
    );
    report(
        &format!("observer state held after catch-up ({blocks} blocks, projection included)"),
        held,
        "bytes",
    );
    report(
        &format!("observer cycle, {NODES} nodes, {blocks} blocks, nothing new"),
        idle,
        "ns",
    );
    report(
        &format!(
            "observer cycle, {NODES} nodes, {blocks} blocks, one new block ({WALLETS} transfers)"
        ),
        new_block,
        "ns",
    );
}

fn projection_per_block(script: &Script, quick: bool) {
    let mut per_block = Vec::new();
    let mut lookups = Vec::new();
    for _ in 0..RUNS {
        let mut projection = WalletProjection::for_wallets(WALLETS);
        let started = Instant::now();
        for (id, block) in &script.blocks {
            projection.add(*id, block.clone());
        }
        per_block.push(started.elapsed().as_nanos() as f64 / script.blocks.len() as f64);

        let tip = *script.main.last().unwrap();
        let n = if quick { 1_000 } else { 1_000_000 };
        let address = script.wallets[3].address();
        let started = Instant::now();
        for _ in 0..n {
            let ledger: &LedgerAt = std::hint::black_box(&projection).at(&tip).unwrap();
            std::hint::black_box(ledger.balance(&address));
        }
        lookups.push(started.elapsed().as_nanos() as f64 / n as f64);
    }
    report(
        &format!("wallet projection, per new block ({WALLETS} transfers, block clone included)"),
        per_block,
        "ns",
    );
    report("balance of a wallet at a head (lookup)", lookups, "ns");
}

/// Serves the scripted chain over HTTP as `NODES` nodes (one listener
/// each), the way chain nodes answer, and measures the observer's cycle
/// through real `ChainClient`s.
async fn over_http(script: &Script, blocks: usize, cycles: usize) {
    let tip = *script.main.last().unwrap();
    script.point_nodes(tip);
    let http = ChainClient::default_http();
    let mut clients = Vec::new();
    for i in 0..NODES {
        let node = script.chain.node(&format!("node-{i}"));
        let app = axum::Router::new()
            .route("/info", get(info))
            .route("/blocks/{id}", get(block))
            .with_state(node);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        clients.push(ObservedSource::new(
            format!("node-{i}"),
            ChainClient::new(addr.to_string(), http.clone()),
        ));
    }
    let sources: SourceSet<ChainClient> = clients.into_iter().collect();
    let mut per_cycle = Vec::new();
    for _ in 0..RUNS {
        let mut driver = ObserverDriver::init(
            ChainObserver::<ChainClient>::with_wallets(WALLETS),
            sources.clone(),
            ObservationConfig::default()
                .with_source_timeout(Duration::from_secs(30))
                .with_cycle_timeout(Duration::from_secs(60)),
        )
        .await
        .unwrap();
        // Catch up first (not measured here), then the steady state.
        loop {
            let (_, snapshot) = driver.cycle().await.unwrap();
            if snapshot.nodes.values().all(|n| n.ledger.is_some()) {
                break;
            }
        }
        let started = Instant::now();
        for _ in 0..cycles {
            std::hint::black_box(driver.cycle().await.unwrap());
        }
        per_cycle.push(started.elapsed().as_nanos() as f64 / cycles as f64);
    }
    let share: Vec<f64> = per_cycle.iter().map(|ns| ns / 100e6 * 100.0).collect();
    report(
        &format!(
            "observer cycle over HTTP, {NODES} nodes, {blocks} blocks, nothing new (servers in-process)"
        ),
        per_cycle,
        "ns",
    );
    report(
        "  the same, as a share of a 100 ms poll interval",
        share,
        "percent",
    );
}

async fn info(State(node): State<MemoryNode>) -> axum::Json<chain_node::service::NodeInfo> {
    axum::Json(node.info().await.unwrap())
}

async fn block(
    State(node): State<MemoryNode>,
    Path(id): Path<BlockId>,
) -> Result<axum::Json<Block>, axum::http::StatusCode> {
    node.block(id)
        .await
        .map(axum::Json)
        .map_err(|_| axum::http::StatusCode::NOT_FOUND)
}
