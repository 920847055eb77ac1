//! What an app's snapshot and event types may tell reports, without the
//! framework learning what they mean.

use serde::{Deserialize, Serialize};

/// One numeric value of a snapshot, for charts: which series, which source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// The series (`term`, `height`).
    pub series: String,
    /// The source it belongs to (`node-2`).
    pub source: String,
    /// Its value.
    pub value: f64,
}

impl SeriesPoint {
    /// A point of `series` for `source`.
    pub fn new(series: impl Into<String>, source: impl Into<String>, value: f64) -> Self {
        SeriesPoint {
            series: series.into(),
            source: source.into(),
            value,
        }
    }
}

/// How much an event matters on a timeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Routine (a block arrived).
    #[default]
    Info,
    /// Worth noticing (a leader changed).
    Notice,
    /// Something went wrong (a node unreachable).
    Warning,
    /// Something broke (a safety violation).
    Error,
}

/// A snapshot that charts: numeric series per source.
pub trait ReportSnapshot {
    /// The snapshot's numbers; empty by default.
    fn series(&self) -> Vec<SeriesPoint> {
        Vec::new()
    }
}

/// An event that reads on a timeline.
pub trait ReportEvent {
    /// One line for people.
    fn label(&self) -> String;

    /// How much it matters.
    fn severity(&self) -> Severity {
        Severity::Info
    }

    /// Whether it belongs on the run's timeline; frequent routine events
    /// (every block) say no and are still recorded in full. Yes by default.
    fn on_timeline(&self) -> bool {
        true
    }
}
