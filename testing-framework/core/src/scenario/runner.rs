//! Runs a scenario: deploy, then the phases on the cluster (ready through
//! observation; observe; the window of workloads and always/eventually
//! checks; settle: cooldown and end checks; collect), clean up, report.
//! The window and the settling are the engine a replay and a manual
//! cluster's drive share ([`super::window`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::clients::NodeClients;
use super::deploy::{Cluster, DeployError, DeploymentRequest, NodeSlot};
use super::observer_slot::{ObserverSlot, Recording, RunningObserver};
use super::readiness::{self, ProbeReadiness};
use super::window::{Flow, Window, WindowEnd, WindowEvent};
use super::{
    Application, Deployer, NodeAction, NodeBuild, NodeEndpoint, RunContext, RunSettings, Scenario,
    Violation,
};
use crate::history::{ClientStats, HISTORY_FILE, History, operations};
use crate::observation::{ObservationRuntime, SourceSet};
use crate::report::{
    ExpectationReport, GroupReport, NodeExit, PhaseTimings, RunReport, TimelineEntry, TimelineKind,
    Verdict, WorkloadFailure,
};
use crate::report::{ObservationRecorder, Severity, write_html, write_junit};

/// Receives progress messages ("waiting for 3 nodes to be ready").
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// How to run.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// The run directory; the deployer picks one when `None`.
    pub run_dir: Option<PathBuf>,
    /// Remove the run directory when the run passes (it is always kept when
    /// it does not).
    pub remove_run_dir_on_success: bool,
    /// Progress messages.
    pub progress: Option<Progress>,
    /// Cancel to stop the run early (Ctrl-C); it is cleaned up and reported.
    pub cancel: CancellationToken,
    /// The run's seed, from which every random choice of the framework's
    /// workloads is drawn (fault schedules, client keys and values); one is
    /// picked and reported when `None`.
    pub seed: Option<u64>,
    /// A fault schedule to replay instead of generating one (a
    /// `schedule.json` of an earlier run, perhaps edited).
    pub schedule: Option<PathBuf>,
    /// How node binaries of the workspace get built when they are not.
    pub build: NodeBuild,
}

impl RunOptions {
    fn say(&self, message: &str) {
        say(self.progress.as_ref(), message);
    }
}

/// Logs `message` and passes it to `progress`, when there is one.
pub(crate) fn say(progress: Option<&Progress>, message: &str) {
    tracing::info!("{message}");
    if let Some(progress) = progress {
        progress(message);
    }
}

/// Runs `scenario` on `deployer` and reports. Nothing is left running when
/// this returns, whatever happened; `report.json` is written into the run
/// directory when there is one.
pub async fn run<A: Application>(
    scenario: Scenario<A>,
    deployer: &dyn Deployer,
    options: RunOptions,
) -> RunReport {
    let mut run = Run::new(&scenario, deployer.name());
    let seed = options.seed.unwrap_or_else(crate::rng::fresh_seed);
    run.report.seed = Some(seed);
    options.say(&format!("seed {seed} (rerun with --seed {seed})"));
    let clocks = scenario
        .workloads
        .iter()
        .any(|w| w.needs().contains(&NodeAction::Clock));
    let request = scenario
        .request()
        .with_run_dir(options.run_dir.clone())
        .with_clock_faults(clocks)
        .with_build(options.build.clone())
        .with_progress(options.progress.clone());
    if let Err(error) = request.check() {
        run.error(format!("the app's declaration cannot be deployed: {error}"));
        return run.finish(None, &options).await;
    }
    let refused = scenario.workloads.iter().find_map(|workload| {
        let action = workload
            .needs()
            .into_iter()
            .find(|a| !deployer.supports(*a))?;
        Some(DeployError::Unsupported {
            deployer: deployer.name().to_owned(),
            action,
            needed_by: format!("workload `{}`", workload.name()),
        })
    });
    if let Some(error) = refused {
        run.error(format!("the scenario cannot run here: {error}"));
        return run.finish(None, &options).await;
    }
    let names: Vec<String> = request.slots().iter().map(NodeSlot::name).collect();
    if let Some(path) = &options.schedule {
        let given = crate::workloads::Schedule::read(path).and_then(|schedule| {
            schedule.check(&names)?;
            let workloads: Vec<&str> = scenario.workloads.iter().map(|w| w.name()).collect();
            if workloads.contains(&schedule.workload.as_str()) {
                Ok(())
            } else {
                Err(format!(
                    "{} is the schedule of workload `{}`, which this scenario does not have (it has: {})",
                    path.display(),
                    schedule.workload,
                    workloads.join(", ")
                ))
            }
        });
        if let Err(error) = given {
            run.error(format!("the given schedule cannot be replayed: {error}"));
            return run.finish(None, &options).await;
        }
    }
    if let Some(error) = scenario.workloads.iter().find_map(|workload| {
        // A workload on some groups is checked against their nodes.
        let groups = workload.groups();
        let nodes: Vec<String> = if groups.is_empty() {
            names.clone()
        } else {
            request
                .slots()
                .iter()
                .filter(|s| groups.contains(&s.group.name))
                .map(NodeSlot::name)
                .collect()
        };
        let reason = check_groups(&request, &groups)
            .and_then(|()| workload.check(&nodes))
            .err()?;
        Some(format!(
            "workload `{}` cannot run: {reason}",
            workload.name()
        ))
    }) {
        run.error(error);
        return run.finish(None, &options).await;
    }

    options.say(&format!(
        "deploying {} with the {} deployer",
        describe_groups(&request),
        deployer.name()
    ));
    let phase = Instant::now();
    let deployed = tokio::select! {
        deployed = deployer.deploy(&request) => deployed,
        () = options.cancel.cancelled() => {
            run.error("interrupted while deploying");
            return run.finish(None, &options).await;
        }
    };
    run.report.timings.deploy_ms = phase.elapsed().as_millis() as u64;
    let mut cluster = match deployed {
        Ok(cluster) => cluster,
        Err(error) => {
            run.error(format!("deploy failed: {}", crate::ErrorChain(&error)));
            return run.finish(None, &options).await;
        }
    };
    run.report.run_dir = Some(cluster.run_dir().to_owned());
    run.report.logs = cluster
        .endpoints()
        .iter()
        .filter_map(|e| cluster.log_path(&e.name).map(|path| (e.name.clone(), path)))
        .collect();

    run.execute(scenario, &request, &mut *cluster, &options)
        .await;
    run.finish(Some(cluster), &options).await
}

struct Run {
    report: RunReport,
    /// Expectation index by name, for recording verdicts.
    index: HashMap<String, usize>,
    window_started: Option<Instant>,
}

impl Run {
    fn new<A: Application>(scenario: &Scenario<A>, deployer: &str) -> Self {
        let expectations: Vec<ExpectationReport> = scenario
            .expectations
            .iter()
            .map(|e| ExpectationReport::pending(e.name(), e.timing()))
            .collect();
        let index = expectations
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        Run {
            report: RunReport {
                scenario: scenario.name.clone(),
                app: scenario.app.name().to_owned(),
                deployer: deployer.to_owned(),
                nodes: scenario.nodes(),
                groups: scenario
                    .groups
                    .iter()
                    .map(|g| GroupReport::of(&g.request))
                    .collect(),
                parameters: scenario.parameters.clone(),
                seed: None,
                started_at: SystemTime::now(),
                verdict: Verdict::Passed,
                summary: None,
                expectations,
                workload_failures: Vec::new(),
                node_crashes: Vec::new(),
                timeline: Vec::new(),
                faults: Vec::new(),
                clients: Vec::new(),
                latency_points: Vec::new(),
                sources: Vec::new(),
                timings: PhaseTimings::default(),
                run_dir: None,
                logs: Vec::new(),
                observers: Vec::new(),
                cleanup: Default::default(),
                notes: Vec::new(),
            },
            index,
            window_started: None,
        }
    }

    /// The run could not be carried out.
    fn error(&mut self, summary: impl Into<String>) {
        self.report.verdict = Verdict::Error;
        self.report.summary.get_or_insert(summary.into());
    }

    /// The run was carried out and something failed.
    fn fail(&mut self, summary: impl Into<String>) {
        if self.report.verdict == Verdict::Passed {
            self.report.verdict = Verdict::Failed;
        }
        self.report.summary.get_or_insert(summary.into());
    }

    fn decide(&mut self, name: &str, outcome: Result<(), Violation>) {
        let at = self.window_started.map(|s| s.elapsed().as_millis() as u64);
        let Some(&i) = self.index.get(name) else {
            return;
        };
        let entry = &mut self.report.expectations[i];
        if entry.passed.is_some() {
            return;
        }
        entry.decided_at_ms = at;
        let (what, severity) = match outcome {
            Ok(()) => {
                entry.passed = Some(true);
                (format!("passed: {name}"), Severity::Info)
            }
            Err(violation) => {
                entry.passed = Some(false);
                entry.reason = Some(violation.reason.clone());
                entry.observed = violation.observed;
                self.fail(format!("expectation `{name}` failed: {}", violation.reason));
                (
                    format!("failed: {name}: {}", violation.reason),
                    Severity::Error,
                )
            }
        };
        self.report.timeline.push(TimelineEntry {
            at_ms: at.unwrap_or(0),
            source: "expectation".into(),
            what,
            kind: TimelineKind::Verdict,
            severity,
        });
    }

    fn crashes(&mut self, exits: &[NodeExit], allowed: bool) {
        for exit in exits.iter().skip(self.report.node_crashes.len()) {
            self.report.node_crashes.push(exit.clone());
            if !allowed {
                self.fail(format!(
                    "node {} exited on its own ({})",
                    exit.node, exit.status
                ));
            }
        }
    }

    /// The phases of a run on a deployed cluster: ready, observe, window,
    /// settle, collect.
    async fn execute<A: Application>(
        &mut self,
        scenario: Scenario<A>,
        request: &DeploymentRequest,
        cluster: &mut dyn Cluster,
        options: &RunOptions,
    ) {
        let Scenario {
            app,
            groups,
            duration,
            cooldown,
            ready_timeout,
            observers,
            workloads,
            expectations,
            allow_node_crashes,
            ..
        } = scenario;
        let control = cluster.control();
        let endpoints = cluster.endpoints();
        let clients = match NodeClients::make(&groups, &endpoints) {
            Ok(clients) => clients,
            Err(error) => return self.error(error),
        };
        // The scenario's own app's nodes: other apps' groups (a database,
        // Sentinels beside their servers) are reached with clients_of.
        let own: Vec<String> = groups
            .iter()
            .filter(|g| g.app_type == std::any::TypeId::of::<A>())
            .map(|g| g.name().to_owned())
            .collect();
        let sources: SourceSet<A::Client> = clients.of(Some(&own));
        let mut exits = control.unexpected_exits();

        if let Err(why) = self
            .ready(request, &endpoints, ready_timeout, &mut exits, options)
            .await
        {
            // The readiness error first: it carries the log tails.
            self.error(format!("the cluster did not become ready: {why}"));
            return self.crashes(&exits.borrow(), allow_node_crashes);
        }

        let Some(observed) = self.observe(observers, &clients, cluster.run_dir()).await else {
            return;
        };
        let ctx = Arc::new(
            RunContext::new(
                Arc::clone(&app),
                sources,
                control,
                observed.handles(),
                observed.history.clone(),
            )
            .with_clients(clients)
            .with_timeline(
                observed.recording.origin,
                Arc::clone(&observed.recording.timeline),
            )
            .with_run(RunSettings {
                seed: self.report.seed.unwrap_or_default(),
                window: duration,
                run_dir: Some(cluster.run_dir().to_owned()),
                schedule: options.schedule.clone(),
            }),
        );
        self.window_started = Some(ctx.started);

        // The run window: workloads and the always/eventually checks.
        let names: Vec<&str> = workloads.iter().map(|w| w.name()).collect();
        options.say(&format!(
            "running for {duration:?}; workloads: {}",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        ));
        let phase = Instant::now();
        let mut window = Window::open(&ctx, &workloads, expectations);
        let end = window
            .run(
                duration,
                &options.cancel,
                Some(&mut exits),
                |event| match event {
                    WindowEvent::Verdict((name, outcome)) => {
                        let failed = outcome.is_err();
                        self.decide(&name, outcome);
                        if failed {
                            options.say(&format!("expectation `{name}` failed; stopping the run"));
                            return Flow::Stop;
                        }
                        Flow::Continue
                    }
                    WindowEvent::WorkloadFailed(failure) => {
                        self.workload_failed(failure);
                        Flow::Stop
                    }
                    WindowEvent::Exits(exited) => {
                        self.crashes(&exited, allow_node_crashes);
                        if allow_node_crashes {
                            return Flow::Continue;
                        }
                        options.say("a node crashed; stopping the run");
                        Flow::Stop
                    }
                },
            )
            .await;
        if end == WindowEnd::Cancelled {
            self.error("interrupted by the user");
        }
        self.report.timings.run_ms = phase.elapsed().as_millis() as u64;
        for failure in window.close().await {
            self.workload_failed(failure);
        }

        // Settle: the cooldown, then the end checks (none if stopped early).
        let phase = Instant::now();
        let cooldown = (end == WindowEnd::Elapsed).then(|| {
            options.say(&format!(
                "cooldown {cooldown:?}, then {} end check(s)",
                window.end_checks()
            ));
            cooldown
        });
        let completed = window
            .settle(cooldown, &options.cancel, |(name, outcome)| {
                self.decide(&name, outcome)
            })
            .await;
        if cooldown.is_some() && !completed {
            self.error("interrupted by the user");
        }
        self.crashes(&exits.borrow(), allow_node_crashes);
        self.report.timings.end_ms = phase.elapsed().as_millis() as u64;

        self.collect(&ctx, observed).await;
    }

    /// Ready: waits, through an observation runtime of the app's probe,
    /// until every node is ready; a node's exit or a cancel ends it.
    async fn ready(
        &mut self,
        request: &DeploymentRequest,
        endpoints: &[NodeEndpoint],
        ready_timeout: Duration,
        exits: &mut tokio::sync::watch::Receiver<Vec<NodeExit>>,
        options: &RunOptions,
    ) -> Result<(), String> {
        let nodes = endpoints.len();
        options.say(&format!(
            "waiting for {nodes} nodes to be ready (up to {ready_timeout:?})"
        ));
        let phase = Instant::now();
        let probes = readiness::probes(request, endpoints)
            .map_err(|(node, why)| format!("cannot probe {node}: {why}"))?;
        let readiness = ObservationRuntime::start(probes, ProbeReadiness, readiness::poll_often())
            .map_err(|error| format!("could not watch readiness: {error}"))?;
        let ready = readiness.handle();
        let outcome = tokio::select! {
            waited = ready.wait_until(|r| r.all_ready(nodes), ready_timeout) => waited.map(|_| ()).map_err(|e| e.to_string()),
            Ok(()) = async { exits.wait_for(|e| !e.is_empty()).await.map(|_| ()) } => {
                let crashed = exits.borrow().clone();
                Err(crashed.iter().map(|e| format!("node {} exited during start ({})\n--- last lines of its log ---\n{}", e.node, e.status, e.log_tail)).collect::<Vec<_>>().join("\n"))
            }
            () = options.cancel.cancelled() => Err("interrupted while waiting for readiness".to_owned()),
        };
        readiness.stop().await;
        self.report.timings.ready_ms = phase.elapsed().as_millis() as u64;
        outcome
    }

    /// Observe: starts the observers (recording those that are recorded)
    /// and the client history, all from one origin: the window's opening.
    async fn observe(
        &mut self,
        observers: Vec<Box<dyn ObserverSlot>>,
        clients: &NodeClients,
        run_dir: &Path,
    ) -> Option<Observed> {
        let origin = Instant::now();
        let recorder = if observers.iter().any(|slot| slot.records()) {
            match ObservationRecorder::with_origin(run_dir, origin) {
                Ok(recorder) => Some(recorder),
                Err(error) => {
                    self.report
                        .notes
                        .push(format!("observations are not recorded: {error}"));
                    None
                }
            }
        } else {
            None
        };
        let recording = Recording {
            recorder,
            timeline: Arc::new(Mutex::new(Vec::new())),
            origin,
        };
        let mut running: Vec<Box<dyn RunningObserver>> = Vec::new();
        for slot in observers {
            match slot.start(clients, &recording) {
                Ok(observer) => running.push(observer),
                Err(error) => {
                    stop_all(running).await;
                    self.error(format!("could not start an observer: {error}"));
                    return None;
                }
            }
        }
        let history_path = run_dir.join(HISTORY_FILE);
        let history = History::to_file(&history_path, origin).unwrap_or_else(|error| {
            self.report.notes.push(format!(
                "the client history is kept in memory only: cannot create {}: {error}",
                history_path.display()
            ));
            History::in_memory()
        });
        Some(Observed {
            running,
            recording,
            history,
        })
    }

    /// Collect: what the observers saw of the sources, the faults, the
    /// recordings and the client history, and one timeline of workload
    /// actions, observed events and verdicts.
    async fn collect<A: Application>(&mut self, ctx: &RunContext<A>, observed: Observed) {
        let Observed {
            running,
            recording,
            history,
        } = observed;
        self.report.observers = running
            .iter()
            .map(|o| (o.name(), o.diagnostics()))
            .collect();
        self.report.sources = running.iter().flat_map(|o| o.source_reports()).collect();
        self.report.faults = ctx.faults.lock().clone();
        stop_all(running).await;
        if let Some(recorder) = recording.recorder {
            let (lines, problem) = recorder.finish();
            tracing::debug!(lines, "observations recorded");
            self.report.notes.extend(problem);
        }
        self.report.notes.extend(history.finish());
        let stats = match history.path() {
            Some(path) if path.exists() => {
                ClientStats::of_file(&path, Some(self.report.timings.run_ms))
            }
            Some(_) => Ok(ClientStats::default()),
            None => history
                .events()
                .and_then(|events| operations(&events))
                .map(|ops| ClientStats::of(&ops, Some(self.report.timings.run_ms))),
        };
        match stats {
            Ok(stats) => {
                self.report.clients = stats.clients;
                self.report.latency_points = stats.points;
            }
            Err(error) => self
                .report
                .notes
                .push(format!("the client statistics are missing: {error}")),
        }
        let mut merged = std::mem::take(&mut *recording.timeline.lock());
        merged.append(&mut self.report.timeline);
        merged.sort_by_key(|entry| entry.at_ms);
        self.report.timeline = merged;
    }

    fn workload_failed(&mut self, failure: WorkloadFailure) {
        self.fail(format!(
            "workload `{}` failed: {}",
            failure.name, failure.error
        ));
        self.report.workload_failures.push(failure);
    }

    async fn finish(
        mut self,
        cluster: Option<Box<dyn Cluster>>,
        options: &RunOptions,
    ) -> RunReport {
        let undecided = self
            .report
            .expectations
            .iter()
            .filter(|e| e.passed.is_none())
            .count();
        if undecided > 0 && self.report.verdict == Verdict::Passed {
            self.fail(format!("{undecided} expectation(s) were not judged"));
        }
        if let Some(mut cluster) = cluster {
            options.say("cleaning up");
            let phase = Instant::now();
            self.report.cleanup = cluster.cleanup().await;
            self.report.timings.cleanup_ms = phase.elapsed().as_millis() as u64;
            if let Some(problem) = self.report.cleanup.problems.first() {
                self.error(format!("cleanup failed: {problem}"));
            }
        } else if let Some(dir) = &options.run_dir {
            // Deploy failed before a cluster existed: the report still goes
            // where the user asked, unless that directory holds something.
            let unused =
                std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none());
            if unused && std::fs::create_dir_all(dir).is_ok() {
                self.report.run_dir = Some(dir.clone());
            }
        }
        if let Some(dir) = self.report.run_dir.clone() {
            if self.report.passed() && options.remove_run_dir_on_success {
                if let Err(error) = std::fs::remove_dir_all(&dir) {
                    self.report
                        .cleanup
                        .problems
                        .push(format!("could not remove {}: {error}", dir.display()));
                }
                self.report.run_dir = None;
            } else {
                if let Err(error) = self.report.write_json(&dir) {
                    self.report
                        .notes
                        .push(format!("could not write report.json: {error}"));
                }
                if let Err(error) = write_junit(&self.report, &dir) {
                    self.report
                        .notes
                        .push(format!("could not write junit.xml: {error}"));
                }
                if let Err(error) = write_html(&self.report, &dir) {
                    self.report
                        .notes
                        .push(format!("could not write report.html: {error}"));
                }
            }
        }
        self.report
    }
}

async fn stop_all(observers: Vec<Box<dyn RunningObserver>>) {
    futures::future::join_all(observers.into_iter().map(|o| o.stop())).await;
}

/// What the observe phase started.
struct Observed {
    running: Vec<Box<dyn RunningObserver>>,
    recording: Recording,
    history: History,
}

impl Observed {
    fn handles(&self) -> super::context::ObserverHandles {
        self.running
            .iter()
            .map(|o| (o.observer_type(), o.handle()))
            .collect()
    }
}

/// `3 nodes`, or `4 validator, 2 rpc nodes` for several groups.
fn describe_groups(request: &DeploymentRequest) -> String {
    match request.groups.as_slice() {
        [one] => format!("{} nodes", one.nodes),
        groups => format!(
            "{} nodes",
            groups
                .iter()
                .map(|g| format!("{} {}", g.nodes, g.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Whether every group of `groups` is one of `request`'s, with nodes.
fn check_groups(request: &DeploymentRequest, groups: &[String]) -> Result<(), String> {
    for name in groups {
        match request.group(name) {
            None => {
                return Err(format!(
                    "it acts on group `{name}`, which is not a group of this scenario (groups: {})",
                    request.group_names()
                ));
            }
            Some(group) if group.nodes == 0 => {
                return Err(format!("it acts on group `{name}`, which has no nodes"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}
