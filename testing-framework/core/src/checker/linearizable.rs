//! Linearizability: is there one order of the operations, each placed
//! somewhere between its invocation and its completion, that the
//! sequential model accepts? Checked per independent part, in parallel,
//! under a deadline.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Model;
use super::search::{Limits, PartOp, Searched, Trace, search};
use crate::history::{Operation, Outcome};

/// One independent part: its key and its operations.
type Part<O> = (Option<String>, Vec<PartOp<O>>);

/// How to check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Give up (the answer is then unknown) after this long.
    pub deadline: Option<Duration>,
    /// Parts checked at once.
    pub threads: usize,
    /// Configurations a part's search may remember (16 bytes each, about
    /// twice that in the table); past it, the answer is unknown.
    pub max_configurations: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            deadline: Some(Duration::from_secs(60)),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_configurations: 20_000_000,
        }
    }
}

impl CheckOptions {
    /// With `deadline`.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linearizability {
    /// Some order of the operations is legal.
    Linearizable,
    /// None is; here is why.
    NotLinearizable(Box<Counterexample>),
    /// The deadline came first.
    Unknown(String),
}

/// Why a history is not linearizable: the longest prefix of one part that
/// could be linearized, and the operation that could not follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    /// The part (key) that is not linearizable, if the model has parts.
    pub part: Option<String>,
    /// The operation that completed before any legal order could place
    /// it, described.
    pub blocked: String,
    /// Its index among the history's operations.
    pub blocked_op: usize,
    /// The model's state it met, at the end of the longest prefix.
    pub state: String,
    /// The longest linearizable prefix, each operation with the state
    /// after it.
    pub prefix: Vec<String>,
    /// The indices of the prefix's operations among the history's.
    pub prefix_ops: Vec<usize>,
    /// Other operations that could have gone next there, described; none
    /// was legal either.
    pub concurrent: Vec<String>,
}

/// How many prefix lines a report shows.
const SHOWN_PREFIX: usize = 12;

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(part) = &self.part {
            writeln!(f, "key {part}:")?;
        }
        writeln!(f, "  cannot linearize: {}", self.blocked)?;
        writeln!(f, "  in state {}", self.state)?;
        writeln!(
            f,
            "  after the longest linearizable prefix ({} ops{}):",
            self.prefix.len(),
            if self.prefix.len() > SHOWN_PREFIX {
                format!(", the last {SHOWN_PREFIX} shown")
            } else {
                String::new()
            }
        )?;
        for line in self
            .prefix
            .iter()
            .skip(self.prefix.len().saturating_sub(SHOWN_PREFIX))
        {
            writeln!(f, "    {line}")?;
        }
        if !self.concurrent.is_empty() {
            writeln!(f, "  other ops that could have gone next, none legal:")?;
            for line in self.concurrent.iter().take(SHOWN_PREFIX) {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

/// A linearizability check's answer and what it looked at.
#[derive(Clone, Debug)]
pub struct LinearizabilityReport {
    /// The model's name.
    pub model: String,
    /// The answer.
    pub result: Linearizability,
    /// Operations judged (failed ones and unknown reads are left out).
    pub ops: usize,
    /// Of them, of unknown outcome.
    pub unknown_ops: usize,
    /// Independent parts (keys).
    pub parts: usize,
    /// How long it took.
    pub elapsed: Duration,
}

impl LinearizabilityReport {
    /// Whether the history is linearizable.
    pub fn is_linearizable(&self) -> bool {
        self.result == Linearizability::Linearizable
    }
}

impl fmt::Display for LinearizabilityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match &self.result {
            Linearizability::Linearizable => "linearizable".to_owned(),
            Linearizability::NotLinearizable(_) => "NOT linearizable".to_owned(),
            Linearizability::Unknown(why) => format!("unknown: {why}"),
        };
        writeln!(
            f,
            "{verdict} ({} model; {} ops, {} of unknown outcome, in {} part(s); checked in {:.3}s)",
            self.model,
            self.ops,
            self.unknown_ops,
            self.parts,
            self.elapsed.as_secs_f64()
        )?;
        if let Linearizability::NotLinearizable(counterexample) = &self.result {
            write!(f, "{counterexample}")?;
        }
        Ok(())
    }
}

/// An operation the model cannot read.
#[derive(Debug, thiserror::Error)]
#[error("operation {index} ({described}) does not fit the `{model}` model: {why}")]
pub struct ModelMismatch {
    /// The model.
    pub model: String,
    /// The operation's index.
    pub index: usize,
    /// The operation, described.
    pub described: String,
    /// Why.
    pub why: String,
}

/// Checks that `ops` (from [`crate::history::operations`]) are
/// linearizable against `model`.
pub fn check_linearizable<M: Model>(
    model: &M,
    ops: &[Operation],
    options: &CheckOptions,
) -> Result<LinearizabilityReport, ModelMismatch> {
    let started = Instant::now();
    let mut parts: BTreeMap<Option<String>, Vec<PartOp<M::Op>>> = BTreeMap::new();
    let mut unknown_ops = 0;
    for (index, op) in ops.iter().enumerate() {
        if matches!(op.outcome, Outcome::Fail(_)) {
            continue;
        }
        let read = model.op(op).map_err(|why| ModelMismatch {
            model: model.name().to_owned(),
            index,
            described: op.describe(),
            why,
        })?;
        let Some(read) = read else { continue };
        let ret = if op.is_ok() { op.complete_index } else { None };
        unknown_ops += usize::from(ret.is_none());
        parts.entry(model.part(&read)).or_default().push(PartOp {
            op: read,
            call: op.invoke_index,
            ret,
            source: index,
        });
    }
    let mut unobserved = 0;
    for part in parts.values_mut() {
        let flagged: Vec<(&M::Op, bool)> = part.iter().map(|p| (&p.op, p.ret.is_none())).collect();
        let mut leave_out = model.unobservable(&flagged);
        leave_out.sort_unstable();
        leave_out.dedup();
        unobserved += leave_out.len();
        for i in leave_out.into_iter().rev() {
            part.remove(i);
        }
    }
    let judged = parts.values().map(Vec::len).sum::<usize>() + unobserved;
    let parts: Vec<Part<M::Op>> = parts.into_iter().collect();
    let deadline = options.deadline.map(|d| started + d);

    let stop = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<Option<Searched<M::State>>>> =
        Mutex::new((0..parts.len()).map(|_| None).collect());
    let workers = options.threads.clamp(1, parts.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= parts.len() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let limits = Limits {
                        deadline,
                        max_configurations: options.max_configurations,
                        stop: &stop,
                    };
                    let searched = search(model, &parts[i].1, &limits, false);
                    if !matches!(searched, Searched::Linearizable) {
                        stop.store(true, Ordering::Relaxed);
                    }
                    outcomes.lock()[i] = Some(searched);
                }
            });
        }
    });

    let outcomes = outcomes.into_inner();
    let mut result = Linearizability::Linearizable;
    // The first failing part, in key order; else the first out of time.
    let failed = outcomes
        .iter()
        .position(|o| matches!(o, Some(Searched::NotLinearizable(_))));
    if let Some(i) = failed {
        let (part, part_ops) = &parts[i];
        // Again, keeping the trace: as long as the first search took, and
        // at least a second.
        let budget = started.elapsed().max(Duration::from_secs(1)) * 2;
        let limits = Limits {
            deadline: Some(Instant::now() + budget),
            max_configurations: options.max_configurations,
            stop: &AtomicBool::new(false),
        };
        let traced = search(model, part_ops, &limits, true);
        result = Linearizability::NotLinearizable(Box::new(match traced {
            Searched::NotLinearizable(Some(trace)) => {
                counterexample(model, part, part_ops, ops, trace)
            }
            _ => Counterexample {
                part: part.clone(),
                blocked: "(the search for details ran out of time)".into(),
                blocked_op: part_ops.first().map_or(0, |op| op.source),
                state: "?".into(),
                prefix: Vec::new(),
                prefix_ops: Vec::new(),
                concurrent: Vec::new(),
            },
        }));
    } else if outcomes
        .iter()
        .any(|o| !matches!(o, Some(Searched::Linearizable)))
    {
        let done = outcomes
            .iter()
            .filter(|o| matches!(o, Some(Searched::Linearizable)))
            .count();
        let out_of_memory = outcomes
            .iter()
            .any(|o| matches!(o, Some(Searched::OutOfMemory)));
        let limit = if out_of_memory {
            format!(
                "a part needed more than {} configurations (CheckOptions::max_configurations)",
                options.max_configurations
            )
        } else {
            format!(
                "the deadline of {} came first",
                humantime::format_duration(options.deadline.unwrap_or_default())
            )
        };
        result = Linearizability::Unknown(format!(
            "{limit} ({done} of {} part(s) checked, all linearizable)",
            parts.len()
        ));
    }
    Ok(LinearizabilityReport {
        model: model.name().to_owned(),
        result,
        ops: judged,
        unknown_ops,
        parts: parts.len(),
        elapsed: started.elapsed(),
    })
}

fn counterexample<M: Model>(
    model: &M,
    part: &Option<String>,
    part_ops: &[PartOp<M::Op>],
    ops: &[Operation],
    trace: Trace<M::State>,
) -> Counterexample {
    let describe = |i: usize| ops[part_ops[i].source].describe();
    Counterexample {
        part: part.clone(),
        blocked: describe(trace.blocked),
        blocked_op: part_ops[trace.blocked].source,
        state: model.show(&trace.state),
        prefix: trace
            .prefix
            .iter()
            .map(|(i, state)| format!("{} => {}", describe(*i), model.show(state)))
            .collect(),
        prefix_ops: trace
            .prefix
            .iter()
            .map(|(i, _)| part_ops[*i].source)
            .collect(),
        concurrent: trace
            .concurrent
            .iter()
            .filter(|&&i| i != trace.blocked)
            .map(|&i| describe(i))
            .collect(),
    }
}
