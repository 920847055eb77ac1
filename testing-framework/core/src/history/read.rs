//! Reading a recorded history back: `history.jsonl` as written by a run,
//! or Jepsen's EDN.

use std::path::Path;

use super::{Event, parse_edn};

/// Why a history could not be read or makes no sense.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The file cannot be read or written.
    #[error("cannot {action} {path}: {error}")]
    Io {
        /// Read or write.
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        error: String,
    },
    /// A line or form is not an event.
    #[error("{0}")]
    Malformed(String),
    /// The events break the rules of a history (a process with two
    /// operations in flight, a completion of nothing).
    #[error("{0}")]
    Inconsistent(String),
    /// Recording stopped part-way (a write to the file failed).
    #[error("the history is incomplete: {0}")]
    Incomplete(String),
}

impl HistoryError {
    pub(crate) fn io(action: &'static str, path: &Path, error: &std::io::Error) -> Self {
        HistoryError::Io {
            action,
            path: path.display().to_string(),
            error: error.to_string(),
        }
    }
}

/// Reads a history file: EDN when its name ends in `.edn` or it starts
/// like EDN (`{:` or `[`), else JSON lines.
pub fn read_history(path: &Path) -> Result<Vec<Event>, HistoryError> {
    let text = std::fs::read_to_string(path).map_err(|e| HistoryError::io("read", path, &e))?;
    let looks_edn = path.extension().is_some_and(|e| e == "edn") || {
        let start: String = text.trim_start().chars().take(2).collect();
        start.starts_with('[') || start.starts_with("{:") || start.starts_with('(')
    };
    let read = if looks_edn {
        parse_edn(&text)
    } else {
        parse_jsonl(&text)
    };
    read.map_err(|e| match e {
        HistoryError::Malformed(what) => {
            HistoryError::Malformed(format!("{}: {what}", path.display()))
        }
        other => other,
    })
}

/// Hands the events of a history file to `each`, one at a time: a
/// `history.jsonl` is read a line at a time (a torn last line ends it), an
/// EDN history whole.
pub fn for_each_event(
    path: &Path,
    mut each: impl FnMut(Event) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    if path.extension().is_some_and(|e| e == "edn") {
        return read_history(path)?.into_iter().try_for_each(each);
    }
    let file = std::fs::File::open(path).map_err(|e| HistoryError::io("read", path, &e))?;
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(file))
        .enumerate()
        .peekable();
    while let Some((n, line)) = lines.next() {
        let line = line.map_err(|e| HistoryError::io("read", path, &e))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(&line) {
            Ok(event) => each(event)?,
            Err(_) if lines.peek().is_none() => break,
            Err(error) => {
                return Err(HistoryError::Malformed(format!(
                    "{}: line {} is not an event ({error}): {}",
                    path.display(),
                    n + 1,
                    shorten(&line)
                )));
            }
        }
    }
    Ok(())
}

/// Reads JSON lines, one event each. A torn last line (the run was killed
/// while writing it) is left out; a bad line elsewhere is an error.
pub fn parse_jsonl(text: &str) -> Result<Vec<Event>, HistoryError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut events = Vec::with_capacity(lines.len());
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(event) => events.push(event),
            // As `for_each_event` reads it: a bad last line is a torn one.
            Err(_) if n + 1 == lines.len() => break,
            Err(error) => {
                return Err(HistoryError::Malformed(format!(
                    "line {} is not an event ({error}): {}",
                    n + 1,
                    shorten(line)
                )));
            }
        }
    }
    Ok(events)
}

fn shorten(line: &str) -> String {
    match line.char_indices().nth(120) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line.to_owned(),
    }
}
