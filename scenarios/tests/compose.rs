//! The catalog's scenarios in Docker containers, through the compose
//! deployer: every scenario passes, partitions cut and heal, images are
//! built once, errors name the node, and no container or network survives
//! a run however it ends (success, failure, panic, Ctrl-C, a SIGKILLed
//! runner's run removed by its reaper, or swept afterwards without one).
//!
//! A harness of its own (`harness = false`), so that without a Docker
//! engine the tests show as ignored, with the reason, instead of passing;
//! `TF_REQUIRE_DOCKER=1` (as CI sets) makes a missing engine a failure.
//! Images the tests built are removed at the end.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use libtest_mimic::{Arguments, Failed, Trial};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use openraft_kv_tf::{RaftKv, RaftObserver, RaftSnapshot};
use tf_compose::sweep::{self, SweepOptions, leftovers};
use tf_compose::{ComposeDeployer, build_image};
use tf_core::BoxError;
use tf_core::catalog::Catalog;
use tf_core::report::*;
use tf_core::scenario::deploy::DeploymentRequest;
use tf_core::scenario::*;

#[path = "compose/links.rs"]
mod links;
#[path = "compose/partitions.rs"]
mod partitions;

fn catalog() -> Catalog {
    Catalog::new()
        .with(openraft_kv_tf::scenarios::catalog())
        .with(chain_tf::scenarios::catalog())
        .with(redis_ha_tf::scenarios::catalog())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn options(dir: &Path) -> RunOptions {
    RunOptions {
        run_dir: Some(dir.to_owned()),
        ..RunOptions::default()
    }
}

fn check(ok: bool, message: impl FnOnce() -> String) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(message().into()) }
}

/// Nothing of the run in `dir` is left in the engine.
async fn nothing_left(dir: &Path) -> Result<(), Failed> {
    let left = leftovers(dir).await.map_err(|e| e.to_string())?;
    check(left.is_empty(), || format!("left behind: {left:?}"))
}

/// Waits for `run` (a run in `dir`); nothing of it may be left in the
/// engine afterwards, however it ended.
fn left_nothing(
    dir: &Path,
    run: impl std::future::Future<Output = RunReport>,
) -> Result<RunReport, Failed> {
    runtime().block_on(async {
        let report = run.await;
        nothing_left(dir).await.map(|()| report)
    })
}

/// Runs catalog scenario `name` with `set` on compose; it must pass, leave
/// nothing in the engine, and leave every node's log. A failing run keeps
/// its directory for a look at the logs.
fn catalog_scenario_passes(
    name: &'static str,
    set: &'static [(&'static str, &'static str)],
) -> Result<RunReport, Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let catalog = catalog();
    let entry = catalog.find(name).ok_or("no such scenario")?;
    let scenario = entry.build(&entry.parse(set)?)?;
    let report = left_nothing(&dir, scenario.run(&ComposeDeployer::new(), options(&dir)))?;
    if !report.passed() {
        let kept = tmp.keep();
        return Err(format!("{report}\n(run directory kept: {})", kept.display()).into());
    }
    check(report.deployer == "compose", || report.deployer.clone())?;
    for node in report.groups.iter().flat_map(|g| &g.nodes) {
        let log = dir.join(node).join("node.log");
        check(std::fs::metadata(&log).is_ok_and(|m| m.len() > 0), || {
            format!("{} is missing or empty", log.display())
        })?;
    }
    Ok(report)
}

/// The Raft nodes with the stale-reads bug, their leader cut off by
/// partitions: the run must fail the linearizability check, with a read as
/// counterexample (while raft-partition passes it).
fn stale_reads_fail_linearizability_under_partitions() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let catalog = catalog();
    let entry = catalog.find("raft-stale-reads").ok_or("no such scenario")?;
    let set = [("fault", "partition"), ("duration", "15s")];
    let scenario = entry.build(&entry.parse(&set)?)?;
    let report = left_nothing(&dir, scenario.run(&ComposeDeployer::new(), options(&dir)))?;
    let linearizable = report
        .expectations
        .iter()
        .find(|e| e.name == "what the clients saw is linearizable (kv model)")
        .ok_or("no linearizability verdict")?;
    check(linearizable.passed == Some(false), || format!("{report}"))?;
    check(
        linearizable
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("not linearizable: key k") && r.contains(" read [")),
        || format!("{report}"),
    )
}

/// A deployed cluster's `docker-compose.yml` names every node with its
/// image, ports on 127.0.0.1 and networks, and the compose tool accepts it.
fn the_compose_file_describes_the_cluster_and_the_tool_accepts_it() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let request = DeploymentRequest::new(Arc::new(RaftKv::default()), "compose-file", 3)
        .with_run_dir(Some(dir.clone()));
    let rt = runtime();
    let mut cluster = rt.block_on(ComposeDeployer::new().deploy(&request))?;
    let text = std::fs::read_to_string(dir.join("docker-compose.yml"))?;
    for endpoint in cluster.endpoints() {
        let port = endpoint.ports.api().unwrap_or_default();
        check(text.contains(&format!("  {}:", endpoint.name)), || {
            text.clone()
        })?;
        check(
            text.contains(&format!("\"127.0.0.1:{port}:{port}/tcp\"")),
            || text.clone(),
        )?;
    }
    check(
        text.contains("aliases: [\"node-2\"]") && text.contains("internal: true"),
        || text.clone(),
    )?;
    let accepted = compose_file_is_accepted(&dir);
    let cleanup = rt.block_on(cluster.cleanup());
    check(cleanup.problems.is_empty(), || format!("{cleanup:?}"))?;
    rt.block_on(nothing_left(&dir))?;
    accepted
}

/// `docker-compose config` accepts the run's compose file.
fn compose_file_is_accepted(dir: &Path) -> Result<(), Failed> {
    let file = dir.join("docker-compose.yml");
    let output = Command::new("docker-compose")
        .arg("-f")
        .arg(&file)
        .args(["config", "-q"])
        .output()
        .map_err(|e| format!("cannot run docker-compose: {e}"))?;
    check(output.status.success(), || {
        format!(
            "docker-compose rejects {}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn timeline_has(report: &RunReport, what: &str) -> Result<(), Failed> {
    check(
        report.timeline.iter().any(|e| e.what.contains(what)),
        || format!("no `{what}` on the timeline:\n{report}"),
    )
}

/// One nemesis run of `raft-nemesis` with `seed` and `set`; it must pass
/// with that seed. Its schedule (`schedule.json`) and report.
fn raft_nemesis_run(seed: u64, set: &[(&str, &str)]) -> Result<(String, RunReport), Failed> {
    let catalog = catalog();
    let entry = catalog.find("raft-nemesis").ok_or("no such scenario")?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let scenario = entry.build(&entry.parse(set)?)?;
    let options = RunOptions {
        seed: Some(seed),
        ..options(&dir)
    };
    let report = left_nothing(&dir, scenario.run(&ComposeDeployer::new(), options))?;
    if !report.passed() {
        let kept = tmp.keep();
        return Err(format!(
            "seed {seed}:\n{report}\n(run directory kept: {})",
            kept.display()
        )
        .into());
    }
    check(report.seed == Some(seed), || format!("{:?}", report.seed))?;
    let schedule = std::fs::read_to_string(dir.join("schedule.json"))?;
    Ok((schedule, report))
}

/// Faults one at a time over 20 s.
const ONE_AT_A_TIME: &[(&str, &str)] = &[("duration", "20s")];

/// Seed 1 twice: both pass, and draw the same schedule.
fn raft_nemesis_reruns_seed_1_with_its_schedule() -> Result<(), Failed> {
    let (first, _) = raft_nemesis_run(1, ONE_AT_A_TIME)?;
    let (again, _) = raft_nemesis_run(1, ONE_AT_A_TIME)?;
    check(first == again, || {
        format!("seed 1 drew another schedule:\n{first}\n{again}")
    })
}

/// Five nodes, two faults at once (the schedule of seed 1 kills two nodes
/// together).
fn raft_nemesis_passes_with_two_faults_at_once() -> Result<(), Failed> {
    let overlapping: &[(&str, &str)] = &[
        ("duration", "45s"),
        ("nodes", "5"),
        ("at-once", "2"),
        ("per-minute", "20"),
    ];
    let (_, report) = raft_nemesis_run(1, overlapping)?;
    let overlapped = report.faults.iter().enumerate().any(|(i, f)| {
        report.faults[..i]
            .iter()
            .any(|g| g.end_ms.is_some_and(|end| end > f.start_ms))
    });
    check(overlapped, || {
        format!("no two faults were in force at once: {:?}", report.faults)
    })
}

fn raft_partition_cuts_the_leader_off_and_heals() -> Result<(), Failed> {
    let report = catalog_scenario_passes("raft-partition", &[("duration", "20s")])?;
    timeline_has(&report, "on the majority side, committing")?;
    timeline_has(&report, "follows")?;
    timeline_has(&report, "tried on deposed leaders, 0 acknowledged")?;
    check(
        report.faults.len() == 2 && report.faults.iter().all(|f| f.end_ms.is_some()),
        || format!("{:?}", report.faults),
    )?;
    // The runner saw the cut-off side throughout: no node was unreachable.
    check(
        !report
            .timeline
            .iter()
            .any(|e| e.what.contains("unreachable")),
        || format!("{report}"),
    )
}

fn chain_partition_grows_two_branches_and_reorganizes() -> Result<(), Failed> {
    // Three nodes, one cut off: lighter on two cores than the default four.
    let report = catalog_scenario_passes("chain-partition", &[("nodes", "3")])?;
    timeline_has(&report, "separate branches")?;
    timeline_has(&report, "one branch again")?;
    timeline_has(&report, "reorganized: left")
}

/// Stops every node, starts them all again, and waits for the cluster to
/// elect a leader that every node follows: peers find each other by name
/// after their containers restart.
struct RestartEveryNode;

#[async_trait]
impl Workload<RaftKv> for RestartEveryNode {
    fn name(&self) -> &str {
        "restart-every-node"
    }

    async fn run(&self, ctx: &RunContext<RaftKv>) -> Result<(), BoxError> {
        let raft = ctx.observer::<RaftObserver>()?;
        raft.wait_until(|s| s.leader.is_some(), Duration::from_secs(10))
            .await?;
        let names: Vec<String> = ctx.nodes().iter().map(|n| n.name.to_string()).collect();
        for node in &names {
            ctx.control().stop(node).await?;
        }
        for node in &names {
            ctx.control().start(node).await?;
        }
        let restarted = raft.cursor();
        let all_follow = |s: &RaftSnapshot| {
            s.leader.as_ref().is_some_and(|leader| {
                s.nodes.values().all(|v| {
                    v.reachable()
                        && v.state
                            .as_ref()
                            .is_some_and(|n| n.leader == Some(leader.id))
                })
            })
        };
        let seen = raft
            .wait_until_after(restarted, all_follow, Duration::from_secs(20))
            .await?;
        let leader = seen.snapshot.leader.clone().ok_or("no leader")?;
        ctx.record(
            self.name(),
            format!("after restarting every node, all follow {}", leader.node),
        );
        Ok(())
    }
}

fn peers_find_each_other_after_every_container_restarts() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let scenario = openraft_kv_tf::scenarios::raft_base(
        "restart-every-node",
        RaftKv::default(),
        3,
        Duration::from_secs(25),
    )
    .workload(RestartEveryNode)
    .build()?;
    let report = left_nothing(&dir, run(scenario, &ComposeDeployer::new(), options(&dir)))?;
    check(report.workload_failures.is_empty(), || format!("{report}"))?;
    timeline_has(&report, "after restarting every node, all follow")
}

fn a_failing_run_leaves_nothing_behind() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let scenario = openraft_kv_tf::scenarios::raft_base(
        "must-fail",
        RaftKv::default(),
        3,
        Duration::from_secs(2),
    )
    .expect(AtEnd::new(
        "more nodes than there are",
        |s: &RaftSnapshot| {
            if s.nodes.len() > 3 {
                Ok(())
            } else {
                Err(format!("{} nodes", s.nodes.len()))
            }
        },
    ))
    .build()?;
    let report = left_nothing(&dir, run(scenario, &ComposeDeployer::new(), options(&dir)))?;
    check(report.verdict == Verdict::Failed, || format!("{report}"))
}

fn a_panic_while_holding_a_cluster_removes_its_containers() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let request = DeploymentRequest::new(Arc::new(RaftKv::default()), "panics", 3)
        .with_run_dir(Some(dir.clone()));
    let held = dir.clone();
    let panicked = std::thread::spawn(move || {
        let rt = runtime();
        let cluster = rt
            .block_on(ComposeDeployer::new().deploy(&request))
            .unwrap();
        let left = rt.block_on(leftovers(&held)).unwrap();
        // Three nodes and the run's reaper.
        assert_eq!(left.containers.len(), 4, "{left:?}");
        assert!(left.containers.iter().any(|c| c.ends_with("-reaper")));
        drop(rt);
        let _cluster = cluster;
        panic!("a test panics while holding the cluster");
    })
    .join();
    check(panicked.is_err(), || "the thread did not panic".into())?;
    runtime().block_on(nothing_left(&dir))
}

/// The CLI running a scenario. Dropped (a failed check), it is killed and
/// whatever dead runs left in the engine is swept, so that a failing test
/// leaves nothing behind either.
struct Cli(std::process::Child);

impl Drop for Cli {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
        let _ = runtime().block_on(sweep::sweep(SweepOptions {
            keep_images: true,
            ..SweepOptions::default()
        }));
    }
}

/// Starts the CLI on raft-failover on compose with a long window (with
/// the run's reaper or without), and waits until its run window is open
/// (its progress line says so).
fn start_cli(dir: &Path, reaper: bool) -> Result<Cli, Failed> {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .env(
            tf_compose::reaper::SWITCH,
            if reaper { "on" } else { "off" },
        )
        .args([
            "run",
            "raft-failover",
            "--deployer",
            "compose",
            "--duration",
            "120s",
            "--run-dir",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = std::io::BufReader::new(child.stderr.take().ok_or("no stderr")?);
    let cli = Cli(child);
    let (opened, window) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("running for") {
                let _ = opened.send(());
            }
        }
    });
    window
        .recv_timeout(Duration::from_secs(180))
        .map_err(|_| "the CLI never opened its run window")?;
    Ok(cli)
}

fn ctrl_c_stops_a_compose_run_and_removes_its_containers() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let mut cli = start_cli(&dir, true)?;
    kill(Pid::from_raw(cli.0.id() as i32), Signal::SIGINT)?;
    let status = cli.0.wait()?;
    check(status.code() == Some(1), || format!("exit {status}"))?;
    runtime().block_on(nothing_left(&dir))
}

/// The runner's containers and networks, sorted.
fn sorted(mut left: sweep::Leftovers) -> sweep::Leftovers {
    left.containers.sort();
    left.networks.sort();
    left
}

fn a_sigkilled_runner_s_reaper_removes_its_run_within_15_s() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let mut cli = start_cli(&dir, true)?;
    let rt = runtime();
    let before = sorted(rt.block_on(leftovers(&dir))?);
    check(
        before.containers.len() == 4
            && before.containers.iter().any(|c| c.ends_with("-reaper"))
            && before.networks.len() == 2,
        || format!("three nodes, a reaper and two networks expected: {before:?}"),
    )?;
    kill(Pid::from_raw(cli.0.id() as i32), Signal::SIGKILL)?;
    let killed = std::time::Instant::now();
    cli.0.wait()?;
    let left = rt.block_on(sweep::gone_within(&dir, Duration::from_secs(15)))?;
    check(left.is_empty(), || {
        format!("left 15 s after a SIGKILL: {left:?}")
    })?;
    eprintln!(
        "the reaper removed {} containers and {} networks {:.1} s after the SIGKILL",
        before.containers.len(),
        before.networks.len(),
        killed.elapsed().as_secs_f64()
    );
    Ok(())
}

fn the_sweep_removes_what_a_sigkilled_runner_left() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    // No reaper: the sweep is for what a reaper could not remove (a
    // crashed engine, a reaper turned off).
    let mut cli = start_cli(&dir, false)?;
    let rt = runtime();
    let before = sorted(rt.block_on(leftovers(&dir))?);
    check(
        before.containers.len() == 3 && before.networks.len() == 2,
        || format!("{before:?}"),
    )?;
    kill(Pid::from_raw(cli.0.id() as i32), Signal::SIGKILL)?;
    cli.0.wait()?;
    let after_kill = sorted(rt.block_on(leftovers(&dir))?);
    check(after_kill == before, || {
        format!("a SIGKILLed runner cleans nothing: {before:?} became {after_kill:?}")
    })?;
    let report = rt.block_on(sweep::sweep(SweepOptions {
        keep_images: true,
        ..SweepOptions::default()
    }))?;
    for container in &before.containers {
        check(
            report
                .containers
                .iter()
                .any(|c| c.starts_with(container.as_str())),
            || format!("the sweep did not report {container}:\n{report}"),
        )?;
    }
    for network in &before.networks {
        check(report.networks.contains(network), || format!("{report}"))?;
    }
    check(report.problems.is_empty(), || format!("{report}"))?;
    rt.block_on(nothing_left(&dir))
}

/// The Raft app with a flag its node does not know: the container exits
/// at once.
struct BadFlag(RaftKv);

#[async_trait]
impl Application for BadFlag {
    type Client = <RaftKv as Application>::Client;
    fn name(&self) -> &str {
        "bad-flag"
    }
    fn binary(&self) -> NodeBinary {
        self.0.binary()
    }
    fn node_command(
        &self,
        node: &NodeSpec,
        topology: &[NodeSpec],
    ) -> Result<NodeCommand, BoxError> {
        let mut command = self.0.node_command(node, topology)?;
        command.args.push("--no-such-flag".into());
        Ok(command)
    }
    fn client(&self, endpoint: &NodeEndpoint) -> Result<Self::Client, BoxError> {
        self.0.client(endpoint)
    }
    async fn ready(&self, client: &Self::Client) -> Result<(), BoxError> {
        self.0.ready(client).await
    }
}

fn a_container_that_exits_at_start_is_named_with_its_log() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("run");
    let scenario = Scenario::builder("bad-flag", BadFlag(RaftKv::default()))
        .duration(Duration::from_secs(5))
        .build()?;
    let report = left_nothing(&dir, run(scenario, &ComposeDeployer::new(), options(&dir)))?;
    check(report.verdict == Verdict::Error, || format!("{report}"))?;
    let summary = report.summary.clone().unwrap_or_default();
    check(
        summary.contains("node-0") && summary.contains("exit code 2"),
        || summary.clone(),
    )?;
    check(summary.contains("--no-such-flag"), || summary.clone())
}

fn images_are_built_once_per_content() -> Result<(), Failed> {
    let chain = host_binary(chain_tf::ChainApp::default().binary())?;
    let rt = runtime();
    let docker = rt.block_on(tf_compose::connect())?;
    let first = rt.block_on(build_image(&docker, &chain))?;
    let again = rt.block_on(build_image(&docker, &chain))?;
    check(!again.built && again.tag == first.tag, || {
        format!("{first:?} then {again:?}")
    })?;
    // One byte more is another image.
    let tmp = tempfile::tempdir()?;
    let changed = tmp.path().join("chain-node");
    let mut bytes = std::fs::read(&chain)?;
    bytes.push(0);
    std::fs::write(&changed, bytes)?;
    // Asked for twice at once, it is built once: the second call waits
    // for the first build and finds its image.
    let (other, twin) = rt.block_on(async {
        tokio::join!(
            build_image(&docker, &changed),
            build_image(&docker, &changed)
        )
    });
    let (other, twin) = (other?, twin?);
    check(other.tag != first.tag, || format!("{other:?} vs {first:?}"))?;
    check(other.tag == twin.tag && other.built != twin.built, || {
        format!("two calls at once: {other:?} and {twin:?}")
    })?;
    let other = if other.built { other } else { twin };
    let problems = rt.block_on(sweep::remove_images(&[other.tag]))?;
    check(problems.is_empty(), || problems.join("; "))
}

fn host_binary(binary: NodeBinary) -> Result<std::path::PathBuf, Failed> {
    Ok(tf_core::deployer_kit::binary::resolve(&binary)?)
}

/// Redis high availability from Debian's packages: a dynamically linked
/// binary of someone else's, packed into a scratch image, as two groups
/// (data nodes, then Sentinels once they are ready); the primary killed
/// while clients write, the Sentinels elect a replica.
fn redis_fails_over_in_containers() -> Result<(), Failed> {
    let report = catalog_scenario_passes("redis-failover", &[])?;
    timeline_has(&report, "the Sentinels elected redis-")?;
    timeline_has(&report, "redis-0 is now a slave")?;
    timeline_has(&report, "acknowledged write(s) lost")
}

fn an_unreachable_engine_is_a_clear_error() -> Result<(), Failed> {
    let tmp = tempfile::tempdir()?;
    let output = Command::new(env!("CARGO_BIN_EXE_scenarios"))
        .args([
            "run",
            "chain-liveness",
            "--deployer",
            "compose",
            "--run-dir",
        ])
        .arg(tmp.path().join("run"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    check(output.status.code() == Some(1), || {
        format!("{:?}\n{stdout}", output.status)
    })?;
    check(
        stdout.contains("cannot reach the Docker engine at unix:///nonexistent/docker.sock")
            && stdout.contains("to fix: start the engine"),
        || stdout.to_string(),
    )
}

/// Clusters share the machine, four at a time: most of a run is waiting
/// (windows, settling, confirmations), yet four keep a 2-core machine 90%
/// busy and more (nodes, the engine, its port proxies). A
/// test whose scenario holds a bound a loaded machine can miss (a
/// throughput floor through slow links; Sentinels electing within
/// seconds) is a quiet one: it runs beside no cluster but the other quiet
/// ones, which are light (a fifth of the machine between them).
static MACHINE: Mutex<Occupants> = Mutex::new(Occupants { busy: 0, quiet: 0 });
static LEFT: Condvar = Condvar::new();

/// The tests on the machine: busy ones or quiet ones, never both.
struct Occupants {
    busy: usize,
    quiet: usize,
}

/// A test's place on the machine, given up when dropped.
struct Place {
    quiet: bool,
}

impl Place {
    /// Waits until a test (`quiet` or not) may run, and takes its place.
    fn take(quiet: bool) -> Place {
        let occupants = MACHINE.lock().unwrap_or_else(PoisonError::into_inner);
        let mut occupants = LEFT
            .wait_while(occupants, |o| if quiet { o.busy > 0 } else { o.quiet > 0 })
            .unwrap_or_else(PoisonError::into_inner);
        if quiet {
            occupants.quiet += 1;
        } else {
            occupants.busy += 1;
        }
        Place { quiet }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut occupants = MACHINE.lock().unwrap_or_else(PoisonError::into_inner);
        if self.quiet {
            occupants.quiet -= 1;
        } else {
            occupants.busy -= 1;
        }
        LEFT.notify_all();
    }
}

/// The quiet tests (see [`MACHINE`]), after all the others: a quiet test
/// waits for every busy one to finish, so they go last, when nothing is
/// left to start.
const QUIET: &[&str] = &[
    "raft_slow_links_pass_on_compose",
    "redis_fails_over_in_containers",
];

/// A sweep removes every run whose runner is gone: beside another test's
/// SIGKILLed runner it would race that run's reaper (or pass that test
/// for it). So the tests that stop a CLI runner (and sweep when its `Cli`
/// is dropped) run one at a time, beside other clusters.
static SWEEPS: Mutex<()> = Mutex::new(());

/// The tests that stop a CLI runner and sweep (see [`SWEEPS`]).
const SWEEPING: &[&str] = &[
    "the_sweep_removes_what_a_sigkilled_runner_left",
    "a_sigkilled_runner_s_reaper_removes_its_run_within_15_s",
    "ctrl_c_stops_a_compose_run_and_removes_its_containers",
];

/// `test` named `name`, run when its place on the machine is free.
fn on_machine(
    name: &str,
    test: fn() -> Result<(), Failed>,
) -> impl FnOnce() -> Result<(), Failed> + Send + use<> {
    let quiet = QUIET.contains(&name);
    let sweeps = SWEEPING.contains(&name);
    move || {
        let _place = Place::take(quiet);
        let _sweeps;
        if sweeps {
            _sweeps = SWEEPS.lock().unwrap_or_else(PoisonError::into_inner);
        }
        test()
    }
}

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads.get_or_insert(4);
    let rt = runtime();
    let engine = rt.block_on(tf_compose::docker_available());
    let required = std::env::var("TF_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    if let Err(why) = &engine {
        if required {
            eprintln!("TF_REQUIRE_DOCKER=1 but the Docker engine is not usable: {why}");
            std::process::exit(1);
        }
        eprintln!(
            "skipping the Docker tests (shown as ignored): {why}\nset TF_REQUIRE_DOCKER=1 to make this a failure"
        );
    }
    let compose_tool = which("docker-compose");
    if compose_tool.is_none() && engine.is_ok() {
        if required {
            eprintln!(
                "TF_REQUIRE_DOCKER=1 but docker-compose is not installed; the compose-file test needs it"
            );
            std::process::exit(1);
        }
        eprintln!(
            "skipping the compose-file test (shown as ignored): docker-compose is not installed (apt-get install docker-compose)"
        );
    }
    let redis = which("redis-server");
    if redis.is_none() && engine.is_ok() {
        if required {
            eprintln!(
                "TF_REQUIRE_DOCKER=1 but redis-server (Debian package redis-server) is not installed; the adopter-binary test needs it"
            );
            std::process::exit(1);
        }
        eprintln!(
            "skipping the Debian-binary test (shown as ignored): redis-server is not installed (apt-get install redis-server)"
        );
    }
    let images_before = engine
        .as_ref()
        .ok()
        .and_then(|_| rt.block_on(sweep::node_images()).ok())
        .unwrap_or_default();

    type Test = fn() -> Result<(), Failed>;
    let docker: Vec<(&str, Test)> = vec![
        // The longest first, so that the shorter fill in beside them.
        (
            "a_hundred_partitions_heal_and_a_heal_that_cannot_take_is_an_error",
            partitions::a_hundred_partitions_heal_and_a_heal_that_cannot_take_is_an_error,
        ),
        (
            "raft_nemesis_reruns_seed_1_with_its_schedule",
            raft_nemesis_reruns_seed_1_with_its_schedule,
        ),
        (
            "raft_nemesis_passes_with_two_faults_at_once",
            raft_nemesis_passes_with_two_faults_at_once,
        ),
        ("raft_failover_passes_on_compose", || {
            catalog_scenario_passes("raft-failover", &[("duration", "12s")]).map(drop)
        }),
        ("raft_failover_with_restarts_passes_on_compose", || {
            catalog_scenario_passes(
                "raft-failover",
                &[("duration", "12s"), ("fault", "restart")],
            )
            .map(drop)
        }),
        ("raft_failover_with_pauses_passes_on_compose", || {
            catalog_scenario_passes("raft-failover", &[("duration", "12s"), ("fault", "pause")])
                .map(drop)
        }),
        ("chain_liveness_passes_on_compose", || {
            catalog_scenario_passes("chain-liveness", &[("duration", "10s")]).map(drop)
        }),
        ("wallet_transfers_passes_on_compose", || {
            // Three nodes: four debug-built nodes, their containers and the
            // runner's wallet projection crowd two cores.
            // Finality 12 deep: with 6, a restarted node catching up under
            // that load once finalized a branch that lost (a fork 6 deep).
            catalog_scenario_passes(
                "wallet-transfers",
                &[
                    ("nodes", "3"),
                    ("duration", "20s"),
                    ("restarts", "2"),
                    ("finality", "12"),
                ],
            )
            .map(drop)
        }),
        (
            "raft_partition_cuts_the_leader_off_and_heals",
            raft_partition_cuts_the_leader_off_and_heals,
        ),
        (
            "link_faults_show_in_connects_counters_and_elections",
            links::link_faults_show_in_connects_counters_and_elections,
        ),
        ("raft_one_way_cuts_pass_on_compose", || {
            let report = catalog_scenario_passes("raft-one-way", &[("duration", "25s")])?;
            // Both directions were cut, each confirmed.
            for what in ["cut on node-", "way in cut", "way out cut", "-> no answer"] {
                timeline_has(&report, what)?;
            }
            Ok(())
        }),
        ("chain_clock_skew_passes_on_compose", || {
            let report = catalog_scenario_passes("chain-clock-skew", &[("duration", "18s")])?;
            timeline_has(&report, "node-3's clock reads 0.2")?;
            timeline_has(&report, "node-3's clock reads true again")
        }),
        ("raft_nemesis_passes_on_seed_2", || {
            raft_nemesis_run(2, ONE_AT_A_TIME).map(drop)
        }),
        ("raft_nemesis_passes_on_seed_3", || {
            raft_nemesis_run(3, ONE_AT_A_TIME).map(drop)
        }),
        ("chain_rpc_nodes_cut_off_stall_and_catch_up", || {
            let report = catalog_scenario_passes("chain-rpc", &[("cut", "rpc")])?;
            timeline_has(&report, "observed the RPC nodes stalled at height")?;
            timeline_has(&report, "observed the RPC nodes caught up")
        }),
        ("raft_slow_links_pass_on_compose", || {
            let report = catalog_scenario_passes("raft-slow-links", &[])?;
            timeline_has(&report, "commits through the slow links")
        }),
        (
            "stale_reads_fail_linearizability_under_partitions",
            stale_reads_fail_linearizability_under_partitions,
        ),
        (
            "chain_partition_grows_two_branches_and_reorganizes",
            chain_partition_grows_two_branches_and_reorganizes,
        ),
        (
            "peers_find_each_other_after_every_container_restarts",
            peers_find_each_other_after_every_container_restarts,
        ),
        (
            "a_failing_run_leaves_nothing_behind",
            a_failing_run_leaves_nothing_behind,
        ),
        (
            "a_panic_while_holding_a_cluster_removes_its_containers",
            a_panic_while_holding_a_cluster_removes_its_containers,
        ),
        (
            "ctrl_c_stops_a_compose_run_and_removes_its_containers",
            ctrl_c_stops_a_compose_run_and_removes_its_containers,
        ),
        (
            "a_sigkilled_runner_s_reaper_removes_its_run_within_15_s",
            a_sigkilled_runner_s_reaper_removes_its_run_within_15_s,
        ),
        (
            "the_sweep_removes_what_a_sigkilled_runner_left",
            the_sweep_removes_what_a_sigkilled_runner_left,
        ),
        (
            "a_container_that_exits_at_start_is_named_with_its_log",
            a_container_that_exits_at_start_is_named_with_its_log,
        ),
        (
            "images_are_built_once_per_content",
            images_are_built_once_per_content,
        ),
    ];
    let mut trials: Vec<Trial> = docker
        .into_iter()
        .map(|(name, test)| {
            Trial::test(name, on_machine(name, test)).with_ignored_flag(engine.is_err())
        })
        .collect();
    trials.push(
        Trial::test(
            "the_compose_file_describes_the_cluster_and_the_tool_accepts_it",
            on_machine(
                "the_compose_file_describes_the_cluster_and_the_tool_accepts_it",
                the_compose_file_describes_the_cluster_and_the_tool_accepts_it,
            ),
        )
        .with_ignored_flag(engine.is_err() || compose_tool.is_none()),
    );
    trials.push(
        Trial::test(
            "redis_fails_over_in_containers",
            on_machine(
                "redis_fails_over_in_containers",
                redis_fails_over_in_containers,
            ),
        )
        .with_ignored_flag(engine.is_err() || redis.is_none()),
    );
    trials.push(Trial::test(
        "confirmation_lines_are_read",
        links::confirmation_lines_are_read,
    ));
    trials.push(Trial::test(
        "an_unreachable_engine_is_a_clear_error",
        an_unreachable_engine_is_a_clear_error,
    ));
    // The quiet tests last (see `QUIET`).
    trials.sort_by_key(|trial| QUIET.contains(&trial.name()));
    let conclusion = libtest_mimic::run(&args, trials);

    // The images this run built; those that were here before stay.
    if engine.is_ok() {
        for problem in rt.block_on(sweep::remove_images_built_since(&images_before)) {
            eprintln!("image left: {problem}");
        }
    }
    conclusion.exit();
}

fn which(binary: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(binary))
        .find(|candidate| candidate.is_file())
}
