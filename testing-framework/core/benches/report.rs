//! How big `report.html` gets for a long run, and how long it takes to
//! write: a synthetic 10-minute run of 5 nodes observed every 100 ms.
//! Run: `cargo bench -p tf-core --bench report`

use std::io::Write;
use std::time::{Instant, SystemTime};

use tf_core::report::*;
use tf_core::report::{OBSERVATIONS_FILE, RecordedObservation, SeriesPoint, Severity, write_html};

const NODES: usize = 5;
const MINUTES: u64 = 10;
const INTERVAL_MS: u64 = 100;

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let minutes = if quick { 1 } else { MINUTES };
    let dir = std::env::temp_dir().join(format!("tf-bench-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run_ms = minutes * 60_000;

    // observations.jsonl: three series per node, a node down every 10 s for 2 s.
    let mut lines =
        std::io::BufWriter::new(std::fs::File::create(dir.join(OBSERVATIONS_FILE)).unwrap());
    let mut faults = Vec::new();
    let mut timeline = Vec::new();
    for at_ms in (0..run_ms).step_by(INTERVAL_MS as usize) {
        let down = ((at_ms / 10_000) as usize) % NODES;
        let in_fault = at_ms % 10_000 >= 5_000 && at_ms % 10_000 < 7_000;
        let mut series = Vec::new();
        for node in 0..NODES {
            if in_fault && node == down {
                continue;
            }
            let name = format!("node-{node}");
            series.push(SeriesPoint::new(
                "term",
                &name,
                (at_ms / 10_000) as f64 + 1.0,
            ));
            series.push(SeriesPoint::new("last applied", &name, (at_ms / 50) as f64));
            series.push(SeriesPoint::new(
                "last log index",
                &name,
                (at_ms / 50 + 2) as f64,
            ));
        }
        let line: RecordedObservation<serde_json::Value, serde_json::Value> = RecordedObservation {
            observer: "RaftObserver".into(),
            position: at_ms / INTERVAL_MS + 1,
            cycle: at_ms / INTERVAL_MS + 1,
            at_ms,
            sources: NODES,
            sources_added: vec![],
            sources_removed: vec![],
            series,
            events: vec![],
            reachability: vec![],
            snapshot: serde_json::json!({"leader": "node-1", "term": at_ms / 10_000 + 1}),
        };
        serde_json::to_writer(&mut lines, &line).unwrap();
        lines.write_all(b"\n").unwrap();
        if at_ms % 10_000 == 5_000 {
            faults.push(FaultWindow {
                source: "leader-failover".into(),
                what: format!("node-{down} killed"),
                start_ms: at_ms,
                end_ms: Some(at_ms + 2_000),
                nodes: vec![format!("node-{down}")],
            });
            for (offset, what, severity, kind) in [
                (
                    0,
                    format!("kill node-{down} (leader)"),
                    Severity::Notice,
                    TimelineKind::Action,
                ),
                (
                    40,
                    format!("node-{down} unreachable: connection refused"),
                    Severity::Warning,
                    TimelineKind::Event,
                ),
                (
                    1_400,
                    "leader none -> node-1".to_owned(),
                    Severity::Notice,
                    TimelineKind::Event,
                ),
                (
                    2_000,
                    format!("start node-{down}"),
                    Severity::Notice,
                    TimelineKind::Action,
                ),
            ] {
                timeline.push(TimelineEntry {
                    at_ms: at_ms + offset,
                    source: "leader-failover".into(),
                    what,
                    kind,
                    severity,
                });
            }
        }
    }
    lines.flush().unwrap();
    drop(lines);
    let observations_bytes = std::fs::metadata(dir.join(OBSERVATIONS_FILE))
        .unwrap()
        .len();

    let report = RunReport {
        scenario: "raft-failover".into(),
        app: "openraft-kv".into(),
        deployer: "local".into(),
        nodes: NODES,
        groups: Vec::new(),
        parameters: vec![],
        seed: None,
        started_at: SystemTime::now(),
        verdict: Verdict::Passed,
        summary: None,
        expectations: vec![],
        workload_failures: vec![],
        node_crashes: vec![],
        timeline,
        faults,
        clients: Vec::new(),
        latency_points: Vec::new(),
        sources: vec![],
        timings: PhaseTimings {
            run_ms,
            ..PhaseTimings::default()
        },
        run_dir: Some(dir.clone()),
        logs: (0..NODES)
            .map(|n| (format!("node-{n}"), dir.join(format!("node-{n}/node.log"))))
            .collect(),
        observers: vec![],
        cleanup: CleanupReport::default(),
        notes: vec![],
    };
    let mut times = Vec::new();
    let mut path = dir.clone();
    for _ in 0..if quick { 1 } else { 5 } {
        let started = Instant::now();
        path = write_html(&report, &dir).unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    let html_bytes = std::fs::metadata(&path).unwrap().len();
    println!("| measurement | value | target |");
    println!("|---|---|---|");
    println!(
        "| report.html of a {minutes}-minute run, {NODES} nodes, 100 ms polls | {:.2} MB | < 2 MB |",
        html_bytes as f64 / 1e6
    );
    println!(
        "| writing it (median of {}) | {:.0} ms | — |",
        times.len(),
        times[times.len() / 2].as_secs_f64() * 1000.0
    );
    println!(
        "| observations.jsonl of that run (series only) | {:.1} MB | — |",
        observations_bytes as f64 / 1e6
    );
    println!("\nopen it: {}", path.display());
}
