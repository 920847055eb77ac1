//! `observations.jsonl`: every observation of every recorded observer, one
//! JSON object a line, as it was seen.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{SeriesPoint, Severity};

/// File name in the run directory.
pub const OBSERVATIONS_FILE: &str = "observations.jsonl";

/// An event as recorded: the app's value, and its label and severity.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedEvent<E> {
    /// One line for people.
    pub label: String,
    /// How much it matters.
    pub severity: Severity,
    /// The event itself.
    pub event: E,
}

/// One line of `observations.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedObservation<S, E> {
    /// The observer's name.
    pub observer: String,
    /// Its position in the observer's stream.
    pub position: u64,
    /// The observer's cycle.
    pub cycle: u64,
    /// Milliseconds since the run's observers started.
    pub at_ms: u64,
    /// Sources polled.
    pub sources: usize,
    /// Sources that appeared.
    pub sources_added: Vec<String>,
    /// Sources that disappeared.
    pub sources_removed: Vec<String>,
    /// The snapshot's numeric series.
    pub series: Vec<SeriesPoint>,
    /// The events, labelled.
    pub events: Vec<RecordedEvent<E>>,
    /// The snapshot itself.
    pub snapshot: S,
}

/// Appends recorded observations to a file; shared by every observer's
/// recording task.
pub(crate) struct ObservationLog {
    path: PathBuf,
    file: Mutex<Option<BufWriter<File>>>,
    lines: Mutex<u64>,
    problem: Mutex<Option<String>>,
}

impl ObservationLog {
    pub(crate) fn create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(OBSERVATIONS_FILE);
        let file = BufWriter::new(File::create(&path)?);
        Ok(ObservationLog {
            path,
            file: Mutex::new(Some(file)),
            lines: Mutex::new(0),
            problem: Mutex::new(None),
        })
    }

    /// Writes one line; the first write error is kept and later lines are
    /// dropped (the run goes on; the report says what was lost).
    pub(crate) fn append<T: Serialize>(&self, line: &T) {
        let mut file = self.file.lock();
        let Some(writer) = file.as_mut() else { return };
        let written = serde_json::to_writer(&mut *writer, line)
            .map_err(std::io::Error::other)
            .and_then(|()| writer.write_all(b"\n"));
        match written {
            Ok(()) => *self.lines.lock() += 1,
            Err(error) => {
                self.problem.lock().get_or_insert(format!(
                    "recording to {} stopped: {error}",
                    self.path.display()
                ));
                *file = None;
            }
        }
    }

    /// Flushes and closes; returns the lines written and any problem.
    pub(crate) fn finish(&self) -> (u64, Option<String>) {
        if let Some(mut writer) = self.file.lock().take() {
            if let Err(error) = writer.flush() {
                self.problem
                    .lock()
                    .get_or_insert(format!("flushing {} failed: {error}", self.path.display()));
            }
        }
        (*self.lines.lock(), self.problem.lock().clone())
    }
}
