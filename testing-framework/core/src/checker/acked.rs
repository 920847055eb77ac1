//! Every acknowledged write survives: judged from the history alone, by
//! the final reads of each key (reads invoked after every acknowledged
//! write to that key had completed).

use std::collections::BTreeMap;
use std::fmt;

use super::model::scalar;
use crate::history::Operation;

/// What [`acknowledged_writes`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckedWrites {
    /// Acknowledged writes checked against a final read.
    pub checked: usize,
    /// Keys with acknowledged writes.
    pub keys: usize,
    /// Acknowledged writes the final reads do not show, described.
    pub lost: Vec<String>,
    /// Keys with acknowledged writes but no final read: nothing checks them.
    pub unchecked: Vec<String>,
}

impl AckedWrites {
    /// Whether every acknowledged write was checked and survived (and
    /// there was at least one).
    pub fn holds(&self) -> bool {
        self.checked > 0 && self.lost.is_empty() && self.unchecked.is_empty()
    }
}

impl fmt::Display for AckedWrites {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} acknowledged write(s) on {} key(s) checked against the final reads: {} lost",
            self.checked,
            self.keys,
            self.lost.len()
        )?;
        if !self.unchecked.is_empty() {
            write!(
                f,
                "; {} key(s) have no final read: {}",
                self.unchecked.len(),
                shown(&self.unchecked)
            )?;
        }
        for lost in self.lost.iter().take(10) {
            write!(f, "\n  lost: {lost}")?;
        }
        if self.lost.len() > 10 {
            write!(f, "\n  ... and {} more", self.lost.len() - 10)?;
        }
        Ok(())
    }
}

fn shown(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > 10 {
        text.push_str(", ...");
    }
    text
}

struct Write<'a> {
    op: &'a Operation,
    value: Option<String>,
    append: bool,
}

/// Judges the key-value operations of a history (values `[key, v]`:
/// `write`, `append`, `cas [k, [old, new]]`, `read`; see
/// [`crate::checker::KeyValue`]). An acknowledged write survives when the
/// key's final read returns its value, or a value of a write that was not
/// over before it began (and may so have come after it); an acknowledged
/// append survives when the final value contains it.
pub fn acknowledged_writes(ops: &[Operation]) -> Result<AckedWrites, String> {
    let mut writes: BTreeMap<String, Vec<Write<'_>>> = BTreeMap::new();
    let mut reads: BTreeMap<String, Vec<&Operation>> = BTreeMap::new();
    for op in ops {
        if !(op.is_ok() || op.is_unknown()) {
            continue;
        }
        let Some([key, value]) = op.input.as_array().map(Vec::as_slice) else {
            continue;
        };
        let Some(key) = scalar(key) else { continue };
        match op.f.as_str() {
            "write" | "append" => writes.entry(key).or_default().push(Write {
                op,
                value: scalar(value),
                append: op.f == "append",
            }),
            "cas" => match value.as_array().map(Vec::as_slice) {
                Some([_, new]) => writes.entry(key).or_default().push(Write {
                    op,
                    value: scalar(new),
                    append: false,
                }),
                _ => return Err(format!("cas takes [key, [old, new]]: {}", op.describe())),
            },
            "read" if op.is_ok() => reads.entry(key).or_default().push(op),
            _ => {}
        }
    }
    let mut found = AckedWrites::default();
    for (key, writes) in &writes {
        let acked: Vec<&Write<'_>> = writes.iter().filter(|w| w.op.is_ok()).collect();
        if acked.is_empty() {
            continue;
        }
        found.keys += 1;
        let settled = acked
            .iter()
            .filter_map(|w| w.op.complete_index)
            .max()
            .unwrap_or(0);
        let last_read = reads.get(key).and_then(|reads| {
            reads
                .iter()
                .filter(|r| r.invoke_index > settled)
                .max_by_key(|r| r.invoke_index)
        });
        let Some(read) = last_read else {
            found.unchecked.push(key.clone());
            continue;
        };
        let final_value = read
            .output()
            .and_then(|out| out.as_array())
            .and_then(|pair| pair.get(1))
            .and_then(scalar);
        let has_appends = writes.iter().any(|w| w.append);
        for write in &acked {
            found.checked += 1;
            let survives = if write.append {
                match (&final_value, &write.value) {
                    (Some(whole), Some(tail)) => whole.contains(tail.as_str()),
                    _ => false,
                }
            } else {
                final_value == write.value
                    // Appended to since: the value begins with it.
                    || (has_appends
                        && matches!((&final_value, &write.value),
                            (Some(whole), Some(head)) if whole.starts_with(head.as_str())))
                    || writes.iter().any(|other| {
                        other.value == final_value
                            && !std::ptr::eq(other.op, write.op)
                            // Not over before it began: an operation of
                            // unknown outcome may take effect at any time.
                            && (other.op.is_unknown()
                                || other
                                    .op
                                    .complete_index
                                    .is_none_or(|done| done > write.op.invoke_index))
                    })
            };
            if !survives {
                found.lost.push(format!(
                    "{}; the final read of `{key}` ({}) returned {}",
                    write.op.describe(),
                    read.describe(),
                    final_value.as_deref().unwrap_or("nothing")
                ));
            }
        }
    }
    Ok(found)
}
