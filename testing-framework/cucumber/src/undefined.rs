//! A writer that, under a step no definition matches, says where the step
//! is and which defined steps are closest, and keeps each such message for
//! the run's summary.

use std::sync::{Arc, Mutex};

use cucumber::event::{self, StepError};
use cucumber::{Event, parser, writer};

use crate::suggest::{self, Catalog, SUGGESTIONS};
use crate::world::TfWorld;

/// Wraps the writer that prints the run (cucumber's `Basic`).
pub(crate) struct Suggesting<Wr> {
    inner: Wr,
    catalog: Arc<Catalog>,
    noted: Arc<Mutex<Vec<String>>>,
}

impl<Wr> Suggesting<Wr> {
    /// `inner` printing, the run's steps in `catalog`; each message also
    /// goes into `noted`.
    pub(crate) fn new(inner: Wr, catalog: Arc<Catalog>, noted: Arc<Mutex<Vec<String>>>) -> Self {
        Suggesting {
            inner,
            catalog,
            noted,
        }
    }

    /// The message for a step no definition matched: skipped, or failed as
    /// not found (a run failing on skipped steps turns the one into the
    /// other).
    fn undefined(&self, event: &event::Cucumber<TfWorld>) -> Option<String> {
        let event::Cucumber::Feature(feature, event) = event else {
            return None;
        };
        let scenario = match event {
            event::Feature::Scenario(_, scenario)
            | event::Feature::Rule(_, event::Rule::Scenario(_, scenario)) => scenario,
            _ => return None,
        };
        let (event::Scenario::Step(step, outcome) | event::Scenario::Background(step, outcome)) =
            &scenario.event
        else {
            return None;
        };
        if !matches!(
            outcome,
            event::Step::Skipped | event::Step::Failed(_, _, _, StepError::NotFound)
        ) {
            return None;
        }
        let place = format!(
            "{}:{}",
            suggest::shown_path(feature.path.as_deref(), &feature.name),
            step.position.line
        );
        Some(suggest::message(
            &self.catalog,
            &place,
            &step.keyword,
            &step.value,
            SUGGESTIONS,
        ))
    }
}

/// Lines of `text` indented as cucumber indents a step's diagnostics.
fn indented(text: &str) -> String {
    text.lines()
        .map(|line| format!("      {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl<Wr> cucumber::Writer<TfWorld> for Suggesting<Wr>
where
    Wr: cucumber::Writer<TfWorld> + writer::Arbitrary<TfWorld, String>,
{
    type Cli = Wr::Cli;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<event::Cucumber<TfWorld>>>,
        cli: &Self::Cli,
    ) {
        let said = event
            .as_ref()
            .ok()
            .and_then(|event| self.undefined(&event.value));
        self.inner.handle_event(event, cli).await;
        if let Some(said) = said {
            self.inner.write(indented(&said)).await;
            self.noted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(said);
        }
    }
}

impl<Wr, Val> writer::Arbitrary<TfWorld, Val> for Suggesting<Wr>
where
    Wr: writer::Arbitrary<TfWorld, Val> + writer::Arbitrary<TfWorld, String>,
{
    async fn write(&mut self, val: Val) {
        self.inner.write(val).await;
    }
}

impl<Wr: writer::NonTransforming> writer::NonTransforming for Suggesting<Wr> {}
