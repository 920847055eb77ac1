//! Catalog entries and the app-agnostic scenario they build.

use std::path::Path;

use futures::future::BoxFuture;

use super::{Param, ParamError, Params};
use crate::report::{ReplayReport, RunReport};
use crate::scenario::{Application, Deployer, ReplayError, RunOptions, Scenario, ScenarioError};

/// A built scenario of some app, ready to run or replay; what a CLI holds
/// without knowing the app.
pub trait AnyScenario: Send {
    /// The scenario's name.
    fn name(&self) -> &str;
    /// What it asks a deployer for: its app's nodes, binary, ports and
    /// commands (for a deployer's dry run).
    fn deployment(&self) -> crate::scenario::deploy::DeploymentRequest;
    /// Runs it (see [`run`](crate::scenario::run)).
    fn run<'a>(
        self: Box<Self>,
        deployer: &'a dyn Deployer,
        options: RunOptions,
    ) -> BoxFuture<'a, RunReport>;
    /// Replays it against a recorded run (see [`replay`](crate::scenario::replay)).
    fn replay<'a>(
        self: Box<Self>,
        run_dir: &'a Path,
    ) -> BoxFuture<'a, Result<ReplayReport, ReplayError>>;
}

impl<A: Application> AnyScenario for Scenario<A> {
    fn name(&self) -> &str {
        Scenario::name(self)
    }

    fn deployment(&self) -> crate::scenario::deploy::DeploymentRequest {
        self.request()
    }

    fn run<'a>(
        self: Box<Self>,
        deployer: &'a dyn Deployer,
        options: RunOptions,
    ) -> BoxFuture<'a, RunReport> {
        Box::pin(crate::scenario::run(*self, deployer, options))
    }

    fn replay<'a>(
        self: Box<Self>,
        run_dir: &'a Path,
    ) -> BoxFuture<'a, Result<ReplayReport, ReplayError>> {
        Box::pin(crate::scenario::replay(*self, run_dir))
    }
}

type Builder = dyn Fn(&Params) -> Result<Box<dyn AnyScenario>, ScenarioError> + Send + Sync;

/// One scenario of an app's catalog: its name, one line about it, its
/// typed parameters, and how to build it from them.
pub struct ScenarioEntry {
    name: &'static str,
    about: &'static str,
    params: Vec<Param>,
    build: Option<Box<Builder>>,
}

impl ScenarioEntry {
    /// An entry called `name` (as `scenarios run <name>` takes it).
    pub fn new(name: &'static str, about: &'static str) -> Self {
        ScenarioEntry {
            name,
            about,
            params: Vec::new(),
            build: None,
        }
    }

    /// Declares a parameter. A name declared twice is a bug in the entry.
    pub fn param(mut self, param: Param) -> Self {
        assert!(
            self.params.iter().all(|p| p.name() != param.name()),
            "scenario `{}` declares parameter `{}` twice",
            self.name,
            param.name()
        );
        self.params.push(param);
        self
    }

    /// How the scenario is built from its parameters.
    pub fn builds<A, F>(mut self, build: F) -> Self
    where
        A: Application,
        F: Fn(&Params) -> Result<Scenario<A>, ScenarioError> + Send + Sync + 'static,
    {
        self.build = Some(Box::new(move |params| {
            let mut scenario = build(params)?;
            scenario.parameters = params.as_text();
            Ok(Box::new(scenario) as Box<dyn AnyScenario>)
        }));
        self
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// One line about it.
    pub fn about(&self) -> &'static str {
        self.about
    }

    /// Its parameters, in declaration order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Its parameters with `given` (`name`, text) over the defaults.
    pub fn parse<N: AsRef<str>, V: AsRef<str>>(
        &self,
        given: &[(N, V)],
    ) -> Result<Params, ParamError> {
        Params::parse(self.name, &self.params, given)
    }

    /// The scenario built from `params`.
    pub fn build(&self, params: &Params) -> Result<Box<dyn AnyScenario>, ScenarioError> {
        match &self.build {
            Some(build) => build(params),
            None => Err(ScenarioError::Invalid(format!(
                "catalog entry `{}` has no builder; give it one with ScenarioEntry::builds",
                self.name
            ))),
        }
    }
}

/// Every scenario a CLI offers, from every app's catalog.
#[derive(Default)]
pub struct Catalog {
    entries: Vec<ScenarioEntry>,
}

impl Catalog {
    /// No scenarios yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// With an app's entries; a name already taken keeps its first entry
    /// (and [`duplicates`](Self::duplicates) reports it).
    pub fn with(mut self, entries: Vec<ScenarioEntry>) -> Self {
        self.entries.extend(entries);
        self
    }

    /// Every entry, in the order added.
    pub fn entries(&self) -> &[ScenarioEntry] {
        &self.entries
    }

    /// Names given to more than one entry.
    pub fn duplicates(&self) -> Vec<&'static str> {
        let mut names: Vec<&str> = self.entries.iter().map(|e| e.name).collect();
        names.sort_unstable();
        let mut twice: Vec<&str> = names
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        twice.dedup();
        twice
    }

    /// The entry called `name`.
    pub fn find(&self, name: &str) -> Option<&ScenarioEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Every name, for "no scenario named x; known: ...".
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name).collect()
    }
}
