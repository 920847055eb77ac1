//! Histories of a simulated key-value store, for testing checkers and
//! models: a real sequential execution (each operation takes effect at one
//! instant between its invocation and its completion) with random overlap
//! between processes, optionally with one injected anomaly.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::history::{Event, EventKind};
use crate::rng::SplitMix64;

/// A bug to inject into a generated history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anomaly {
    /// A read returns a value that a completed write had already replaced.
    StaleRead,
    /// A write is acknowledged but never takes effect.
    LostWrite,
    /// A write takes effect a second time, after a later write.
    DuplicatedWrite,
    /// A read returns a value nobody wrote.
    NeverWritten,
}

/// How to generate (see [`KvHistory::generate`]).
#[derive(Clone, Debug)]
pub struct KvHistory {
    /// Concurrent client processes.
    pub processes: usize,
    /// Keys (`k0`, `k1`, ...).
    pub keys: usize,
    /// Operations invoked (before the final reads).
    pub ops: usize,
    /// Percent of operations whose outcome is unknown (half of them take
    /// effect).
    pub unknown_percent: u64,
    /// Percent of writes that fail (and do not take effect).
    pub fail_percent: u64,
    /// Whether compare-and-set operations are mixed in.
    pub cas: bool,
    /// Read every key once at the end, when nothing is in flight.
    pub final_reads: bool,
    /// The random seed: the same seed gives the same history.
    pub seed: u64,
}

impl Default for KvHistory {
    fn default() -> Self {
        KvHistory {
            processes: 5,
            keys: 3,
            ops: 200,
            unknown_percent: 5,
            fail_percent: 5,
            cas: true,
            final_reads: true,
            seed: 1,
        }
    }
}

/// A generated history.
#[derive(Clone, Debug)]
pub struct Generated {
    /// Its events.
    pub events: Vec<Event>,
    /// The invocation index of the operation that carries the anomaly.
    pub injected: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ok,
    Fail,
    Unknown,
}

struct InFlight {
    f: &'static str,
    key: String,
    input: Value,
    fate: Fate,
    /// The output once it took effect (or was decided not to).
    output: Option<Value>,
    uid: usize,
    invoke_index: u64,
}

/// A value a key took, and the uid of the write that wrote it (none for
/// the initial value).
type Written = (Option<String>, Option<usize>);

struct Sim {
    rng: SplitMix64,
    events: Vec<Event>,
    store: HashMap<String, Option<String>>,
    /// Per key, the values in the order they took effect, each with the
    /// write that wrote it (none for the initial value).
    values: HashMap<String, Vec<Written>>,
    /// Invocation index of each operation, by uid.
    invoked: HashMap<usize, u64>,
    /// Completion index of each operation that completed ok, by uid.
    completed: HashMap<usize, u64>,
    next_process: u64,
    next_uid: usize,
    next_value: u64,
}

impl Sim {
    fn push(&mut self, kind: EventKind, process: u64, f: &str, value: Value) -> u64 {
        let index = self.events.len() as u64;
        self.events.push(Event {
            index,
            kind,
            process,
            f: f.to_owned(),
            value,
            time: index * 1_000,
            error: (kind == EventKind::Fail || kind == EventKind::Info)
                .then(|| "simulated".to_owned()),
            client: None,
        });
        index
    }

    fn set(&mut self, key: &str, value: Option<String>, uid: usize) {
        let history = self
            .values
            .entry(key.to_owned())
            .or_insert_with(|| vec![(None, None)]);
        history.push((value.clone(), Some(uid)));
        self.store.insert(key.to_owned(), value);
    }

    fn get(&self, key: &str) -> Option<String> {
        self.store.get(key).cloned().flatten()
    }

    fn fresh_value(&mut self) -> String {
        self.next_value += 1;
        format!("v{}", self.next_value)
    }

    /// A value of `key` that no order of the history can show to a read
    /// invoked at `invoked`: it was replaced by a write that completed ok
    /// before then, and its own write (if any) completed ok before that
    /// write was invoked.
    fn stale(&self, key: &str, invoked: u64) -> Option<Option<String>> {
        let history = self.values.get(key)?;
        history.windows(2).rev().find_map(|pair| {
            let [(value, writer), (_, Some(replacer))] = pair else {
                return None;
            };
            let replaced_done = *self.completed.get(replacer)?;
            let replacer_invoked = *self.invoked.get(replacer)?;
            let written_before = match writer {
                None => true,
                Some(w) => self
                    .completed
                    .get(w)
                    .is_some_and(|&done| done < replacer_invoked),
            };
            (replaced_done < invoked && written_before).then(|| value.clone())
        })
    }

    /// Runs one operation alone, start to end.
    fn sequential(&mut self, f: &'static str, input: Value, output: Value) -> u64 {
        let process = self.next_process;
        self.next_process += 1;
        let at = self.push(EventKind::Invoke, process, f, input);
        self.push(EventKind::Ok, process, f, output);
        at
    }
}

impl KvHistory {
    /// Generates the history, with `anomaly` injected once if given.
    pub fn generate(&self, anomaly: Option<Anomaly>) -> Generated {
        let mut sim = Sim {
            rng: SplitMix64::new(self.seed),
            events: Vec::new(),
            store: HashMap::new(),
            values: HashMap::new(),
            invoked: HashMap::new(),
            completed: HashMap::new(),
            next_process: self.processes as u64,
            next_uid: 0,
            next_value: 0,
        };
        let mut procs: Vec<(u64, Option<InFlight>)> =
            (0..self.processes as u64).map(|p| (p, None)).collect();
        let mut injected = None;
        let mut invoked = 0;
        let keys = self.keys.max(1) as u64;
        while invoked < self.ops || procs.iter().any(|(_, op)| op.is_some()) {
            let p = sim.rng.below(procs.len() as u64) as usize;
            let (process, slot) = &mut procs[p];
            match slot {
                None if invoked < self.ops => {
                    invoked += 1;
                    let key = format!("k{}", sim.rng.below(keys));
                    let roll = sim.rng.below(10);
                    let (f, input) = if roll < 4 {
                        ("read", json!([key, null]))
                    } else if roll < 8 || !self.cas {
                        ("write", json!([key, sim.fresh_value()]))
                    } else {
                        let old = if sim.rng.percent(70) {
                            sim.get(&key)
                        } else {
                            Some(format!("v{}", sim.rng.below(sim.next_value + 1)))
                        };
                        ("cas", json!([key, [old, sim.fresh_value()]]))
                    };
                    let fate = if sim.rng.percent(self.unknown_percent) {
                        Fate::Unknown
                    } else if f != "read" && sim.rng.percent(self.fail_percent) {
                        Fate::Fail
                    } else {
                        Fate::Ok
                    };
                    let invoke_index = sim.push(EventKind::Invoke, *process, f, input.clone());
                    sim.next_uid += 1;
                    sim.invoked.insert(sim.next_uid, invoke_index);
                    *slot = Some(InFlight {
                        f,
                        key,
                        input,
                        fate,
                        output: None,
                        uid: sim.next_uid,
                        invoke_index,
                    });
                }
                None => {}
                Some(op) if op.output.is_none() => {
                    // Its moment of effect.
                    let takes_effect = match op.fate {
                        Fate::Ok => true,
                        Fate::Fail => false,
                        Fate::Unknown => sim.rng.percent(50),
                    };
                    op.output = Some(Value::Null);
                    if !takes_effect {
                        continue;
                    }
                    let current = sim.get(&op.key);
                    match op.f {
                        "read" => {
                            let mut seen = current;
                            let middle = invoked > self.ops / 3;
                            if injected.is_none() && middle && op.fate == Fate::Ok {
                                if anomaly == Some(Anomaly::StaleRead) {
                                    if let Some(stale) = sim.stale(&op.key, op.invoke_index) {
                                        seen = stale;
                                        injected = Some(op.invoke_index);
                                    }
                                } else if anomaly == Some(Anomaly::NeverWritten) {
                                    seen = Some("never-written".to_owned());
                                    injected = Some(op.invoke_index);
                                }
                            }
                            op.output = Some(json!([op.key, seen]));
                        }
                        "write" => {
                            let value = op.input[1].as_str().map(str::to_owned);
                            sim.set(&op.key.clone(), value, op.uid);
                            op.output = Some(op.input.clone());
                        }
                        _ => {
                            let old = op.input[1][0].as_str().map(str::to_owned);
                            if old == current {
                                let new = op.input[1][1].as_str().map(str::to_owned);
                                sim.set(&op.key.clone(), new, op.uid);
                                op.output = Some(op.input.clone());
                            } else if op.fate == Fate::Ok {
                                // The comparison failed: a failed op.
                                op.fate = Fate::Fail;
                            }
                        }
                    }
                }
                Some(_) => {
                    let Some(op) = slot.take() else { continue };
                    let (kind, value) = match op.fate {
                        Fate::Ok => (EventKind::Ok, op.output.unwrap_or(Value::Null)),
                        Fate::Fail => (EventKind::Fail, op.input),
                        Fate::Unknown => (EventKind::Info, op.input),
                    };
                    let done = sim.push(kind, *process, op.f, value);
                    if op.fate == Fate::Ok {
                        sim.completed.insert(op.uid, done);
                    }
                    if op.fate == Fate::Unknown {
                        *process = sim.next_process;
                        sim.next_process += 1;
                    }
                }
            }
        }
        // Anomalies of the tail, on a quiet cluster.
        match anomaly {
            Some(Anomaly::LostWrite) => {
                // A known value first: one written by an operation of
                // unknown outcome could be placed after the lost write.
                let known = sim.fresh_value();
                sim.sequential("write", json!(["k0", known]), json!(["k0", known]));
                sim.store.insert("k0".into(), Some(known));
                let value = sim.fresh_value();
                injected =
                    Some(sim.sequential("write", json!(["k0", value]), json!(["k0", value])));
                let current = sim.get("k0");
                if !self.final_reads {
                    sim.sequential("read", json!(["k0", null]), json!(["k0", current]));
                }
            }
            Some(Anomaly::DuplicatedWrite) => {
                let (a, b) = (sim.fresh_value(), sim.fresh_value());
                injected = Some(sim.sequential("write", json!(["k0", a]), json!(["k0", a])));
                sim.sequential("write", json!(["k0", b]), json!(["k0", b]));
                // The first write is delivered again.
                sim.store.insert("k0".into(), Some(a.clone()));
                if !self.final_reads {
                    sim.sequential("read", json!(["k0", null]), json!(["k0", a]));
                }
            }
            _ => {}
        }
        if self.final_reads {
            for k in 0..keys {
                let key = format!("k{k}");
                let value = sim.get(&key);
                sim.sequential("read", json!([key, null]), json!([key, value]));
            }
        }
        Generated {
            events: sim.events,
            injected,
        }
    }
}
