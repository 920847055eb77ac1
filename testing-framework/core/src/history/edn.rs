//! Jepsen's EDN history format (`history.edn`), written and read, so that
//! a team can hand a run's history to Knossos or Elle, and judge theirs
//! here: `{:index 0, :type :invoke, :process 0, :f :write, :value 3, :time 120}`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use edn_format::{Keyword, Value as Edn};
use serde_json::{Number, Value};

use super::{Event, EventKind, HistoryError};

/// The file a run's history is exported to, beside `history.jsonl`.
pub const EDN_FILE: &str = "history.edn";

/// Writes `events` as EDN, one map a line.
pub fn write_edn<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut line = String::new();
    for event in events {
        line.clear();
        edn_line(event, &mut line);
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// Converts a `history.jsonl` into EDN at `edn`, a line at a time (a long
/// history is never held whole); returns how many events it wrote.
pub fn export_edn(jsonl: &Path, edn: &Path) -> Result<u64, HistoryError> {
    let input = std::fs::File::open(jsonl).map_err(|e| HistoryError::io("read", jsonl, &e))?;
    let output = std::fs::File::create(edn).map_err(|e| HistoryError::io("write", edn, &e))?;
    let mut output = std::io::BufWriter::new(output);
    let mut line = String::new();
    let mut written = 0;
    for (n, read) in BufReader::new(input).lines().enumerate() {
        let text = read.map_err(|e| HistoryError::io("read", jsonl, &e))?;
        if text.trim().is_empty() {
            continue;
        }
        // A torn last line (the run was killed while writing it) ends it.
        let Ok(event) = serde_json::from_str::<Event>(&text) else {
            tracing::warn!(
                line = n + 1,
                "{} has a line that is not an event; the EDN export stops there",
                jsonl.display()
            );
            break;
        };
        line.clear();
        edn_line(&event, &mut line);
        line.push('\n');
        output
            .write_all(line.as_bytes())
            .map_err(|e| HistoryError::io("write", edn, &e))?;
        written += 1;
    }
    output
        .flush()
        .map_err(|e| HistoryError::io("write", edn, &e))?;
    Ok(written)
}

fn edn_line(event: &Event, out: &mut String) {
    let _ = write!(
        out,
        "{{:index {}, :type :{}, :process {}, :f ",
        event.index,
        event.kind.as_str(),
        event.process
    );
    if is_keyword(&event.f) {
        let _ = write!(out, ":{}", event.f);
    } else {
        string(&event.f, out);
    }
    out.push_str(", :value ");
    value(&event.value, out);
    let _ = write!(out, ", :time {}", event.time);
    if let Some(error) = &event.error {
        out.push_str(", :error ");
        string(error, out);
    }
    if let Some(client) = &event.client {
        out.push_str(", :client ");
        string(client, out);
    }
    out.push('}');
}

fn is_keyword(text: &str) -> bool {
    text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_?!*+.".contains(c))
}

fn value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                self::value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                string(k, out);
                out.push(' ');
                self::value(v, out);
            }
            out.push('}');
        }
    }
}

fn string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Reads an EDN history: maps one after another (Jepsen's `history.edn`),
/// or one vector or list of them. Events of processes that are not
/// numbers (Jepsen's `:nemesis`) are left out: they are faults, not
/// client operations.
pub fn parse_edn(text: &str) -> Result<Vec<Event>, HistoryError> {
    let parser = edn_format::Parser::from_str(text, edn_format::ParserOptions::default());
    let mut events = Vec::new();
    for (form_no, form) in parser.enumerate() {
        let form = form.map_err(|e| {
            HistoryError::Malformed(format!("EDN form {} does not parse: {e:?}", form_no + 1))
        })?;
        match form {
            Edn::Vector(items) | Edn::List(items) => {
                for item in items {
                    push_event(item, &mut events)?;
                }
            }
            other => push_event(other, &mut events)?,
        }
    }
    Ok(events)
}

fn push_event(form: Edn, events: &mut Vec<Event>) -> Result<(), HistoryError> {
    let position = events.len() as u64;
    let Edn::Map(mut map) = untag(form) else {
        return Err(HistoryError::Malformed(format!(
            "EDN event {position} is not a map"
        )));
    };
    let mut take = |key: &str| map.remove(&Edn::Keyword(Keyword::from_name(key)));
    let missing =
        |what: &str| HistoryError::Malformed(format!("EDN event {position} has no {what}"));
    let kind_text = take("type")
        .map(|t| name(&t))
        .ok_or_else(|| missing(":type"))?;
    let kind = EventKind::parse(&kind_text).ok_or_else(|| {
        HistoryError::Malformed(format!(
            "EDN event {position}: :type :{kind_text} is not one of :invoke, :ok, :fail, :info"
        ))
    })?;
    let process = match take("process").map(untag) {
        Some(Edn::Integer(p)) if p >= 0 => p as u64,
        // `:nemesis` and the like.
        Some(_) => return Ok(()),
        None => return Err(missing(":process")),
    };
    let f = take("f").map(|f| name(&f)).ok_or_else(|| missing(":f"))?;
    let time = match take("time").map(untag) {
        Some(Edn::Integer(t)) if t >= 0 => t as u64,
        _ => events.last().map_or(0, |e: &Event| e.time),
    };
    let value = take("value").map_or(Value::Null, to_json);
    let error = take("error").map(|e| match to_json(e) {
        Value::String(s) => s,
        other => other.to_string(),
    });
    let client = take("client").map(|c| name(&c));
    events.push(Event {
        index: position,
        kind,
        process,
        f,
        value,
        time,
        error,
        client,
    });
    Ok(())
}

fn untag(value: Edn) -> Edn {
    match value {
        Edn::TaggedElement(_, inner) => untag(*inner),
        other => other,
    }
}

/// A keyword, symbol or string as text.
fn name(value: &Edn) -> String {
    match value {
        Edn::Keyword(k) => k.name().to_owned(),
        Edn::Symbol(s) => s.name().to_owned(),
        Edn::String(s) => s.clone(),
        other => edn_format::emit_str(other),
    }
}

/// EDN as JSON: keywords and symbols become their names, sets and lists
/// arrays, maps objects with their keys as text.
fn to_json(value: Edn) -> Value {
    match untag(value) {
        Edn::Nil => Value::Null,
        Edn::Boolean(b) => Value::Bool(b),
        Edn::Integer(i) => Value::from(i),
        Edn::Float(f) => Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number),
        Edn::String(s) => Value::String(s),
        Edn::Character(c) => Value::String(c.to_string()),
        k @ (Edn::Keyword(_) | Edn::Symbol(_)) => Value::String(name(&k)),
        Edn::Vector(items) | Edn::List(items) => {
            Value::Array(items.into_iter().map(to_json).collect())
        }
        Edn::Set(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Edn::Map(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (name(&k), to_json(v)))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        ),
        other => Value::String(edn_format::emit_str(&other)),
    }
}
