//! Observers of a scenario, type-erased so that one scenario holds
//! observers of many types: waiting to start, running (with their recorder
//! and reachability follower), or replaying a recording.

use std::any::{TypeId, type_name};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::clients::{NodeClients, check_watch};
use super::context::ObserverEntry;
use super::group::Group;
use crate::observation::error::StartError;
use crate::observation::{
    ObservationConfig, ObservationHandle, ObservationRuntime, Observer, Replayer,
};
use crate::report::{
    ObservationRecorder, RecordedObservation, ReportEvent, ReportSnapshot, SourceReport,
    TimelineEntry, TimelineKind,
};

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
        let mut observations = handle.subscribe_from(crate::observation::stream::Cursor::START);
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
    /// The `ObservationHandle<O>` the recorded observations go to.
    fn handle(&self) -> ObserverEntry;
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

    fn handle(&self) -> ObserverEntry {
        ObserverEntry::of(self.replayer.handle())
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
pub(crate) trait ObserverSlot: Send + Sync {
    fn observer_type(&self) -> TypeId;
    /// The type of its snapshots.
    fn state_type(&self) -> TypeId;
    fn name(&self) -> String;
    fn records(&self) -> bool;
    /// Whether the groups it watches exist and make its source type.
    fn check_groups(&self, groups: &[Group]) -> Result<(), String>;
    /// The observer fed from its recorded lines instead of its sources;
    /// `None` if it is not recorded.
    fn replay(
        self: Box<Self>,
        lines: &[String],
    ) -> Option<Result<Box<dyn ReplayingObserver>, String>>;
    /// Starts it on the clients of the nodes it watches.
    fn start(
        self: Box<Self>,
        clients: &NodeClients,
        recording: &Recording,
    ) -> Result<Box<dyn RunningObserver>, StartError>;
}

/// A started observer, type-erased.
pub(crate) trait RunningObserver: Send + Sync {
    fn observer_type(&self) -> TypeId;
    fn name(&self) -> String;
    /// The `ObservationHandle<O>`.
    fn handle(&self) -> ObserverEntry;
    fn diagnostics(&self) -> String;
    fn source_reports(&self) -> Vec<SourceReport>;
    /// Stops the runtime, then lets its recorder write what is left.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// How a recorded observer is written and read back, in its own types.
pub(crate) struct RecordFns<O: Observer> {
    record: RecordFn<O>,
    replay: ReplayFn<O>,
}

impl<O: Observer> RecordFns<O> {
    pub(crate) fn of() -> Self
    where
        O::Snapshot: ReportSnapshot + Serialize + DeserializeOwned,
        O::Event: ReportEvent + Serialize + DeserializeOwned,
    {
        RecordFns {
            record: record::<O>,
            replay: replay::<O>,
        }
    }
}

/// An observer and its settings, before the run starts it.
pub(crate) struct Slot<O: Observer> {
    observer: O,
    config: ObservationConfig,
    record: Option<RecordFns<O>>,
    /// The groups it watches; `None`: every node whose client it reads.
    groups: Option<Vec<String>>,
}

impl<O: Observer> Slot<O> {
    pub(crate) fn new(
        observer: O,
        config: ObservationConfig,
        record: Option<RecordFns<O>>,
        groups: Option<&[&str]>,
    ) -> Self {
        Slot {
            observer,
            config,
            record,
            groups: groups.map(|g| g.iter().map(|s| (*s).to_owned()).collect()),
        }
    }
}

impl<O: Observer> ObserverSlot for Slot<O>
where
    O::Source: Clone,
{
    fn observer_type(&self) -> TypeId {
        TypeId::of::<O>()
    }

    fn state_type(&self) -> TypeId {
        TypeId::of::<O::Snapshot>()
    }

    fn name(&self) -> String {
        self.observer.name().to_owned()
    }

    fn records(&self) -> bool {
        self.record.is_some()
    }

    fn check_groups(&self, groups: &[Group]) -> Result<(), String> {
        check_watch(
            self.observer.name(),
            (TypeId::of::<O::Source>(), type_name::<O::Source>()),
            self.groups.as_deref(),
            groups,
        )
    }

    fn replay(
        self: Box<Self>,
        lines: &[String],
    ) -> Option<Result<Box<dyn ReplayingObserver>, String>> {
        let read_back = self.record?.replay;
        let name = self.observer.name().to_owned();
        Some(read_back(lines).map(|recorded| {
            let replayer = Replayer::<O>::new(name, recorded.len());
            Box::new(Replaying { replayer, recorded }) as Box<dyn ReplayingObserver>
        }))
    }

    fn start(
        self: Box<Self>,
        clients: &NodeClients,
        recording: &Recording,
    ) -> Result<Box<dyn RunningObserver>, StartError> {
        let sources = clients.of::<O::Source>(self.groups.as_deref());
        let runtime = ObservationRuntime::start(sources, self.observer, self.config)?;
        let mut tasks = vec![follow_reachability(recording, runtime.handle())];
        if let (Some(fns), Some(recorder)) = (self.record, &recording.recorder) {
            tasks.push((fns.record)(
                recorder,
                &recording.timeline,
                runtime.handle(),
            ));
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

    fn handle(&self) -> ObserverEntry {
        ObserverEntry::of(self.runtime.handle())
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
