//! Service-level objectives over what the clients saw, each one line in a
//! scenario (as Aptos Forge's thresholds): a latency quantile below a
//! bound, a throughput floor over any window, and service back within a
//! bound after each fault. Judged at the end from the history, replayable.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use hdrhistogram::Histogram;

use super::expectations::operations_of;
use crate::history::{Operation, UNNAMED_CLIENT};
use crate::report::FaultWindow;
use crate::report::Timing;
use crate::scenario::{Application, Expectation, RunContext, Violation};

/// Which requests an objective is about: every one, or one workload's,
/// or one kind's.
#[derive(Clone, Debug, Default)]
pub struct Requests {
    client: Option<String>,
    f: Option<String>,
    /// Leave out what overlaps a fault window.
    outside_faults: bool,
}

impl Requests {
    /// The end of an objective's name.
    fn where_(&self) -> &'static str {
        if self.outside_faults {
            " outside fault windows"
        } else {
            ""
        }
    }

    fn matches(&self, op: &Operation) -> bool {
        self.client
            .as_deref()
            .is_none_or(|c| op.client.as_deref().unwrap_or(UNNAMED_CLIENT) == c)
            && self.f.as_deref().is_none_or(|f| op.f == f)
    }
}

impl fmt::Display for Requests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.client, &self.f) {
            (None, None) => f.write_str("requests"),
            (Some(client), None) => write!(f, "{client} requests"),
            (None, Some(kind)) => write!(f, "{kind} requests"),
            (Some(client), Some(kind)) => write!(f, "{client} {kind} requests"),
        }
    }
}

/// The successful requests of the run's history that `requests` selects,
/// by completion time.
fn selected<A: Application>(
    ctx: &RunContext<A>,
    requests: &Requests,
) -> Result<Vec<Operation>, Violation> {
    let window_ns = ctx.window_length().as_nanos().min(u128::from(u64::MAX)) as u64;
    let mut ops: Vec<Operation> = operations_of(ctx)?
        .into_iter()
        // The run window's requests: not the final reads after it.
        .filter(|op| op.is_ok() && requests.matches(op) && op.invoked_at <= window_ns)
        .collect();
    if ops.is_empty() {
        return Err(Violation::new(format!(
            "no {requests} succeeded, so the objective could not be judged"
        )));
    }
    ops.sort_by_key(|op| op.completed_at);
    Ok(ops)
}

/// Whether `op` ran (from invocation to completion) during a fault.
fn during_fault(op: &Operation, faults: &[FaultWindow]) -> bool {
    let (from, to) = (
        op.invoked_at / 1_000_000,
        op.completed_at.unwrap_or(u64::MAX) / 1_000_000,
    );
    faults
        .iter()
        .any(|f| from <= f.end_ms.unwrap_or(u64::MAX) && to >= f.start_ms)
}

/// The selection every objective offers: one workload's requests, or one
/// kind's.
macro_rules! selection {
    ($slo:ty, outside_faults: $doc:literal) => {
        selection!($slo);

        impl $slo {
            #[doc = $doc]
            pub fn outside_faults(mut self) -> Self {
                self.requests.outside_faults = true;
                self.rename();
                self
            }
        }
    };
    ($slo:ty) => {
        impl $slo {
            /// Only `client`'s requests (a workload's name).
            pub fn of(mut self, client: &str) -> Self {
                self.requests.client = Some(client.to_owned());
                self.rename();
                self
            }

            /// Only requests of kind `f` (`read`, `write`).
            pub fn kind(mut self, f: &str) -> Self {
                self.requests.f = Some(f.to_owned());
                self.rename();
                self
            }
        }
    };
}

selection!(LatencySlo, outside_faults: "Leaves out requests that ran during a fault window.");
selection!(ThroughputSlo, outside_faults: "Leaves out windows that overlap a fault.");
selection!(AvailabilitySlo);

fn human(d: Duration) -> String {
    crate::report::duration_us(d.as_micros().min(u128::from(u64::MAX)) as u64)
}

/// A latency quantile of the successful requests below a bound.
pub struct LatencySlo {
    name: String,
    quantile: f64,
    bound: Duration,
    requests: Requests,
}

impl LatencySlo {
    /// The `quantile` (0.99 for p99) of the latency of the successful
    /// requests is below `bound`.
    pub fn new(quantile: f64, bound: Duration) -> Self {
        let mut slo = LatencySlo {
            name: String::new(),
            quantile: quantile.clamp(0.0, 1.0),
            bound,
            requests: Requests::default(),
        };
        slo.rename();
        slo
    }

    fn rename(&mut self) {
        self.name = format!(
            "p{} latency of {} below {}{}",
            self.quantile * 100.0,
            self.requests,
            human(self.bound),
            self.requests.where_()
        );
    }
}

#[async_trait]
impl<A: Application> Expectation<A> for LatencySlo {
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let faults = ctx.faults();
        let mut latency: Histogram<u64> =
            Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds");
        let mut slowest: Option<Operation> = None;
        for op in selected(ctx, &self.requests)? {
            if self.requests.outside_faults && during_fault(&op, &faults) {
                continue;
            }
            let us = op.latency_ns().unwrap_or(0) / 1_000;
            let _ = latency.record(us.clamp(1, 3_600_000_000));
            if slowest
                .as_ref()
                .is_none_or(|s| s.latency_ns() < op.latency_ns())
            {
                slowest = Some(op);
            }
        }
        if latency.is_empty() {
            return Err(Violation::new(format!(
                "every {} ran during a fault, so the objective could not be judged",
                self.requests
            )));
        }
        let measured = Duration::from_micros(latency.value_at_quantile(self.quantile));
        if measured <= self.bound {
            return Ok(());
        }
        Err(Violation::new(format!(
            "p{} was {} over {} requests (bound {})",
            self.quantile * 100.0,
            human(measured),
            latency.len(),
            human(self.bound)
        ))
        .observed(format!(
            "the slowest: {}",
            slowest.map(|op| op.describe()).unwrap_or_default()
        )))
    }
}

/// At least a rate of successful requests over every window of a length.
pub struct ThroughputSlo {
    name: String,
    per_second: f64,
    window: Duration,
    requests: Requests,
}

impl ThroughputSlo {
    /// At least `per_second` successful requests a second, over every
    /// `window` of the run window (10 s unless [`over`](Self::over) says).
    pub fn new(per_second: f64) -> Self {
        let mut slo = ThroughputSlo {
            name: String::new(),
            per_second,
            window: Duration::from_secs(10),
            requests: Requests::default(),
        };
        slo.rename();
        slo
    }

    /// The window the rate is measured over.
    pub fn over(mut self, window: Duration) -> Self {
        self.window = window.max(Duration::from_millis(100));
        self.rename();
        self
    }

    fn rename(&mut self) {
        self.name = format!(
            "at least {} {}/s over every {}{}",
            self.per_second,
            self.requests,
            human(self.window),
            self.requests.where_()
        );
    }
}

/// The step windows slide by.
const SLIDE_MS: u64 = 100;

#[async_trait]
impl<A: Application> Expectation<A> for ThroughputSlo {
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let faults = ctx.faults();
        let done: Vec<u64> = selected(ctx, &self.requests)?
            .iter()
            .filter_map(|op| op.completed_at)
            .map(|ns| ns / 1_000_000)
            .collect();
        let window_ms = self.window.as_millis() as u64;
        let end_ms = ctx.window_length().as_millis().min(u128::from(u64::MAX)) as u64;
        if end_ms < window_ms {
            return Err(Violation::new(format!(
                "the run window ({}) is shorter than the objective's window ({})",
                human(Duration::from_millis(end_ms)),
                human(self.window)
            )));
        }
        let mut worst: Option<(u64, usize)> = None;
        let mut start = 0;
        let (mut lo, mut hi) = (0usize, 0usize);
        while start + window_ms <= end_ms {
            let stop = start + window_ms;
            let overlaps = faults
                .iter()
                .any(|f| start <= f.end_ms.unwrap_or(u64::MAX) && stop >= f.start_ms);
            while lo < done.len() && done[lo] < start {
                lo += 1;
            }
            while hi < done.len() && done[hi] < stop {
                hi += 1;
            }
            if !(self.requests.outside_faults && overlaps) {
                let count = hi.saturating_sub(lo);
                if worst.is_none_or(|(_, least)| count < least) {
                    worst = Some((start, count));
                }
            }
            start += SLIDE_MS;
        }
        let Some((at, count)) = worst else {
            return Err(Violation::new(
                "every window overlapped a fault, so the objective could not be judged",
            ));
        };
        let rate = count as f64 / self.window.as_secs_f64();
        if rate >= self.per_second {
            return Ok(());
        }
        Err(Violation::new(format!(
            "{rate:.1} {}/s from {:.1}s to {:.1}s (floor {})",
            self.requests,
            at as f64 / 1000.0,
            (at + window_ms) as f64 / 1000.0,
            self.per_second
        )))
    }
}

/// After each fault ends (or, with [`from_fault_start`](Self::from_fault_start),
/// begins), requests succeed again within a bound.
pub struct AvailabilitySlo {
    name: String,
    within: Duration,
    requests: Requests,
    /// Measured from each fault's start: a failover's time.
    from_start: bool,
}

impl AvailabilitySlo {
    /// After each fault window ends, a request succeeds within `within`.
    pub fn new(within: Duration) -> Self {
        let mut slo = AvailabilitySlo {
            name: String::new(),
            within,
            requests: Requests::default(),
            from_start: false,
        };
        slo.rename();
        slo
    }

    fn rename(&mut self) {
        let after = if self.from_start {
            "each fault begins"
        } else {
            "each fault"
        };
        self.name = format!(
            "{} succeed again within {} after {after}",
            self.requests,
            human(self.within)
        );
    }

    /// Judges each fault from its start instead of its end, for a system
    /// that fails over while the fault lasts (the Sentinels elect a new
    /// primary while the old one is down): from the fault's start until
    /// the first success after it ended, no stretch without a successful
    /// request is longer than the bound, so the outage a failover costs is
    /// what is measured, however the requests fall around the fault's
    /// first moment, and however long it outlasts the fault.
    pub fn from_fault_start(mut self) -> Self {
        self.from_start = true;
        self.rename();
        self
    }
}

#[async_trait]
impl<A: Application> Expectation<A> for AvailabilitySlo {
    fn name(&self) -> &str {
        &self.name
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let done: Vec<u64> = selected(ctx, &self.requests)?
            .iter()
            .filter_map(|op| op.completed_at)
            .map(|ns| ns / 1_000_000)
            .collect();
        let longest_gap = done
            .windows(2)
            .map(|w| (w[1] - w[0], w[0]))
            .max()
            .map(|(gap, at)| {
                format!(
                    "the longest gap without a successful request: {} from {:.1}s",
                    human(Duration::from_millis(gap)),
                    at as f64 / 1000.0
                )
            })
            .unwrap_or_default();
        let faults = ctx.faults();
        // A fault that ended (or began) too close to the end of the window
        // to give the service its time back cannot be judged.
        let window_ms = ctx.window_length().as_millis() as u64;
        let within_ms = self.within.as_millis() as u64;
        let from = |f: &FaultWindow| {
            if self.from_start {
                Some(f.start_ms)
            } else {
                f.end_ms
            }
        };
        let judged: Vec<&FaultWindow> = faults
            .iter()
            .filter(|f| from(f).is_some_and(|at| at + within_ms <= window_ms))
            .collect();
        let edge = if self.from_start { "began" } else { "ended" };
        if judged.is_empty() {
            return Err(Violation::new(format!(
                "no fault {edge} at least {} before the end of the run window, so the objective could not be judged",
                human(self.within)
            )));
        }
        let judged_count = judged.len();
        let mut late = Vec::new();
        for fault in judged {
            let at = from(fault).unwrap_or_default();
            if self.from_start {
                // The longest stretch without a success from the fault's
                // start to the first success after it ended (or the end of
                // the window): a success just after it began, before it
                // took, does not hide the outage that follows, and an
                // outage that outlasts the fault still counts.
                let ended = fault.end_ms.unwrap_or(window_ms).min(window_ms);
                let mut last = at;
                let mut worst = (0, at);
                let mut back = false;
                for &t in done.iter().filter(|&&t| t >= at) {
                    worst = worst.max((t - last, last));
                    last = t;
                    if t >= ended {
                        back = true;
                        break;
                    }
                }
                if !back {
                    worst = worst.max((window_ms.saturating_sub(last), last));
                }
                if worst.0 > within_ms {
                    late.push(format!(
                        "`{}` began at {:.1}s; no request succeeded for {} from {:.1}s",
                        fault.what,
                        at as f64 / 1000.0,
                        human(Duration::from_millis(worst.0)),
                        worst.1 as f64 / 1000.0
                    ));
                }
                continue;
            }
            let first = done.iter().find(|&&t| t >= at);
            let bound = at + within_ms;
            match first {
                Some(&t) if t <= bound => {}
                Some(&t) => late.push(format!(
                    "`{}` ended at {:.1}s; the first request succeeded {} later",
                    fault.what,
                    at as f64 / 1000.0,
                    human(Duration::from_millis(t - at))
                )),
                None => late.push(format!(
                    "`{}` ended at {:.1}s; no request succeeded after it",
                    fault.what,
                    at as f64 / 1000.0
                )),
            }
        }
        if late.is_empty() {
            return Ok(());
        }
        Err(Violation::new(format!(
            "{} of {} fault(s) left {} failing longer than {}",
            late.len(),
            judged_count,
            self.requests,
            human(self.within)
        ))
        .observed(format!("{}\n{longest_gap}", late.join("\n"))))
    }
}
