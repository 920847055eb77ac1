//! Where the framework's log goes. Asked for (`TF_LOG` or `RUST_LOG` set,
//! `TF_LOG=debug`), it goes to stderr with that filter. Otherwise a run
//! keeps its warnings out of the progress lines: they are held, written
//! into the run directory as `runner.log` at the end, and the printout
//! says how many there were; other commands print them to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The file a run's held log is written to, in its run directory.
pub(crate) const RUN_LOG: &str = "runner.log";

/// A run's log, held until its run directory is known.
#[derive(Clone, Default)]
pub(crate) struct HeldLog(Arc<Mutex<Vec<u8>>>);

impl HeldLog {
    /// Writes what was logged into `run_dir` (printed instead when there
    /// is none); the file and how many lines, when anything was written.
    pub(crate) fn save(&self, run_dir: Option<&Path>) -> Option<(PathBuf, usize)> {
        let held = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        if held.is_empty() {
            return None;
        }
        let lines = held.iter().filter(|b| **b == b'\n').count();
        let written = run_dir
            .filter(|dir| dir.is_dir())
            .map(|dir| dir.join(RUN_LOG))
            .map(|path| std::fs::write(&path, &held).map(|()| path));
        match written {
            Some(Ok(path)) => Some((path, lines)),
            failed => {
                // Not lost: printed, after the run.
                if let Some(Err(error)) = failed {
                    eprintln!("cannot write the runner's log: {error}");
                }
                eprintln!("the runner's log:");
                let _ = std::io::stderr().write_all(&held);
                None
            }
        }
    }
}

impl Write for HeldLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for HeldLog {
    type Writer = HeldLog;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Sets up the log; for a run (`hold`) without a filter asked for, the
/// log is held and returned.
pub(crate) fn init(hold: bool) -> Option<HeldLog> {
    let asked = ["TF_LOG", "RUST_LOG"]
        .into_iter()
        .find_map(|var| EnvFilter::try_from_env(var).ok());
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    match asked {
        Some(filter) => {
            builder.with_env_filter(filter).init();
            None
        }
        None if hold => {
            let held = HeldLog::default();
            builder
                .with_env_filter(EnvFilter::new("warn"))
                .with_ansi(false)
                .with_writer(held.clone())
                .init();
            Some(held)
        }
        None => {
            builder.with_env_filter(EnvFilter::new("warn")).init();
            None
        }
    }
}
