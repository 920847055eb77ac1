//! The runtime loop: lifecycle, configuration, failures by stage, recovery,
//! timeouts, panics and changing source sets. Time is tokio's paused clock,
//! so every duration below is exact and nothing really sleeps.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;
use tf_core::observation::error::*;
use tf_core::observation::health::*;
use tf_core::observation::*;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(30);

fn config() -> ObservationConfig {
    ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(100))
        .with_cycle_timeout(Duration::from_secs(1))
        .with_source_timeout(Duration::from_millis(500))
}

fn start(
    provider: &Arc<TestProvider>,
    controls: &Arc<Controls>,
    config: ObservationConfig,
) -> ObservationRuntime<HeightObserver> {
    ObservationRuntime::start(
        SharedProvider(Arc::clone(provider)),
        HeightObserver::new(controls),
        config,
    )
    .unwrap()
}

fn one_node() -> (NodeRef, Arc<TestProvider>) {
    let a = node();
    let provider = TestProvider::new(source_set(&[("a", &a)]));
    (a, provider)
}

#[tokio::test(start_paused = true)]
async fn lifecycle_runs_from_starting_to_stopped_and_stop_finishes_the_cycle_in_progress() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    assert_eq!(handle.lifecycle(), Lifecycle::Starting);
    assert!(handle.latest_snapshot().is_none());

    handle.wait_until(|s| s.polls >= 3, WAIT).await.unwrap();
    assert_eq!(handle.lifecycle(), Lifecycle::Running);

    // Stop while a poll hangs: stop waits for that cycle, bounded by the cycle timeout.
    controls.hang_polls.store(1, Ordering::SeqCst);
    let attempts = controls.attempts();
    controls.until_attempts(attempts + 1).await;
    let polls = handle
        .latest_snapshot()
        .expect("readable while a poll hangs")
        .snapshot
        .polls;
    assert!(polls >= 3);
    let stopping_at = Instant::now();
    let mut stream = handle.subscribe();
    let stopping = tokio::spawn(runtime.stop());
    for _ in 0..100 {
        if handle.lifecycle() == Lifecycle::Stopping {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(handle.lifecycle(), Lifecycle::Stopping);
    stopping.await.unwrap();
    assert_eq!(
        stopping_at.elapsed(),
        Duration::from_secs(1),
        "stop waited for the cycle timeout"
    );
    assert_eq!(handle.lifecycle(), Lifecycle::Stopped);
    assert_eq!(
        handle.last_error().unwrap().stage,
        FailureStage::PollTimeout
    );
    assert!(
        handle.latest_snapshot().is_some(),
        "handles stay readable after stop"
    );
    assert!(
        next_within(&mut stream).await.is_none(),
        "subscriptions end after stop"
    );
    let err = handle
        .wait_until(|s| s.polls > 1000, WAIT)
        .await
        .unwrap_err();
    assert!(matches!(err, WaitError::Stopped { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_runtime_aborts_its_task_and_drops_the_observer() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();

    // Even with a poll hanging forever, dropping ends everything.
    controls.hang_polls.store(u64::MAX, Ordering::SeqCst);
    let attempts = controls.attempts();
    controls.until_attempts(attempts + 1).await;
    let attempts = controls.attempts();
    drop(runtime);
    assert_eq!(handle.lifecycle(), Lifecycle::Stopped);
    let mut dropped = controls.dropped.subscribe();
    tokio::time::timeout(WAIT, dropped.wait_for(|d| *d))
        .await
        .expect("the observer was not dropped after the runtime was")
        .unwrap();
    assert!(next_within(&mut handle.subscribe()).await.is_none());
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(controls.attempts(), attempts, "no cycle ran after the drop");
}

#[tokio::test(start_paused = true)]
async fn invalid_config_is_a_clear_error_at_start() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    for (config, field) in [
        (config().with_poll_interval(Duration::ZERO), "poll_interval"),
        (config().with_cycle_timeout(Duration::ZERO), "cycle_timeout"),
        (config().with_history_capacity(0), "history_capacity"),
        (config().with_source_concurrency(0), "source_concurrency"),
    ] {
        let err = ObservationRuntime::start(
            SharedProvider(Arc::clone(&provider)),
            HeightObserver::new(&controls),
            config,
        )
        .err()
        .expect("an invalid config must not start");
        assert!(err.to_string().contains(field), "{err}");
    }
    assert_eq!(controls.attempts(), 0);
}

#[test]
fn starting_outside_a_tokio_runtime_is_a_clear_error() {
    let (_a, provider) = one_node();
    let err = ObservationRuntime::start(
        SharedProvider(provider),
        HeightObserver::new(&Controls::new()),
        config(),
    )
    .err()
    .unwrap();
    assert!(matches!(err, StartError::NoTokioRuntime));
    assert!(err.to_string().contains("#[tokio::main]"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn refresh_failure_is_recorded_then_cleared_by_recovery() {
    let (a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();

    provider.fail.store(true, Ordering::SeqCst);
    a.set_height(7);
    let failed_at = Instant::now();
    // Three cycles' worth of time: the refresh fails each time, no poll runs.
    let attempts = controls.attempts();
    let err = handle
        .wait_until(|s| s.heights["a"] == 7, Duration::from_millis(350))
        .await
        .unwrap_err();
    assert_eq!(controls.attempts(), attempts, "no poll without sources");
    let error = handle
        .last_error()
        .expect("the failure is the current error");
    assert_eq!(error.stage, FailureStage::SourceRefresh);
    assert!(
        error.message.contains("node registry unavailable"),
        "{}",
        error.message
    );
    assert!(error.consecutive >= 3, "{error:?}");
    assert!(err.to_string().contains("source refresh failed"), "{err}");

    provider.fail.store(false, Ordering::SeqCst);
    let recovered = handle
        .wait_until(|s| s.heights["a"] == 7, WAIT)
        .await
        .unwrap();
    assert!(recovered.observed_at > failed_at);
    assert!(
        handle.last_error().is_none(),
        "recovery clears the current error"
    );
    let health = handle.health();
    assert!(health.failures >= 3);
    assert_eq!(health.consecutive_failures, 0);
    assert!(
        health
            .recent_failures
            .iter()
            .all(|f| f.stage == FailureStage::SourceRefresh)
    );
}

#[tokio::test(start_paused = true)]
async fn poll_failure_keeps_the_last_snapshot_and_recovers() {
    let (a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    a.set_height(1);
    handle
        .wait_until(|s| s.heights.get("a") == Some(&1), WAIT)
        .await
        .unwrap();

    controls.fail_poll.store(true, Ordering::SeqCst);
    a.set_height(2);
    controls.until_attempts(controls.attempts() + 2).await;
    let error = handle.last_error().unwrap();
    assert_eq!(error.stage, FailureStage::Poll);
    assert!(error.message.contains("scripted poll failure"));
    assert_eq!(
        handle.latest_snapshot().unwrap().snapshot.heights["a"],
        1,
        "last good snapshot stays"
    );

    controls.fail_poll.store(false, Ordering::SeqCst);
    let seen = handle
        .wait_until(|s| s.heights["a"] == 2, WAIT)
        .await
        .unwrap();
    assert_eq!(
        seen.snapshot.generation, 1,
        "a plain poll error keeps the state"
    );
    assert!(handle.last_error().is_none());
    assert!(handle.health().failures >= 2);
}

#[tokio::test(start_paused = true)]
async fn hung_poll_times_out_and_the_next_cycle_runs() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    let before = handle.wait_until(|s| s.polls >= 2, WAIT).await.unwrap();

    controls.hang_polls.store(1, Ordering::SeqCst);
    let hung_from = before.observed_at + Duration::from_millis(100);
    let after = handle
        .wait_until(|s| s.generation == 2, WAIT)
        .await
        .unwrap();
    // The hung cycle ends at its 1 s deadline; the next starts right away
    // (it is already past its interval).
    assert_eq!(after.observed_at - hung_from, Duration::from_secs(1));
    let failure = handle.health().recent_failures.last().cloned().unwrap();
    assert_eq!(failure.stage, FailureStage::PollTimeout);
    assert!(
        failure.message.contains("cycle timeout (1s)"),
        "{}",
        failure.message
    );
    assert_eq!(
        controls.inits.load(Ordering::SeqCst),
        2,
        "an interrupted state is re-initialized"
    );
}

#[tokio::test(start_paused = true)]
async fn hung_source_refresh_times_out_and_the_next_cycle_runs() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();

    provider.hang.store(true, Ordering::SeqCst);
    let err = handle
        .wait_until(|s| s.polls >= 100, Duration::from_millis(2500))
        .await
        .unwrap_err();
    let error = handle.last_error().unwrap();
    assert_eq!(error.stage, FailureStage::SourceRefresh);
    assert!(
        error
            .message
            .contains("did not answer within the cycle timeout"),
        "{}",
        error.message
    );
    assert!(
        error.consecutive >= 2,
        "cycles go on while the provider hangs: {error:?}"
    );
    assert!(err.to_string().contains("did not answer"), "{err}");

    provider.hang.store(false, Ordering::SeqCst);
    let polls = handle.latest_snapshot().unwrap().snapshot.polls;
    handle.wait_until(|s| s.polls > polls, WAIT).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn observer_panic_is_contained_and_the_observer_reinitialized() {
    let (a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    a.set_height(5);
    handle
        .wait_until(|s| s.heights.get("a") == Some(&5), WAIT)
        .await
        .unwrap();

    controls.panic_polls.store(1, Ordering::SeqCst);
    let after = handle
        .wait_until(|s| s.generation == 2, WAIT)
        .await
        .unwrap();
    assert!(
        !after.snapshot.heights.contains_key("half-updated"),
        "the half-updated state was dropped"
    );
    assert_eq!(after.snapshot.heights["a"], 5);
    let failure = handle.health().recent_failures.last().cloned().unwrap();
    assert_eq!(failure.stage, FailureStage::ObserverPanic);
    assert!(
        failure.message.contains("scripted panic in poll"),
        "{}",
        failure.message
    );

    controls.panic_snapshot.store(true, Ordering::SeqCst);
    let polls = after.snapshot.polls;
    handle
        .wait_until(|s| s.polls > polls + 1, WAIT)
        .await
        .unwrap();
    assert!(
        handle
            .health()
            .recent_failures
            .iter()
            .any(|f| f.stage == FailureStage::ObserverPanic
                && f.message.contains("snapshot panicked"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_provider_is_a_refresh_failure() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();
    provider.panic.store(true, Ordering::SeqCst);
    handle.wait_until(|s| s.polls >= 3, WAIT).await.unwrap();
    let failure = handle.health().recent_failures.last().cloned().unwrap();
    assert_eq!(failure.stage, FailureStage::SourceRefresh);
    assert!(
        failure
            .message
            .contains("panicked: scripted panic in sources()"),
        "{}",
        failure.message
    );
}

#[tokio::test(start_paused = true)]
async fn observer_may_keep_its_state_after_an_interrupt() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let mut observer = HeightObserver::new(&controls);
    observer.keep_state_after_interrupt = true;
    let runtime = ObservationRuntime::start(SharedProvider(provider), observer, config()).unwrap();
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();
    controls.panic_polls.store(1, Ordering::SeqCst);
    let attempts = controls.attempts();
    let after = handle.wait_until(|s| s.polls >= 2, WAIT).await.unwrap();
    assert!(
        controls.attempts() >= attempts + 2,
        "the panicking poll came in between"
    );
    assert_eq!(
        handle.health().recent_failures[0].stage,
        FailureStage::ObserverPanic
    );
    assert_eq!(after.snapshot.generation, 1, "no re-init");
    assert_eq!(controls.inits.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn sources_added_and_removed_between_cycles_are_published() {
    let (a, b, c) = (node(), node(), node());
    let provider = TestProvider::new(source_set(&[("a", &a), ("b", &b)]));
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    let first = handle
        .wait_until(|s| s.heights.len() == 2, WAIT)
        .await
        .unwrap();
    assert_eq!(
        first.sources_added.len(),
        2,
        "the first observation adds every source"
    );

    let mut stream = handle.subscribe();
    c.set_height(3);
    provider.replace(source_set(&[("b", &b), ("c", &c)]));
    let changed = loop {
        let observation = next_within(&mut stream).await.unwrap().unwrap();
        if !observation.sources_added.is_empty() || !observation.sources_removed.is_empty() {
            break observation;
        }
    };
    assert_eq!(changed.sources_added, vec![SourceName::from("c")]);
    assert_eq!(changed.sources_removed, vec![SourceName::from("a")]);
    assert_eq!(changed.source_count, 2);
    assert_eq!(
        changed.snapshot.heights.keys().collect::<Vec<_>>(),
        ["b", "c"]
    );
    let names: Vec<String> = handle
        .source_health()
        .iter()
        .map(|h| h.name.to_string())
        .collect();
    assert_eq!(names, ["b", "c"], "health follows the source set");

    // An unchanged set publishes no changes.
    let next = next_within(&mut stream).await.unwrap().unwrap();
    assert!(next.sources_added.is_empty() && next.sources_removed.is_empty());
}

#[tokio::test(start_paused = true)]
async fn duplicate_source_names_fail_the_refresh_with_the_name() {
    let (a, b) = (node(), node());
    let provider = TestProvider::new(source_set(&[("a", &a), ("a", &b)]));
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    let err = handle
        .wait_until(|_| true, Duration::from_millis(250))
        .await
        .unwrap_err();
    let error = handle.last_error().unwrap();
    assert_eq!(error.stage, FailureStage::SourceRefresh);
    assert!(
        error.message.contains("two sources named `a`"),
        "{}",
        error.message
    );
    assert!(err.to_string().contains("last snapshot: none yet"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn freshness_turns_stale_while_cycles_fail() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    let max_age = Duration::from_millis(500);
    assert_eq!(handle.freshness(max_age), Freshness::NeverObserved);
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();
    assert!(matches!(handle.freshness(max_age), Freshness::Fresh { .. }));

    controls.fail_poll.store(true, Ordering::SeqCst);
    let attempts = controls.attempts();
    controls.until_attempts(attempts + 7).await;
    match handle.freshness(max_age) {
        Freshness::Stale { age } => assert!(age > max_age),
        other => panic!("expected stale, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn poll_interval_change_applies_to_the_wait_in_progress() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(
        &provider,
        &controls,
        config().with_poll_interval(Duration::from_secs(3600)),
    );
    let handle = runtime.handle();
    let first = handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();

    runtime
        .update_config(|c| c.poll_interval = Duration::from_millis(50))
        .unwrap();
    let second = handle.wait_until(|s| s.polls >= 2, WAIT).await.unwrap();
    assert_eq!(
        second.observed_at - first.observed_at,
        Duration::from_millis(50)
    );

    let err = runtime
        .update_config(|c| c.cycle_timeout = Duration::ZERO)
        .unwrap_err();
    assert!(err.to_string().contains("cycle_timeout"));
    assert_eq!(
        runtime.config().cycle_timeout,
        Duration::from_secs(1),
        "a refused update changes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn cycle_timeout_change_applies_to_the_next_cycle() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    let before = handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();
    runtime
        .update_config(|c| {
            c.cycle_timeout = Duration::from_secs(3);
            c.source_timeout = Duration::from_secs(1);
        })
        .unwrap();
    controls.hang_polls.store(1, Ordering::SeqCst);
    let after = handle
        .wait_until(|s| s.generation == 2, WAIT)
        .await
        .unwrap();
    assert_eq!(
        after.observed_at - before.observed_at,
        Duration::from_millis(3100)
    );
}

#[test]
fn observer_names_drop_the_path_and_the_generics() {
    struct Generic<T>(T);
    #[async_trait::async_trait]
    impl<T: Send + Sync + 'static> Observer for Generic<T> {
        type Source = ();
        type State = ();
        type Snapshot = ();
        type Event = ();
        async fn init(&self, _: &Sources<'_, ()>) -> Result<(), BoxError> {
            Ok(())
        }
        async fn poll(&self, _: &Sources<'_, ()>, _: &mut ()) -> Result<Vec<()>, BoxError> {
            Ok(vec![])
        }
        fn snapshot(&self, _: &()) {}
    }
    assert_eq!(Generic(std::sync::Arc::new(1u8)).name(), "Generic");
    assert_eq!(
        HeightObserver::new(&Controls::new()).name(),
        "HeightObserver"
    );
}

#[tokio::test(start_paused = true)]
async fn init_failure_timeout_and_panic_are_recorded_and_retried() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    controls.fail_init.store(true, Ordering::SeqCst);
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    assert!(
        handle
            .wait_until(|_| true, Duration::from_millis(250))
            .await
            .is_err()
    );
    let error = handle.last_error().unwrap();
    assert_eq!(error.stage, FailureStage::Init);
    assert_eq!(error.message, "scripted init failure");
    assert_eq!(controls.attempts(), 0, "no poll without a state");

    controls.fail_init.store(false, Ordering::SeqCst);
    controls.hang_inits.store(1, Ordering::SeqCst);
    controls.panic_inits.store(1, Ordering::SeqCst);
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();
    let stages: Vec<(FailureStage, String)> = handle
        .health()
        .recent_failures
        .iter()
        .map(|f| (f.stage, f.message.clone()))
        .collect();
    let timed_out = (
        FailureStage::Init,
        "init did not finish within the cycle timeout (1s)".to_owned(),
    );
    let panicked = (
        FailureStage::ObserverPanic,
        "init panicked: scripted panic in init".to_owned(),
    );
    assert!(stages.contains(&timed_out), "{stages:?}");
    assert!(stages.contains(&panicked), "{stages:?}");
}

#[tokio::test(start_paused = true)]
async fn events_of_a_cycle_whose_snapshot_panicked_are_published_with_the_next() {
    let (a, provider) = one_node();
    let controls = Controls::new();
    let mut observer = HeightObserver::new(&controls);
    // Kept state: the next poll does not emit the event again by itself.
    observer.keep_state_after_interrupt = true;
    let runtime = ObservationRuntime::start(SharedProvider(provider), observer, config()).unwrap();
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 1, WAIT).await.unwrap();

    let cursor = handle.cursor();
    controls.panic_snapshot.store(true, Ordering::SeqCst);
    a.set_height(9);
    let grew = HeightEvent::Grew {
        node: "a".into(),
        height: 9,
    };
    let event = handle
        .wait_for_event_from(cursor, |e| *e == grew, WAIT)
        .await
        .unwrap();
    assert_eq!(event, grew);
    assert_eq!(
        handle.health().recent_failures[0].stage,
        FailureStage::ObserverPanic
    );
    assert_eq!(controls.inits.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn source_health_follows_sets_seen_in_failed_cycles_too() {
    let (a, b, c) = (node(), node(), node());
    let provider = TestProvider::new(source_set(&[("a", &a), ("b", &b)]));
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 2, WAIT).await.unwrap();

    // A cycle sees {a, c} but fails; then the set is {a, b} again.
    controls.fail_poll.store(true, Ordering::SeqCst);
    provider.replace(source_set(&[("a", &a), ("c", &c)]));
    controls.until_attempts(controls.attempts() + 1).await;
    provider.replace(source_set(&[("a", &a), ("b", &b)]));
    controls.fail_poll.store(false, Ordering::SeqCst);
    let polls = handle.latest_snapshot().unwrap().snapshot.polls;
    handle.wait_until(|s| s.polls > polls, WAIT).await.unwrap();
    let names: Vec<String> = handle
        .source_health()
        .iter()
        .map(|h| h.name.to_string())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn concurrent_config_updates_do_not_lose_each_other() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(&provider, &controls, config());
    let bump = |change: fn(&mut ObservationConfig)| {
        let updater = runtime.config_updater();
        std::thread::spawn(move || {
            for _ in 0..500 {
                updater.update(change).unwrap();
            }
        })
    };
    let first = bump(|c| c.history_capacity += 1);
    let second = bump(|c| c.source_concurrency += 1);
    first.join().unwrap();
    second.join().unwrap();
    let config = runtime.config();
    assert_eq!(config.history_capacity, 1024 + 500);
    assert_eq!(config.source_concurrency, 32 + 500);
}

#[tokio::test(start_paused = true)]
async fn huge_durations_mean_never_and_do_not_panic() {
    let (_a, provider) = one_node();
    let controls = Controls::new();
    let runtime = start(
        &provider,
        &controls,
        config().with_poll_interval(Duration::MAX),
    );
    let handle = runtime.handle();
    let first = handle
        .wait_until(|s| s.polls >= 1, Duration::MAX)
        .await
        .unwrap();
    runtime
        .update_config(|c| c.poll_interval = Duration::from_millis(10))
        .unwrap();
    let second = handle
        .wait_until(|s| s.polls >= 2, Duration::MAX)
        .await
        .unwrap();
    assert_eq!(
        second.observed_at - first.observed_at,
        Duration::from_millis(10)
    );

    let waiting = tokio::spawn({
        let handle = handle.clone();
        async move { handle.wait_for_event(|_| false, Duration::MAX).await }
    });
    runtime.stop().await;
    let err = waiting.await.unwrap().unwrap_err();
    assert!(matches!(err, WaitError::Stopped { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("stopped while waiting for an event"),
        "{err}"
    );
}
