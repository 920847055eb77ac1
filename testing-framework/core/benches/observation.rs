//! Benchmarks of the observation runtime, printed as a Markdown table for
//! the performance page (guide/src/performance.md). Run: `cargo bench -p tf-core --bench observation`.
//!
//! Each measurement runs `RUNS` times; the table shows the median and the
//! range. Sources are in memory and observers trivial, so what is measured is
//! the runtime itself.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tf_core::observation::error::*;
use tf_core::observation::stream::*;
use tf_core::observation::*;
use tf_core::report::{ObservationRecorder, ReportEvent, ReportSnapshot, SeriesPoint};
use tokio::sync::oneshot;

const RUNS: usize = 5;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then a smoke run keeps the target compiling and working.
    let quick = !std::env::args().any(|a| a == "--bench");
    let scale = if quick { 100 } else { 1 };
    if quick {
        println!("smoke run: reduced sizes, likely a debug build; these are not measurements.");
        println!("Measure with `cargo bench -p tf-core --bench observation`.\n");
    }
    println!("| measurement | median | range ({} runs) | target |", RUNS);
    println!("|---|---|---|---|");
    cycle_overhead(10_000, SetKind::Shared, 20_000 / scale);
    cycle_overhead(10_000, SetKind::Rebuilt, 5_000 / scale);
    provider_cost(10_000, 5_000 / scale);
    // Measured against a bare cycle: a cycle that polls (3 ms for 10,000
    // in-memory sources) is too noisy to resolve a microsecond directly.
    recorder_overhead(10_000, SetKind::Shared, 20_000 / scale);
    cycle_overhead(10_000, SetKind::PollEach, 200 / scale.min(100));
    // A 1,000-node cluster seen from a runner inside it: every node's API
    // answers after a few milliseconds of network and work.
    cycle_overhead(1_000, SetKind::Shared, 20_000 / scale);
    cycle_overhead(1_000, SetKind::PollEach, 2_000 / scale.min(100));
    // With the default source concurrency (32), and with more.
    cycle_with_latency(1_000, Duration::from_millis(5), 32, 50 / scale.min(50));
    cycle_with_latency(1_000, Duration::from_millis(5), 256, 200 / scale.min(100));
    snapshot_reads(8, 2_000_000 / scale as u64, Duration::ZERO);
    snapshot_reads(8, 2_000_000 / scale as u64, Duration::from_millis(1));
    fan_out(1_000, 10_000 / scale as u64, 10_000);
    if !quick {
        fan_out(1_000, 10_000, 64);
    }
}

fn report(name: &str, mut values: Vec<f64>, unit: &str, target: &str) {
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    println!(
        "| {name} | {} | {} – {} | {target} |",
        fmt(median, unit),
        fmt(values[0], unit),
        fmt(values[values.len() - 1], unit)
    );
}

fn fmt(value: f64, unit: &str) -> String {
    match unit {
        "rate" if value >= 1e6 => format!("{:.1} M/s", value / 1e6),
        "rate" => format!("{:.0} k/s", value / 1e3),
        "count" => format!("{value:.0}"),
        _ if value >= 1000.0 => format!("{:.1} µs", value / 1000.0),
        _ => format!("{value:.1} ns"),
    }
}

fn tokio_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// Flat out: the next cycle is always due.
fn flat_out() -> ObservationConfig {
    ObservationConfig::default().with_poll_interval(Duration::from_nanos(1))
}

/// Counts polls and says when `target` is reached; `events` per poll.
struct Counter {
    polls: AtomicU64,
    target: u64,
    done: parking_lot::Mutex<Option<oneshot::Sender<()>>>,
    poll_each: bool,
    /// How long each source takes to answer a `poll_each` call.
    answer_delay: Duration,
    snapshot_cost: Duration,
    stop_publishing_at_target: bool,
}

impl Counter {
    fn new(target: u64) -> (Self, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let counter = Counter {
            polls: AtomicU64::new(0),
            target,
            done: parking_lot::Mutex::new(Some(tx)),
            poll_each: false,
            answer_delay: Duration::ZERO,
            snapshot_cost: Duration::ZERO,
            stop_publishing_at_target: false,
        };
        (counter, rx)
    }
}

#[async_trait::async_trait]
impl Observer for Counter {
    type Source = u64;
    type State = u64;
    type Snapshot = Count;
    type Event = Tick;

    async fn init(&self, _: &Sources<'_, u64>) -> Result<u64, BoxError> {
        Ok(0)
    }

    async fn poll(
        &self,
        sources: &Sources<'_, u64>,
        state: &mut u64,
    ) -> Result<Vec<Tick>, BoxError> {
        let polls = self.polls.fetch_add(1, Ordering::Relaxed) + 1;
        if polls > self.target && self.stop_publishing_at_target {
            return Err("done".into());
        }
        if polls == self.target {
            if let Some(done) = self.done.lock().take() {
                let _ = done.send(());
            }
        }
        if self.poll_each {
            let delay = self.answer_delay;
            let answers = sources
                .poll_each(|s| async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Ok::<_, BoxError>(s.source)
                })
                .await;
            *state = answers.iter().filter(|a| a.result.is_ok()).count() as u64;
        } else {
            *state = sources.len() as u64;
        }
        Ok(vec![Tick(polls)])
    }

    fn snapshot(&self, state: &u64) -> Count {
        if !self.snapshot_cost.is_zero() {
            let until = Instant::now() + self.snapshot_cost;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        Count(*state)
    }
}

/// The counter's snapshot: how many sources answered.
#[derive(Debug, serde::Serialize)]
struct Count(u64);

impl ReportSnapshot for Count {
    fn series(&self) -> Vec<SeriesPoint> {
        vec![SeriesPoint::new("answered", "all", self.0 as f64)]
    }
}

/// One poll happened.
#[derive(Clone, Debug, serde::Serialize)]
struct Tick(u64);

impl ReportEvent for Tick {
    fn label(&self) -> String {
        format!("poll {}", self.0)
    }
}

fn sources(n: usize) -> Vec<ObservedSource<u64>> {
    (0..n)
        .map(|i| ObservedSource::new(format!("node-{i}"), i as u64))
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum SetKind {
    /// The provider returns the same shared set each cycle.
    Shared,
    /// The provider builds a new set each cycle (same names), as a provider
    /// that lists live nodes would.
    Rebuilt,
    /// Shared set, and the observer calls `poll_each` over all sources.
    PollEach,
}

struct Rebuilding(Vec<ObservedSource<u64>>);

#[async_trait::async_trait]
impl SourceProvider<u64> for Rebuilding {
    async fn sources(&self) -> Result<SourceSet<u64>, BoxError> {
        Ok(self.0.iter().cloned().collect())
    }
}

fn cycle_overhead(n: usize, kind: SetKind, cycles: u64) {
    let rt = tokio_runtime(1);
    let mut per_cycle = Vec::new();
    for _ in 0..RUNS {
        let (mut observer, done) = Counter::new(cycles);
        observer.poll_each = kind == SetKind::PollEach;
        let set: SourceSet<u64> = sources(n).into();
        let elapsed = rt.block_on(async {
            let started = Instant::now();
            let runtime = match kind {
                SetKind::Rebuilt => {
                    ObservationRuntime::start(Rebuilding(sources(n)), observer, flat_out())
                }
                _ => ObservationRuntime::start(set, observer, flat_out()),
            }
            .unwrap();
            done.await.unwrap();
            let elapsed = started.elapsed();
            runtime.stop().await;
            elapsed
        });
        per_cycle.push(elapsed.as_nanos() as f64 / cycles as f64);
    }
    let (name, target) = match kind {
        SetKind::Shared => (
            format!("one cycle, {n} sources, unchanged shared set"),
            "≤ 100 µs",
        ),
        SetKind::Rebuilt => (
            format!("one cycle, {n} sources, set rebuilt by the provider each cycle"),
            "—",
        ),
        SetKind::PollEach => (
            format!("one cycle, {n} sources, observer polls all via `poll_each`"),
            "—",
        ),
    };
    report(&name, per_cycle, "ns", target);
}

/// A cycle that polls `n` sources which each answer after `latency`, at
/// most `concurrency` at a time: the cycle costs about `n / concurrency`
/// latencies.
fn cycle_with_latency(n: usize, latency: Duration, concurrency: usize, cycles: u64) {
    let rt = tokio_runtime(1);
    let mut per_cycle = Vec::new();
    for _ in 0..RUNS {
        let (mut observer, done) = Counter::new(cycles);
        observer.poll_each = true;
        observer.answer_delay = latency;
        let set: SourceSet<u64> = sources(n).into();
        let elapsed = rt.block_on(async {
            let started = Instant::now();
            let config = flat_out().with_source_concurrency(concurrency);
            let runtime = ObservationRuntime::start(set, observer, config).unwrap();
            done.await.unwrap();
            let elapsed = started.elapsed();
            runtime.stop().await;
            elapsed
        });
        per_cycle.push(elapsed.as_nanos() as f64 / cycles as f64);
    }
    let batches = n.div_ceil(concurrency) as f64;
    report(
        &format!(
            "one cycle, {n} sources each answering after {latency:?}, {concurrency} at a time"
        ),
        per_cycle,
        "ns",
        &format!(
            "≈ {:.0} ms ({batches} × latency)",
            batches * latency.as_secs_f64() * 1e3
        ),
    );
}

/// The cost of recording every observation to observations.jsonl, on the
/// runtime's own thread (a one-thread runtime, so the recorder's work adds
/// to the cycle's instead of running beside it): per cycle, with and without.
fn recorder_overhead(n: usize, kind: SetKind, cycles: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tf-bench-recorder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..RUNS {
        for recorded in [false, true] {
            let (mut observer, done) = Counter::new(cycles);
            observer.poll_each = kind == SetKind::PollEach;
            let set: SourceSet<u64> = sources(n).into();
            let elapsed = rt.block_on(async {
                let config = flat_out().with_history_capacity(cycles as usize + 16);
                let started = Instant::now();
                let runtime = ObservationRuntime::start(set, observer, config).unwrap();
                let recorder = recorded.then(|| ObservationRecorder::create(&dir).unwrap());
                let recording = recorder
                    .as_ref()
                    .map(|r| r.record(runtime.handle(), |_| {}));
                done.await.unwrap();
                runtime.stop().await;
                if let Some(recording) = recording {
                    recording.await.unwrap();
                }
                let elapsed = started.elapsed();
                if let Some(recorder) = recorder {
                    let (lines, problem) = recorder.finish();
                    assert!(
                        lines >= cycles && problem.is_none(),
                        "every observation recorded: {lines} {problem:?}"
                    );
                }
                elapsed
            });
            let per_cycle = elapsed.as_nanos() as f64 / cycles as f64;
            if recorded {
                with.push(per_cycle)
            } else {
                without.push(per_cycle)
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (with_m, without_m) = (median(&mut with.clone()), median(&mut without.clone()));
    let what = match kind {
        SetKind::PollEach => "a cycle polling 10,000 sources via `poll_each`",
        _ => "a bare cycle at 10,000 sources (nothing polled, one thread)",
    };
    let added: Vec<f64> = with.iter().zip(&without).map(|(w, o)| w - o).collect();
    report(
        &format!("recorder: added per observation, {what}"),
        added,
        "ns",
        "—",
    );
    println!(
        "|   = relative to that cycle | {:.1} % | — | < 5 % |",
        (with_m - without_m) / without_m * 100.0
    );
}

/// What the rebuilding provider alone costs per call, to tell its share of a
/// cycle from the runtime's.
fn provider_cost(n: usize, calls: u64) {
    let rt = tokio_runtime(1);
    let provider = Rebuilding(sources(n));
    let mut per_call = Vec::new();
    for _ in 0..RUNS {
        let elapsed = rt.block_on(async {
            let started = Instant::now();
            let mut previous = provider.sources().await.unwrap();
            for _ in 0..calls {
                // Drop the previous set as the runtime does.
                previous = black_box(provider.sources().await.unwrap());
            }
            drop(previous);
            started.elapsed()
        });
        per_call.push(elapsed.as_nanos() as f64 / calls as f64);
    }
    report(
        &format!("  of which the provider building {n} sources alone"),
        per_call,
        "ns",
        "—",
    );
}

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `readers` threads read the latest snapshot `reads` times each while the
/// runtime cycles flat out; per-read cost is each reader's own CPU time.
fn snapshot_reads(readers: usize, reads: u64, snapshot_cost: Duration) {
    let rt = tokio_runtime(1);
    let mut per_read = Vec::new();
    let mut cycles_during = Vec::new();
    for _ in 0..RUNS {
        let (mut observer, _done) = Counter::new(u64::MAX);
        observer.snapshot_cost = snapshot_cost;
        let set: SourceSet<u64> = sources(16).into();
        let runtime =
            rt.block_on(async { ObservationRuntime::start(set, observer, flat_out()).unwrap() });
        let handle = runtime.handle();
        rt.block_on(handle.wait_until(|_| true, Duration::from_secs(10)))
            .unwrap();
        let cycles_before = handle.health().cycles;
        let go = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..readers)
            .map(|_| {
                let handle = handle.clone();
                let go = Arc::clone(&go);
                std::thread::spawn(move || {
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    let started = thread_cpu_time();
                    let mut sum = 0u64;
                    for _ in 0..reads {
                        let latest = handle.latest_snapshot().unwrap();
                        sum = sum.wrapping_add(latest.snapshot.0 + latest.cycle);
                    }
                    black_box(sum);
                    (thread_cpu_time() - started).as_nanos() as f64 / reads as f64
                })
            })
            .collect();
        go.store(true, Ordering::Release);
        let costs: Vec<f64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        cycles_during.push((handle.health().cycles - cycles_before) as f64);
        per_read.push(costs.iter().sum::<f64>() / costs.len() as f64);
        rt.block_on(runtime.stop());
    }
    let name = if snapshot_cost.is_zero() {
        format!("`latest_snapshot()` read, {readers} reader threads, runtime cycling flat out")
    } else {
        format!("`latest_snapshot()` read, {readers} reader threads, snapshot build takes 1 ms")
    };
    report(&name, per_read, "ns", "≤ 30 ns");
    report(
        "  cycles completed during those reads",
        cycles_during,
        "count",
        "> 0",
    );
}

/// `subscribers` tasks each receive every one of `batches` observations,
/// published as fast as the runtime can.
fn fan_out(subscribers: usize, batches: u64, capacity: usize) {
    let rt = tokio_runtime(2);
    let mut rates = Vec::new();
    let mut lags = Vec::new();
    let mut publish_rates = Vec::new();
    for _ in 0..RUNS {
        let (mut observer, published) = Counter::new(batches);
        observer.stop_publishing_at_target = true;
        let set: SourceSet<u64> = sources(1).into();
        let (delivered, lag_items, elapsed, publish_time) = rt.block_on(async {
            let config = flat_out().with_history_capacity(capacity);
            let started = Instant::now();
            let runtime = ObservationRuntime::start(set, observer, config).unwrap();
            let handle = runtime.handle();
            let tasks: Vec<_> = (0..subscribers)
                .map(|_| {
                    let mut stream = handle.subscribe_from(Cursor::START);
                    tokio::spawn(async move {
                        let (mut delivered, mut lagged) = (0u64, 0u64);
                        while let Some(item) = stream.next().await {
                            match item {
                                Ok(observation) => {
                                    delivered += 1;
                                    if observation.cursor.position() == batches {
                                        break;
                                    }
                                }
                                Err(_) => lagged += 1,
                            }
                        }
                        (delivered, lagged)
                    })
                })
                .collect();
            published.await.unwrap();
            let publish_time = started.elapsed();
            let mut delivered = 0;
            let mut lag_items = 0;
            for task in tasks {
                let (d, l) = task.await.unwrap();
                delivered += d;
                lag_items += l;
            }
            let elapsed = started.elapsed();
            runtime.stop().await;
            (delivered, lag_items, elapsed, publish_time)
        });
        if capacity as u64 >= batches {
            assert_eq!(
                delivered,
                batches * subscribers as u64,
                "every subscriber gets every batch"
            );
        }
        rates.push(delivered as f64 / elapsed.as_secs_f64());
        lags.push(lag_items as f64);
        publish_rates.push(batches as f64 / publish_time.as_secs_f64());
    }
    let what = format!("{subscribers} subscribers × {batches} batches, history {capacity}");
    let complete = capacity as u64 >= batches;
    let delivery_target = if complete {
        "all delivered (asserted)"
    } else {
        "—"
    };
    report(
        &format!("fan-out delivery rate, {what}"),
        rates,
        "rate",
        delivery_target,
    );
    report(
        &format!("  lag items, {what}"),
        lags,
        "count",
        if complete {
            "0"
        } else {
            "reported, not silent"
        },
    );
    report(
        &format!("  publication rate meanwhile, {what}"),
        publish_rates,
        "rate",
        "—",
    );
}
