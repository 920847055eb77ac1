//! What the clients saw, measured: per workload and kind of request,
//! counts, latency percentiles and throughput, overall and per second of
//! the run, and a sample of single requests for the latency chart.

use serde::{Deserialize, Serialize};

/// Latency percentiles of the requests that succeeded, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// The slowest.
    pub max_us: u64,
}

/// One kind of request (`read`, `write`) of one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientReport {
    /// The workload (`clients` when its clients did not say).
    pub client: String,
    /// The kind of request.
    pub f: String,
    /// Requests that took effect.
    pub ok: u64,
    /// Requests that certainly did not.
    pub fail: u64,
    /// Requests of unknown outcome.
    pub unknown: u64,
    /// Latency of the successful requests.
    pub latency: Option<Latency>,
    /// Successful requests per second of the run window.
    pub ok_per_second: f64,
    /// The same, second by second (by completion).
    pub per_second: Vec<SecondReport>,
}

/// One second of one kind of request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondReport {
    /// Seconds into the run window.
    pub second: u64,
    /// Requests that took effect in it.
    pub ok: u64,
    /// Requests that certainly did not.
    pub fail: u64,
    /// Requests of unknown outcome.
    pub unknown: u64,
    /// Latency of its successful requests, if any.
    pub latency: Option<Latency>,
}

/// How a sampled request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestOutcome {
    /// It took effect.
    Ok,
    /// It certainly did not.
    Fail,
    /// Unknown (its latency is until the client gave up).
    Unknown,
}

/// One request, for the latency chart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyPoint {
    /// When it was invoked, in milliseconds into the run window.
    pub at_ms: u64,
    /// How long it took, in microseconds.
    pub latency_us: u64,
    /// Its workload.
    pub client: String,
    /// Its kind.
    pub f: String,
    /// How it ended.
    pub outcome: RequestOutcome,
}
