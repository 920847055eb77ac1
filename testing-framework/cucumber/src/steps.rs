//! A set of steps: the generic ones, or an app's.

use cucumber::step::Context;
use futures::future::LocalBoxFuture;
use regex::Regex;

use crate::TfWorld;

/// One step's function: `|world, ctx| Box::pin(async move { ... })`.
/// Captures are in `ctx.matches` (index 0 is the whole match).
pub type StepFn = for<'a> fn(&'a mut TfWorld, Context) -> LocalBoxFuture<'a, ()>;

/// Which keyword a step is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Given,
    When,
    Then,
}

/// Steps, each a regular expression matched against the whole step text
/// (anchor it with `^...$`) and its function. The keyword a step is added
/// with says how it reads; the runner finds it after any keyword (`And
/// within 20 seconds a leader is elected` after a `Given` is the same
/// wait as after a `Then`).
#[derive(Default)]
pub struct Steps {
    pub(crate) steps: Vec<(Kind, Regex, StepFn)>,
}

impl Steps {
    /// No steps.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(mut self, kind: Kind, pattern: &str, step: StepFn) -> Self {
        // A bad pattern is a bug in the step module: say which.
        let regex = Regex::new(pattern)
            .unwrap_or_else(|e| panic!("step pattern `{pattern}` is not a regex: {e}"));
        self.steps.push((kind, regex, step));
        self
    }

    /// A `Given` step.
    pub fn given(self, pattern: &str, step: StepFn) -> Self {
        self.add(Kind::Given, pattern, step)
    }

    /// A `When` step.
    pub fn when(self, pattern: &str, step: StepFn) -> Self {
        self.add(Kind::When, pattern, step)
    }

    /// A `Then` step.
    pub fn then(self, pattern: &str, step: StepFn) -> Self {
        self.add(Kind::Then, pattern, step)
    }

    /// These steps and `other`'s.
    pub fn and(mut self, other: Steps) -> Self {
        self.steps.extend(other.steps);
        self
    }
}

/// The `n`th capture of a step (from 1).
pub fn capture(ctx: &Context, n: usize) -> &str {
    ctx.matches
        .get(n)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}
