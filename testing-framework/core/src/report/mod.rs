//! Reports of runs, beyond `report.json`: what apps may tell reports about
//! their snapshots and events ([`ReportSnapshot`], [`ReportEvent`]), the
//! recorded observations (`observations.jsonl`), and `junit.xml`.

mod clients;
mod html;
mod junit;
mod observations;
mod run;
mod summary;
mod traits;

pub use clients::{ClientReport, Latency, LatencyPoint, RequestOutcome, SecondReport};
pub use html::{HTML_FILE, write_html};
pub use junit::{JUNIT_FILE, junit_xml, write_junit};
pub use observations::{
    LabelledEvent, OBSERVATIONS_FILE, ObservationRecorder, RecordedEvent, RecordedObservation,
};
pub use run::{
    CleanupReport, ExpectationReport, FaultWindow, GroupReport, NodeExit, PhaseTimings,
    ReadReportError, ReplayReport, RunReport, SourceReport, TimelineEntry, TimelineKind, Timing,
    Verdict, WorkloadFailure,
};
pub use traits::{ReportEvent, ReportSnapshot, SeriesPoint, Severity};

pub(crate) use summary::duration_us;
