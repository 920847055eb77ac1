//! A scenario: topology, observers, workloads, expectations and duration.

use std::any::TypeId;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::deploy::DeploymentRequest;
use super::group::{DEFAULT_GROUP, Group, GroupRequest, TopologyError};
use super::observer_slot::{ObserverSlot, RecordFns, Slot};
use super::{Application, Expectation, Workload};
use crate::observation::error::ConfigError;
use crate::observation::{ObservationConfig, Observer};
use crate::report::{ReportEvent, ReportSnapshot};

/// A scenario, ready to run with [`run`](super::run).
pub struct Scenario<A: Application> {
    pub(crate) name: String,
    pub(crate) app: Arc<A>,
    /// The first is `app`'s own.
    pub(crate) groups: Vec<Group>,
    pub(crate) duration: Duration,
    pub(crate) cooldown: Duration,
    pub(crate) ready_timeout: Duration,
    pub(crate) observers: Vec<Box<dyn ObserverSlot>>,
    pub(crate) workloads: Vec<Arc<dyn Workload<A>>>,
    pub(crate) expectations: Vec<Arc<dyn Expectation<A>>>,
    pub(crate) allow_node_crashes: bool,
    pub(crate) parameters: Vec<(String, String)>,
}

impl<A: Application> Scenario<A> {
    /// Starts describing a scenario called `name` for `app`.
    pub fn builder(name: impl Into<String>, app: A) -> ScenarioBuilder<A> {
        let app = Arc::new(app);
        ScenarioBuilder {
            scenario: Scenario {
                name: name.into(),
                groups: vec![Group::of(DEFAULT_GROUP, Arc::clone(&app)).nodes(3)],
                app,
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

    /// How many nodes it runs, in all groups.
    pub fn nodes(&self) -> usize {
        self.groups.iter().map(Group::size).sum()
    }

    /// Its groups, in order; the first is its app's own.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Its topology as a deployer is asked for it.
    pub fn request(&self) -> DeploymentRequest {
        DeploymentRequest::of_groups(
            &self.name,
            self.groups.iter().map(|g| g.request.clone()).collect(),
        )
        .with_ready_timeout(self.ready_timeout)
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
    /// How many nodes of the app's own group (default 3).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.scenario.groups[0].request.nodes = nodes;
        self
    }

    /// Names the app's own group (default [`DEFAULT_GROUP`], whose nodes
    /// are `node-0`, ...): `validator` makes them `validator-0`, ...
    pub fn group_name(mut self, name: impl Into<String>) -> Self {
        self.scenario.groups[0].rename(name.into());
        self
    }

    /// The app's own group starts once every node of `group` is ready.
    pub fn after(mut self, group: impl Into<String>) -> Self {
        self.scenario.groups[0].request.after.push(group.into());
        self
    }

    /// Adds a group of nodes of another kind (or of the same app with
    /// other settings): RPC nodes beside validators, sentinels beside
    /// Redis servers, a database as a service.
    pub fn group(mut self, group: Group) -> Self {
        self.scenario.groups.push(group);
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
    /// and expectations reach it with [`RunContext::observer`](super::RunContext::observer),
    /// and the framework's expectations and faults find it by the type of
    /// its snapshots, which their conditions read. One observer per type.
    pub fn observer<O>(self, observer: O, config: ObservationConfig) -> Self
    where
        O: Observer<Source = A::Client>,
    {
        self.add_observer(observer, config, None, None)
    }

    /// Runs observer `O` on the nodes of `groups` only; its source type is
    /// the client of those groups' app, whichever app that is. Without
    /// `_on`, an observer watches every node whose app's client is its
    /// source type.
    pub fn observer_on<O>(self, groups: &[&str], observer: O, config: ObservationConfig) -> Self
    where
        O: Observer,
        O::Source: Clone,
    {
        self.add_observer(observer, config, None, Some(groups))
    }

    /// Like [`observer_on`](Self::observer_on), recorded as
    /// [`recorded_observer`](Self::recorded_observer) does.
    pub fn recorded_observer_on<O>(
        self,
        groups: &[&str],
        observer: O,
        config: ObservationConfig,
    ) -> Self
    where
        O: Observer,
        O::Source: Clone,
        O::Snapshot: ReportSnapshot + Serialize + DeserializeOwned,
        O::Event: ReportEvent + Serialize + DeserializeOwned,
    {
        self.add_observer(observer, config, Some(RecordFns::<O>::of()), Some(groups))
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
        self.add_observer(observer, config, Some(RecordFns::<O>::of()), None)
    }

    fn add_observer<O>(
        mut self,
        observer: O,
        config: ObservationConfig,
        record: Option<RecordFns<O>>,
        groups: Option<&[&str]>,
    ) -> Self
    where
        O: Observer,
        O::Source: Clone,
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
            .push(Box::new(Slot::new(observer, config, record, groups)));
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
        if let Some(missing) = scenario.groups.iter().find_map(Group::lacks_client) {
            return Err(ScenarioError::Invalid(missing));
        }
        let requests: Vec<GroupRequest> =
            scenario.groups.iter().map(|g| g.request.clone()).collect();
        let at_least: Vec<usize> = scenario.groups.iter().map(|g| g.at_least).collect();
        if scenario.groups.len() == 1 && scenario.nodes() == 0 {
            return Err(ScenarioError::NoNodes);
        }
        super::group::stages(&requests, &at_least)?;
        for slot in &scenario.observers {
            slot.check_groups(&scenario.groups)
                .map_err(ScenarioError::Invalid)?;
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
    /// Groups that cannot be deployed.
    #[error("{0}")]
    Topology(#[from] TopologyError),
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
