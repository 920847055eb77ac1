//! How many nodes one machine holds: catalog scenarios at sizes well past
//! the defaults, each in a process of its own, with the runner's CPU and
//! peak memory per node next to the nodes' own CPU. Printed as a Markdown
//! table for the performance page. Three rows run the catalog's
//! defaults beside a CPU hog on every core: they must hold on a loaded
//! machine too.
//!
//! ```sh
//! cargo bench -p scenarios --bench scale                # every row
//! cargo bench -p scenarios --bench scale -- chain-liveness:local:50
//! ```
//!
//! Node binaries are built optimized (`NodeBuild::release`) before any
//! row, so no compilation is measured. Local nodes' CPU is that of this
//! process's reaped children; compose nodes' is read from the engine every
//! 2 s while the run goes (the last reads before teardown are what counts). Without `--bench` (`cargo test
//! --benches`) it is a smoke run: one small row, not a measurement.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use bollard::query_parameters::{ListContainersOptions, StatsOptions};
use futures::StreamExt;
use nix::sys::resource::UsageWho;
use tf_compose::{ComposeDeployer, labels};
use tf_core::catalog::Catalog;
use tf_core::scenario::{Deployer, NodeBuild, RunOptions};
use tf_local::LocalDeployer;

/// One row: a scenario, its deployer, its size, its run window, and
/// whether a CPU hog keeps both cores busy beside it.
type Row = (&'static str, &'static str, usize, &'static str, bool);

const ROWS: [Row; 8] = [
    ("chain-liveness", "local", 50, "30s", false),
    ("chain-liveness", "local", 20, "30s", false),
    ("chain-liveness", "compose", 20, "30s", false),
    ("raft-failover", "local", 7, "20s", false),
    ("raft-failover", "compose", 7, "20s", false),
    // The catalog's defaults on a loaded machine.
    ("chain-liveness", "local", 3, "15s", true),
    ("wallet-transfers", "local", 4, "30s", true),
    ("raft-failover", "local", 3, "15s", true),
];

/// The smoke run's one row.
const SMOKE: Row = ("chain-liveness", "local", 5, "5s", false);

fn catalog() -> Catalog {
    Catalog::new()
        .with(openraft_kv_tf::scenarios::catalog())
        .with(chain_tf::scenarios::catalog())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(row) = args.iter().position(|a| a == "--one") {
        // A child: one row, its numbers as one line on stdout.
        return one(&args[row + 1]);
    }
    if args.iter().any(|a| a == "--hog") {
        return hog();
    }
    let quick = !args.iter().any(|a| a == "--bench");
    let picked: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    let rows: Vec<Row> = if quick {
        println!(
            "smoke run: one small row; not a measurement. Measure with `cargo bench -p scenarios --bench scale`.\n"
        );
        vec![SMOKE]
    } else {
        ROWS.into_iter()
            .filter(|(s, d, n, _, _)| {
                picked.is_empty() || picked.iter().any(|p| *p == format!("{s}:{d}:{n}"))
            })
            .collect()
    };
    let docker = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(tf_compose::docker_available());
    println!(
        "| scenario | deployer | nodes | machine | verdict | runner CPU per node | runner peak memory | per node | nodes' CPU per node | deploy | cleanup |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let exe = std::env::current_exe().expect("the bench's own path");
    for (scenario, deployer, nodes, duration, loaded) in rows {
        let machine = if loaded { "2 cores busy" } else { "idle" };
        if deployer == "compose" {
            if let Err(why) = &docker {
                println!(
                    "| {scenario} | compose | {nodes} | {machine} | skipped: {why} | | | | | | |"
                );
                continue;
            }
        }
        // The hog is a process of its own, so that the row's CPU is the
        // runner's and its nodes' alone.
        let mut hog = loaded.then(|| {
            Command::new(&exe)
                .arg("--hog")
                .spawn()
                .expect("the bench starts its hog")
        });
        let spec = format!("{scenario}:{deployer}:{nodes}:{duration}:{machine}");
        let out = Command::new(&exe)
            .args(["--one", &spec])
            .output()
            .expect("the bench runs itself");
        if let Some(hog) = hog.as_mut() {
            let _ = hog.kill();
            let _ = hog.wait();
        }
        let line = String::from_utf8_lossy(&out.stdout);
        match line.lines().find(|l| l.starts_with("| ")) {
            Some(row) => println!("{row}"),
            None => println!(
                "| {scenario} | {deployer} | {nodes} | {machine} | no result: {} | | | | | | |",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        }
    }
}

/// Runs `spec` (`scenario:deployer:nodes:duration`) in this process and
/// prints its row.
fn one(spec: &str) {
    let mut parts = spec.split(':');
    let (Some(scenario), Some(deployer), Some(nodes), Some(duration), Some(machine)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        panic!("--one takes scenario:deployer:nodes:duration:machine, not {spec}");
    };
    let catalog = catalog();
    let entry = catalog.find(scenario).expect("a scenario of the catalog");
    let params = entry
        .parse(&[("nodes", nodes), ("duration", duration)])
        .expect("valid parameters");
    let built = entry.build(&params).expect("a valid scenario");
    let build = NodeBuild {
        release: true,
        along_with: Some(env!("CARGO_PKG_NAME").to_owned()),
        ..NodeBuild::default()
    };
    // Built (or found) before anything is measured.
    let request = built.deployment().with_build(build.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(tf_core::deployer_kit::binary::resolve_groups(&request))
        .expect("node binaries");
    let tmp = tempfile::tempdir().unwrap();
    let local = LocalDeployer::new().with_runs_root(tmp.path().join("local"));
    let compose = ComposeDeployer::new().with_runs_root(tmp.path().join("compose"));
    let chosen: &dyn Deployer = if deployer == "compose" {
        &compose
    } else {
        &local
    };
    let containers = (deployer == "compose").then(ContainersCpu::start);
    let before = usage();
    let started = Instant::now();
    let report = rt.block_on(built.run(
        chosen,
        RunOptions {
            build,
            ..RunOptions::default()
        },
    ));
    let wall = started.elapsed();
    // The sampler stops before the runner's CPU is read, so that all of
    // its own is in the runner's and taken off whole.
    let (containers_cpu, sampler_cpu) = containers.map(ContainersCpu::stop).unwrap_or_default();
    let after = usage();
    let nodes: usize = nodes.parse().expect("a node count");
    let runner_cpu = after
        .runner_cpu
        .saturating_sub(before.runner_cpu)
        .saturating_sub(sampler_cpu);
    let children_cpu = after.children_cpu.saturating_sub(before.children_cpu);
    let per_node = |d: Duration| d.as_secs_f64() / wall.as_secs_f64() / nodes as f64 * 100.0;
    // Local nodes are this process's children: their CPU is counted once
    // they are reaped. Containers are the engine's, read from it.
    let nodes_cpu = if deployer == "local" {
        format!("{:.1}%", per_node(children_cpu))
    } else {
        format!("{:.1}%", per_node(containers_cpu))
    };
    let verdict = if report.passed() {
        "PASSED".to_owned()
    } else {
        format!("{:?}", report.verdict).to_uppercase()
    };
    println!(
        "| {scenario} | {deployer} | {nodes} | {machine} | {verdict} | {:.2}% | {} MB | {:.2} MB | {nodes_cpu} | {:.1}s | {:.1}s |",
        per_node(runner_cpu),
        after.peak_kb / 1024,
        after.peak_kb as f64 / 1024.0 / nodes as f64,
        report.timings.deploy_ms as f64 / 1000.0,
        report.timings.cleanup_ms as f64 / 1000.0,
    );
    if !report.passed() {
        eprintln!("{report}");
    }
}

/// Keeps every core busy until killed.
fn hog() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spinners: Vec<_> = (0..cores)
        .map(|_| {
            std::thread::spawn(|| {
                let mut x = 0u64;
                loop {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    for spinner in spinners {
        let _ = spinner.join();
    }
}

/// The CPU of this process's node containers, read from the engine every
/// 2 s on a thread of its own; that thread's own CPU is taken off the
/// runner's.
struct ContainersCpu {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<(Duration, Duration)>,
}

impl ContainersCpu {
    fn start() -> ContainersCpu {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            // By container: its last reading and what it used in all
            // (a container started again counts from zero again).
            let mut used: HashMap<String, (u64, u64)> = HashMap::new();
            rt.block_on(async {
                let docker = tf_compose::connect().await.expect("the Docker engine");
                let mut every = tokio::time::interval(Duration::from_secs(2));
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        _ = every.tick() => read_containers(&docker, &mut used).await,
                    }
                }
            });
            let total: u64 = used.values().map(|(_, total)| total).sum();
            (Duration::from_nanos(total), cpu_of(UsageWho::RUSAGE_THREAD))
        });
        ContainersCpu { stop, thread }
    }

    /// The containers' CPU in all, and the sampler's own.
    fn stop(self) -> (Duration, Duration) {
        let _ = self.stop.send(());
        self.thread.join().expect("the sampler")
    }
}

/// Reads the CPU of each node container of this runner into `used`.
async fn read_containers(docker: &bollard::Docker, used: &mut HashMap<String, (u64, u64)>) {
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![
            labels::NODE.to_owned(),
            format!(
                "{}={}",
                labels::RUNNER,
                tf_core::deployer_kit::this_runner()
            ),
        ],
    )]);
    let Ok(containers) = docker
        .list_containers(Some(ListContainersOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
    else {
        return;
    };
    for container in containers {
        // Link fault helpers carry a node's name too, and a role.
        let helper = container
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(labels::ROLE));
        let Some(id) = container.id.filter(|_| !helper) else {
            continue;
        };
        let mut stats = docker.stats(
            &id,
            Some(StatsOptions {
                stream: false,
                one_shot: true,
            }),
        );
        let reading = stats
            .next()
            .await
            .and_then(Result::ok)
            .and_then(|s| s.cpu_stats)
            .and_then(|c| c.cpu_usage)
            .and_then(|u| u.total_usage);
        if let Some(now) = reading {
            let (last, total) = used.entry(id).or_default();
            *total += if now >= *last { now - *last } else { now };
            *last = now;
        }
    }
}

/// CPU time of this process and of its reaped children, and this
/// process's peak resident memory.
struct Usage {
    runner_cpu: Duration,
    children_cpu: Duration,
    peak_kb: u64,
}

/// User and system CPU time of `who`.
fn cpu_of(who: UsageWho) -> Duration {
    let usage = nix::sys::resource::getrusage(who).expect("getrusage");
    let user = usage.user_time();
    let system = usage.system_time();
    Duration::from_secs((user.tv_sec() + system.tv_sec()) as u64)
        + Duration::from_micros((user.tv_usec() + system.tv_usec()) as u64)
}

fn usage() -> Usage {
    let peak_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0);
    Usage {
        runner_cpu: cpu_of(UsageWho::RUSAGE_SELF),
        children_cpu: cpu_of(UsageWho::RUSAGE_CHILDREN),
        peak_kb,
    }
}
