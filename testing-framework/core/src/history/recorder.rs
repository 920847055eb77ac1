//! Recording a history while the clients run: every invocation and
//! completion goes straight to `history.jsonl` (or to memory, in tests), so
//! a run of a million operations holds none of them in the runner.

use std::borrow::Cow;
use std::fmt::Display;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use super::{EDN_FILE, Event, EventKind, HistoryError, export_edn, read_history};

/// The file a run's history is streamed to, in its run directory.
pub const HISTORY_FILE: &str = "history.jsonl";

/// The write side of a run's history; cheap to clone. Each concurrent
/// client takes its own [`HistoryClient`].
///
/// ```
/// use serde_json::json;
/// use tf_core::history::History;
///
/// let history = History::in_memory();
/// let mut client = history.client();
/// let op = client.invoke("write", json!(["k", "v1"]));
/// // ... send the write and get the answer ...
/// op.ok(json!(["k", "v1"]));
/// let op = client.invoke("read", json!(["k", null]));
/// op.unknown("timed out after 1s");
/// // The read's outcome is unknown: the client goes on as a new process.
/// assert_eq!(client.process(), 1);
/// assert_eq!(history.events().unwrap().len(), 4);
/// ```
#[derive(Clone)]
pub struct History {
    inner: Arc<Inner>,
}

struct Inner {
    origin: Instant,
    next_process: AtomicU64,
    sink: Mutex<Sink>,
}

struct Sink {
    next_index: u64,
    out: Out,
    /// The first write that failed: the history is incomplete from there.
    problem: Option<String>,
}

enum Out {
    File {
        writer: BufWriter<File>,
        path: PathBuf,
    },
    Memory(Vec<Event>),
}

/// How an event is written: borrowed, so recording clones nothing.
#[derive(Serialize)]
struct EventLine<'a> {
    index: u64,
    #[serde(rename = "type")]
    kind: EventKind,
    process: u64,
    f: &'a str,
    value: &'a Value,
    time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
}

impl History {
    /// Streams the history to `path` (created or truncated); times count
    /// from `origin`, the opening of the run window.
    pub fn to_file(path: &Path, origin: Instant) -> std::io::Result<Self> {
        let file = File::create(path)?;
        Ok(Self::with(
            Out::File {
                writer: BufWriter::with_capacity(64 * 1024, file),
                path: path.to_owned(),
            },
            origin,
        ))
    }

    /// Keeps the history in memory (tests, small tools); times count from
    /// now.
    pub fn in_memory() -> Self {
        Self::with(Out::Memory(Vec::new()), Instant::now())
    }

    /// A history in memory holding `events` already (a replay's recorded
    /// history); new clients get process ids after theirs.
    pub fn from_events(events: Vec<Event>) -> Self {
        let history = Self::with(Out::Memory(Vec::new()), Instant::now());
        let next_process = events.iter().map(|e| e.process + 1).max().unwrap_or(0);
        history
            .inner
            .next_process
            .store(next_process, Ordering::Relaxed);
        let mut sink = history.inner.sink.lock();
        sink.next_index = events.len() as u64;
        sink.out = Out::Memory(events);
        drop(sink);
        history
    }

    fn with(out: Out, origin: Instant) -> Self {
        History {
            inner: Arc::new(Inner {
                origin,
                next_process: AtomicU64::new(0),
                sink: Mutex::new(Sink {
                    next_index: 0,
                    out,
                    problem: None,
                }),
            }),
        }
    }

    /// A new client process.
    pub fn client(&self) -> HistoryClient {
        HistoryClient {
            history: self.clone(),
            process: self.new_process(),
            name: None,
        }
    }

    /// A new client process of the workload `name`: its events carry the
    /// name, and the report's client statistics are per workload.
    pub fn client_for(&self, name: &str) -> HistoryClient {
        HistoryClient {
            name: Some(Arc::from(name)),
            ..self.client()
        }
    }

    fn new_process(&self) -> u64 {
        self.inner.next_process.fetch_add(1, Ordering::Relaxed)
    }

    /// Where it is streamed, if to a file.
    pub fn path(&self) -> Option<PathBuf> {
        match &self.inner.sink.lock().out {
            Out::File { path, .. } => Some(path.clone()),
            Out::Memory(_) => None,
        }
    }

    /// How many events were recorded.
    pub fn len(&self) -> u64 {
        self.inner.sink.lock().next_index
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Why the history is incomplete, if a write to its file failed.
    pub fn problem(&self) -> Option<String> {
        self.inner.sink.lock().problem.clone()
    }

    /// Writes what is buffered to the file.
    pub fn flush(&self) -> Result<(), HistoryError> {
        let mut sink = self.inner.sink.lock();
        if let Out::File { writer, path } = &mut sink.out {
            if let Err(error) = writer.flush() {
                let error = HistoryError::io("write", path, &error);
                sink.problem.get_or_insert(error.to_string());
            }
        }
        match &sink.problem {
            Some(problem) => Err(HistoryError::Incomplete(problem.clone())),
            None => Ok(()),
        }
    }

    /// At the end of a run: flushes the file, removes it if nothing was
    /// recorded, and exports a non-empty one as EDN beside it. Returns what
    /// went wrong, for the report's notes.
    pub(crate) fn finish(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Err(error) = self.flush() {
            notes.push(format!("client history: {error}"));
        }
        let Some(path) = self.path() else {
            return notes;
        };
        if self.is_empty() {
            let _ = std::fs::remove_file(&path);
        } else if let Err(error) = export_edn(&path, &path.with_file_name(EDN_FILE)) {
            notes.push(format!(
                "the client history was not exported as EDN: {error}"
            ));
        }
        notes
    }

    /// Every operation so far: the events paired by process
    /// ([`operations`](super::operations)).
    pub fn operations(&self) -> Result<Vec<super::Operation>, HistoryError> {
        super::operations(&self.events()?)
    }

    /// Every event so far, in order (from the file, for a file history).
    pub fn events(&self) -> Result<Vec<Event>, HistoryError> {
        self.flush()?;
        let sink = self.inner.sink.lock();
        match &sink.out {
            Out::Memory(events) => Ok(events.clone()),
            Out::File { path, .. } => {
                let path = path.clone();
                drop(sink);
                read_history(&path)
            }
        }
    }

    /// Records one event of `process` (of the workload `name`); returns
    /// its time.
    fn record(
        &self,
        kind: EventKind,
        process: u64,
        name: Option<&str>,
        f: &str,
        value: &Value,
        error: Option<&str>,
    ) -> u64 {
        let mut sink = self.inner.sink.lock();
        // Taken under the lock, so that the order of the events is the
        // order of their times.
        let time = self.inner.origin.elapsed().as_nanos() as u64;
        let index = sink.next_index;
        sink.next_index += 1;
        let line = EventLine {
            index,
            kind,
            process,
            f,
            value,
            time,
            error,
            client: name,
        };
        let failed_before = sink.problem.is_some();
        let written = match &mut sink.out {
            Out::Memory(events) => {
                events.push(Event {
                    index,
                    kind,
                    process,
                    f: f.to_owned(),
                    value: value.clone(),
                    time,
                    error: error.map(str::to_owned),
                    client: name.map(str::to_owned),
                });
                Ok(())
            }
            Out::File { writer, .. } if !failed_before => {
                serde_json::to_writer(&mut *writer, &line)
                    .map_err(|e| e.to_string())
                    .and_then(|()| writer.write_all(b"\n").map_err(|e| e.to_string()))
            }
            Out::File { .. } => Ok(()),
        };
        if let Err(error) = written {
            tracing::warn!(%error, "the history could not be written; it is incomplete from here");
            sink.problem = Some(format!(
                "writing event {index} failed: {error}; the history is incomplete from there"
            ));
        }
        time
    }
}

/// One client of the system under test: a single-threaded process of the
/// history. It has at most one operation in flight.
pub struct HistoryClient {
    history: History,
    process: u64,
    name: Option<Arc<str>>,
}

impl HistoryClient {
    /// Its current process id; it changes after an operation whose outcome
    /// is unknown.
    pub fn process(&self) -> u64 {
        self.process
    }

    /// Records the invocation of `f` with `input`; complete it with
    /// [`PendingOp::ok`], [`PendingOp::fail`] or [`PendingOp::unknown`]. An
    /// operation dropped without completion is recorded as unknown.
    pub fn invoke(&mut self, f: impl Into<Cow<'static, str>>, input: Value) -> PendingOp<'_> {
        let op = Op::invoke(
            &self.history,
            self.process,
            self.name.clone(),
            f.into(),
            input,
        );
        PendingOp {
            client: self,
            op: Some(op),
        }
    }
}

impl History {
    /// Records the invocation of `f` with `input` by a process of its own,
    /// of the workload `client`: for requests that are in flight together
    /// and complete in any order (transfers awaiting inclusion). The
    /// operation is owned; complete it with [`Op::ok`], [`Op::fail`] or
    /// [`Op::unknown`], or drop it (unknown).
    pub fn invoke(&self, client: &str, f: impl Into<Cow<'static, str>>, input: Value) -> Op {
        Op::invoke(
            self,
            self.new_process(),
            Some(Arc::from(client)),
            f.into(),
            input,
        )
    }
}

/// An invoked operation awaiting its outcome, owned.
#[must_use = "complete the operation with ok, fail or unknown"]
pub struct Op {
    history: History,
    process: u64,
    name: Option<Arc<str>>,
    f: Cow<'static, str>,
    input: Value,
    invoked_at: u64,
    done: bool,
}

impl Op {
    fn invoke(
        history: &History,
        process: u64,
        name: Option<Arc<str>>,
        f: Cow<'static, str>,
        input: Value,
    ) -> Self {
        let invoked_at = history.record(
            EventKind::Invoke,
            process,
            name.as_deref(),
            &f,
            &input,
            None,
        );
        Op {
            history: history.clone(),
            process,
            name,
            f,
            input,
            invoked_at,
            done: false,
        }
    }

    /// What was invoked.
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// When it was invoked, in nanoseconds since the history began.
    pub fn invoked_at(&self) -> u64 {
        self.invoked_at
    }

    /// It took effect, and the client got `output` back (for a write, the
    /// value written).
    pub fn ok(mut self, output: Value) {
        self.complete(EventKind::Ok, &output, None);
    }

    /// It certainly did not take effect (refused before it could: not the
    /// leader, a failed precondition).
    pub fn fail(mut self, reason: impl Display) {
        self.complete(EventKind::Fail, &Value::Null, Some(&reason.to_string()));
    }

    /// It may have taken effect (a timeout, a connection dropped after the
    /// request was sent).
    pub fn unknown(mut self, reason: impl Display) {
        self.complete(EventKind::Info, &Value::Null, Some(&reason.to_string()));
    }

    fn complete(&mut self, kind: EventKind, output: &Value, error: Option<&str>) {
        self.done = true;
        let value = if kind == EventKind::Ok {
            output
        } else {
            &self.input
        };
        self.history.record(
            kind,
            self.process,
            self.name.as_deref(),
            &self.f,
            value,
            error,
        );
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        if !self.done {
            self.complete(
                EventKind::Info,
                &Value::Null,
                Some("dropped without completion (a cancelled or panicking client)"),
            );
        }
    }
}

/// An invoked operation of a [`HistoryClient`] awaiting its outcome; an
/// unknown outcome (or a drop) retires the client's process.
#[must_use = "complete the operation with ok, fail or unknown"]
pub struct PendingOp<'a> {
    client: &'a mut HistoryClient,
    op: Option<Op>,
}

impl PendingOp<'_> {
    fn take(&mut self) -> Op {
        self.op.take().expect("completed once")
    }

    /// What was invoked.
    pub fn input(&self) -> &Value {
        self.op.as_ref().expect("not yet completed").input()
    }

    /// When it was invoked, in nanoseconds since the history began.
    pub fn invoked_at(&self) -> u64 {
        self.op.as_ref().expect("not yet completed").invoked_at()
    }

    /// It took effect, and the client got `output` back (for a write, the
    /// value written).
    pub fn ok(mut self, output: Value) {
        self.take().ok(output);
    }

    /// It certainly did not take effect (refused before it could: not the
    /// leader, a failed precondition).
    pub fn fail(mut self, reason: impl Display) {
        self.take().fail(reason);
    }

    /// It may have taken effect (a timeout, a connection dropped after the
    /// request was sent). The client goes on under a new process.
    pub fn unknown(mut self, reason: impl Display) {
        self.take().unknown(reason);
        self.retire();
    }

    fn retire(&mut self) {
        self.client.process = self.client.history.new_process();
    }
}

impl Drop for PendingOp<'_> {
    fn drop(&mut self) {
        if let Some(op) = self.op.take() {
            drop(op);
            self.retire();
        }
    }
}
