//! Client statistics from a history: per workload and kind of request,
//! counts, latency percentiles (an HDR histogram) and throughput, overall
//! and per second, and a bounded sample of requests for charts. Built from
//! operations one at a time, so a history of any length streams through.

use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;

use super::operation::Pairing;
use super::{HistoryError, Operation, Outcome, for_each_event};
use crate::report::{ClientReport, Latency, LatencyPoint, RequestOutcome, SecondReport};

/// The workload name of clients that did not say theirs.
pub const UNNAMED_CLIENT: &str = "clients";
/// Sampled requests kept for the latency chart, at most.
const MAX_POINTS: usize = 4_000;
/// The longest latency recorded exactly (an hour); longer ones are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// The statistics of one history.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientStats {
    /// Per workload and kind of request.
    pub clients: Vec<ClientReport>,
    /// A sample of requests (every failed and unknown one first, then
    /// successful ones evenly), for the latency chart.
    pub points: Vec<LatencyPoint>,
}

impl ClientStats {
    /// The statistics of the operations of `path` (a `history.jsonl`),
    /// read a line at a time; `window_ms` is the run window's length (for
    /// throughput; `None`: up to the last completion).
    pub fn of_file(path: &Path, window_ms: Option<u64>) -> Result<Self, HistoryError> {
        let mut builder = StatsBuilder::default();
        let mut pairing = Pairing::default();
        for_each_event(path, |event| {
            if let Some(op) = pairing.push(&event)? {
                builder.add(&op);
            }
            Ok(())
        })?;
        for op in pairing.finish() {
            builder.add(&op);
        }
        Ok(builder.finish(window_ms))
    }

    /// The statistics of `ops`.
    pub fn of(ops: &[Operation], window_ms: Option<u64>) -> Self {
        let mut sorted: Vec<&Operation> = ops.iter().collect();
        sorted.sort_by_key(|op| op.completed_at.unwrap_or(u64::MAX));
        let mut builder = StatsBuilder::default();
        for op in sorted {
            builder.add(op);
        }
        builder.finish(window_ms)
    }
}

/// One kind of request of one workload, being counted.
struct Kind {
    ok: u64,
    fail: u64,
    unknown: u64,
    latency: Histogram<u64>,
    seconds: Vec<SecondReport>,
    /// The second being counted, with its histogram.
    current: Option<(SecondReport, Histogram<u64>)>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 2).expect("valid bounds")
}

fn summary(histogram: &Histogram<u64>) -> Option<Latency> {
    (!histogram.is_empty()).then(|| Latency {
        p50_us: histogram.value_at_quantile(0.50),
        p90_us: histogram.value_at_quantile(0.90),
        p99_us: histogram.value_at_quantile(0.99),
        max_us: histogram.max(),
    })
}

impl Kind {
    fn new() -> Self {
        Kind {
            ok: 0,
            fail: 0,
            unknown: 0,
            latency: histogram(),
            seconds: Vec::new(),
            current: None,
        }
    }

    fn close_second(&mut self) {
        if let Some((mut second, histogram)) = self.current.take() {
            second.latency = summary(&histogram);
            self.seconds.push(second);
        }
    }

    fn second(&mut self, second: u64) -> &mut (SecondReport, Histogram<u64>) {
        if self
            .current
            .as_ref()
            .is_some_and(|(s, _)| s.second != second)
        {
            self.close_second();
        }
        self.current.get_or_insert_with(|| {
            (
                SecondReport {
                    second,
                    ok: 0,
                    fail: 0,
                    unknown: 0,
                    latency: None,
                },
                histogram(),
            )
        })
    }
}

/// Counts operations in order of completion.
#[derive(Default)]
pub(crate) struct StatsBuilder {
    kinds: BTreeMap<(String, String), Kind>,
    last_completion_ns: u64,
    failed_points: Vec<LatencyPoint>,
    ok_points: Vec<LatencyPoint>,
    /// Every this-many successful requests one is sampled.
    ok_stride: u64,
    ok_seen: u64,
}

impl StatsBuilder {
    pub(crate) fn add(&mut self, op: &Operation) {
        let client = op.client.as_deref().unwrap_or(UNNAMED_CLIENT);
        let kind = self
            .kinds
            .entry((client.to_owned(), op.f.clone()))
            .or_insert_with(Kind::new);
        let latency_us = op
            .completed_at
            .map(|done| done.saturating_sub(op.invoked_at) / 1_000)
            .map(|us| us.clamp(1, MAX_LATENCY_US));
        let outcome = match op.outcome {
            Outcome::Ok(_) => RequestOutcome::Ok,
            Outcome::Fail(_) => RequestOutcome::Fail,
            Outcome::Unknown(_) => RequestOutcome::Unknown,
        };
        if let Some(done) = op.completed_at {
            self.last_completion_ns = self.last_completion_ns.max(done);
            let (second, histogram) = kind.second(done / 1_000_000_000);
            match outcome {
                RequestOutcome::Ok => {
                    second.ok += 1;
                    if let Some(us) = latency_us {
                        let _ = histogram.record(us);
                    }
                }
                RequestOutcome::Fail => second.fail += 1,
                RequestOutcome::Unknown => second.unknown += 1,
            }
        }
        match outcome {
            RequestOutcome::Ok => {
                kind.ok += 1;
                if let Some(us) = latency_us {
                    let _ = kind.latency.record(us);
                }
            }
            RequestOutcome::Fail => kind.fail += 1,
            RequestOutcome::Unknown => kind.unknown += 1,
        }
        let Some(latency_us) = latency_us else {
            return;
        };
        let point = LatencyPoint {
            at_ms: op.invoked_at / 1_000_000,
            latency_us,
            client: client.to_owned(),
            f: op.f.clone(),
            outcome,
        };
        if outcome != RequestOutcome::Ok {
            if self.failed_points.len() < MAX_POINTS / 2 {
                self.failed_points.push(point);
            }
            return;
        }
        self.ok_seen += 1;
        let stride = self.ok_stride.max(1);
        if self.ok_seen % stride == 0 {
            self.ok_points.push(point);
            if self.ok_points.len() >= MAX_POINTS / 2 {
                // Keep every other one, and sample half as often from now.
                let mut keep = false;
                self.ok_points.retain(|_| {
                    keep = !keep;
                    keep
                });
                self.ok_stride = stride * 2;
            }
        }
    }

    pub(crate) fn finish(mut self, window_ms: Option<u64>) -> ClientStats {
        let window_s = window_ms
            .map(|ms| ms as f64 / 1000.0)
            .unwrap_or(self.last_completion_ns as f64 / 1e9)
            .max(0.001);
        let clients = self
            .kinds
            .iter_mut()
            .map(|((client, f), kind)| {
                kind.close_second();
                // Every second of the window, a second without a completion
                // too: an outage shows as zeros, not as a line across it.
                let last = kind.seconds.last().map_or(0, |s| s.second);
                let end = last.max((window_s.ceil() as u64).saturating_sub(1));
                let mut filled = Vec::with_capacity(end as usize + 1);
                let mut recorded = std::mem::take(&mut kind.seconds).into_iter().peekable();
                for second in 0..=end {
                    match recorded.next_if(|s| s.second == second) {
                        Some(seen) => filled.push(seen),
                        None => filled.push(SecondReport {
                            second,
                            ok: 0,
                            fail: 0,
                            unknown: 0,
                            latency: None,
                        }),
                    }
                }
                kind.seconds = filled;
                ClientReport {
                    client: client.clone(),
                    f: f.clone(),
                    ok: kind.ok,
                    fail: kind.fail,
                    unknown: kind.unknown,
                    latency: summary(&kind.latency),
                    ok_per_second: kind.ok as f64 / window_s,
                    per_second: std::mem::take(&mut kind.seconds),
                }
            })
            .collect();
        let mut points = self.failed_points;
        points.append(&mut self.ok_points);
        points.sort_by_key(|p| p.at_ms);
        ClientStats { clients, points }
    }
}
