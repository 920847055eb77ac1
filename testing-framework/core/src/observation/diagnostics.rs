//! What a runtime has seen, rendered for people: the body of every wait
//! timeout.

use std::fmt::{self, Write as _};
use std::time::Duration;

use tokio::time::Instant;

use super::stream::Cursor;
use super::{Lifecycle, RuntimeHealth, SourceHealth};

/// Lines of a snapshot's `Debug` shown before cutting it short.
const SNAPSHOT_LINES: usize = 80;
/// Events listed in an event-wait timeout.
pub(crate) const RECENT_EVENTS: usize = 5;

/// A picture of what a runtime observed, taken when a wait gave up.
/// Its `Display` is the report; the fields are there for tools.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Diagnostics {
    /// The observer's name.
    pub observer: String,
    /// The runtime's lifecycle at the time.
    pub lifecycle: Lifecycle,
    /// The latest observation, if any.
    pub latest: Option<LatestSummary>,
    /// The runtime's cycle health.
    pub runtime: RuntimeHealth,
    /// Per-source health, by name.
    pub sources: Vec<SourceHealth>,
    /// For event waits: events seen while waiting, and the last few of them.
    pub events_seen: Option<(u64, Vec<String>)>,
    /// Observations the wait missed because it fell behind the history.
    pub missed_while_waiting: u64,
    /// When the picture was taken.
    pub taken_at: Instant,
}

/// The latest observation, as text.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LatestSummary {
    /// Its position.
    pub cursor: Cursor,
    /// Its cycle.
    pub cycle: u64,
    /// When it was observed.
    pub observed_at: Instant,
    /// Sources polled.
    pub source_count: usize,
    /// The snapshot's pretty `Debug`, cut to a readable length.
    pub snapshot: String,
}

impl LatestSummary {
    pub(crate) fn new(
        cursor: Cursor,
        cycle: u64,
        observed_at: Instant,
        source_count: usize,
        snapshot: &dyn fmt::Debug,
    ) -> Self {
        LatestSummary {
            cursor,
            cycle,
            observed_at,
            source_count,
            snapshot: cut_lines(&format!("{snapshot:#?}"), SNAPSHOT_LINES),
        }
    }
}

fn cut_lines(text: &str, max: usize) -> String {
    let total = text.lines().count();
    if total <= max {
        return text.to_owned();
    }
    let mut cut: String = text.lines().take(max).collect::<Vec<_>>().join("\n");
    let _ = write!(cut, "\n… ({} more lines)", total - max);
    cut
}

/// A duration for people: `850ms`, `1.25s`, `3m05s`.
pub(crate) fn human(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if duration < Duration::from_millis(1) {
        format!("{}µs", duration.as_micros())
    } else if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else if duration < Duration::from_secs(60) {
        format!("{secs:.2}s")
    } else {
        format!(
            "{}m{:02}s",
            duration.as_secs() / 60,
            duration.as_secs() % 60
        )
    }
}

fn ago(now: Instant, then: Instant) -> String {
    format!("{} ago", human(now.saturating_duration_since(then)))
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = self.taken_at;
        writeln!(f, "observer `{}` is {}", self.observer, self.lifecycle)?;
        match &self.latest {
            None => writeln!(f, "last snapshot: none yet (no cycle has succeeded)")?,
            Some(latest) => {
                writeln!(
                    f,
                    "last snapshot: cycle {}, observed {}, {} source{}",
                    latest.cycle,
                    ago(now, latest.observed_at),
                    latest.source_count,
                    if latest.source_count == 1 { "" } else { "s" },
                )?;
                for line in latest.snapshot.lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        if let Some((seen, recent)) = &self.events_seen {
            writeln!(f, "events seen while waiting: {seen}")?;
            if !recent.is_empty() {
                writeln!(f, "  last {}:", recent.len())?;
                for event in recent {
                    writeln!(f, "    {event}")?;
                }
            }
        }
        if self.missed_while_waiting > 0 {
            writeln!(
                f,
                "this wait fell behind the history and missed {} observations; raise `history_capacity`",
                self.missed_while_waiting
            )?;
        }
        let runtime = &self.runtime;
        match &runtime.last_error {
            None => writeln!(f, "last error: none")?,
            Some(error) => writeln!(
                f,
                "last error: {} failed in cycle {}, {} ({} in a row): {}",
                error.stage,
                error.cycle,
                ago(now, error.at),
                error.consecutive,
                error.message
            )?,
        }
        write!(
            f,
            "cycles: {} run, {} ok, {} failed",
            runtime.cycles, runtime.successes, runtime.failures
        )?;
        match runtime.last_success {
            Some(at) => writeln!(f, "; last success {}", ago(now, at))?,
            None => writeln!(f, "; never succeeded")?,
        }
        if runtime.last_error.is_none() {
            if let Some(earlier) = runtime.recent_failures.last() {
                writeln!(
                    f,
                    "  (recovered; the last failure was {} in cycle {}, {}: {})",
                    earlier.stage,
                    earlier.cycle,
                    ago(now, earlier.at),
                    earlier.message
                )?;
            }
        }
        write_sources(f, now, &self.sources)
    }
}

fn write_sources(
    f: &mut fmt::Formatter<'_>,
    now: Instant,
    sources: &[SourceHealth],
) -> fmt::Result {
    if sources.is_empty() {
        return writeln!(f, "sources: none polled through poll_each");
    }
    let failing = sources.iter().filter(|s| s.is_failing()).count();
    writeln!(f, "sources: {} ({} failing)", sources.len(), failing)?;
    let width = sources
        .iter()
        .map(|s| s.name.as_str().len())
        .max()
        .unwrap_or(0);
    for source in sources {
        let name = source.name.as_str();
        if source.successes + source.failures == 0 {
            writeln!(f, "  {name:<width$}  never polled")?;
            continue;
        }
        let status = if source.is_failing() { "FAILING" } else { "ok" };
        write!(
            f,
            "  {name:<width$}  {status:<7}  {} ok / {} failed, latency {} ± {}",
            source.successes,
            source.failures,
            human(source.latency.mean()),
            human(source.latency.std_dev()),
        )?;
        match source.last_success {
            Some(at) => write!(f, ", last success {}", ago(now, at))?,
            None => write!(f, ", never succeeded")?,
        }
        if let Some(error) = &source.last_error {
            if source.is_failing() {
                write!(
                    f,
                    ", failing {} in a row, last error {}: {}",
                    source.consecutive_failures,
                    ago(now, error.at),
                    error.message
                )?;
            }
        }
        writeln!(f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_micros(12)), "12µs");
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_millis(1250)), "1.25s");
        assert_eq!(human(Duration::from_secs(185)), "3m05s");
    }

    #[test]
    fn long_snapshots_are_cut_with_a_count() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let cut = cut_lines(&text, 10);
        assert_eq!(cut.lines().count(), 11);
        assert!(cut.ends_with("… (90 more lines)"), "{cut}");
    }
}
