//! History, subscriptions, replay and lag.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::support::*;
use futures::StreamExt;
use tf_core::observation::stream::*;
use tf_core::observation::*;

const WAIT: Duration = Duration::from_secs(30);

fn start(
    config: ObservationConfig,
) -> (ObservationRuntime<HeightObserver>, Arc<Controls>, NodeRef) {
    let a = node();
    let controls = Controls::new();
    let runtime = ObservationRuntime::start(
        source_set(&[("a", &a)]),
        HeightObserver::new(&controls),
        config,
    )
    .unwrap();
    (runtime, controls, a)
}

fn paced(capacity: usize) -> ObservationConfig {
    ObservationConfig::default()
        .with_poll_interval(Duration::from_millis(100))
        .with_history_capacity(capacity)
}

fn positions(history: &[Arc<ObservationOf<HeightObserver>>]) -> Vec<u64> {
    history.iter().map(|o| o.cursor.position()).collect()
}

#[tokio::test(start_paused = true)]
async fn history_keeps_the_newest_up_to_capacity_and_shrinks_on_update() {
    let (runtime, _controls, _a) = start(paced(5));
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 12, WAIT).await.unwrap();
    assert_eq!(positions(&handle.history()), [8, 9, 10, 11, 12]);

    runtime.update_config(|c| c.history_capacity = 2).unwrap();
    // Trimmed while the loop waits for its next cycle, before any new publication.
    let mut stream = handle.subscribe_from(Cursor::START);
    let first = next_within(&mut stream).await.unwrap();
    assert_eq!(first.err(), Some(Lagged { missed: 10 }));
    assert_eq!(positions(&handle.history()), [11, 12]);

    runtime.update_config(|c| c.history_capacity = 100).unwrap();
    handle.wait_until(|s| s.polls >= 15, WAIT).await.unwrap();
    assert_eq!(
        positions(&handle.history()),
        [11, 12, 13, 14, 15],
        "growing keeps what is there"
    );
}

#[tokio::test(start_paused = true)]
async fn history_age_bound_drops_old_observations() {
    let (runtime, _controls, _a) =
        start(paced(100).with_history_max_age(Duration::from_millis(350)));
    let handle = runtime.handle();
    handle.wait_until(|s| s.polls >= 10, WAIT).await.unwrap();
    // Observations 7..=10 are at most 300 ms old.
    assert_eq!(positions(&handle.history()), [7, 8, 9, 10]);
}

#[tokio::test(start_paused = true)]
async fn late_subscriber_replays_the_retained_history_then_continues_live() {
    let (runtime, _controls, a) = start(paced(100));
    let handle = runtime.handle();
    a.set_height(1);
    handle.wait_until(|s| s.polls >= 5, WAIT).await.unwrap();

    let mut late = handle.subscribe_from(Cursor::START);
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let observation = next_within(&mut late).await.unwrap().unwrap();
        seen.push(observation);
    }
    assert_eq!(positions(&seen), (1..=8).collect::<Vec<_>>());
    assert_eq!(
        seen[0].events,
        [HeightEvent::Grew {
            node: "a".into(),
            height: 1
        }],
        "what happened before joining is replayed"
    );
    assert_eq!(late.cursor(), seen[7].cursor);
}

#[tokio::test(start_paused = true)]
async fn slow_subscriber_lags_without_slowing_the_runtime_or_other_subscribers() {
    let (runtime, _controls, _a) = start(paced(4));
    let handle = runtime.handle();
    let mut slow = handle.subscribe();
    let mut fast = handle.subscribe();

    let mut fast_seen = Vec::new();
    while fast_seen.len() < 20 {
        match next_within(&mut fast).await.unwrap() {
            Ok(observation) => fast_seen.push(observation),
            Err(lagged) => panic!("the fast subscriber lagged: {lagged}"),
        }
    }
    assert_eq!(positions(&fast_seen), (1..=20).collect::<Vec<_>>());
    // The runtime kept its pace: 20 cycles 100 ms apart.
    assert_eq!(
        fast_seen[19].observed_at - fast_seen[0].observed_at,
        Duration::from_millis(1900)
    );

    // The slow one never read; it is told what it missed, then goes on.
    let latest = handle.cursor().position();
    let retained = handle.history().len() as u64;
    match next_within(&mut slow).await.unwrap() {
        Err(Lagged { missed }) => assert_eq!(missed, latest - retained),
        Ok(o) => panic!(
            "expected a lag item, got observation {}",
            o.cursor.position()
        ),
    }
    let next = next_within(&mut slow).await.unwrap().unwrap();
    assert_eq!(next.cursor.position(), latest - retained + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_from_is_gapless_and_duplicate_free_under_concurrent_publishing() {
    const TARGET: u64 = 3_000;
    let config = ObservationConfig::default()
        .with_poll_interval(Duration::from_micros(1))
        .with_history_capacity(100_000);
    let (runtime, controls, a) = start(config);
    // Publication stops at TARGET, so every reader has a known end however
    // late the scheduler lets it join.
    controls.publish_up_to.store(TARGET, Ordering::SeqCst);
    let handle = runtime.handle();
    // Keep the node changing so that observations carry events.
    let height = Arc::new(AtomicU64::new(0));

    let mut readers = Vec::new();
    for reader in 0..8u64 {
        let handle = handle.clone();
        let a = Arc::clone(&a);
        let height = Arc::clone(&height);
        readers.push(tokio::spawn(async move {
            // Join at different points while publication runs flat out.
            let join_at = reader * TARGET / 10;
            handle
                .wait_until(|s| s.polls >= join_at, WAIT)
                .await
                .expect("publication stalled");
            let start = if reader % 2 == 0 {
                Cursor::START
            } else {
                handle.cursor()
            };
            let mut expected = start.position() + 1;
            let mut stream = handle.subscribe_from(start);
            let mut resumed = false;
            while expected <= TARGET {
                a.set_height(height.fetch_add(1, Ordering::Relaxed));
                let observation = tokio::time::timeout(WAIT, stream.next())
                    .await
                    .expect("no observation within the deadline")
                    .expect("the stream ended early")
                    .expect("no lag with this capacity");
                assert_eq!(
                    observation.cursor.position(),
                    expected,
                    "reader {reader}: gap or duplicate"
                );
                expected += 1;
                // Halfway, resume from the cursor through a fresh subscription.
                if !resumed && expected > TARGET / 2 {
                    stream = handle.subscribe_from(stream.cursor());
                    resumed = true;
                }
            }
            (start, expected - 1 - start.position())
        }));
    }
    for reader in readers {
        let (start, read) = reader.await.unwrap();
        assert_eq!(read, TARGET - start.position());
        if start == Cursor::START {
            assert_eq!(read, TARGET, "a reader from the start replays everything");
        }
    }
    runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn every_subscriber_sees_the_same_observations_in_the_same_order() {
    let (runtime, _controls, a) = start(paced(1000));
    let handle = runtime.handle();
    let streams: Vec<_> = (0..5).map(|_| handle.subscribe()).collect();
    for height in 1..=10 {
        a.set_height(height);
        handle
            .wait_until(|s| s.heights.get("a") == Some(&height), WAIT)
            .await
            .unwrap();
    }
    runtime.stop().await;
    let mut all = Vec::new();
    for stream in streams {
        let items: Vec<_> = stream.map(|item| item.unwrap()).collect().await;
        all.push(positions(&items));
    }
    assert!(all[0].len() >= 10);
    assert!(all.iter().all(|p| *p == all[0]), "{all:?}");
}
