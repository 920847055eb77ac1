//! A scenario: topology, observers, workloads, expectations and duration.

use std::any::{Any, TypeId};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{Application, Expectation, Workload};
use crate::observation::{
    ConfigError, ObservationConfig, ObservationRuntime, Observer, SourceSet, StartError,
};

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
    pub fn observer<O>(mut self, observer: O, config: ObservationConfig) -> Self
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
        self.scenario
            .observers
            .push(Box::new(Slot { observer, config }));
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

/// An observer waiting to be started on a cluster, type-erased.
pub(crate) trait ObserverSlot<A: Application>: Send + Sync {
    fn observer_type(&self) -> TypeId;
    fn start(
        self: Box<Self>,
        sources: SourceSet<A::Client>,
    ) -> Result<Box<dyn RunningObserver>, StartError>;
}

/// A started observer, type-erased.
pub(crate) trait RunningObserver: Send + Sync {
    fn observer_type(&self) -> TypeId;
    fn name(&self) -> String;
    /// The `ObservationHandle<O>`, boxed.
    fn handle(&self) -> Box<dyn Any + Send + Sync>;
    fn diagnostics(&self) -> String;
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

struct Slot<O> {
    observer: O,
    config: ObservationConfig,
}

impl<A: Application, O: Observer<Source = A::Client>> ObserverSlot<A> for Slot<O> {
    fn observer_type(&self) -> TypeId {
        TypeId::of::<O>()
    }

    fn start(
        self: Box<Self>,
        sources: SourceSet<A::Client>,
    ) -> Result<Box<dyn RunningObserver>, StartError> {
        let runtime = ObservationRuntime::start(sources, self.observer, self.config)?;
        Ok(Box::new(runtime))
    }
}

impl<O: Observer> RunningObserver for ObservationRuntime<O> {
    fn observer_type(&self) -> TypeId {
        TypeId::of::<O>()
    }

    fn name(&self) -> String {
        self.handle().observer_name().to_owned()
    }

    fn handle(&self) -> Box<dyn Any + Send + Sync> {
        Box::new(ObservationRuntime::handle(self))
    }

    fn diagnostics(&self) -> String {
        ObservationRuntime::handle(self).diagnostics().to_string()
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(ObservationRuntime::stop(*self))
    }
}
