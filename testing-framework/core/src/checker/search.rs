//! The search for a linearization of one part of a history: Wing and
//! Gong's algorithm with Lowe's memoization, as Porcupine runs it. The
//! invocations and completions form a linked list in history order; at an
//! invocation the search tries to linearize its operation next (the model
//! must accept it, and the set of linearized operations with the model's
//! state must be new), and lifts it out of the list; at the completion of
//! an operation not yet linearized it backtracks. An operation of unknown
//! outcome has no completion: it may be linearized anywhere after its
//! invocation, or never.
//!
//! A configuration (the set of linearized operations and the model's
//! state) is remembered by a 128-bit fingerprint: the set's half is kept
//! up to date as operations are linearized and undone (a XOR of a random
//! number per operation), so each step costs the same whatever the
//! history's length, and a configuration costs 16 bytes. Two different
//! configurations share a fingerprint with a probability of about
//! n²/2¹²⁹ for n configurations: negligible next to any real search.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::Model;
use crate::rng::SplitMix64;

const NONE: usize = usize::MAX;

/// One operation of the part, as the model reads it.
pub(crate) struct PartOp<O> {
    pub(crate) op: O,
    /// Position of its invocation in the history.
    pub(crate) call: u64,
    /// Position of its completion; `None` when its outcome is unknown.
    pub(crate) ret: Option<u64>,
    /// Its index among the history's operations.
    pub(crate) source: usize,
}

/// Where the search ended.
pub(crate) enum Searched<S> {
    Linearizable,
    /// With the trace when it was asked for.
    NotLinearizable(Option<Trace<S>>),
    OutOfTime,
    /// It remembered `max` configurations and would need more.
    OutOfMemory,
    /// Another part failed first.
    Stopped,
}

/// The longest linearizable prefix and what could not follow it.
pub(crate) struct Trace<S> {
    /// Operations (indices into the part) in linearization order, each
    /// with the state after it.
    pub(crate) prefix: Vec<(usize, S)>,
    /// The operation whose completion came before it could be linearized.
    pub(crate) blocked: usize,
    /// The state it met.
    pub(crate) state: S,
    /// The other operations that could have gone next; none was legal.
    pub(crate) concurrent: Vec<usize>,
}

struct List {
    next: Vec<usize>,
    prev: Vec<usize>,
    op_of: Vec<usize>,
    is_call: Vec<bool>,
    call_of: Vec<usize>,
    ret_of: Vec<usize>,
}

impl List {
    fn new<O>(ops: &[PartOp<O>]) -> Self {
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            events.push((op.call, false, i));
            if let Some(ret) = op.ret {
                events.push((ret, true, i));
            }
        }
        events.sort_unstable();
        let m = events.len();
        let mut list = List {
            next: vec![NONE; m + 1],
            prev: vec![NONE; m + 1],
            op_of: vec![0; m + 1],
            is_call: vec![false; m + 1],
            call_of: vec![0; ops.len()],
            ret_of: vec![NONE; ops.len()],
        };
        // Entry 0 is the head.
        for (k, &(_, is_ret, i)) in events.iter().enumerate() {
            let e = k + 1;
            list.op_of[e] = i;
            list.is_call[e] = !is_ret;
            if is_ret {
                list.ret_of[i] = e;
            } else {
                list.call_of[i] = e;
            }
            list.prev[e] = k;
            list.next[k] = e;
        }
        list
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NONE {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NONE {
            self.prev[n] = e;
        }
    }

    fn lift(&mut self, op: usize) {
        self.unlink(self.call_of[op]);
        if self.ret_of[op] != NONE {
            self.unlink(self.ret_of[op]);
        }
    }

    /// Undoes the last [`lift`](Self::lift), in reverse.
    fn unlift(&mut self, op: usize) {
        if self.ret_of[op] != NONE {
            self.relink(self.ret_of[op]);
        }
        self.relink(self.call_of[op]);
    }
}

/// Searches for a linearization of `ops` from `model`'s initial state.
pub(crate) fn search<M: Model>(
    model: &M,
    ops: &[PartOp<M::Op>],
    limits: &Limits<'_>,
    track: bool,
) -> Searched<M::State> {
    let mut list = List::new(ops);
    let mut remaining = ops.iter().filter(|op| op.ret.is_some()).count();
    let mut state = model.init();
    // Two random numbers per operation: its part of the set's fingerprint.
    let mut rng = SplitMix64::new(0x5eed);
    let marks: Vec<u128> = ops
        .iter()
        .map(|_| (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()))
        .collect();
    let mut linearized: u128 = 0;
    let mut seen: HashSet<u128, BuildHasherDefault<Fingerprint>> = HashSet::default();
    // (call entry, state before it)
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut best: Vec<(usize, M::State)> = Vec::new();
    let mut at_best = true;
    let mut blocked: Option<(usize, M::State, Vec<usize>)> = None;
    let mut entry = list.next[0];
    let mut steps: u64 = 0;
    loop {
        if remaining == 0 {
            return Searched::Linearizable;
        }
        steps += 1;
        if steps % 1024 == 0 {
            if limits.stop.load(Ordering::Relaxed) {
                return Searched::Stopped;
            }
            if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                return Searched::OutOfTime;
            }
            if seen.len() >= limits.max_configurations {
                return Searched::OutOfMemory;
            }
        }
        if entry != NONE && list.is_call[entry] {
            let i = list.op_of[entry];
            if let Some(after) = model.step(&state, &ops[i].op) {
                linearized ^= marks[i];
                if seen.insert(linearized ^ state_print(&after)) {
                    stack.push((entry, std::mem::replace(&mut state, after)));
                    list.lift(i);
                    if ops[i].ret.is_some() {
                        remaining -= 1;
                    }
                    at_best = false;
                    if track && stack.len() > best.len() {
                        best = linearization(&stack, &state);
                        at_best = true;
                        blocked = None;
                    }
                    entry = list.next[0];
                    continue;
                }
                linearized ^= marks[i];
            }
            entry = list.next[entry];
            continue;
        }
        // The completion of an operation not yet linearized (or, never in
        // a well-formed list, its end): undo the last choice.
        if track && at_best && blocked.is_none() && entry != NONE {
            let concurrent = calls_before(&list, entry);
            blocked = Some((list.op_of[entry], state.clone(), concurrent));
        }
        let Some((call, before)) = stack.pop() else {
            return Searched::NotLinearizable(blocked.map(|(op, state, concurrent)| Trace {
                prefix: best.into_iter().map(|(e, s)| (list.op_of[e], s)).collect(),
                blocked: op,
                state,
                concurrent,
            }));
        };
        at_best = false;
        let i = list.op_of[call];
        state = before;
        linearized ^= marks[i];
        list.unlift(i);
        if ops[i].ret.is_some() {
            remaining += 1;
        }
        entry = list.next[call];
    }
}

/// The stack as (call entry, state after it).
fn linearization<S: Clone>(stack: &[(usize, S)], state: &S) -> Vec<(usize, S)> {
    (0..stack.len())
        .map(|k| {
            let after = stack.get(k + 1).map_or(state, |(_, s)| s);
            (stack[k].0, after.clone())
        })
        .collect()
}

/// The operations whose invocations stand before `entry` in the list.
fn calls_before(list: &List, entry: usize) -> Vec<usize> {
    let mut calls = Vec::new();
    let mut e = list.next[0];
    while e != NONE && e != entry {
        if list.is_call[e] {
            calls.push(list.op_of[e]);
        }
        e = list.next[e];
    }
    calls
}

/// What bounds a search.
pub(crate) struct Limits<'a> {
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_configurations: usize,
    /// Set when another part failed: this one need not finish.
    pub(crate) stop: &'a AtomicBool,
}

/// A state's half of a configuration's fingerprint.
fn state_print<S: Hash>(state: &S) -> u128 {
    let half = |seed: u64| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut hasher);
        state.hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// Fingerprints are random already: the set's hasher only folds them.
#[derive(Default)]
struct Fingerprint(u64);

impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 ^= (value as u64) ^ ((value >> 64) as u64);
    }
}
