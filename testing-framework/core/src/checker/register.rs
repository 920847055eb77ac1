//! A register: read, write, compare-and-set (Knossos's `cas-register`).

use serde_json::Value;

use super::Model;
use super::model::{scalar, show_value};
use crate::history::Operation;

/// One register: `read` (its output is the value), `write v`, and `cas
/// [old new]`, which succeeds when the register holds `old`. A failed
/// compare-and-set is recorded as `fail` (it did not take effect). Values
/// are compared as text: `"3"` and `3` are the same value; `null` is none.
#[derive(Clone, Copy, Debug, Default)]
pub struct Register;

/// An operation on a register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// Read, returning this value (`None`: no value yet).
    Read(Option<String>),
    /// Write this value.
    Write(Option<String>),
    /// Compare-and-set; `certain` when it is known to have succeeded,
    /// otherwise it may also have found another value and done nothing.
    Cas {
        /// Expected value.
        old: Option<String>,
        /// New value.
        new: Option<String>,
        /// It took effect for certain.
        certain: bool,
    },
    /// Append to the value (as text).
    Append(String),
}

impl RegisterOp {
    /// Reads a register operation from `f`, its input and its output.
    pub(crate) fn parse(
        f: &str,
        input: &Value,
        output: Option<&Value>,
    ) -> Result<Option<Self>, String> {
        match f {
            "read" => Ok(output.map(|v| RegisterOp::Read(scalar(v)))),
            "write" => Ok(Some(RegisterOp::Write(scalar(input)))),
            "cas" => match input.as_array().map(Vec::as_slice) {
                Some([old, new]) => Ok(Some(RegisterOp::Cas {
                    old: scalar(old),
                    new: scalar(new),
                    certain: output.is_some(),
                })),
                _ => Err(format!("cas takes [old, new], not {input}")),
            },
            "append" => match scalar(input) {
                Some(tail) => Ok(Some(RegisterOp::Append(tail))),
                None => Err("append takes a value, not null".into()),
            },
            other => Err(format!(
                "`{other}` is not an operation of a register (read, write, cas, append)"
            )),
        }
    }

    /// Unknown writes and compare-and-sets whose value no read returned
    /// and no compare-and-set expected. None where an append is: a later
    /// read may show a value built on them.
    pub(crate) fn unobservable<'a>(
        ops: impl Iterator<Item = (&'a RegisterOp, bool)> + Clone,
    ) -> Vec<usize> {
        if ops
            .clone()
            .any(|(op, _)| matches!(op, RegisterOp::Append(_)))
        {
            return Vec::new();
        }
        let observed: std::collections::HashSet<&Option<String>> = ops
            .clone()
            .filter_map(|(op, _)| match op {
                RegisterOp::Read(seen) => Some(seen),
                RegisterOp::Cas { old, .. } => Some(old),
                _ => None,
            })
            .collect();
        ops.enumerate()
            .filter(|(_, (op, unknown))| {
                *unknown
                    && match op {
                        RegisterOp::Write(value) | RegisterOp::Cas { new: value, .. } => {
                            !observed.contains(value)
                        }
                        _ => false,
                    }
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The register's value after this operation, if legal on `value`.
    pub(crate) fn apply(&self, value: &Option<String>) -> Option<Option<String>> {
        match self {
            RegisterOp::Read(seen) => (seen == value).then(|| value.clone()),
            RegisterOp::Write(new) => Some(new.clone()),
            RegisterOp::Cas { old, new, certain } => {
                if old == value {
                    Some(new.clone())
                } else if *certain {
                    None
                } else {
                    // It found another value and did nothing.
                    Some(value.clone())
                }
            }
            RegisterOp::Append(tail) => {
                Some(Some(format!("{}{tail}", value.as_deref().unwrap_or(""))))
            }
        }
    }
}

impl Model for Register {
    type State = Option<String>;
    type Op = RegisterOp;

    fn name(&self) -> &str {
        "register"
    }

    fn init(&self) -> Option<String> {
        None
    }

    fn show(&self, state: &Option<String>) -> String {
        show_value(state)
    }

    fn op(&self, op: &Operation) -> Result<Option<RegisterOp>, String> {
        RegisterOp::parse(&op.f, &op.input, op.output())
    }

    fn step(&self, state: &Option<String>, op: &RegisterOp) -> Option<Option<String>> {
        op.apply(state)
    }

    fn unobservable(&self, ops: &[(&RegisterOp, bool)]) -> Vec<usize> {
        RegisterOp::unobservable(ops.iter().copied())
    }
}
