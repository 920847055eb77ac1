//! A run report as people read it: the verdict table, the notable part of
//! the timeline, crashes, and where the artifacts are. The CLI prints it,
//! and [`RunReport::assert_passed`] panics with it inside `cargo test`.

use std::fmt;

use super::{
    ExpectationReport, HTML_FILE, ReplayReport, RunReport, Severity, TimelineKind, Verdict,
};

/// Lines of an expectation's observed state shown before cutting.
const OBSERVED_LINES: usize = 40;

/// The width of the expectation-name column.
pub(crate) fn name_width(expectations: &[ExpectationReport]) -> usize {
    expectations
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(10)
        .max("expectation".len())
}

/// Microseconds for people: `850µs`, `12.3ms`, `1.25s`.
pub(crate) fn duration_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        1_000..1_000_000 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// An expectation's verdict in a table.
pub(crate) fn verdict_word(passed: Option<bool>) -> &'static str {
    match passed {
        Some(true) => "PASS",
        Some(false) => "FAIL",
        None => "not judged",
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
            Verdict::Error => "ERROR",
        })
    }
}

/// The report for people: what ran, each expectation's verdict (with the
/// reason and observed state of failures), workload failures, crashes with
/// their log tails, the notable timeline, cleanup problems, timings, the
/// run directory and report page, and the verdict line.
impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scenario {} on {} ({} nodes, {} deployer)",
            self.scenario, self.app, self.nodes, self.deployer
        )?;
        if self.groups.len() > 1 {
            let shown: Vec<String> = self.groups.iter().map(ToString::to_string).collect();
            writeln!(f, "groups: {}", shown.join("; "))?;
        }
        if !self.parameters.is_empty() {
            let shown: Vec<String> = self
                .parameters
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            writeln!(f, "parameters: {}", shown.join(" "))?;
        }
        if let Some(seed) = self.seed {
            writeln!(f, "seed: {seed} (rerun with --seed {seed})")?;
        }
        let width = name_width(&self.expectations);
        writeln!(f, "  {:<width$}  {:<22}  verdict", "expectation", "when")?;
        for e in &self.expectations {
            writeln!(
                f,
                "  {:<width$}  {:<22}  {}",
                e.name,
                e.timing.to_string(),
                verdict_word(e.passed)
            )?;
            if let Some(reason) = &e.reason {
                writeln!(f, "      reason: {reason}")?;
            }
            if let Some(observed) = &e.observed {
                let lines: Vec<&str> = observed.lines().collect();
                for line in lines.iter().take(OBSERVED_LINES) {
                    writeln!(f, "      | {line}")?;
                }
                if lines.len() > OBSERVED_LINES {
                    writeln!(
                        f,
                        "      | ... {} more lines in report.json",
                        lines.len() - OBSERVED_LINES
                    )?;
                }
            }
        }
        for failure in &self.workload_failures {
            writeln!(f, "  workload {} failed: {}", failure.name, failure.error)?;
        }
        for crash in &self.node_crashes {
            writeln!(
                f,
                "  node {} exited on its own ({}); last log lines:",
                crash.node, crash.status
            )?;
            for line in crash.log_tail.lines() {
                writeln!(f, "      | {line}")?;
            }
        }
        if !self.clients.is_empty() {
            writeln!(f, "clients (latency of the requests that took effect):")?;
            let width = self
                .clients
                .iter()
                .map(|c| c.client.len())
                .max()
                .unwrap_or(0);
            let f_width = self.clients.iter().map(|c| c.f.len()).max().unwrap_or(0);
            for c in &self.clients {
                let latency = c.latency.map_or_else(String::new, |l| {
                    format!(
                        "  p50 {}  p90 {}  p99 {}  max {}",
                        duration_us(l.p50_us),
                        duration_us(l.p90_us),
                        duration_us(l.p99_us),
                        duration_us(l.max_us)
                    )
                });
                writeln!(
                    f,
                    "  {:<width$}  {:<f_width$}  {:>6} ok {:>5} fail {:>4} unknown  {:>7.1} ok/s{latency}",
                    c.client, c.f, c.ok, c.fail, c.unknown, c.ok_per_second
                )?;
            }
        }
        // Routine events and passed verdicts stay in report.json; the table
        // above has the verdicts.
        let notable: Vec<_> = self
            .timeline
            .iter()
            .filter(|e| {
                e.severity >= Severity::Notice
                    && !(e.kind == TimelineKind::Verdict && e.severity < Severity::Error)
            })
            .collect();
        if !notable.is_empty() {
            writeln!(f, "timeline:")?;
            // As wide as the longest source: names are never cut.
            let source_width = notable
                .iter()
                .map(|e| e.source.len())
                .max()
                .unwrap_or(0)
                .max(16);
            for entry in notable {
                let mark = if entry.severity >= Severity::Warning {
                    "!"
                } else {
                    " "
                };
                writeln!(
                    f,
                    "  {:>7.1}s {mark} {:<source_width$} {}",
                    entry.at_ms as f64 / 1000.0,
                    entry.source,
                    entry.what
                )?;
            }
        }
        for problem in &self.cleanup.problems {
            writeln!(f, "cleanup: {problem}")?;
        }
        for forced in &self.cleanup.forced {
            writeln!(f, "cleanup: {forced}")?;
        }
        if !self.cleanup.forced.is_empty() {
            writeln!(
                f,
                "cleanup: a node that ignores SIGTERM costs the stop grace on every stop and at cleanup; make it exit on SIGTERM, or shorten the grace (`run --stop-grace 1s`, or the deployer's with_stop_grace)"
            )?;
        }
        if !self.cleanup.left_running.is_empty() {
            writeln!(
                f,
                "cleanup: left running, as found (not the framework's to stop): {}",
                self.cleanup.left_running.join(", ")
            )?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        let t = &self.timings;
        writeln!(
            f,
            "timings: deploy {} ms, ready {} ms, run {} ms, end checks {} ms, cleanup {} ms",
            t.deploy_ms, t.ready_ms, t.run_ms, t.end_ms, t.cleanup_ms
        )?;
        match &self.run_dir {
            Some(dir) => {
                writeln!(
                    f,
                    "run directory: {} (node logs, report.json, junit.xml)",
                    dir.display()
                )?;
                writeln!(f, "report: {}", dir.join(HTML_FILE).display())?;
            }
            None if self.passed() => writeln!(f, "run directory removed (the run passed)")?,
            None => writeln!(f, "no run directory was created")?,
        }
        match &self.summary {
            Some(summary) => write!(f, "{}: {summary}", self.verdict),
            None => write!(f, "{}", self.verdict),
        }
    }
}

impl RunReport {
    /// Panics with the whole report (verdicts, observed state, timeline,
    /// run directory) unless the run passed: the one line a scenario inside
    /// `cargo test` needs to explain its failure.
    #[track_caller]
    pub fn assert_passed(&self) {
        if !self.passed() {
            panic!("scenario `{}` did not pass\n{self}", self.scenario);
        }
    }
}

/// A replay for people: the observations replayed, and each expectation's
/// recorded verdict next to the replayed one, with the replay's reasons.
impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "replay of {}", self.scenario)?;
        for (observer, count) in &self.observations {
            writeln!(f, "  {count} observations of {observer}")?;
        }
        let width = name_width(&self.expectations);
        writeln!(
            f,
            "  {:<width$}  {:<10}  replayed",
            "expectation", "recorded"
        )?;
        for e in &self.expectations {
            let recorded = self.recorded.get(&e.name).copied().flatten();
            writeln!(
                f,
                "  {:<width$}  {:<10}  {}",
                e.name,
                verdict_word(recorded),
                verdict_word(e.passed)
            )?;
            if let Some(reason) = &e.reason {
                writeln!(f, "      reason: {reason}")?;
            }
        }
        f.write_str(if self.passed() {
            "REPLAY PASSED"
        } else {
            "REPLAY FAILED"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{TimelineEntry, TimelineKind};

    #[test]
    fn forced_kills_at_cleanup_are_printed_with_what_to_do() {
        let mut report = RunReport::sample(Verdict::Passed);
        report.cleanup.forced =
            vec!["node-1 did not stop within 5s of SIGTERM and was killed".into()];
        let printed = report.to_string();
        assert!(
            printed.contains("cleanup: node-1 did not stop within 5s of SIGTERM and was killed"),
            "{printed}"
        );
        assert!(printed.contains("run --stop-grace 1s"), "{printed}");
    }

    #[test]
    fn nodes_left_running_at_cleanup_are_said_and_older_reports_have_none() {
        let mut report = RunReport::sample(Verdict::Passed);
        report.cleanup.left_running = vec!["raft-0".into(), "raft-1".into()];
        let printed = report.to_string();
        assert!(
            printed.contains(
                "cleanup: left running, as found (not the framework's to stop): raft-0, raft-1"
            ),
            "{printed}"
        );
        let page = super::super::html::render_for_test(&report);
        assert!(page.contains("raft-0, raft-1"), "{page}");
        // A report.json written before nodes were left running reads back.
        let mut json = serde_json::to_value(&report).unwrap();
        json["cleanup"]
            .as_object_mut()
            .unwrap()
            .remove("left_running");
        let read: RunReport = serde_json::from_value(json).unwrap();
        assert!(read.cleanup.left_running.is_empty());
        assert!(!super::super::html::render_for_test(&read).contains("left running"));
    }

    #[test]
    fn groups_are_listed_with_their_nodes_and_order_and_one_group_is_not() {
        let mut report = RunReport::sample(Verdict::Passed);
        // A report without groups (an older report.json) renders too.
        assert!(!super::super::html::render_for_test(&report).contains("groups:"));
        let group = |name: &str, nodes: &[&str], after: &[&str]| crate::report::GroupReport {
            name: name.into(),
            app: "redis".into(),
            nodes: nodes.iter().map(|n| (*n).to_owned()).collect(),
            after: after.iter().map(|a| (*a).to_owned()).collect(),
        };
        report.groups = vec![group("node", &["node-0"], &[])];
        assert!(!report.to_string().contains("groups:"));
        report.groups = vec![
            group("redis", &["redis-0", "redis-1"], &[]),
            group("sentinel", &["sentinel-0"], &["redis"]),
        ];
        let printed = report.to_string();
        assert!(
            printed.contains(
                "groups: redis (redis): redis-0, redis-1; sentinel (redis, after redis): sentinel-0"
            ),
            "{printed}"
        );
        let html = super::super::html::render_for_test(&report);
        assert!(
            html.contains("<strong>sentinel</strong> (redis, after redis): sentinel-0"),
            "{html}"
        );
    }

    #[test]
    fn long_source_names_keep_the_timeline_aligned_and_whole() {
        let mut report = RunReport::sample(Verdict::Passed);
        for (at_ms, source) in [(100, "a-very-long-workload-name"), (200, "short")] {
            report.timeline.push(TimelineEntry {
                at_ms,
                source: source.into(),
                what: "did something".into(),
                kind: TimelineKind::Action,
                severity: Severity::Notice,
            });
        }
        let printed = report.to_string();
        let rows: Vec<&str> = printed
            .lines()
            .filter(|l| l.ends_with("did something"))
            .collect();
        assert_eq!(rows.len(), 2, "{printed}");
        assert!(
            rows[0].contains("a-very-long-workload-name did something"),
            "{printed}"
        );
        assert_eq!(
            rows[0].find("did something"),
            rows[1].find("did something"),
            "one column:\n{printed}"
        );
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration_us(850), "850µs");
        assert_eq!(duration_us(12_345), "12.3ms");
        assert_eq!(duration_us(1_250_000), "1.25s");
    }
}
