//! `observations.jsonl`: every observation of every recorded observer, one
//! JSON object a line, as it was seen.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{ReportEvent, ReportSnapshot, SeriesPoint, Severity};
use crate::observation::stream::Cursor;
use crate::observation::{ObservationHandle, ObservationOf, Observer};

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
    /// Sources that went silent or answer again.
    #[serde(default)]
    pub reachability: Vec<crate::observation::Reachability>,
    /// The snapshot itself.
    pub snapshot: S,
}

/// Records observers' streams, as they are seen, into one
/// `observations.jsonl`; scenarios use it for their recorded observers.
pub struct ObservationRecorder {
    log: Arc<ObservationLog>,
    origin: Instant,
}

/// An event as a recording saw it, for a timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelledEvent {
    /// Milliseconds since the recorder's origin.
    pub at_ms: u64,
    /// The observer.
    pub observer: String,
    /// One line for people.
    pub label: String,
    /// How much it matters.
    pub severity: Severity,
}

impl ObservationRecorder {
    /// Records into `dir/observations.jsonl`, timing lines from now.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        Self::with_origin(dir, Instant::now())
    }

    /// Records into `dir/observations.jsonl`, timing lines from `origin`.
    pub fn with_origin(dir: &Path, origin: Instant) -> std::io::Result<Self> {
        Ok(ObservationRecorder {
            log: Arc::new(ObservationLog::create(dir)?),
            origin,
        })
    }

    /// Records every observation of `handle`, from its first retained one
    /// until its runtime stops, and hands each labelled event that belongs
    /// on the timeline (and a warning if the recording fell behind the
    /// history) to `on_event`.
    pub fn record<O>(
        &self,
        handle: ObservationHandle<O>,
        mut on_event: impl FnMut(LabelledEvent) + Send + 'static,
    ) -> JoinHandle<()>
    where
        O: Observer,
        O::Snapshot: ReportSnapshot + Serialize,
        O::Event: ReportEvent + Serialize,
    {
        let (log, origin) = (Arc::clone(&self.log), self.origin);
        tokio::spawn(async move {
            let observer = handle.observer_name().to_owned();
            let mut observations = handle.subscribe_from(Cursor::START);
            while let Some(next) = observations.next().await {
                match next {
                    Ok(observation) => {
                        for event in write_line::<O>(&log, &observer, origin, &observation) {
                            on_event(event);
                        }
                    }
                    Err(lagged) => on_event(LabelledEvent {
                        at_ms: origin.elapsed().as_millis() as u64,
                        observer: observer.clone(),
                        label: format!("recording fell behind: {lagged}"),
                        severity: Severity::Warning,
                    }),
                }
            }
        })
    }

    /// Flushes and closes the file: the lines written, and the first write
    /// problem if there was one.
    pub fn finish(&self) -> (u64, Option<String>) {
        self.log.finish()
    }
}

/// Writes one observation as a line; returns its labelled events that
/// belong on the timeline.
fn write_line<O>(
    log: &ObservationLog,
    observer: &str,
    origin: Instant,
    observation: &ObservationOf<O>,
) -> Vec<LabelledEvent>
where
    O: Observer,
    O::Snapshot: ReportSnapshot + Serialize,
    O::Event: ReportEvent + Serialize,
{
    let at_ms = observation
        .observed_at
        .saturating_duration_since(origin)
        .as_millis() as u64;
    let events: Vec<RecordedEvent<&O::Event>> = observation
        .events
        .iter()
        .map(|event| RecordedEvent {
            label: event.label(),
            severity: event.severity(),
            event,
        })
        .collect();
    let labelled = events
        .iter()
        .filter(|e| e.event.on_timeline())
        .map(|e| LabelledEvent {
            at_ms,
            observer: observer.to_owned(),
            label: e.label.clone(),
            severity: e.severity,
        })
        .collect();
    log.append(&RecordedObservation {
        observer: observer.to_owned(),
        position: observation.cursor.position(),
        cycle: observation.cycle,
        at_ms,
        sources: observation.source_count,
        sources_added: observation
            .sources_added
            .iter()
            .map(ToString::to_string)
            .collect(),
        sources_removed: observation
            .sources_removed
            .iter()
            .map(ToString::to_string)
            .collect(),
        series: observation.snapshot.series(),
        events,
        reachability: observation.reachability.clone(),
        snapshot: &observation.snapshot,
    });
    labelled
}

/// Appends recorded observations to a file; shared by every observer's
/// recording task.
struct ObservationLog {
    path: PathBuf,
    file: Mutex<Option<BufWriter<File>>>,
    lines: Mutex<u64>,
    problem: Mutex<Option<String>>,
}

impl ObservationLog {
    fn create(dir: &Path) -> std::io::Result<Self> {
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
    fn append<T: Serialize>(&self, line: &T) {
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
    fn finish(&self) -> (u64, Option<String>) {
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
