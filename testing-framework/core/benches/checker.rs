//! What checking and recording a client history costs: the
//! linearizability check's time and peak memory on simulated key-value
//! histories (10,000 and 100,000 operations over 100 keys, 1,000 on one
//! key, and many of unknown outcome), and what recording one operation
//! costs a workload.
//! Run: `cargo bench -p tf-core --bench checker` (`cargo test --benches`
//! runs it once, small, as a smoke test).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tf_core::checker::{CheckOptions, KeyValue, acknowledged_writes, check_linearizable};
use tf_core::history::{History, operations};
use tf_core::testing::KvHistory;

/// Counts live heap bytes and their peak, to report a check's memory.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Case {
    name: &'static str,
    history: KvHistory,
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let scale = if quick { 10 } else { 1 };
    let runs = if quick { 1 } else { 5 };
    let cases = [
        Case {
            name: "10 processes, 100 keys",
            history: KvHistory {
                processes: 10,
                keys: 100,
                ops: 10_000 / scale,
                ..KvHistory::default()
            },
        },
        Case {
            name: "10 processes, 100 keys",
            history: KvHistory {
                processes: 10,
                keys: 100,
                ops: 100_000 / scale,
                ..KvHistory::default()
            },
        },
        Case {
            name: "10 processes, 1 key",
            history: KvHistory {
                processes: 10,
                keys: 1,
                ops: 1_000 / scale,
                ..KvHistory::default()
            },
        },
        Case {
            name: "10 processes, 10 keys, 30% unknown outcome",
            history: KvHistory {
                processes: 10,
                keys: 10,
                ops: 10_000 / scale,
                unknown_percent: 30,
                ..KvHistory::default()
            },
        },
        Case {
            name: "30 processes, 1 key, 60% unknown outcome",
            history: KvHistory {
                processes: 30,
                keys: 1,
                ops: 3_000 / scale,
                unknown_percent: 60,
                fail_percent: 0,
                ..KvHistory::default()
            },
        },
    ];
    println!(
        "linearizability check (kv model), median of {runs}; peak = heap bytes the check allocated"
    );
    println!(
        "{:<58} {:>10} {:>12} {:>12}",
        "history", "ops", "check", "peak memory"
    );
    for case in &cases {
        let events = case.history.generate(None).events;
        let ops = operations(&events).unwrap();
        let mut times = Vec::new();
        let mut peak = 0;
        for _ in 0..runs {
            let before = LIVE.load(Ordering::Relaxed);
            PEAK.store(before, Ordering::Relaxed);
            let started = Instant::now();
            let report = check_linearizable(&KeyValue, &ops, &CheckOptions::default()).unwrap();
            times.push(started.elapsed());
            peak = peak.max(PEAK.load(Ordering::Relaxed) - before);
            assert!(report.is_linearizable(), "{}: {report}", case.name);
            assert!(acknowledged_writes(&ops).unwrap().holds());
        }
        times.sort();
        println!(
            "{:<58} {:>10} {:>12} {:>12}",
            format!("{} ops, {}", case.history.ops, case.name),
            ops.len(),
            format!("{:.1} ms", times[times.len() / 2].as_secs_f64() * 1e3),
            format!("{:.1} MB", peak as f64 / 1e6),
        );
    }

    // Recording: one invoke and one completion per op, to a file.
    let dir = std::env::temp_dir().join(format!("tf-bench-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ops = 1_000_000 / scale;
    let mut per_op = Vec::new();
    for _ in 0..runs {
        let history =
            History::to_file(&dir.join("history.jsonl"), tokio::time::Instant::now()).unwrap();
        let mut client = history.client();
        let started = Instant::now();
        for n in 0..ops {
            let op = client.invoke("write", json!(["key-17", n]));
            op.ok(json!(["key-17", n]));
        }
        history.flush().unwrap();
        per_op.push(started.elapsed() / ops as u32);
    }
    per_op.sort();
    let size = std::fs::metadata(dir.join("history.jsonl")).unwrap().len();
    println!(
        "recording: {} per op (invoke + ok, streamed to history.jsonl; {ops} ops, {:.1} MB on disk, median of {runs})",
        humanize(per_op[per_op.len() / 2]),
        size as f64 / 1e6
    );
    std::fs::remove_dir_all(&dir).ok();
}

fn humanize(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}
