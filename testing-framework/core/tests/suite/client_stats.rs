//! What the clients saw, measured from the history: counts, latency
//! percentiles, throughput per second, and the sample of requests charts
//! draw.

use serde_json::json;
use tf_core::history::{ClientStats, Event, EventKind, HISTORY_FILE, operations};
use tf_core::report::RequestOutcome;

/// `n` writes by one client of `workload`, the i-th invoked at i ms and
/// taking i+1 ms; every tenth fails and the last is of unknown outcome.
fn writes(workload: &str, n: u64) -> Vec<Event> {
    let mut events = Vec::new();
    let mut push = |kind, process, time, error: Option<&str>| {
        events.push(Event {
            index: 0,
            kind,
            process,
            f: "write".into(),
            value: json!(["k", 1]),
            time,
            error: error.map(str::to_owned),
            client: Some(workload.to_owned()),
        })
    };
    for i in 0..n {
        let invoked = i * 1_000_000;
        push(EventKind::Invoke, i, invoked, None);
        let done = invoked + (i + 1) * 1_000_000;
        match (i + 1 == n, i % 10 == 9) {
            (true, _) => push(EventKind::Info, i, done, Some("timed out")),
            (false, true) => push(EventKind::Fail, i, done, Some("refused")),
            (false, false) => push(EventKind::Ok, i, done, None),
        }
    }
    events.sort_by_key(|e| e.time);
    for (i, e) in events.iter_mut().enumerate() {
        e.index = i as u64;
    }
    events
}

#[test]
fn counts_percentiles_and_throughput_per_workload_and_kind() {
    let events = writes("kv", 1_000);
    let stats = ClientStats::of(&operations(&events).unwrap(), Some(10_000));
    assert_eq!(stats.clients.len(), 1);
    let c = &stats.clients[0];
    assert_eq!((c.client.as_str(), c.f.as_str()), ("kv", "write"));
    assert_eq!((c.ok, c.fail, c.unknown), (900, 99, 1));
    let latency = c.latency.unwrap();
    // Latencies 1..=1000 ms, every tenth left out: the median near 500 ms.
    let near = |value: u64, expected: u64| value.abs_diff(expected) <= expected / 50;
    assert!(near(latency.p50_us, 500_000), "{latency:?}");
    assert!(near(latency.p90_us, 900_000), "{latency:?}");
    assert!(near(latency.p99_us, 990_000), "{latency:?}");
    assert!(near(latency.max_us, 999_000), "{latency:?}");
    assert!((c.ok_per_second - 90.0).abs() < 0.01, "{}", c.ok_per_second);
    // Completions run from 1 ms to ~2 s: every second of the window is
    // there, the empty ones as zeros.
    assert_eq!(c.per_second.len(), 10);
    assert_eq!(
        c.per_second
            .iter()
            .map(|s| s.ok + s.fail + s.unknown)
            .sum::<u64>(),
        1_000
    );
    assert!(
        c.per_second[5..]
            .iter()
            .all(|s| s.ok == 0 && s.latency.is_none())
    );
    assert!(c.per_second[0].latency.is_some());
}

#[test]
fn workloads_and_kinds_are_apart_and_unnamed_clients_are_clients() {
    let mut events = writes("kv", 20);
    let mut other = writes("deposed", 5);
    for e in &mut other {
        e.process += 100;
        e.time += 1;
    }
    let mut unnamed = writes("x", 3);
    for e in &mut unnamed {
        e.process += 200;
        e.client = None;
        e.f = "read".into();
        e.time += 2;
    }
    events.extend(other);
    events.extend(unnamed);
    events.sort_by_key(|e| e.time);
    for (i, e) in events.iter_mut().enumerate() {
        e.index = i as u64;
    }
    let stats = ClientStats::of(&operations(&events).unwrap(), None);
    let names: Vec<(String, String)> = stats
        .clients
        .iter()
        .map(|c| (c.client.clone(), c.f.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("clients".into(), "read".into()),
            ("deposed".into(), "write".into()),
            ("kv".into(), "write".into())
        ]
    );
}

#[test]
fn the_sample_for_charts_is_bounded_and_keeps_every_failure() {
    let events = writes("kv", 100_000);
    let stats = ClientStats::of(&operations(&events).unwrap(), None);
    assert!(stats.points.len() <= 4_000, "{}", stats.points.len());
    let failed = stats
        .points
        .iter()
        .filter(|p| p.outcome != RequestOutcome::Ok)
        .count();
    assert_eq!(
        failed, 2_000,
        "failures are kept first, up to half the sample"
    );
    let ok = stats
        .points
        .iter()
        .filter(|p| p.outcome == RequestOutcome::Ok)
        .count();
    assert!(ok >= 1_000, "successes sampled evenly: {ok}");
    assert!(stats.points.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
}

#[test]
fn a_history_file_streams_to_the_same_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(HISTORY_FILE);
    let events = writes("kv", 500);
    let text: String = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(&path, text).unwrap();
    let from_file = ClientStats::of_file(&path, Some(5_000)).unwrap();
    let from_ops = ClientStats::of(&operations(&events).unwrap(), Some(5_000));
    assert_eq!(from_file, from_ops);
}
