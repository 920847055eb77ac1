//! `steps.log` in a manual cluster's run directory: every action taken on
//! the cluster and every wait, with what was observed when it ended, so a
//! failing step leads to the state it saw.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Lines of a snapshot written for a wait that was satisfied.
const SNAPSHOT_LINES: usize = 400;

/// An append-only log of what a test did and observed. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    path: PathBuf,
    file: Arc<Mutex<Option<File>>>,
    started: Instant,
}

impl Journal {
    /// A journal writing to `path` (created, or appended to).
    pub fn open(path: &Path) -> Self {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|error| tracing::warn!(path = %path.display(), %error, "no step journal"))
            .ok();
        Journal {
            path: path.to_owned(),
            file: Arc::new(Mutex::new(file)),
            started: Instant::now(),
        }
    }

    /// Where it writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one entry, indented after its first line.
    pub fn write(&self, what: &str) {
        let at = self.started.elapsed();
        let mut lines = what.lines();
        let mut entry = format!(
            "[{:>8.3}s] {}\n",
            at.as_secs_f64(),
            lines.next().unwrap_or_default()
        );
        for line in lines {
            entry.push_str("            ");
            entry.push_str(line);
            entry.push('\n');
        }
        tracing::info!(target: "tf::steps", "{}", what.lines().next().unwrap_or_default());
        if let Some(file) = self.file.lock().as_mut() {
            let _ = file.write_all(entry.as_bytes());
        }
    }

    /// Writes a satisfied wait: what it waited for, how long, and the
    /// snapshot that satisfied it (cut to a readable length).
    pub fn waited(&self, what: &str, took: Duration, snapshot: &impl std::fmt::Debug) {
        let rendered = format!("{snapshot:#?}");
        let mut shown: Vec<&str> = rendered.lines().take(SNAPSHOT_LINES).collect();
        let total = rendered.lines().count();
        let more = format!("... ({} more lines)", total.saturating_sub(SNAPSHOT_LINES));
        if total > SNAPSHOT_LINES {
            shown.push(&more);
        }
        self.write(&format!(
            "observed after {:.3}s: {what}\nsnapshot:\n{}",
            took.as_secs_f64(),
            shown.join("\n")
        ));
    }
}
