//! For deployer authors: what every deployer needs of the machine the runner is on: the node
//! binary ([`binary::resolve`]), free ports on 127.0.0.1
//! ([`ports::free_ports`]), a fresh run directory ([`run_dir`]), the end
//! of a node's log for error messages ([`log_tail`]), the settings every
//! deployer takes ([`DeployerSettings`]) and the cleanup report of stopping
//! every node ([`stopped_report`]), and the table of a growing cluster's
//! nodes ([`NodeTable`]); the libraries a binary links
//! ([`shared_libraries`]) and a node's clock under libfaketime
//! ([`clock`]); the keys of the labels on what deployers create
//! ([`labels`]) and the removal of what a dropped cluster holds
//! ([`drop_cleanup()`]).

pub mod binary;
pub mod clock;
pub mod labels;
mod libs;
mod nodes;
mod on_drop;
pub mod ports;
mod runner;

pub use libs::shared_libraries;
pub use nodes::{
    NodeTable, Numbering, port_maps, port_maps_except, port_maps_of, slots_with_ports,
};
pub use on_drop::{DROP_CLEANUP_LIMIT, drop_cleanup};
pub use runner::{runner_alive, this_runner};

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::report::CleanupReport;
use crate::scenario::deploy::DeployError;

/// Where a deployer's runs go and how long a stop waits before it kills.
#[derive(Clone, Debug)]
pub struct DeployerSettings {
    /// Runs go under this root; `None`: [`default_runs_root`].
    pub runs_root: Option<PathBuf>,
    /// How long a stop waits after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
}

impl Default for DeployerSettings {
    fn default() -> Self {
        DeployerSettings {
            runs_root: None,
            stop_grace: Duration::from_secs(5),
        }
    }
}

impl DeployerSettings {
    /// The root runs go under.
    pub fn runs_root(&self) -> PathBuf {
        self.runs_root.clone().unwrap_or_else(default_runs_root)
    }
}

/// How a node's stop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// It exited within the grace period after SIGTERM.
    Gracefully,
    /// It ignored SIGTERM for the grace period and was killed.
    Killed,
}

/// The cleanup report of stopping nodes: each stop's outcome by node name.
pub fn stopped_report(
    grace: Duration,
    stops: impl IntoIterator<Item = (String, Result<Stopped, String>)>,
) -> CleanupReport {
    let mut report = CleanupReport::default();
    for (name, stopped) in stops {
        match stopped {
            Ok(Stopped::Gracefully) => {}
            Ok(Stopped::Killed) => report.forced.push(format!(
                "{name} did not stop within {grace:?} of SIGTERM and was killed"
            )),
            Err(reason) => report.problems.push(format!("{name}: {reason}")),
        }
        report.stopped.push(name);
    }
    report
}

/// Lines of a log shown when a node fails.
pub const LOG_TAIL_LINES: usize = 20;

/// The last [`LOG_TAIL_LINES`] lines of a log file, or why it cannot be read.
pub fn log_tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(last_lines(&String::from_utf8_lossy(&bytes), LOG_TAIL_LINES))
    };
    read().unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}

/// The last `count` lines of `text`, joined by newlines.
pub(crate) fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].join("\n")
}

/// Where runs go when the deployer is given no root: `$TF_RUNS_DIR`, else
/// `tf-runs` in the cargo target directory.
pub fn default_runs_root() -> PathBuf {
    if let Some(root) = std::env::var_os("TF_RUNS_DIR") {
        return root.into();
    }
    target_dir().join("tf-runs")
}

/// A fresh directory for one run: `given` if it is new or empty (a used one
/// would start nodes on another run's data), else
/// `<root>/<scenario>-<time>`.
pub fn run_dir(given: Option<&Path>, root: &Path, scenario: &str) -> Result<PathBuf, DeployError> {
    if let Some(dir) = given {
        if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(DeployError::Other(format!(
                "run directory {} is not empty; give a new or empty directory",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| io_error("create the run directory", dir, e))?;
        return Ok(dir.to_path_buf());
    }
    let stamp = humantime::format_rfc3339_millis(SystemTime::now())
        .to_string()
        .replace(':', "-");
    let mut dir = root.join(format!("{scenario}-{stamp}"));
    for n in 2.. {
        if !dir.exists() {
            break;
        }
        dir = root.join(format!("{scenario}-{stamp}-{n}"));
    }
    std::fs::create_dir_all(&dir).map_err(|e| io_error("create the run directory", &dir, e))?;
    Ok(dir)
}

/// The image repository of nodes of `binary`, as every deployer that
/// runs images names it: `tf-<binary>`, lowercased, with anything a
/// repository name cannot hold turned into `-`.
pub fn image_name(binary: &str) -> String {
    let cleaned: String = binary
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    // The framework's own binaries (`tf-netfault`) are named so already.
    if cleaned.starts_with("tf-") {
        cleaned
    } else {
        format!("tf-{cleaned}")
    }
}

/// A short id (12 hex digits, 48 bits), unique enough to name one run's
/// containers, networks or namespace.
pub fn run_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let hash = RandomState::new().hash_one((
        std::process::id(),
        nanos,
        RUNS.fetch_add(1, Ordering::Relaxed),
    ));
    format!("{:012x}", hash & 0xffff_ffff_ffff)
}

/// An I/O failure on `path` as a deploy error.
pub fn io_error(what: &str, path: &Path, error: std::io::Error) -> DeployError {
    DeployError::Other(format!("cannot {what} {}: {error}", path.display()))
}

/// Writes `command`'s files ([`NodeCommand::file`](crate::scenario::NodeCommand::file))
/// of node `node` under `data`, its data directory on this machine. A path
/// that is absolute or climbs out (`..`) is refused, naming the node.
pub fn write_node_files(
    node: &str,
    data: &Path,
    command: &crate::scenario::NodeCommand,
) -> Result<(), DeployError> {
    for (path, contents) in &command.files {
        let relative = Path::new(path);
        if path.is_empty()
            || relative.is_absolute()
            || relative
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(DeployError::BadCommand {
                node: node.to_owned(),
                reason: format!(
                    "file `{path}` must be a plain path inside the data directory (no leading `/`, no `..`)"
                ),
            });
        }
        let at = data.join(relative);
        if let Some(parent) = at.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
        }
        std::fs::write(&at, contents).map_err(|e| io_error("write", &at, e))?;
    }
    Ok(())
}

/// `$CARGO_TARGET_DIR`, else the `target` directory the running executable
/// is in, else `./target`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .find(|a| a.file_name().is_some_and(|n| n == "target"))
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from("target"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_names_are_lowercase_and_valid() {
        assert_eq!(super::image_name("My Node+1"), "tf-my-node-1");
        assert_eq!(super::image_name("chain-node"), "tf-chain-node");
        assert_eq!(super::image_name("tf-netfault"), "tf-netfault");
    }
}
