//! A sequential model of the system under test: what each operation may
//! return in each state, and the state after it.

use std::fmt::Debug;
use std::hash::Hash;

use serde_json::Value;

use crate::history::Operation;

/// A sequential specification the linearizability checker judges a
/// history against (Porcupine's model interface, in Rust).
///
/// ```
/// use tf_core::checker::Model;
/// use tf_core::history::Operation;
///
/// /// A counter: `add n` returns nothing, `get` returns the sum.
/// struct Counter;
///
/// #[derive(Clone, Debug)]
/// enum CounterOp { Add(i64), Get(i64) }
///
/// impl Model for Counter {
///     type State = i64;
///     type Op = CounterOp;
///     fn name(&self) -> &str { "counter" }
///     fn init(&self) -> i64 { 0 }
///     fn op(&self, op: &Operation) -> Result<Option<CounterOp>, String> {
///         match (op.f.as_str(), op.output()) {
///             ("add", _) => op.input.as_i64().map(|n| Some(CounterOp::Add(n))).ok_or("add takes a number".into()),
///             ("get", Some(out)) => out.as_i64().map(|n| Some(CounterOp::Get(n))).ok_or("get returns a number".into()),
///             ("get", None) => Ok(None), // an unknown read constrains nothing
///             (f, _) => Err(format!("a counter has no `{f}`")),
///         }
///     }
///     fn step(&self, sum: &i64, op: &CounterOp) -> Option<i64> {
///         match op {
///             CounterOp::Add(n) => Some(sum + n),
///             CounterOp::Get(n) => (n == sum).then_some(*sum),
///         }
///     }
/// }
/// ```
pub trait Model: Send + Sync {
    /// The state; equal states reached by the same set of operations are
    /// explored once.
    type State: Clone + Eq + Hash + Debug + Send;
    /// One operation as the model reads it.
    type Op: Clone + Debug + Send + Sync;

    /// A name for reports (`register`, `kv`).
    fn name(&self) -> &str;

    /// The state before any operation (of each part, when partitioned).
    fn init(&self) -> Self::State;

    /// Reads an operation of the history that did not fail: its `f`, its
    /// input and its output ([`Operation::output`] is `None` when its
    /// outcome is unknown). `Ok(None)` leaves it out because it constrains
    /// nothing (an unknown read); an error says why it does not fit.
    fn op(&self, op: &Operation) -> Result<Option<Self::Op>, String>;

    /// The state after `op` if `op` (with its output) is legal in `state`;
    /// `None` if it is not. For an operation of unknown outcome it must be
    /// legal in every state (it may have done nothing).
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// The independent part of the history `op` belongs to (its key, for a
    /// map of registers); parts are checked separately, which is what
    /// makes large histories tractable. `None`: one part.
    fn part(&self, op: &Self::Op) -> Option<String> {
        let _ = op;
        None
    }

    /// A state, for people (in counterexamples).
    fn show(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }

    /// Of one part's operations (each with whether its outcome is
    /// unknown), the indices of unknown ones that no operation could
    /// observe (a write of a value nobody read): they may always be taken
    /// never to have happened, so the search leaves them out, which keeps
    /// histories with many timeouts tractable. Default: none.
    fn unobservable(&self, ops: &[(&Self::Op, bool)]) -> Vec<usize> {
        let _ = ops;
        Vec::new()
    }
}

/// A register's value for people: `nil` when it has none.
pub(crate) fn show_value(value: &Option<String>) -> String {
    match value {
        None => "nil".to_owned(),
        Some(v) => format!("{v:?}"),
    }
}

/// A scalar value of a register, as text: `null` is no value, a string is
/// itself, anything else its JSON.
pub(crate) fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
