//! Waits, their timeout diagnostics, and per-source health.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;
use tf_core::observation::error::*;
use tf_core::observation::health::*;
use tf_core::observation::*;

const WAIT: Duration = Duration::from_secs(30);

fn config() -> ObservationConfig {
    ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(100))
        .with_cycle_timeout(Duration::from_secs(2))
        .with_source_timeout(Duration::from_millis(500))
}

/// `n` nodes named node-0.., their source set, and a running runtime.
fn cluster(
    n: usize,
) -> (
    Vec<NodeRef>,
    ObservationRuntime<HeightObserver>,
    Arc<Controls>,
) {
    let nodes: Vec<NodeRef> = (0..n).map(|_| node()).collect();
    let set: SourceSet<NodeRef> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| ObservedSource::new(format!("node-{i}"), Arc::clone(n)))
        .collect();
    let controls = Controls::new();
    let runtime = ObservationRuntime::start(set, HeightObserver::new(&controls), config()).unwrap();
    (nodes, runtime, controls)
}

#[tokio::test(start_paused = true)]
async fn wait_until_returns_the_first_matching_observation() {
    let (nodes, runtime, _controls) = cluster(3);
    let handle = runtime.handle();
    for (i, node) in nodes.iter().enumerate() {
        node.set_height(10 + i as u64);
    }
    let seen = handle
        .wait_until(|s| s.heights.values().all(|h| *h >= 10), WAIT)
        .await
        .unwrap();
    assert_eq!(seen.source_count, 3);
    assert_eq!(seen.snapshot.heights["node-2"], 12);
    // Already true: answers from the latest snapshot without waiting a cycle.
    let again = handle
        .wait_until(|s| s.heights["node-0"] == 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(again.cursor, handle.cursor());
}

#[tokio::test(start_paused = true)]
async fn wait_until_timeout_shows_the_last_snapshot_its_age_and_the_failing_source() {
    let (nodes, runtime, _controls) = cluster(3);
    let handle = runtime.handle();
    nodes[0].set_height(41);
    nodes[2].set_height(43);
    handle
        .wait_until(|s| s.heights.len() == 3, WAIT)
        .await
        .unwrap();
    nodes[1].fail.store(true, Ordering::SeqCst);

    let err = handle
        .wait_until(
            |s| s.heights.values().all(|h| *h >= 100),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    println!("{text}");
    assert!(matches!(err, WaitError::TimedOut { .. }));
    for expected in [
        "timed out after 2.00s waiting for a snapshot of `HeightObserver` matching the condition",
        "observer `HeightObserver` is running",
        "last snapshot: cycle ",
        "3 sources",
        "\"node-0\": 41,",
        "\"node-2\": 43,",
        "last error: none",
        "sources: 3 (1 failing)",
        "node-1  FAILING",
        "connection refused",
        "node-0  ok",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let snapshot_line = text
        .lines()
        .find(|l| l.starts_with("last snapshot:"))
        .unwrap();
    assert!(
        snapshot_line.contains("observed ") && snapshot_line.ends_with(" ago, 3 sources"),
        "{snapshot_line}"
    );
    let diagnostics = err.diagnostics();
    assert_eq!(
        diagnostics
            .sources
            .iter()
            .filter(|s| s.is_failing())
            .count(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn wait_timeout_shows_the_current_cycle_error_and_a_stale_snapshot_age() {
    let (_nodes, runtime, controls) = cluster(2);
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();
    controls.fail_poll.store(true, Ordering::SeqCst);
    let err = handle
        .wait_until(|s| s.polls >= 2, Duration::from_millis(1500))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("observed 1.50s ago"), "{text}");
    assert!(text.contains("last error: poll failed in cycle"), "{text}");
    // Cycles at 0.1 s .. 1.4 s failed (the one at 1.5 s meets the deadline,
    // whichever of the two timers fires first).
    let in_a_row = handle.health().consecutive_failures;
    assert!((14..=15).contains(&in_a_row), "{in_a_row}");
    assert!(
        text.contains(&format!("({in_a_row} in a row): scripted poll failure")),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn wait_for_event_sees_an_event_caused_after_taking_a_cursor() {
    let (nodes, runtime, _controls) = cluster(2);
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();

    let cursor = handle.cursor();
    nodes[1].set_height(5);
    // The event may already be published; the cursor makes that harmless.
    handle
        .wait_until(|s| s.heights["node-1"] == 5, WAIT)
        .await
        .unwrap();
    let event = handle
        .wait_for_event_from(
            cursor,
            |e| matches!(e, HeightEvent::Grew { node, .. } if node == "node-1"),
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        event,
        HeightEvent::Grew {
            node: "node-1".into(),
            height: 5
        }
    );
}

#[tokio::test(start_paused = true)]
async fn wait_for_event_timeout_lists_the_events_seen_while_waiting() {
    let (nodes, runtime, _controls) = cluster(1);
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();
    let waiting = {
        let handle = handle.clone();
        tokio::spawn(async move {
            handle
                .wait_for_event(
                    |e| matches!(e, HeightEvent::Grew { height, .. } if *height > 100),
                    Duration::from_secs(5),
                )
                .await
        })
    };
    for height in 1..=7 {
        nodes[0].set_height(height);
        handle
            .wait_until(|s| s.heights["node-0"] == height, WAIT)
            .await
            .unwrap();
    }
    let text = waiting.await.unwrap().unwrap_err().to_string();
    assert!(
        text.contains("waiting for an event of `HeightObserver` matching the condition"),
        "{text}"
    );
    assert!(text.contains("events seen while waiting: 7"), "{text}");
    assert!(
        text.contains("Grew { node: \"node-0\", height: 7 }"),
        "{text}"
    );
    assert!(
        !text.contains("height: 2 }"),
        "only the last five are listed:\n{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn per_source_health_isolates_one_failing_and_one_hung_source_out_of_many() {
    let (nodes, runtime, _controls) = cluster(10);
    let handle = runtime.handle();
    nodes[3].fail.store(true, Ordering::SeqCst);
    nodes[7].hang.store(true, Ordering::SeqCst);
    for node in &nodes {
        node.set_height(1);
    }
    let seen = handle.wait_until(|s| s.polls >= 5, WAIT).await.unwrap();
    assert!(
        handle.last_error().is_none(),
        "a failing source does not fail the cycle"
    );
    assert_eq!(
        seen.snapshot.heights.len(),
        8,
        "the healthy sources are observed"
    );

    let health = handle.source_health();
    assert_eq!(health.len(), 10);
    for source in &health {
        match source.name.as_str() {
            "node-3" => {
                assert_eq!(
                    (
                        source.successes,
                        source.failures,
                        source.consecutive_failures
                    ),
                    (0, 5, 5)
                );
                assert_eq!(
                    source.last_error.as_ref().unwrap().message,
                    "connection refused"
                );
                assert!(source.last_success.is_none());
            }
            "node-7" => {
                assert_eq!(source.failures, 5);
                assert_eq!(
                    source.last_error.as_ref().unwrap().message,
                    "no answer within 500ms"
                );
                assert_eq!(source.latency.mean(), Duration::from_millis(500));
            }
            _ => {
                assert_eq!((source.successes, source.failures), (5, 0), "{source:?}");
                assert!(!source.is_failing());
                assert_eq!(source.latency.count(), 5);
                assert_eq!(source.latency.std_dev(), Duration::ZERO);
            }
        }
    }

    nodes[3].fail.store(false, Ordering::SeqCst);
    handle
        .wait_until(|s| s.heights.contains_key("node-3"), WAIT)
        .await
        .unwrap();
    let node3 = handle
        .source_health()
        .into_iter()
        .find(|s| s.name.as_str() == "node-3")
        .unwrap();
    assert!(!node3.is_failing());
    assert!(node3.last_error.is_some(), "the past failure stays visible");
}

#[tokio::test(start_paused = true)]
async fn poll_each_bounds_concurrency() {
    let nodes: Vec<NodeRef> = (0..12).map(|_| node()).collect();
    for node in &nodes {
        node.hang.store(true, Ordering::SeqCst);
    }
    let set: SourceSet<NodeRef> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| ObservedSource::new(format!("n{i}"), Arc::clone(n)))
        .collect();
    let controls = Controls::new();
    let config = config()
        .with_source_concurrency(4)
        .with_source_timeout(Duration::from_millis(100))
        .with_cycle_timeout(Duration::from_secs(10));
    let started = tokio::time::Instant::now();
    let runtime = ObservationRuntime::start(set, HeightObserver::new(&controls), config).unwrap();
    let handle = runtime.handle();
    let first = handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();
    // 12 hung sources, 4 at a time, 100 ms each: three rounds.
    assert_eq!(first.observed_at - started, Duration::from_millis(300));
    let second = handle.wait_until(|s| s.polls >= 2, WAIT).await.unwrap();
    // The next cycle starts 100 ms after the first started, already overdue.
    assert_eq!(
        second.observed_at - first.observed_at,
        Duration::from_millis(300)
    );
}

fn hung_and_fast(pattern: &[bool]) -> (Vec<NodeRef>, SourceSet<NodeRef>) {
    let nodes: Vec<NodeRef> = pattern
        .iter()
        .map(|hung| {
            let n = node();
            n.hang.store(*hung, Ordering::SeqCst);
            n
        })
        .collect();
    let set = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| ObservedSource::new(format!("n{i}"), Arc::clone(n)))
        .collect();
    (nodes, set)
}

#[tokio::test(start_paused = true)]
async fn poll_each_does_not_hold_fast_sources_behind_a_slow_one() {
    // Two hung sources among fast ones, two at a time: the hung ones time out
    // side by side (100 ms), not one after the other (200 ms).
    let (_nodes, set) = hung_and_fast(&[true, false, false, true, false]);
    let controls = Controls::new();
    let config = config()
        .with_source_concurrency(2)
        .with_source_timeout(Duration::from_millis(100));
    let started = tokio::time::Instant::now();
    let runtime = ObservationRuntime::start(set, HeightObserver::new(&controls), config).unwrap();
    let first = runtime
        .handle()
        .wait_until(|s| s.polls >= 1, WAIT)
        .await
        .unwrap();
    assert_eq!(first.observed_at - started, Duration::from_millis(100));
    let names: Vec<&String> = first.snapshot.heights.keys().collect();
    assert_eq!(names, ["n1", "n2", "n4"]);
}

#[tokio::test(start_paused = true)]
async fn sources_unanswered_when_the_cycle_times_out_are_recorded_as_failed() {
    let (_nodes, set) = hung_and_fast(&[true, true]);
    let controls = Controls::new();
    let config = config()
        .with_source_concurrency(1)
        .with_source_timeout(Duration::from_millis(700))
        .with_cycle_timeout(Duration::from_secs(1));
    let runtime = ObservationRuntime::start(set, HeightObserver::new(&controls), config).unwrap();
    let handle = runtime.handle();
    controls.until_attempts(2).await;
    assert_eq!(
        handle.health().recent_failures[0].stage,
        FailureStage::PollTimeout
    );
    let health = handle.source_health();
    assert_eq!(
        health[0].last_error.as_ref().unwrap().message,
        "no answer within 700ms"
    );
    assert_eq!(
        health[1].last_error.as_ref().unwrap().message,
        "no answer before the cycle timed out"
    );
    assert_eq!(health[1].latency.last(), Some(Duration::from_secs(1)));
}

#[tokio::test(start_paused = true)]
async fn wait_until_after_ignores_snapshots_from_before_the_cursor() {
    let (nodes, runtime, _controls) = cluster(1);
    let handle = runtime.handle();
    nodes[0].set_height(3);
    let before = handle
        .wait_until(|s| s.heights["node-0"] == 3, WAIT)
        .await
        .unwrap();
    // Already true of the latest snapshot, but only a later one counts.
    let cursor = handle.cursor();
    let after = handle
        .wait_until_after(cursor, |s| s.heights["node-0"] == 3, WAIT)
        .await
        .unwrap();
    assert!(after.cursor > before.cursor);
    assert_eq!(
        after.observed_at - before.observed_at,
        Duration::from_millis(100)
    );
}

#[tokio::test(start_paused = true)]
async fn a_cycle_under_way_when_the_cursor_is_taken_does_not_count() {
    let (nodes, runtime, controls) = cluster(1);
    let handle = runtime.handle();
    nodes[0].set_height(3);
    handle
        .wait_until(|s| s.heights["node-0"] == 3, WAIT)
        .await
        .unwrap();
    // The next cycle reads height 3, then takes 50 ms to answer.
    nodes[0]
        .delay_ms
        .store(50, std::sync::atomic::Ordering::SeqCst);
    let attempts = controls.attempts();
    controls.until_attempts(attempts + 1).await;
    // The action happens while that cycle is under way.
    nodes[0].set_height(4);
    let cursor = handle.cursor();
    let stale = handle
        .wait_until_after(
            cursor,
            |s| s.heights["node-0"] == 3,
            Duration::from_millis(500),
        )
        .await;
    assert!(
        stale.is_err(),
        "a cycle that polled before the action satisfied a wait begun after it"
    );
    let fresh = handle
        .wait_until_after(cursor, |s| s.heights["node-0"] == 4, WAIT)
        .await
        .unwrap();
    assert!(fresh.cursor > cursor);
}
