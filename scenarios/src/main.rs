//! `scenarios`: list and run the framework's scenarios.
//!
//! ```text
//! cargo run -p scenarios -- list
//! cargo run -p scenarios -- run raft-failover [--deployer local] [--nodes 3] [--duration 15s]
//! cargo run -p scenarios -- run wallet-transfers [--wallets 8] [--rate 4] [--restarts 3]
//! cargo run -p scenarios -- replay target/tf-runs/<run>
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chain_tf::scenarios::{WalletTransfersOptions, chain_liveness, wallet_transfers};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use openraft_kv_tf::Fault;
use openraft_kv_tf::scenarios::{FailoverOptions, raft_failover};
use tf_core::report::Severity;
use tf_core::scenario::{
    ExpectationReport, RunOptions, RunReport, TimelineKind, Verdict, recorded_scenario, replay, run,
};
use tf_local::LocalDeployer;
use tokio_util::sync::CancellationToken;

/// Scenarios known to this CLI: name and one line about it.
const SCENARIOS: &[(&str, &str)] = &[
    (
        "raft-failover",
        "3-node Raft key-value cluster; the leader is killed and brought back while writes go on; checks one leader per term, a leader after each failover, convergence and no lost acknowledged write",
    ),
    (
        "chain-liveness",
        "3 chain nodes that fork on purpose (frequent slot winners); checks that no final block is reverted or contradicted, that every node keeps growing, and that all share a final block at the end",
    ),
    (
        "wallet-transfers",
        "4 forking chain nodes, restarted one after another, while 8 wallets pay each other; checks safety, that every head holds exactly the genesis supply, liveness, a shared final block, and that every accepted transfer ends up k blocks deep on every node",
    ),
];

#[derive(Parser)]
#[command(
    name = "scenarios",
    about = "List and run the testing framework's scenarios"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the scenarios.
    List,
    /// Run one scenario.
    Run(RunArgs),
    /// Judge a past run's expectations again from its recorded
    /// observations, without starting any node.
    Replay {
        /// The run directory (it holds report.json and observations.jsonl).
        run_dir: PathBuf,
    },
}

#[derive(Parser)]
struct RunArgs {
    /// The scenario (see `list`).
    scenario: String,
    /// Where nodes run.
    #[arg(long, value_enum, default_value = "local")]
    deployer: DeployerKind,
    /// Number of nodes.
    #[arg(long)]
    nodes: Option<usize>,
    /// Run window, e.g. `15s`, `2m`.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// How the failover takes the leader down (raft-failover).
    #[arg(long, value_enum, default_value = "kill")]
    fault: FaultKind,
    /// Wallets that pay each other (wallet-transfers).
    #[arg(long)]
    wallets: Option<usize>,
    /// Transfers per second (wallet-transfers).
    #[arg(long)]
    rate: Option<f64>,
    /// Node restarts during the run, 0 for none (wallet-transfers).
    #[arg(long)]
    restarts: Option<usize>,
    /// Run directory (default: target/tf-runs/<scenario>-<time>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Remove the run directory when the run passes.
    #[arg(long)]
    clean_on_success: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeployerKind {
    /// Node processes on this machine.
    Local,
}

#[derive(Clone, Copy, ValueEnum)]
enum FaultKind {
    /// SIGKILL the leader.
    Kill,
    /// Stop the leader gracefully (SIGTERM).
    Restart,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TF_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List => {
            for (name, about) in SCENARIOS {
                println!("{name:<16} {about}");
            }
            Ok(true)
        }
        Command::Run(args) => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(run_scenario(args))),
        Command::Replay { run_dir } => replay_run(&run_dir),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_scenario(args: RunArgs) -> anyhow::Result<bool> {
    let scenario = match args.scenario.as_str() {
        "raft-failover" => {
            let mut options = FailoverOptions::default();
            if let Some(nodes) = args.nodes {
                options.nodes = nodes;
            }
            if let Some(duration) = args.duration {
                options.duration = duration;
            }
            options.fault = match args.fault {
                FaultKind::Kill => Fault::Kill,
                FaultKind::Restart => Fault::Restart,
            };
            raft_failover(&options).context("invalid scenario")?
        }
        "chain-liveness" => {
            let nodes = args.nodes.unwrap_or(3);
            let duration = args.duration.unwrap_or(Duration::from_secs(15));
            return run_with(
                chain_liveness(nodes, duration).context("invalid scenario")?,
                args,
            )
            .await;
        }
        "wallet-transfers" => {
            let mut options = WalletTransfersOptions::default();
            options.nodes = args.nodes.unwrap_or(options.nodes);
            options.duration = args.duration.unwrap_or(options.duration);
            options.wallets = args.wallets.unwrap_or(options.wallets);
            options.rate = args.rate.unwrap_or(options.rate);
            options.restarts = args.restarts.unwrap_or(options.restarts);
            return run_with(
                wallet_transfers(&options).context("invalid scenario")?,
                args,
            )
            .await;
        }
        other => {
            let known: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
            bail!("no scenario named `{other}`; known: {}", known.join(", "));
        }
    };
    run_with(scenario, args).await
}

/// Runs any app's scenario with the CLI's progress, report and exit code.
async fn run_with<A: tf_core::scenario::Application>(
    scenario: tf_core::scenario::Scenario<A>,
    args: RunArgs,
) -> anyhow::Result<bool> {
    let deployer = match args.deployer {
        DeployerKind::Local => LocalDeployer::new(),
    };

    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("a valid template"),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    let spinner_for_signal = spinner.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            spinner_for_signal.println(
                "interrupted: stopping the nodes and writing the report (Ctrl-C again to force)",
            );
            on_ctrl_c.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                // Nodes die with this process (parent-death signal).
                std::process::exit(130);
            }
        }
    });
    let progress_bar = spinner.clone();
    let options = RunOptions {
        run_dir: args.run_dir,
        remove_run_dir_on_success: args.clean_on_success,
        progress: Some(Arc::new(move |message: &str| {
            let line = format!(
                "  [{:>6.1}s] {message}",
                progress_bar.elapsed().as_secs_f64()
            );
            // Not a terminal: the spinner hides itself, so print plain lines.
            if progress_bar.is_hidden() {
                eprintln!("{line}");
            } else {
                progress_bar.println(line);
            }
            progress_bar.set_message(message.to_owned());
        })),
        cancel: cancel.clone(),
    };
    let report = run(scenario, &deployer, options).await;
    spinner.finish_and_clear();
    print_report(&report, args.clean_on_success);
    Ok(report.passed())
}

/// Replays on a paused clock: the recorded timeline is followed exactly, in
/// milliseconds of real time.
fn replay_run(run_dir: &std::path::Path) -> anyhow::Result<bool> {
    let recorded = recorded_scenario(run_dir)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .context("cannot start the async runtime")?;
    // The scenario is rebuilt with the recorded node count and window, so
    // the checks are the ones the run had.
    let (nodes, duration) = (recorded.nodes, recorded.window.max(Duration::from_secs(1)));
    let report = match recorded.scenario.as_str() {
        "raft-failover" => {
            let options = FailoverOptions {
                nodes,
                duration,
                ..FailoverOptions::default()
            };
            let scenario = raft_failover(&options).context("invalid scenario")?;
            rt.block_on(replay(scenario, run_dir))?
        }
        "chain-liveness" => {
            let scenario = chain_liveness(nodes, duration).context("invalid scenario")?;
            rt.block_on(replay(scenario, run_dir))?
        }
        "wallet-transfers" => {
            let options = WalletTransfersOptions {
                nodes,
                duration,
                ..WalletTransfersOptions::default()
            };
            let scenario = wallet_transfers(&options).context("invalid scenario")?;
            rt.block_on(replay(scenario, run_dir))?
        }
        other => bail!(
            "{} is a run of `{other}`, which this CLI cannot replay",
            run_dir.display()
        ),
    };
    println!("replay of {} ({})", report.scenario, run_dir.display());
    for (observer, count) in &report.observations {
        println!("  {count} observations of {observer}");
    }
    let width = name_width(&report.expectations);
    println!("  {:<width$}  {:<10}  replayed", "expectation", "recorded");
    for e in &report.expectations {
        let recorded = report.recorded.get(&e.name).copied().flatten();
        println!(
            "  {:<width$}  {:<10}  {}",
            e.name,
            verdict_word(recorded),
            verdict_word(e.passed)
        );
        if let Some(reason) = &e.reason {
            println!("      reason: {reason}");
        }
    }
    println!(
        "{}",
        if report.passed() {
            "REPLAY PASSED"
        } else {
            "REPLAY FAILED"
        }
    );
    Ok(report.passed())
}

/// Width of the expectation-name column.
fn name_width(expectations: &[ExpectationReport]) -> usize {
    expectations
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(10)
}

/// An expectation's verdict in a table.
fn verdict_word(passed: Option<bool>) -> &'static str {
    match passed {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "not judged",
    }
}

fn print_report(report: &RunReport, clean_on_success: bool) {
    println!();
    println!(
        "scenario {} on {} ({} nodes, {} deployer)",
        report.scenario, report.app, report.nodes, report.deployer
    );
    let width = name_width(&report.expectations);
    println!("  {:<width$}  {:<22}  verdict", "expectation", "when");
    for e in &report.expectations {
        let verdict = verdict_word(e.passed);
        println!("  {:<width$}  {:<22}  {verdict}", e.name, e.timing);
        if let Some(reason) = &e.reason {
            println!("      reason: {reason}");
        }
        if let Some(observed) = &e.observed {
            for line in observed.lines().take(40) {
                println!("      | {line}");
            }
        }
    }
    for failure in &report.workload_failures {
        println!("  workload {} failed: {}", failure.name, failure.error);
    }
    for crash in &report.node_crashes {
        println!(
            "  node {} exited on its own ({}); last log lines:",
            crash.node, crash.status
        );
        for line in crash.log_tail.lines() {
            println!("      | {line}");
        }
    }
    // Routine events and passed verdicts stay in report.json; the table
    // above has the verdicts.
    let notable: Vec<_> = report
        .timeline
        .iter()
        .filter(|e| {
            e.severity >= Severity::Notice
                && !(e.kind == TimelineKind::Verdict && e.severity < Severity::Error)
        })
        .collect();
    if !notable.is_empty() {
        println!("timeline:");
        for entry in notable {
            let mark = if entry.severity >= Severity::Warning {
                "!"
            } else {
                " "
            };
            println!(
                "  {:>7.1}s {mark} {:<16} {}",
                entry.at_ms as f64 / 1000.0,
                entry.source,
                entry.what
            );
        }
    }
    for problem in &report.cleanup.problems {
        println!("cleanup: {problem}");
    }
    let t = &report.timings;
    println!(
        "timings: deploy {} ms, ready {} ms, run {} ms, end checks {} ms, cleanup {} ms",
        t.deploy_ms, t.ready_ms, t.run_ms, t.end_ms, t.cleanup_ms
    );
    match &report.run_dir {
        Some(dir) => {
            println!(
                "run directory: {} (node logs, report.json, junit.xml)",
                dir.display()
            );
            println!("report: {}", dir.join(tf_core::report::HTML_FILE).display());
        }
        None if report.passed() && clean_on_success => {
            println!("run directory removed (passed with --clean-on-success)")
        }
        None => println!("no run directory was created"),
    }
    let verdict = match report.verdict {
        Verdict::Passed => "PASSED",
        Verdict::Failed => "FAILED",
        Verdict::Error => "ERROR",
    };
    match &report.summary {
        Some(summary) => println!("{verdict}: {summary}"),
        None => println!("{verdict}"),
    }
}
