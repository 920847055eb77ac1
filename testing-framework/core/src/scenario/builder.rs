//! A scenario: topology, observers, workloads, expectations and duration.

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Application, Expectation, Workload};
use crate::observation::{
    ConfigError, ObservationConfig, ObservationHandle, ObservationRuntime, Observer, Replayer,
    SourceSet, StartError,
};
use crate::report::{ObservationRecorder, RecordedObservation, ReportEvent, ReportSnapshot};
use crate::report::{SourceReport, TimelineEntry, TimelineKind};

/// A scenario, ready to run with [`run`](super::run).
pub struct Scenario<A: Application> {
    pub(crate) name: String,
    pub(crate) app: Arc<A>,
    pub(crate) nodes: usize,
    pub(crate) duration: Duration,
    pub(crate) cooldown: Duration,
    pub(crate) ready_timeout: Duration,
    pub(crate) observers: Vec<Box<dyn ObserverSlot<A>>>,
    pub(crate) workloads: Vec<Arc<dyn Workload<A>>>,
    pub(crate) expectations: Vec<Arc<dyn Expectation<A>>>,
    pub(crate) allow_node_crashes: bool,
    pub(crate) parameters: Vec<(String, String)>,
}

impl<A: Application> Scenario<A> {
    /// Starts describing a scenario called `name` for `app`.
    pub fn builder(name: impl Into<String>, app: A) -> ScenarioBuilder<A> {
        ScenarioBuilder {
            scenario: Scenario {
                name: name.into(),
                app: Arc::new(app),
                nodes: 3,
                duration: Duration::from_secs(10),
                cooldown: Duration::from_secs(2),
                ready_timeout: Duration::from_secs(30),
                observers: Vec::new(),
                workloads: Vec::new(),
                expectations: Vec::new(),
                allow_node_crashes: false,
                parameters: Vec::new(),
            },
            duplicate_observer: None,
            bad_observer_config: None,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many nodes it runs.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Its run window.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

/// Describes a [`Scenario`]; [`build`](Self::build) checks it.
pub struct ScenarioBuilder<A: Application> {
    scenario: Scenario<A>,
    duplicate_observer: Option<String>,
    bad_observer_config: Option<(String, ConfigError)>,
}

impl<A: Application> ScenarioBuilder<A> {
    /// How many nodes (default 3).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.scenario.nodes = nodes;
        self
    }

    /// How long workloads run (default 10 s).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.scenario.duration = duration;
        self
    }

    /// Quiet time between the run window and the end checks (default 2 s).
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.scenario.cooldown = cooldown;
        self
    }

    /// How long nodes may take to become ready (default 30 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.scenario.ready_timeout = timeout;
        self
    }

    /// Runs observer `O` on the cluster's nodes during the run; workloads
    /// and expectations reach it with [`RunContext::observer`](super::RunContext::observer).
    /// One observer per type.
    pub fn observer<O>(self, observer: O, config: ObservationConfig) -> Self
    where
        O: Observer<Source = A::Client>,
    {
        self.add_observer(observer, config, None)
    }

    /// Like [`observer`](Self::observer), and records every observation in
    /// the run's `observations.jsonl`, with its series for charts, and puts
    /// its events, labelled, on the report's timeline. The snapshot and
    /// event types need serde and the report traits.
    pub fn recorded_observer<O>(self, observer: O, config: ObservationConfig) -> Self
    where
        O: Observer<Source = A::Client>,
        O::Snapshot: ReportSnapshot + Serialize + DeserializeOwned,
        O::Event: ReportEvent + Serialize + DeserializeOwned,
    {
        self.add_observer(observer, config, Some((record::<O>, replay::<O>)))
    }

    fn add_observer<O>(
        mut self,
        observer: O,
        config: ObservationConfig,
        record: Option<(RecordFn<O>, ReplayFn<O>)>,
    ) -> Self
    where
        O: Observer<Source = A::Client>,
    {
        let name = observer.name().to_owned();
        if self
            .scenario
            .observers
            .iter()
            .any(|slot| slot.observer_type() == TypeId::of::<O>())
        {
            self.duplicate_observer.get_or_insert(name);
            return self;
        }
        if let Err(error) = config.validate() {
            self.bad_observer_config.get_or_insert((name, error));
            return self;
        }
        self.scenario.observers.push(Box::new(Slot {
            observer,
            config,
            record,
        }));
        self
    }

    /// Adds a workload.
    pub fn workload(mut self, workload: impl Workload<A>) -> Self {
        self.scenario.workloads.push(Arc::new(workload));
        self
    }

    /// Adds an expectation.
    pub fn expect(mut self, expectation: impl Expectation<A>) -> Self {
        self.scenario.expectations.push(Arc::new(expectation));
        self
    }

    /// Records the parameters it was built with (the catalog does this),
    /// so `report.json` holds them and replay rebuilds the same scenario.
    pub fn parameters(mut self, parameters: Vec<(String, String)>) -> Self {
        self.scenario.parameters = parameters;
        self
    }

    /// Nodes exiting on their own does not fail the run (for chaos that
    /// crashes nodes on purpose).
    pub fn allow_node_crashes(mut self) -> Self {
        self.scenario.allow_node_crashes = true;
        self
    }

    /// Checks the description.
    pub fn build(self) -> Result<Scenario<A>, ScenarioError> {
        let scenario = self.scenario;
        if scenario.name.trim().is_empty() {
            return Err(ScenarioError::NoName);
        }
        // It names the run directory.
        if !scenario
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || scenario.name.starts_with('.')
        {
            return Err(ScenarioError::BadName(scenario.name));
        }
        if scenario.nodes == 0 {
            return Err(ScenarioError::NoNodes);
        }
        if scenario.duration.is_zero() {
            return Err(ScenarioError::ZeroDuration);
        }
        if let Some(observer) = self.duplicate_observer {
            return Err(ScenarioError::DuplicateObserver(observer));
        }
        if let Some((observer, error)) = self.bad_observer_config {
            return Err(ScenarioError::ObserverConfig { observer, error });
        }
        let mut names: Vec<&str> = scenario.expectations.iter().map(|e| e.name()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(ScenarioError::DuplicateExpectation(pair[0].to_owned()));
        }
        Ok(scenario)
    }
}

/// A scenario description that cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// No name.
    #[error("a scenario needs a name")]
    NoName,
    /// A name that cannot name a directory.
    #[error(
        "scenario name `{0}` may only use letters, digits, `-`, `_` and `.` (it names the run directory)"
    )]
    BadName(String),
    /// Something the app's scenario cannot work with.
    #[error("{0}")]
    Invalid(String),
    /// Zero nodes.
    #[error("a scenario needs at least one node; set .nodes(n) with n >= 1")]
    NoNodes,
    /// Zero duration.
    #[error("a scenario needs a run window; set .duration(d) with d > 0")]
    ZeroDuration,
    /// The same observer type twice.
    #[error("observer `{0}` was added twice; a scenario runs one observer per type")]
    DuplicateObserver(String),
    /// An observer's settings cannot work.
    #[error("observer `{observer}`: {error}")]
    ObserverConfig {
        /// The observer.
        observer: String,
        /// What is wrong.
        error: ConfigError,
    },
    /// Two expectations with one name.
    #[error(
        "two expectations are named `{0}`; give each its own name so reports can tell them apart"
    )]
    DuplicateExpectation(String),
}

/// Where recorded observers write (if any is recorded), and the run's
/// timeline with its origin.
pub(crate) struct Recording {
    pub(crate) recorder: Option<ObservationRecorder>,
    pub(crate) timeline: Arc<Mutex<Vec<TimelineEntry>>>,
    pub(crate) origin: Instant,
}

/// Puts every source that goes silent or answers again, as `handle`'s
/// runtime sees it, on the timeline; ends when the runtime stops.
fn follow_reachability<O: Observer>(
    recording: &Recording,
    handle: ObservationHandle<O>,
) -> JoinHandle<()> {
    let (timeline, origin) = (Arc::clone(&recording.timeline), recording.origin);
    tokio::spawn(async move {
        let observer = handle.observer_name().to_owned();
        let mut observations = handle.subscribe_from(crate::observation::Cursor::START);
        while let Some(next) = futures::StreamExt::next(&mut observations).await {
            // A lag loses only timeline lines; the recorder says so.
            let Ok(observation) = next else { continue };
            let at_ms = observation
                .observed_at
                .saturating_duration_since(origin)
                .as_millis() as u64;
            let mut timeline = timeline.lock();
            for change in &observation.reachability {
                timeline.push(TimelineEntry {
                    at_ms,
                    source: observer.clone(),
                    what: change.to_string(),
                    kind: TimelineKind::Event,
                    severity: if change.reachable {
                        crate::report::Severity::Notice
                    } else {
                        crate::report::Severity::Warning
                    },
                });
            }
        }
    })
}

/// Starts recording `O`'s stream, its events going onto the timeline.
type RecordFn<O> = fn(
    &ObservationRecorder,
    &Arc<Mutex<Vec<TimelineEntry>>>,
    ObservationHandle<O>,
) -> JoinHandle<()>;

fn record<O>(
    recorder: &ObservationRecorder,
    timeline: &Arc<Mutex<Vec<TimelineEntry>>>,
    handle: ObservationHandle<O>,
) -> JoinHandle<()>
where
    O: Observer,
    O::Snapshot: ReportSnapshot + Serialize,
    O::Event: ReportEvent + Serialize,
{
    let timeline = Arc::clone(timeline);
    recorder.record(handle, move |event| {
        timeline.lock().push(TimelineEntry {
            at_ms: event.at_ms,
            source: event.observer,
            what: event.label,
            kind: TimelineKind::Event,
            severity: event.severity,
        });
    })
}

/// One recorded observation of `O`, in `O`'s own types.
type Recorded<O> = RecordedObservation<<O as Observer>::Snapshot, <O as Observer>::Event>;

/// Reads an observer's recorded lines back into its own types.
type ReplayFn<O> = fn(&[String]) -> Result<Vec<Recorded<O>>, String>;

fn replay<O>(lines: &[String]) -> Result<Vec<Recorded<O>>, String>
where
    O: Observer,
    O::Snapshot: DeserializeOwned,
    O::Event: DeserializeOwned,
{
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| format!("recorded observation {} does not read back: {e}", i + 1))
        })
        .collect()
}

/// A recorded observer replaying its observations, type-erased.
pub(crate) trait ReplayingObserver: Send {
    fn observer_type(&self) -> TypeId;
    /// The `ObservationHandle<O>` the recorded observations go to, boxed.
    fn handle(&self) -> Box<dyn Any + Send + Sync>;
    /// Publishes every observation at its recorded time from `origin`.
    fn play(self: Box<Self>, origin: Instant) -> BoxFuture<'static, ()>;
}

struct Replaying<O: Observer> {
    replayer: Replayer<O>,
    recorded: Vec<Recorded<O>>,
}

impl<O: Observer> ReplayingObserver for Replaying<O> {
    fn observer_type(&self) -> TypeId {
        TypeId::of::<O>()
    }

    fn handle(&self) -> Box<dyn Any + Send + Sync> {
        Box::new(self.replayer.handle())
    }

    fn play(self: Box<Self>, origin: Instant) -> BoxFuture<'static, ()> {
        let Replaying { replayer, recorded } = *self;
        Box::pin(async move {
            for observation in recorded {
                tokio::time::sleep_until(origin + Duration::from_millis(observation.at_ms)).await;
                let events = observation.events.into_iter().map(|e| e.event).collect();
                replayer.publish(
                    observation.cycle,
                    observation.sources,
                    events,
                    observation.reachability,
                    observation.snapshot,
                );
            }
        })
    }
}

/// An observer waiting to be started on a cluster, type-erased.
pub(crate) trait ObserverSlot<A: Application>: Send + Sync {
    fn observer_type(&self) -> TypeId;
    fn name(&self) -> String;
    fn records(&self) -> bool;
    /// The observer fed from its recorded lines instead of its sources;
    /// `None` if it is not recorded.
    fn replay(
        self: Box<Self>,
        lines: &[String],
    ) -> Option<Result<Box<dyn ReplayingObserver>, String>>;
    fn start(
        self: Box<Self>,
        sources: SourceSet<A::Client>,
        recording: &Recording,
    ) -> Result<Box<dyn RunningObserver>, StartError>;
}

/// A started observer, type-erased.
pub(crate) trait RunningObserver: Send + Sync {
    fn observer_type(&self) -> TypeId;
    fn name(&self) -> String;
    /// The `ObservationHandle<O>`, boxed.
    fn handle(&self) -> Box<dyn Any + Send + Sync>;
    fn diagnostics(&self) -> String;
    fn source_reports(&self) -> Vec<SourceReport>;
    /// Stops the runtime, then lets its recorder write what is left.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

struct Slot<O: Observer> {
    observer: O,
    config: ObservationConfig,
    record: Option<(RecordFn<O>, ReplayFn<O>)>,
}

impl<A: Application, O: Observer<Source = A::Client>> ObserverSlot<A> for Slot<O> {
    fn observer_type(&self) -> TypeId {
        TypeId::of::<O>()
    }

    fn name(&self) -> String {
        self.observer.name().to_owned()
    }

    fn records(&self) -> bool {
        self.record.is_some()
    }

    fn replay(
        self: Box<Self>,
        lines: &[String],
    ) -> Option<Result<Box<dyn ReplayingObserver>, String>> {
        let (_, read_back) = self.record?;
        let name = self.observer.name().to_owned();
        Some(read_back(lines).map(|recorded| {
            let replayer = Replayer::<O>::new(name, recorded.len());
            Box::new(Replaying { replayer, recorded }) as Box<dyn ReplayingObserver>
        }))
    }

    fn start(
        self: Box<Self>,
        sources: SourceSet<A::Client>,
        recording: &Recording,
    ) -> Result<Box<dyn RunningObserver>, StartError> {
        let runtime = ObservationRuntime::start(sources, self.observer, self.config)?;
        let mut tasks = vec![follow_reachability(recording, runtime.handle())];
        if let (Some((record, _)), Some(recorder)) = (self.record, &recording.recorder) {
            tasks.push(record(recorder, &recording.timeline, runtime.handle()));
        }
        Ok(Box::new(Running { runtime, tasks }))
    }
}

struct Running<O: Observer> {
    runtime: ObservationRuntime<O>,
    /// Its recorder and reachability follower.
    tasks: Vec<JoinHandle<()>>,
}

impl<O: Observer> RunningObserver for Running<O> {
    fn observer_type(&self) -> TypeId {
        TypeId::of::<O>()
    }

    fn name(&self) -> String {
        self.runtime.handle().observer_name().to_owned()
    }

    fn handle(&self) -> Box<dyn Any + Send + Sync> {
        Box::new(self.runtime.handle())
    }

    fn diagnostics(&self) -> String {
        self.runtime.handle().diagnostics().to_string()
    }

    fn source_reports(&self) -> Vec<SourceReport> {
        let handle = self.runtime.handle();
        handle
            .source_health()
            .into_iter()
            .map(|h| SourceReport {
                observer: handle.observer_name().to_owned(),
                source: h.name.to_string(),
                successes: h.successes,
                failures: h.failures,
                latency_mean_ms: h.latency.mean().as_secs_f64() * 1000.0,
                latency_std_dev_ms: h.latency.std_dev().as_secs_f64() * 1000.0,
                last_error: h.last_error.map(|e| e.message),
            })
            .collect()
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        let Running { runtime, tasks } = *self;
        Box::pin(async move {
            runtime.stop().await;
            // Their subscriptions end once the runtime has stopped.
            for task in tasks {
                let _ = task.await;
            }
        })
    }
}
