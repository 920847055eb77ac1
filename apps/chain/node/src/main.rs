//! `chain-node`: runs one node of the chain.
//!
//! ```text
//! chain-node --name node-0 --addr 127.0.0.1:7000 --peer 127.0.0.1:7001 \
//!            [--data-dir DIR] [--slot-ms 200] [--coefficient 0.5] [--stake 0.5] [--k 6]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use chain_node::block::Block;
use chain_node::ledger::Ledger;
use chain_node::network::Network;
use chain_node::producer::Producer;
use chain_node::service::ChainService;
use chain_node::storage::{MemoryStorage, RedbStorage, Storage, load_tree};
use clap::Parser;

/// One node of the chain.
#[derive(Parser, Debug)]
#[command(name = "chain-node")]
struct Config {
    /// The node's name (its lottery key and its blocks' producer).
    #[arg(long)]
    name: String,
    /// Where its HTTP API listens (127.0.0.1:PORT).
    #[arg(long)]
    addr: SocketAddr,
    /// Other nodes (host:port), repeated.
    #[arg(long = "peer")]
    peers: Vec<String>,
    /// Keep the chain here (redb); without it, the chain lives in memory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Slot length.
    #[arg(long, default_value_t = 200)]
    slot_ms: u64,
    /// Chance that some node wins a slot; higher means more forks.
    #[arg(long, default_value_t = 0.5)]
    coefficient: f64,
    /// This node's share of all stake (default: an equal share).
    #[arg(long)]
    stake: Option<f64>,
    /// Blocks become final this deep.
    #[arg(long, default_value_t = 6)]
    k: u64,
    /// Genesis wallets `wallet-0..N`, 1000 each.
    #[arg(long, default_value_t = chain_node::ledger::DEFAULT_WALLETS)]
    wallets: usize,
    /// The chain's lottery seed.
    #[arg(long, default_value = "tf-chain")]
    seed: String,
    /// Follow the chain and serve it, never produce: an RPC node.
    /// Transactions submitted here are relayed to the peers.
    #[arg(long)]
    follow: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: deployers write logs to files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Config::parse();
    anyhow::ensure!(config.slot_ms > 0, "--slot-ms must be positive");
    anyhow::ensure!(
        (0.0..=1.0).contains(&config.coefficient),
        "--coefficient must be within 0..=1"
    );
    let stake = config
        .stake
        .unwrap_or(1.0 / (config.peers.len() + 1) as f64);
    tracing::info!(name = %config.name, addr = %config.addr, peers = ?config.peers, data_dir = ?config.data_dir, "starting chain node");

    let storage: Arc<dyn Storage> = match &config.data_dir {
        Some(dir) => Arc::new(
            RedbStorage::open(dir)
                .with_context(|| format!("opening storage in {}", dir.display()))?,
        ),
        None => Arc::new(MemoryStorage::default()),
    };
    let tree = load_tree(
        &*storage,
        Block::genesis(),
        Ledger::genesis_wallets(config.wallets),
        config.k,
    )?;
    tracing::info!(
        height = tree.tip().header.height,
        blocks = tree.len(),
        "chain loaded"
    );
    let producer = Producer {
        name: config.name.clone(),
        stake,
        active_slot_coefficient: config.coefficient,
        seed: config.seed.into_bytes(),
        max_txs: 100,
    };
    let (chain, outgoing) = ChainService::spawn_as(
        tree,
        producer,
        storage,
        !config.peers.is_empty(),
        config.follow,
    );
    Network::new(config.peers).spawn(chain.clone(), outgoing, Duration::from_secs(1));

    // Slots count from the Unix epoch, so every node agrees on the number.
    let slot_ms = config.slot_ms;
    let clock = chain.clone();
    tokio::spawn(async move {
        loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            let slot = now / slot_ms + 1;
            tokio::time::sleep(Duration::from_millis(slot * slot_ms - now)).await;
            if clock.tick(slot).await.is_err() {
                return;
            }
        }
    });

    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!("address {} is already in use", config.addr)
            } else {
                anyhow::anyhow!("cannot listen on {}: {e}", config.addr)
            }
        })?;
    axum::serve(listener, chain_node::http::router(chain))
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { if let Some(t) = term.as_mut() { t.recv().await; } else { std::future::pending::<()>().await } } => {}
            }
            tracing::info!("shutting down");
        })
        .await?;
    Ok(())
}
