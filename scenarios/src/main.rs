//! `scenarios`: list, run and replay the scenarios of every app's catalog.
//!
//! ```text
//! cargo run -p scenarios -- list
//! cargo run -p scenarios -- run raft-failover [--deployer local] [--nodes 3] [--duration 15s] [--set fault=restart]
//! cargo run -p scenarios -- run wallet-transfers --set wallets=8 --set rate=4
//! cargo run -p scenarios -- run raft-partition --deployer compose
//! cargo run -p scenarios --features k8s -- run raft-failover --deployer k8s [--image tf-openraft-kv-node:latest]
//! cargo run -p scenarios --features k8s -- run raft-failover --deployer k8s --attach app=raft --namespace db
//! cargo run -p scenarios -- image raft-failover
//! cargo run -p scenarios -- replay target/tf-runs/<run>
//! cargo run -p scenarios -- check target/tf-runs/<run>/history.jsonl [--model kv]
//! cargo run -p scenarios -- cleanup
//! ```

mod check;
// The Kubernetes deployer, with the cargo feature `k8s`; without it, the
// same functions say how to get it.
#[cfg(feature = "k8s")]
mod k8s;
#[cfg(not(feature = "k8s"))]
#[path = "no_k8s.rs"]
mod k8s;
mod log;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use tf_compose::ComposeDeployer;
use tf_compose::sweep::{SweepOptions, sweep};
use tf_core::catalog::{Catalog, ScenarioEntry};
use tf_core::report::RunReport;
use tf_core::scenario::Deployer;
use tf_core::scenario::{NodeBuild, RunOptions};
use tf_local::LocalDeployer;

/// Every app's scenarios: a new app adds one line here.
fn catalog() -> Catalog {
    Catalog::new()
        .with(openraft_kv_tf::scenarios::catalog())
        .with(chain_tf::scenarios::catalog())
        .with(redis_ha_tf::scenarios::catalog())
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique_and_every_scenario_builds_from_its_defaults() {
        let catalog = super::catalog();
        assert!(
            catalog.duplicates().is_empty(),
            "{:?}",
            catalog.duplicates()
        );
        for entry in catalog.entries() {
            let defaults = entry.parse::<&str, &str>(&[]).unwrap();
            assert_eq!(
                entry.parse(&defaults.as_text()).unwrap(),
                defaults,
                "{} round-trips",
                entry.name()
            );
            entry
                .build(&defaults)
                .unwrap_or_else(|e| panic!("{}: {e}", entry.name()));
        }
    }
}

#[derive(Parser)]
#[command(
    name = "scenarios",
    about = "List, run and replay the testing framework's scenarios, and check client histories"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the scenarios and their parameters.
    List,
    /// Run one scenario.
    Run(Box<RunArgs>),
    /// Judge a past run's expectations again from its recorded
    /// observations, without starting any node.
    Replay {
        /// The run directory (it holds report.json and observations.jsonl).
        run_dir: PathBuf,
    },
    /// Judge a client history (a run's history.jsonl, or a Jepsen
    /// history.edn) for linearizability against a sequential model: print
    /// the verdict and, when it is not linearizable, a counterexample.
    /// Exit 0 when linearizable, 1 when not, 3 when the deadline came
    /// first, 2 when the history cannot be read.
    Check(check::CheckArgs),
    /// Build the node image of a scenario's app (as the compose deployer
    /// does) and tag it `tf-<binary>:latest`, the image the k8s deployer
    /// runs by default; say how to load it into a cluster.
    Image {
        /// The scenario whose app's image to build (see `list`).
        #[arg(required_unless_present_any = ["runner", "netfault"])]
        scenario: Option<String>,
        /// Build the runner's own image instead (`tf-scenarios:latest`),
        /// for `run --deployer k8s --runner-in-cluster`.
        #[arg(long, conflicts_with = "scenario")]
        runner: bool,
        /// Build the link fault helper's image instead
        /// (`tf-netfault:latest`), which link faults on k8s add to the
        /// shaped nodes' pods.
        #[arg(long, conflicts_with_all = ["scenario", "runner"])]
        netfault: bool,
    },
    /// Try to reach ADDR over TCP for SECS seconds: exit 0 if it could not,
    /// 3 if it could, 4 if it could not reach CONTROL (which it must) first
    /// (the k8s deployer's partition probe runs this).
    #[cfg(feature = "k8s")]
    #[command(hide = true)]
    Probe {
        /// `host:port` to reach.
        #[arg(long)]
        connect: String,
        /// `host:port` that must be reachable, for the probe to mean anything.
        #[arg(long)]
        control: Option<String>,
        /// Seconds to try.
        #[arg(long, default_value = "5")]
        within: u64,
    },
    /// Remove the containers, networks and images that crashed or killed
    /// runs of the compose deployer left behind, and the namespaces of such
    /// runs on the Kubernetes cluster the kubeconfig names (if there is
    /// one), and say what was removed.
    Cleanup {
        /// Also the runs whose runner is still alive on this machine, and
        /// images built in the last 10 minutes.
        #[arg(long)]
        all: bool,
        /// Keep the node images (the next compose run starts sooner).
        #[arg(long)]
        keep_images: bool,
    },
}

#[derive(Parser)]
struct RunArgs {
    /// The scenario (see `list`).
    scenario: String,
    /// A parameter of the scenario, `name=value` (see `list`); repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Shorthand for `--set nodes=N`.
    #[arg(long)]
    nodes: Option<String>,
    /// Shorthand for `--set duration=D` (`15s`, `2m`).
    #[arg(long)]
    duration: Option<String>,
    /// Where nodes run.
    #[arg(long, value_enum, default_value = "local")]
    deployer: DeployerKind,
    /// Run directory (default: target/tf-runs/<scenario>-<time>).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Remove the run directory when the run passes.
    #[arg(long)]
    clean_on_success: bool,
    /// The run's seed: fault schedules, client keys and values are drawn
    /// from it, so a failing run reruns with the same choices (the report
    /// says each run's seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Replay this fault schedule (a run's `schedule.json`, perhaps
    /// edited) instead of generating one.
    #[arg(long, value_name = "FILE")]
    schedule: Option<PathBuf>,
    /// How long a node gets to exit after SIGTERM (a graceful stop, and
    /// cleanup) before it is killed (`5s` by default).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    stop_grace: Option<Duration>,
    /// Run optimized node binaries (`cargo build --release`, into
    /// target/release): the first build takes longer, each node then costs
    /// a fraction of the CPU (for clusters of tens of nodes).
    #[arg(long)]
    release_nodes: bool,
    /// Write every object the deployer would create into the run directory
    /// and create nothing (the k8s deployer).
    #[arg(long)]
    dry_run: bool,
    /// The node image for the k8s deployer (default: `$TF_K8S_IMAGE`, else
    /// `tf-<binary>:latest`).
    #[arg(long)]
    image: Option<String>,
    /// Reach the nodes through a NodePort Service each, at this address
    /// of a cluster node, instead of port-forwards (the k8s deployer).
    #[arg(long, value_name = "HOST")]
    node_port_host: Option<String>,
    /// Fetch each node's log once at the end instead of streaming it (the
    /// k8s deployer; for clusters of hundreds of nodes).
    #[arg(long)]
    no_log_streams: bool,
    /// Attach to pods someone else deployed instead of creating any (the
    /// k8s deployer): the label selector that picks them (`app=raft`).
    #[arg(long, value_name = "SELECTOR")]
    attach: Option<String>,
    /// The namespace of `--attach`'s pods.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Run the runner itself inside the cluster, as a Job that reaches the
    /// nodes by service DNS (for clusters too big for port-forwards); its
    /// log and results are copied into the run directory.
    #[arg(long)]
    runner_in_cluster: bool,
    /// The runner's image for `--runner-in-cluster` (default:
    /// `$TF_K8S_RUNNER_IMAGE`, else `tf-scenarios:latest`; `scenarios image
    /// --runner` builds it).
    #[arg(long)]
    runner_image: Option<String>,
}

/// How this CLI builds node binaries of the workspace: along with itself,
/// so that cargo reuses the dependencies it built for the CLI (a link, not
/// a second build of them).
fn node_build(release: bool) -> NodeBuild {
    let mut features = Vec::new();
    if cfg!(feature = "k8s") {
        features.push(concat!(env!("CARGO_PKG_NAME"), "/k8s").to_owned());
    }
    NodeBuild {
        release,
        along_with: Some(env!("CARGO_PKG_NAME").to_owned()),
        features,
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum DeployerKind {
    /// Node processes on this machine.
    Local,
    /// Docker containers on the run's own networks (needs a Docker engine;
    /// can partition the network).
    Compose,
    /// Pods on the Kubernetes cluster the kubeconfig names, reached
    /// through port-forwards (`--dry-run` writes the objects instead).
    K8s,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The runner inside a cluster keeps logging to its pod's output, which
    // the launcher copies out.
    let held = log::init(matches!(cli.command, Command::Run(_)) && !k8s::in_cluster());
    let catalog = catalog();
    let result = match cli.command {
        Command::List => {
            list(&catalog);
            Ok(true)
        }
        Command::Run(args) => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|rt| rt.block_on(run_scenario(&catalog, *args, held.as_ref()))),
        Command::Replay { run_dir } => replay_run(&catalog, &run_dir),
        Command::Check(args) => match check::check(&args) {
            Ok(code) => return code,
            Err(error) => Err(error),
        },
        Command::Image {
            scenario,
            runner,
            netfault,
        } => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|rt| {
                rt.block_on(build_image(&catalog, scenario.as_deref(), runner, netfault))
            }),
        #[cfg(feature = "k8s")]
        Command::Probe {
            connect,
            control,
            within,
        } => return k8s::probe(&connect, control.as_deref(), within),
        Command::Cleanup { all, keep_images } => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")
            .and_then(|rt| {
                rt.block_on(cleanup(SweepOptions {
                    include_live: all,
                    keep_images,
                }))
            }),
    };
    // A run that ended before its report (a bad parameter, a dry run)
    // saved nothing: what it logged is printed instead.
    if let Some(held) = &held {
        held.save(None);
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn list(catalog: &Catalog) {
    for entry in catalog.entries() {
        println!("{}", entry.name());
        println!("    {}", entry.about());
        // A topology of several groups is shown as its defaults build it.
        let built = entry
            .parse::<&str, &str>(&[])
            .ok()
            .and_then(|p| entry.build(&p).ok());
        if let Some(groups) = built.map(|s| s.deployment().groups).filter(|g| g.len() > 1) {
            let shown: Vec<String> = groups
                .iter()
                .map(|g| tf_core::report::GroupReport::of(g).to_string())
                .collect();
            println!("    groups: {}", shown.join("; "));
        }
        for param in entry.params() {
            println!(
                "    --set {:<22} {} ({})",
                format!("{}={}", param.name(), param.default_value()),
                param.help(),
                param.accepts()
            );
        }
    }
}

fn find<'a>(catalog: &'a Catalog, name: &str) -> anyhow::Result<&'a ScenarioEntry> {
    catalog.find(name).with_context(|| {
        format!(
            "no scenario named `{name}`; known: {}",
            catalog.names().join(", ")
        )
    })
}

/// `--set a=b` and the shorthands, as `(name, value)`.
fn given(args: &RunArgs) -> anyhow::Result<Vec<(String, String)>> {
    let mut given = Vec::new();
    for set in &args.set {
        let Some((name, value)) = set.split_once('=') else {
            bail!("`--set {set}` is not NAME=VALUE; for example `--set wallets=4`");
        };
        given.push((name.trim().to_owned(), value.to_owned()));
    }
    if let Some(nodes) = &args.nodes {
        given.push(("nodes".into(), nodes.clone()));
    }
    if let Some(duration) = &args.duration {
        given.push(("duration".into(), duration.clone()));
    }
    Ok(given)
}

async fn run_scenario(
    catalog: &Catalog,
    args: RunArgs,
    held: Option<&log::HeldLog>,
) -> anyhow::Result<bool> {
    let entry = find(catalog, &args.scenario)?;
    let params = entry.parse(&given(&args)?)?;
    let scenario = entry.build(&params).context("invalid scenario")?;
    if (args.runner_in_cluster || args.attach.is_some())
        && !matches!(args.deployer, DeployerKind::K8s)
    {
        bail!("--runner-in-cluster and --attach are for Kubernetes; add --deployer k8s");
    }
    let deployer: Box<dyn Deployer> = match (args.deployer, args.dry_run) {
        (DeployerKind::K8s, _) => match k8s::deployer(&*scenario, &args).await? {
            k8s::Outcome::Deploy(deployer) => deployer,
            k8s::Outcome::Done(passed) => return Ok(passed),
        },
        (_, true) => {
            bail!("only the k8s deployer has a dry run; drop --dry-run or use --deployer k8s")
        }
        (DeployerKind::Local, false) => Box::new(match args.stop_grace {
            Some(grace) => LocalDeployer::new().with_stop_grace(grace),
            None => LocalDeployer::new(),
        }),
        (DeployerKind::Compose, false) => Box::new(match args.stop_grace {
            Some(grace) => ComposeDeployer::new().with_stop_grace(grace),
            None => ComposeDeployer::new(),
        }),
    };
    let progress = progress::Progress::start();
    let options = RunOptions {
        run_dir: args.run_dir,
        remove_run_dir_on_success: args.clean_on_success,
        progress: Some(progress.reporter()),
        cancel: progress.cancel_on_ctrl_c(),
        seed: args.seed,
        schedule: args.schedule,
        build: node_build(args.release_nodes),
    };
    let report: RunReport = scenario.run(deployer.as_ref(), options).await;
    progress.finish();
    println!();
    println!("{report}");
    if let Some((path, lines)) = held.and_then(|held| held.save(report.run_dir.as_deref())) {
        println!(
            "runner log: {} ({lines} lines; TF_LOG=info shows it as it goes)",
            path.display()
        );
    }
    k8s::hand_over_results(&report);
    Ok(report.passed())
}

/// Builds the node image of `scenario`'s app (or with `runner`, the
/// runner's own), tags it `:latest` and says how to get it into a cluster.
async fn build_image(
    catalog: &Catalog,
    scenario: Option<&str>,
    runner: bool,
    netfault: bool,
) -> anyhow::Result<bool> {
    if runner {
        k8s::check_runner_image()?;
    }
    let docker = tf_compose::connect().await?;
    if netfault {
        let image = tf_compose::build_helper_image(&docker).await?;
        return tag_and_tell(&image, "set TF_K8S_NETFAULT_IMAGE=").await;
    }
    let binaries = match scenario {
        Some(scenario) if !runner => {
            let entry = find(catalog, scenario)?;
            let built = entry
                .build(&entry.parse::<&str, &str>(&[])?)
                .context("invalid scenario")?;
            // Every group's binary, each once.
            let request = built.deployment().with_build(node_build(false));
            let mut found = tf_core::deployer_kit::binary::resolve_groups(&request).await?;
            let mut binaries = Vec::new();
            for group in &request.groups {
                let Some(binary) = found.remove(&group.name) else {
                    continue;
                };
                if !binaries.contains(&binary) {
                    binaries.push(binary);
                }
            }
            binaries
        }
        _ => vec![std::env::current_exe().context("cannot find the scenarios binary itself")?],
    };
    let pass = if runner {
        "pass --runner-image "
    } else {
        "pass --image "
    };
    for binary in binaries {
        let image = tf_compose::build_image(&docker, &binary).await?;
        tag_and_tell(&image, pass).await?;
    }
    Ok(true)
}

/// Tags `image` `latest` and says how to load it into a cluster, or to
/// give it from a registry (`pass`, followed by the image).
async fn tag_and_tell(image: &tf_compose::NodeImage, pass: &str) -> anyhow::Result<bool> {
    let docker = tf_compose::connect().await?;
    let latest = tf_compose::tag_latest(&docker, image).await?;
    println!("built {} and tagged it {latest}", image.tag);
    println!("to run it on a cluster, load it there:");
    println!("  kind load docker-image {latest}");
    println!("  k3d image import {latest}");
    println!("  minikube image load {latest}");
    println!("or push it to a registry the cluster pulls from and {pass}<registry>/{latest}");
    Ok(true)
}

/// Sweeps what earlier compose runs left, and what k8s runs left on the
/// cluster the kubeconfig names (when there is one); fails if anything
/// could not be removed.
async fn cleanup(options: SweepOptions) -> anyhow::Result<bool> {
    let include_live = options.include_live;
    let report = sweep(options).await?;
    print!("{report}");
    let clean = report.problems.is_empty();
    Ok(k8s::sweep(include_live).await? && clean)
}

/// Replays on a paused clock: the recorded timeline is followed exactly, in
/// milliseconds of real time. The scenario is rebuilt from the parameters
/// the run recorded.
fn replay_run(catalog: &Catalog, run_dir: &Path) -> anyhow::Result<bool> {
    let recorded = RunReport::read_json(run_dir)?;
    let entry = catalog.find(&recorded.scenario).with_context(|| {
        format!(
            "{} is a run of `{}`, which this CLI does not know",
            run_dir.display(),
            recorded.scenario
        )
    })?;
    let mut given: Vec<(String, String)> = recorded.parameters.clone();
    if given.is_empty() {
        // Reports written before parameters were recorded: the node count
        // and the run window are all there is.
        let has = |name: &str| entry.params().iter().any(|p| p.name() == name);
        if has("nodes") {
            given.push(("nodes".into(), recorded.nodes.to_string()));
        }
        if has("duration") {
            let window = Duration::from_millis(recorded.timings.run_ms).max(Duration::from_secs(1));
            given.push((
                "duration".into(),
                humantime::format_duration(window).to_string(),
            ));
        }
    }
    let params = entry
        .parse(&given)
        .context("the recorded parameters no longer fit the scenario")?;
    let scenario = entry.build(&params).context("invalid scenario")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .context("cannot start the async runtime")?;
    let report = rt.block_on(scenario.replay(run_dir))?;
    println!("{} ({})", run_dir.display(), report.scenario);
    if !recorded.parameters.is_empty() {
        let shown: Vec<String> = recorded
            .parameters
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        println!("parameters: {}", shown.join(" "));
    }
    println!("{report}");
    Ok(report.passed())
}
