//! A key-value map: a register per key, checked key by key.

use serde_json::Value;

use super::Model;
use super::model::{scalar, show_value};
use super::register::RegisterOp;
use crate::history::Operation;

/// A map of independent registers. Every value is `[key, v]` (Jepsen's
/// independent tuples): `read` invokes `[k, null]` and returns `[k, v]`;
/// `write [k, v]`; `cas [k, [old, new]]`; `append [k, s]` appends `s` to
/// the value as text. The history is checked per key.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyValue;

/// An operation on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvOp {
    /// The key.
    pub key: String,
    /// What it does to the key's register.
    pub op: RegisterOp,
}

fn split(value: &Value, what: &str) -> Result<(String, Value), String> {
    match value.as_array().map(Vec::as_slice) {
        Some([key, v]) => {
            let key = scalar(key).ok_or_else(|| format!("{what} has a null key"))?;
            Ok((key, v.clone()))
        }
        _ => Err(format!("{what} must be [key, value], not {value}")),
    }
}

impl Model for KeyValue {
    type State = Option<String>;
    type Op = KvOp;

    fn name(&self) -> &str {
        "kv"
    }

    fn init(&self) -> Option<String> {
        None
    }

    fn show(&self, state: &Option<String>) -> String {
        show_value(state)
    }

    fn op(&self, op: &Operation) -> Result<Option<KvOp>, String> {
        let (key, input) = split(&op.input, "the input")?;
        let output = match op.output() {
            Some(out) if op.f == "read" => {
                let (read_key, value) = split(out, "a read's output")?;
                if read_key != key {
                    return Err(format!("a read of `{key}` returned key `{read_key}`"));
                }
                Some(value)
            }
            Some(out) => Some(out.clone()),
            None => None,
        };
        Ok(RegisterOp::parse(&op.f, &input, output.as_ref())?.map(|op| KvOp { key, op }))
    }

    fn step(&self, state: &Option<String>, op: &KvOp) -> Option<Option<String>> {
        op.op.apply(state)
    }

    fn part(&self, op: &KvOp) -> Option<String> {
        Some(op.key.clone())
    }

    fn unobservable(&self, ops: &[(&KvOp, bool)]) -> Vec<usize> {
        RegisterOp::unobservable(ops.iter().map(|(op, unknown)| (&op.op, *unknown)))
    }
}
