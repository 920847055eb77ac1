//! Concurrent key-value clients at a steady rate, each request recorded in
//! the run's history.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::time::{Instant, MissedTickBehavior};

use super::{KeyValueStore, KvError, KvRequest};
use crate::history::{HistoryClient, PendingOp};
use crate::observation::error::BoxError;
use crate::rng::SplitMix64;
use crate::scenario::{RunContext, Workload};

/// The framework's key-value workload: `clients` concurrent clients at
/// `rate` requests a second in all, over `keys` keys (`k0`, `k1`, ...),
/// reads, writes of unique values and compare-and-sets mixed by the
/// percentages, each routed as the app says
/// ([`KeyValueStore::kv_route`]) or spread over the nodes, each bounded by
/// a timeout and recorded in the run's history. Add it with
/// [`ScenarioBuilder::key_value`](crate::scenario::ScenarioBuilder::key_value),
/// which adds the final reads and the history's checks too.
#[derive(Clone, Debug)]
pub struct KvWorkload {
    pub(crate) name: String,
    pub(crate) clients: usize,
    pub(crate) rate: f64,
    pub(crate) keys: usize,
    pub(crate) read_percent: u64,
    pub(crate) cas_percent: u64,
    pub(crate) request_timeout: Duration,
    pub(crate) seed: Option<u64>,
    pub(crate) final_reads_within: Duration,
    pub(crate) check_deadline: Duration,
}

impl Default for KvWorkload {
    fn default() -> Self {
        KvWorkload {
            name: "kv-clients".into(),
            clients: 5,
            rate: 50.0,
            keys: 10,
            read_percent: 50,
            cas_percent: 10,
            request_timeout: Duration::from_secs(2),
            seed: None,
            final_reads_within: Duration::from_secs(15),
            check_deadline: Duration::from_secs(30),
        }
    }
}

impl KvWorkload {
    /// 5 clients, 50 requests a second over 10 keys: half reads, a tenth
    /// compare-and-sets (where the store has them), the rest writes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Its name in reports (`kv-clients` unless [`named`](Self::named)).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its name in reports.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Concurrent clients (processes of the history).
    pub fn clients(mut self, clients: usize) -> Self {
        self.clients = clients.max(1);
        self
    }

    /// Requests a second, all clients together.
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    /// How many keys the requests spread over.
    pub fn keys(mut self, keys: usize) -> Self {
        self.keys = keys.max(1);
        self
    }

    /// Percent of reads, and of compare-and-sets; the rest are writes.
    pub fn mix(mut self, read_percent: u64, cas_percent: u64) -> Self {
        self.read_percent = read_percent.min(100);
        self.cas_percent = cas_percent.min(100 - self.read_percent);
        self
    }

    /// How long a request may take; one without an answer by then is of
    /// unknown outcome.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The seed of the choice of keys and requests (default: from the
    /// clock; the run's timeline says which).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// How long the final reads may take to read every key back after the
    /// run.
    pub fn final_reads_within(mut self, within: Duration) -> Self {
        self.final_reads_within = within;
        self
    }

    /// The linearizability check's deadline (past it the answer is
    /// unknown and the expectation fails saying so).
    pub fn check_deadline(mut self, deadline: Duration) -> Self {
        self.check_deadline = deadline;
        self
    }
}

/// What the clients share.
struct Shared {
    /// Numbers the unique values written.
    next_value: AtomicU64,
    /// Cleared when the store answers that it has no compare-and-set.
    cas: AtomicBool,
    ok: AtomicU64,
    failed: AtomicU64,
    unknown: AtomicU64,
}

#[async_trait]
impl<A: KeyValueStore> Workload<A> for KvWorkload {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, ctx: &RunContext<A>) -> Result<(), BoxError> {
        if ctx.nodes().is_empty() {
            return Err("the cluster has no nodes to send requests to".into());
        }
        if !(0.01..=1_000_000.0).contains(&self.rate) {
            return Err(format!(
                "the rate must be 0.01 to 1,000,000 requests a second, not {}",
                self.rate
            )
            .into());
        }
        let seed = self.seed.unwrap_or_else(|| ctx.seed_for(&self.name));
        ctx.record(
            &self.name,
            format!(
                "{} clients, {} requests/s over {} keys ({}% reads, {}% cas), seed {seed}",
                self.clients, self.rate, self.keys, self.read_percent, self.cas_percent
            ),
        );
        let shared = Arc::new(Shared {
            next_value: AtomicU64::new(0),
            cas: AtomicBool::new(self.cas_percent > 0),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
        });
        let clients = (0..self.clients).map(|i| self.client(ctx, i, seed, &shared));
        futures::future::join_all(clients).await;
        ctx.record(
            &self.name,
            format!(
                "{} requests ok, {} failed, {} of unknown outcome",
                shared.ok.load(Ordering::Relaxed),
                shared.failed.load(Ordering::Relaxed),
                shared.unknown.load(Ordering::Relaxed)
            ),
        );
        Ok(())
    }
}

impl KvWorkload {
    /// One client: a request per tick until the window closes.
    async fn client<A: KeyValueStore>(
        &self,
        ctx: &RunContext<A>,
        index: usize,
        seed: u64,
        shared: &Shared,
    ) {
        let mut rng = SplitMix64::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut history = ctx.history().client_for(&self.name);
        let period = Duration::from_secs_f64(self.clients as f64 / self.rate);
        // Staggered, so that the clients do not all ask at once.
        let first = Instant::now() + period.mul_f64(index as f64 / self.clients as f64);
        let mut ticks = tokio::time::interval_at(first, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The last value this client saw of each key, for compare-and-set.
        let mut seen: HashMap<String, Option<String>> = HashMap::new();
        let mut sent = 0usize;
        loop {
            tokio::select! {
                () = ctx.over() => break,
                _ = ticks.tick() => {}
            }
            let key = format!("k{}", rng.below(self.keys as u64));
            let roll = rng.below(100);
            let request = if roll < self.read_percent {
                KvRequest::Read
            } else if roll < self.read_percent + self.cas_percent
                && shared.cas.load(Ordering::Relaxed)
            {
                KvRequest::Cas
            } else {
                KvRequest::Write
            };
            let nodes = ctx.nodes();
            let node = ctx.app().kv_route(ctx, request).unwrap_or_else(|| {
                sent += 1;
                let at = (index + sent) % nodes.len();
                nodes
                    .get(at)
                    .map(|n| n.name.to_string())
                    .unwrap_or_default()
            });
            let Some(client) = ctx.client(&node) else {
                continue;
            };
            let outcome = match request {
                KvRequest::Read => {
                    self.read(ctx.app(), client, &mut history, &key, &mut seen)
                        .await
                }
                KvRequest::Write => {
                    let value = format!("v{}", shared.next_value.fetch_add(1, Ordering::Relaxed));
                    self.write(ctx.app(), client, &mut history, &key, &value, &mut seen)
                        .await
                }
                KvRequest::Cas => {
                    let expected = seen.get(&key).cloned().flatten();
                    let new = format!("v{}", shared.next_value.fetch_add(1, Ordering::Relaxed));
                    let outcome = self
                        .cas(
                            ctx.app(),
                            client,
                            &mut history,
                            &key,
                            expected,
                            &new,
                            &mut seen,
                        )
                        .await;
                    if outcome == Outcome::Unsupported {
                        shared.cas.store(false, Ordering::Relaxed);
                        ctx.record(
                            &self.name,
                            "the store has no compare-and-set; leaving it out",
                        );
                    }
                    outcome
                }
            };
            let counter = match outcome {
                Outcome::Ok => &shared.ok,
                Outcome::Failed | Outcome::Unsupported => &shared.failed,
                Outcome::Unknown => &shared.unknown,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn read<A: KeyValueStore>(
        &self,
        app: &A,
        client: &A::Client,
        history: &mut HistoryClient,
        key: &str,
        seen: &mut HashMap<String, Option<String>>,
    ) -> Outcome {
        match recorded_read(app, client, history, key, self.request_timeout, "").await {
            Ok(value) => {
                seen.insert(key.to_owned(), value);
                Outcome::Ok
            }
            Err(_) => Outcome::Failed,
        }
    }

    async fn write<A: KeyValueStore>(
        &self,
        app: &A,
        client: &A::Client,
        history: &mut HistoryClient,
        key: &str,
        value: &str,
        seen: &mut HashMap<String, Option<String>>,
    ) -> Outcome {
        let input = json!([key, value]);
        let op = history.invoke("write", input.clone());
        match tokio::time::timeout(self.request_timeout, app.kv_write(client, key, value)).await {
            Ok(Ok(())) => {
                op.ok(input);
                seen.insert(key.to_owned(), Some(value.to_owned()));
                Outcome::Ok
            }
            Ok(Err(error)) => not_ok(op, error),
            Err(_) => {
                op.unknown(format!("no answer within {:?}", self.request_timeout));
                Outcome::Unknown
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn cas<A: KeyValueStore>(
        &self,
        app: &A,
        client: &A::Client,
        history: &mut HistoryClient,
        key: &str,
        expected: Option<String>,
        new: &str,
        seen: &mut HashMap<String, Option<String>>,
    ) -> Outcome {
        let input = json!([key, [expected, new]]);
        let op = history.invoke("cas", input.clone());
        let cas = app.kv_cas(client, key, expected.as_deref(), new);
        match tokio::time::timeout(self.request_timeout, cas).await {
            Ok(Ok(true)) => {
                op.ok(input);
                seen.insert(key.to_owned(), Some(new.to_owned()));
                Outcome::Ok
            }
            Ok(Ok(false)) => {
                op.fail("the key did not hold the expected value");
                seen.remove(key);
                Outcome::Failed
            }
            Ok(Err(error)) => {
                seen.remove(key);
                not_ok(op, error)
            }
            Err(_) => {
                op.unknown(format!("no answer within {:?}", self.request_timeout));
                seen.remove(key);
                Outcome::Unknown
            }
        }
    }
}

/// Reads `key` through `client`, bounded by `timeout`, and records it in
/// `history`: its value, or why it failed (after `context`, such as the
/// node's name). A read changes nothing: whatever went wrong, it did not
/// happen.
pub(crate) async fn recorded_read<A: KeyValueStore>(
    app: &A,
    client: &A::Client,
    history: &mut HistoryClient,
    key: &str,
    timeout: Duration,
    context: &str,
) -> Result<Option<String>, String> {
    let op = history.invoke("read", json!([key, null]));
    let why = match tokio::time::timeout(timeout, app.kv_read(client, key)).await {
        Ok(Ok(value)) => {
            op.ok(json!([key, value]));
            return Ok(value);
        }
        Ok(Err(error)) => format!("{context}{error}"),
        Err(_) => format!("{context}no answer within {timeout:?}"),
    };
    op.fail(&why);
    Err(why)
}

/// Records a request that did not succeed as failed or of unknown
/// outcome, as the store's error says.
fn not_ok(op: PendingOp<'_>, error: KvError) -> Outcome {
    match error {
        KvError::Refused(why) => {
            op.fail(why);
            Outcome::Failed
        }
        KvError::Indeterminate(why) => {
            op.unknown(why);
            Outcome::Unknown
        }
        KvError::Unsupported => {
            op.fail("not supported by the store");
            Outcome::Unsupported
        }
    }
}

/// How one request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
    Unknown,
    Unsupported,
}
