//! What workloads and expectations see of a running scenario.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Application;
use super::clients::NodeClients;
use super::deploy::NodeControl;
use crate::history::History;
use crate::observation::{
    AnySnapshot, AnyState, ObservationHandle, Observer, SourceSet, StateHandle,
};
use crate::report::Severity;
use crate::report::{FaultWindow, TimelineEntry, TimelineKind};

/// Shared by every workload and expectation of one run.
pub struct RunContext<A: Application> {
    pub(crate) app: Arc<A>,
    pub(crate) nodes: SourceSet<A::Client>,
    /// Every node's client, of every group.
    pub(crate) clients: NodeClients,
    pub(crate) control: Arc<dyn NodeControl>,
    pub(crate) observers: ObserverHandles,
    /// In a replay: observers of the scenario that were not recorded.
    pub(crate) unrecorded: Vec<Unrecorded>,
    pub(crate) over: CancellationToken,
    pub(crate) started: Instant,
    pub(crate) timeline: Arc<Mutex<Vec<TimelineEntry>>>,
    pub(crate) faults: Mutex<Vec<FaultWindow>>,
    pub(crate) history: History,
    /// How long the window lasted, once it closed.
    pub(crate) closed_after: std::sync::OnceLock<Duration>,
    pub(crate) settings: RunSettings,
}

/// What a run gives its workloads besides the cluster: its seed, the
/// window's planned length, its directory, a schedule to replay.
#[derive(Clone, Debug, Default)]
pub struct RunSettings {
    /// The run's seed.
    pub seed: u64,
    /// The run window's planned length (zero: not known, a manual drive
    /// says it).
    pub window: Duration,
    /// The run directory.
    pub run_dir: Option<std::path::PathBuf>,
    /// A fault schedule to replay instead of generating one.
    pub schedule: Option<std::path::PathBuf>,
}

/// The observers' handles of a run, by observer type.
pub(crate) type ObserverHandles = HashMap<TypeId, ObserverEntry>;

/// A started observer's handle, boxed thrice: as itself, for
/// [`RunContext::observer`]; seen through its snapshots' type, for
/// conditions that find it by the state they read; and seen through
/// `dyn Any`, for conditions stored without their type.
pub(crate) struct ObserverEntry {
    name: String,
    /// An `ObservationHandle<O>`.
    handle: Box<dyn Any + Send + Sync>,
    state_type: TypeId,
    /// An `Arc<dyn StateHandle<O::Snapshot>>`.
    state: Box<dyn Any + Send + Sync>,
    any: Arc<dyn StateHandle<AnySnapshot>>,
}

impl ObserverEntry {
    pub(crate) fn of<O: Observer>(handle: ObservationHandle<O>) -> Self {
        let state: Arc<dyn StateHandle<O::Snapshot>> = Arc::new(handle.clone());
        ObserverEntry {
            name: handle.observer_name().to_owned(),
            handle: Box::new(handle),
            state_type: TypeId::of::<O::Snapshot>(),
            any: Arc::new(AnyState(Arc::clone(&state))),
            state: Box::new(state),
        }
    }

    /// The handle, if the observer is of type `O`.
    pub(crate) fn handle<O: Observer>(&self) -> Option<ObservationHandle<O>> {
        self.handle.downcast_ref::<ObservationHandle<O>>().cloned()
    }
}

/// An observer of the scenario that a replayed run did not record.
#[derive(Clone, Debug)]
pub(crate) struct Unrecorded {
    pub(crate) name: String,
    pub(crate) observer: TypeId,
    pub(crate) state: TypeId,
}

/// Which observer a condition reads: named by its type, found by the type
/// of its snapshots, or (neither given) the scenario's only observer.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ObserverChoice {
    /// The observer's type, and its name for messages.
    pub(crate) observer: Option<(TypeId, &'static str)>,
    /// The snapshots' type, and its name for messages.
    pub(crate) state: Option<(TypeId, &'static str)>,
}

/// A fault begun with [`RunContext::begin_fault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultId(usize);

/// The scenario has no observer of the type asked for, or (in a replay)
/// it had one that was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum MissingObserver {
    /// Not in the scenario.
    #[error("the scenario has no observer `{0}`; add it with ScenarioBuilder::observer")]
    NotInScenario(&'static str),
    /// In the scenario, but the replayed run did not record it.
    #[error(
        "observer `{0}` was not recorded in this run; add it with ScenarioBuilder::recorded_observer to replay it"
    )]
    NotRecorded(String),
    /// No observer of the scenario publishes the snapshots a condition
    /// reads.
    #[error(
        "no observer of the scenario publishes snapshots of type `{0}`, which a condition reads; add the observer with ScenarioBuilder::observer"
    )]
    NoneObserves(&'static str),
    /// The scenario has no observer, and a fault needs one to see its
    /// node go down and come back.
    #[error(
        "the scenario has no observer, and faults are confirmed through one; add one with ScenarioBuilder::observer"
    )]
    NoObserver,
    /// A fault with no condition, and several observers to confirm its
    /// nodes down and back through.
    #[error(
        "the scenario has observers {0}, and a fault with no condition cannot tell which to confirm its nodes down and back through; name one with `.observed_by::<YourObserver>()`"
    )]
    SeveralObservers(String),
    /// Several observers publish the snapshots a condition reads.
    #[error(
        "observers {observers} all publish snapshots of type `{state}`, so it cannot tell which to read; name one with `.observed_by::<YourObserver>()`"
    )]
    SeveralObserve {
        /// The snapshots' type.
        state: &'static str,
        /// The observers, by name.
        observers: String,
    },
}

impl<A: Application> RunContext<A> {
    /// A context whose window opens now, with an empty timeline.
    pub(crate) fn new(
        app: Arc<A>,
        nodes: SourceSet<A::Client>,
        control: Arc<dyn NodeControl>,
        observers: ObserverHandles,
        history: History,
    ) -> Self {
        RunContext {
            app,
            nodes,
            clients: NodeClients::default(),
            control,
            observers,
            unrecorded: Vec::new(),
            over: CancellationToken::new(),
            started: Instant::now(),
            timeline: Arc::new(Mutex::new(Vec::new())),
            faults: Mutex::new(Vec::new()),
            history,
            closed_after: std::sync::OnceLock::new(),
            settings: RunSettings {
                seed: crate::rng::fresh_seed(),
                ..RunSettings::default()
            },
        }
    }

    /// With every node's client, of every group.
    pub(crate) fn with_clients(mut self, clients: NodeClients) -> Self {
        self.clients = clients;
        self
    }

    /// With the run's seed, window, directory and given schedule.
    pub(crate) fn with_run(mut self, settings: RunSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The run's seed: every random choice of the framework's workloads is
    /// drawn from it, so a rerun with `--seed` makes the same choices.
    pub fn seed(&self) -> u64 {
        self.settings.seed
    }

    /// A seed of `name`'s own (a workload's), drawn from the run's.
    pub fn seed_for(&self, name: &str) -> u64 {
        crate::rng::derive(self.settings.seed, name)
    }

    /// How long the run window is planned to last (zero when not known).
    pub fn planned_window(&self) -> Duration {
        self.settings.window
    }

    /// The run directory, when there is one.
    pub fn run_dir(&self) -> Option<&std::path::Path> {
        self.settings.run_dir.as_deref()
    }

    /// A fault schedule the run was told to replay (`--schedule`).
    pub fn given_schedule(&self) -> Option<&std::path::Path> {
        self.settings.schedule.as_deref()
    }

    /// With the window opened at `started` and actions going on `timeline`.
    pub(crate) fn with_timeline(
        mut self,
        started: Instant,
        timeline: Arc<Mutex<Vec<TimelineEntry>>>,
    ) -> Self {
        self.started = started;
        self.timeline = timeline;
        self
    }

    /// In a replay: the scenario's observers that were not recorded.
    pub(crate) fn with_unrecorded(mut self, unrecorded: Vec<Unrecorded>) -> Self {
        self.unrecorded = unrecorded;
        self
    }

    /// What the clients saw: workloads record every request here (one
    /// [`HistoryClient`](crate::history::HistoryClient) per concurrent
    /// client), and history checkers read it back. It streams to
    /// `history.jsonl` in the run directory.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The app.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Every node's client, by name, in topology order: the nodes of the
    /// groups of the scenario's own app type (see
    /// [`clients_of`](Self::clients_of) for the others' clients).
    pub fn nodes(&self) -> &SourceSet<A::Client> {
        &self.nodes
    }

    /// The names of every node, of every group, in topology order.
    pub fn node_names(&self) -> Vec<String> {
        self.clients.names()
    }

    /// The names of `group`'s nodes, in order (none for a group there is
    /// not: scenarios check their workloads' groups before the run).
    pub fn group(&self, group: &str) -> Vec<String> {
        self.clients.group(group)
    }

    /// The clients of `group`'s nodes, of its app's client type `C` (empty
    /// when that is not `C`).
    pub fn clients_of<C: Clone + Send + Sync + 'static>(&self, group: &str) -> SourceSet<C> {
        self.clients.of::<C>(Some(&[group.to_owned()]))
    }

    /// One node's client.
    pub fn client(&self, node: &str) -> Option<&A::Client> {
        self.nodes
            .iter()
            .find(|n| n.name.as_str() == node)
            .map(|n| &n.source)
    }

    /// Start, stop, restart and kill nodes.
    pub fn control(&self) -> &dyn NodeControl {
        &*self.control
    }

    /// The handle of the scenario's observer of type `O`.
    pub fn observer<O: Observer>(&self) -> Result<ObservationHandle<O>, MissingObserver> {
        self.pick(ObserverChoice {
            observer: Some(super::observer_key::<O>()),
            state: None,
        })?
        .handle::<O>()
        .ok_or(MissingObserver::NotInScenario(type_name::<O>()))
    }

    /// The handle of the observer `pick` names, seen through its
    /// snapshots' type `S`.
    pub(crate) fn state<S: 'static>(
        &self,
        pick: ObserverChoice,
    ) -> Result<Arc<dyn StateHandle<S>>, MissingObserver> {
        let entry = self.pick(pick)?;
        entry
            .state
            .downcast_ref::<Arc<dyn StateHandle<S>>>()
            .cloned()
            .ok_or(MissingObserver::NoneObserves(type_name::<S>()))
    }

    /// The handle of the observer `pick` names, seen through `dyn Any`.
    pub(crate) fn any_state(
        &self,
        pick: ObserverChoice,
    ) -> Result<Arc<dyn StateHandle<AnySnapshot>>, MissingObserver> {
        self.pick(pick).map(|entry| Arc::clone(&entry.any))
    }

    fn pick(&self, pick: ObserverChoice) -> Result<&ObserverEntry, MissingObserver> {
        let meant = |observer: TypeId, state: TypeId| match (pick.observer, pick.state) {
            (Some((id, _)), _) => observer == id,
            (None, Some((id, _))) => state == id,
            (None, None) => true,
        };
        // Every observer of the scenario it may mean, recorded or (in a
        // replay) not: a replay finds what the run found.
        let mut found: Vec<(&str, Option<&ObserverEntry>)> = self
            .observers
            .iter()
            .filter(|(id, entry)| meant(**id, entry.state_type))
            .map(|(_, entry)| (entry.name.as_str(), Some(entry)))
            .chain(
                self.unrecorded
                    .iter()
                    .filter(|u| meant(u.observer, u.state))
                    .map(|u| (u.name.as_str(), None)),
            )
            .collect();
        found.sort_by_key(|(name, _)| *name);
        let state = pick.state.map_or("", |(_, name)| name);
        let names = |several: &[(&str, Option<&ObserverEntry>)]| {
            several
                .iter()
                .map(|(name, _)| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match found.as_slice() {
            [(_, Some(one))] => Ok(one),
            [(name, None)] => Err(MissingObserver::NotRecorded((*name).to_owned())),
            [] => Err(match (pick.observer, pick.state) {
                (Some((_, observer)), _) => MissingObserver::NotInScenario(observer),
                (None, Some(_)) => MissingObserver::NoneObserves(state),
                (None, None) => MissingObserver::NoObserver,
            }),
            several if pick.state.is_none() => {
                Err(MissingObserver::SeveralObservers(names(several)))
            }
            several => Err(MissingObserver::SeveralObserve {
                state,
                observers: names(several),
            }),
        }
    }

    /// Whether the run window is over; workloads stop when it is.
    pub fn is_over(&self) -> bool {
        self.over.is_cancelled()
    }

    /// Resolves when the run window is over.
    pub async fn over(&self) {
        self.over.cancelled().await
    }

    /// How long the run window lasted once it closed (end checks see the
    /// whole window); before that, how long it has lasted so far.
    pub fn window_length(&self) -> Duration {
        self.closed_after
            .get()
            .copied()
            .unwrap_or_else(|| self.elapsed())
    }

    /// Time since the run window opened.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The faults begun so far (in a replay: the recorded run's).
    pub fn faults(&self) -> Vec<FaultWindow> {
        self.faults.lock().clone()
    }

    /// In a replay: the recorded run's faults.
    pub(crate) fn with_faults(self, faults: Vec<FaultWindow>) -> Self {
        *self.faults.lock() = faults;
        self
    }

    /// Marks the start of a fault (`node-0 killed`): reports shade it on
    /// their charts until [`end_fault`](Self::end_fault).
    pub fn begin_fault(&self, source: &str, what: impl Into<String>) -> FaultId {
        self.begin_fault_on(source, what, &[])
    }

    /// Like [`begin_fault`](Self::begin_fault), naming the nodes it
    /// strikes: the report draws it on their rows of the fault schedule.
    pub fn begin_fault_on(
        &self,
        source: &str,
        what: impl Into<String>,
        nodes: &[String],
    ) -> FaultId {
        let what = what.into();
        self.record(source, format!("fault begins: {what}"));
        let mut faults = self.faults.lock();
        faults.push(FaultWindow {
            source: source.to_owned(),
            what,
            start_ms: self.elapsed().as_millis() as u64,
            end_ms: None,
            nodes: nodes.to_vec(),
        });
        FaultId(faults.len() - 1)
    }

    /// Marks the end of a fault.
    pub fn end_fault(&self, fault: FaultId) {
        let at = self.elapsed().as_millis() as u64;
        let ended = self.faults.lock().get_mut(fault.0).map(|f| {
            f.end_ms.get_or_insert(at);
            (f.source.clone(), f.what.clone())
        });
        if let Some((source, what)) = ended {
            self.record(&source, format!("fault ends: {what}"));
        }
    }

    /// Records what a workload did ("killed node-2") on the run's timeline.
    pub fn record(&self, source: &str, what: impl Into<String>) {
        let what = what.into();
        tracing::info!(source, %what, "action");
        self.timeline.lock().push(TimelineEntry {
            at_ms: self.elapsed().as_millis() as u64,
            source: source.to_owned(),
            what,
            kind: TimelineKind::Action,
            severity: Severity::Notice,
        });
    }
}
