//! The result of a run: a value for code, `report.json` for people and
//! tools, and the result of a replay. This is the report model every
//! writer (`report.json`, `junit.xml`, `report.html`, the printed summary)
//! reads; it depends on nothing of the scenario runner.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{ClientReport, LatencyPoint, Severity};

/// When an expectation is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// Holds on every observation while the run lasts; the first violation
    /// fails the run at once.
    Always,
    /// Holds at some point within this bound from the start of the run
    /// window.
    Eventually(Duration),
    /// Holds after the run window and the cooldown.
    AtEnd,
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timing::Always => f.write_str("always"),
            Timing::Eventually(within) => {
                write!(
                    f,
                    "eventually within {}",
                    humantime::format_duration(*within)
                )
            }
            Timing::AtEnd => f.write_str("at end"),
        }
    }
}

impl std::str::FromStr for Timing {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "always" => Ok(Timing::Always),
            "at end" => Ok(Timing::AtEnd),
            _ => text
                .strip_prefix("eventually within ")
                .and_then(|d| humantime::parse_duration(d).ok())
                .map(Timing::Eventually)
                .ok_or_else(|| {
                    format!("`{text}` is not a timing (always, eventually within D, at end)")
                }),
        }
    }
}

/// In `report.json` as its text (`eventually within 10s`).
impl serde::Serialize for Timing {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timing {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A node that exited on its own.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NodeExit {
    /// The node.
    pub node: String,
    /// How it ended (`exit code 101`, `signal 9`).
    pub status: String,
    /// When it was noticed.
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    /// The end of its log.
    pub log_tail: String,
}

/// What cleanup did, the same on every deployer.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct CleanupReport {
    /// Nodes that were running and that cleanup stopped: asked to stop
    /// (SIGTERM or the backend's equivalent), and, past the grace period,
    /// forced.
    pub stopped: Vec<String>,
    /// Of those, the ones that ignored the polite stop and had to be
    /// forced (killed, or their pod deleted at once), a line each (worth a
    /// look: a node that does not shut down cleanly).
    pub forced: Vec<String>,
    /// Nodes that were running and that cleanup left running, since they
    /// are not the framework's to stop (an attached deployment's, which
    /// its owner runs).
    #[serde(default)]
    pub left_running: Vec<String>,
    /// Problems met (a process that would not die, a directory that could
    /// not be removed); any problem makes the run an error.
    pub problems: Vec<String>,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every expectation held.
    Passed,
    /// An expectation failed, a workload failed, or a node crashed.
    Failed,
    /// The run could not be carried out (deploy or readiness failed).
    Error,
}

/// One expectation's verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExpectationReport {
    /// Its name.
    pub name: String,
    /// When it is judged (`always`, `eventually within 10s`, `at end` in
    /// `report.json`).
    pub timing: Timing,
    /// Whether it held; `None` if the run ended before it was judged.
    pub passed: Option<bool>,
    /// Why it failed.
    pub reason: Option<String>,
    /// What was observed when it failed.
    pub observed: Option<String>,
    /// When it was decided, from the start of the run window.
    pub decided_at_ms: Option<u64>,
}

impl ExpectationReport {
    pub(crate) fn pending(name: &str, timing: Timing) -> Self {
        ExpectationReport {
            name: name.to_owned(),
            timing,
            passed: None,
            reason: None,
            observed: None,
            decided_at_ms: None,
        }
    }
}

/// Something a workload did, on the run's timeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// From the start of the run window.
    pub at_ms: u64,
    /// Who did or saw it (`leader-failover`, `RaftObserver`, an expectation).
    pub source: String,
    /// What happened.
    pub what: String,
    /// A workload's action, an observed event, or an expectation's verdict.
    pub kind: TimelineKind,
    /// How much it matters.
    pub severity: Severity,
}

/// What a timeline entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimelineKind {
    /// A workload did something (killed a node).
    Action,
    /// An observer saw something (a new leader).
    Event,
    /// An expectation was decided.
    Verdict,
}

/// A fault a workload injected, from when it began to when it ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FaultWindow {
    /// The workload.
    pub source: String,
    /// What the fault is (`node-0 killed`).
    pub what: String,
    /// When it began, from the start of the run window.
    pub start_ms: u64,
    /// When it ended; `None` if it had not when the run ended.
    pub end_ms: Option<u64>,
    /// The nodes it struck (a killed node, a cut side, both ends of every
    /// shaped link); empty when the workload did not say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

/// One source's health, as its observer saw it over the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceReport {
    /// The observer.
    pub observer: String,
    /// The source.
    pub source: String,
    /// Polls that succeeded.
    pub successes: u64,
    /// Polls that failed.
    pub failures: u64,
    /// Mean poll latency.
    pub latency_mean_ms: f64,
    /// Standard deviation of the poll latency.
    pub latency_std_dev_ms: f64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// How long each phase took.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PhaseTimings {
    /// Deploying the nodes.
    pub deploy_ms: u64,
    /// Until every node was ready.
    pub ready_ms: u64,
    /// The run window.
    pub run_ms: u64,
    /// Cooldown and end checks.
    pub end_ms: u64,
    /// Cleanup.
    pub cleanup_ms: u64,
}

/// A workload that failed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkloadFailure {
    /// The workload.
    pub name: String,
    /// Its error.
    pub error: String,
}

/// One group of a run's topology; displayed as `sentinel (redis, after
/// redis): sentinel-0, sentinel-1`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReport {
    /// Its name.
    pub name: String,
    /// Its app's name.
    pub app: String,
    /// Its nodes, in order.
    pub nodes: Vec<String>,
    /// The groups it started after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

impl GroupReport {
    /// The group `request` asks for.
    pub fn of(request: &crate::scenario::deploy::GroupRequest) -> Self {
        GroupReport {
            name: request.name.clone(),
            app: request.app.clone(),
            nodes: (0..request.nodes).map(|i| request.node_name(i)).collect(),
            after: request.after.clone(),
        }
    }
}

impl std::fmt::Display for GroupReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}", self.name, self.app)?;
        if !self.after.is_empty() {
            write!(f, ", after {}", self.after.join(" and "))?;
        }
        write!(f, "): {}", self.nodes.join(", "))
    }
}

/// Everything about one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// The scenario.
    pub scenario: String,
    /// The app.
    pub app: String,
    /// The deployer.
    pub deployer: String,
    /// How many nodes, in all groups.
    pub nodes: usize,
    /// The topology's groups (one, `node`, in a scenario of one app).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupReport>,
    /// The catalog parameters the scenario was built with (`wallets=8`),
    /// so that replay rebuilds the same scenario; empty for scenarios
    /// built by hand.
    #[serde(default)]
    pub parameters: Vec<(String, String)>,
    /// The run's seed (`--seed` reruns it); `None` for a replay or an
    /// older report.
    #[serde(default)]
    pub seed: Option<u64>,
    /// When it started.
    #[serde(with = "rfc3339")]
    pub started_at: SystemTime,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in one line, when it did not pass.
    pub summary: Option<String>,
    /// Each expectation.
    pub expectations: Vec<ExpectationReport>,
    /// Workloads that failed.
    pub workload_failures: Vec<WorkloadFailure>,
    /// Nodes that exited without being told to.
    pub node_crashes: Vec<NodeExit>,
    /// What workloads did, what observers saw, and when expectations were
    /// decided, in time order.
    pub timeline: Vec<TimelineEntry>,
    /// Faults injected by workloads.
    pub faults: Vec<FaultWindow>,
    /// What the clients saw, measured: per workload and kind of request
    /// (from the run's history).
    #[serde(default)]
    pub clients: Vec<ClientReport>,
    /// A sample of single requests, for the latency chart.
    #[serde(default)]
    pub latency_points: Vec<LatencyPoint>,
    /// Per-source health of every observer.
    pub sources: Vec<SourceReport>,
    /// Phase durations.
    pub timings: PhaseTimings,
    /// The run directory.
    pub run_dir: Option<PathBuf>,
    /// Each node's log file.
    pub logs: Vec<(String, PathBuf)>,
    /// What each observer saw last (its diagnostics).
    pub observers: Vec<(String, String)>,
    /// What cleanup did.
    pub cleanup: CleanupReport,
    /// Artifacts that could not be written completely (the run's verdict
    /// does not depend on them).
    pub notes: Vec<String>,
}

impl RunReport {
    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Passed
    }

    /// The process exit code a runner's `main` returns for this run: 0
    /// when it passed, 1 when not.
    pub fn exit_code(&self) -> std::process::ExitCode {
        if self.passed() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        }
    }

    /// Writes `report.json` into `dir`.
    pub fn write_json(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join("report.json");
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&path, json)?;
        Ok(path)
    }
}

impl RunReport {
    /// Reads a `report.json` back.
    pub fn read_json(dir: &Path) -> Result<RunReport, ReadReportError> {
        let path = dir.join("report.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ReadReportError {
            path: path.display().to_string(),
            error: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| ReadReportError {
            path: path.display().to_string(),
            error: e.to_string(),
        })
    }
}

/// A `report.json` that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {error}; is this a run directory?")]
pub struct ReadReportError {
    /// The file.
    pub path: String,
    /// Why.
    pub error: String,
}

/// What a replay decided, next to what the recorded run decided.
#[derive(Clone, Debug)]
pub struct ReplayReport {
    /// The scenario.
    pub scenario: String,
    /// Each expectation, judged again; `passed: None` when it could not be
    /// replayed (the reason says why).
    pub expectations: Vec<ExpectationReport>,
    /// The recorded run's verdict per expectation, by name.
    pub recorded: HashMap<String, Option<bool>>,
    /// Observations replayed, per observer.
    pub observations: Vec<(String, usize)>,
}

impl ReplayReport {
    /// Whether no replayed expectation failed.
    pub fn passed(&self) -> bool {
        self.expectations.iter().all(|e| e.passed != Some(false))
    }
}

/// Times as RFC 3339 text.
pub(crate) mod rfc3339 {
    use std::time::SystemTime;

    use serde::Deserialize;

    pub(crate) fn serialize<S: serde::Serializer>(
        time: &SystemTime,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_rfc3339_millis(*time))
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
impl RunReport {
    /// A report of nothing much, for tests of the writers.
    pub(crate) fn sample(verdict: Verdict) -> Self {
        RunReport {
            scenario: "s".into(),
            app: "app".into(),
            deployer: "local".into(),
            nodes: 3,
            groups: vec![],
            parameters: vec![],
            seed: None,
            started_at: SystemTime::UNIX_EPOCH,
            verdict,
            summary: None,
            expectations: vec![],
            workload_failures: vec![],
            node_crashes: vec![],
            timeline: vec![],
            faults: vec![],
            clients: Vec::new(),
            latency_points: Vec::new(),
            sources: vec![],
            timings: PhaseTimings::default(),
            run_dir: None,
            logs: vec![],
            observers: vec![],
            cleanup: Default::default(),
            notes: vec![],
        }
    }
}
