//! After the run: every key the clients wrote is read back (the final
//! reads, recorded in the history like any read), then the history is
//! judged.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::clients::recorded_read;
use super::{KeyValueStore, KvRequest, KvWorkload};
use crate::checker::{AcknowledgedWritesSurvive, KeyValue, Linearizable};
use crate::history::EventKind;
use crate::report::Timing;
use crate::scenario::{Expectation, RunContext, ScenarioBuilder, Violation};

/// Reads every key the history wrote, once the run is over (its faults
/// healed, its cooldown past), and records the reads in the history: the
/// acknowledged-writes check judges them. Fails if a key cannot be read
/// within the bound.
pub struct FinalReads {
    within: Duration,
    request_timeout: Duration,
}

impl FinalReads {
    /// Every key read back within `within`, each request bounded by
    /// `request_timeout`.
    pub fn new(within: Duration, request_timeout: Duration) -> Self {
        FinalReads {
            within,
            request_timeout,
        }
    }
}

/// How long the final reads wait after a round of nodes without an answer.
const RETRY_AFTER: Duration = Duration::from_millis(200);

#[async_trait]
impl<A: KeyValueStore> Expectation<A> for FinalReads {
    fn name(&self) -> &str {
        "every key the clients wrote reads back after the run"
    }

    fn timing(&self) -> Timing {
        Timing::AtEnd
    }

    /// It reads the live cluster; a replay has its reads in the history.
    fn replayable(&self) -> bool {
        false
    }

    async fn check(&self, ctx: &RunContext<A>) -> Result<(), Violation> {
        let events = ctx
            .history()
            .events()
            .map_err(|e| Violation::new(format!("the history cannot be read: {e}")))?;
        let keys: BTreeSet<String> = events
            .iter()
            .filter(|e| e.kind == EventKind::Invoke && e.f != "read")
            .filter_map(|e| e.value.get(0).and_then(|k| k.as_str()).map(str::to_owned))
            .collect();
        if keys.is_empty() {
            return Err(Violation::new(
                "the clients wrote nothing, so there is nothing to read back",
            ));
        }
        let deadline = Instant::now() + self.within;
        let mut history = ctx.history().client_for("final-reads");
        let mut unread = Vec::new();
        let nodes: Vec<String> = ctx.nodes().iter().map(|n| n.name.to_string()).collect();
        for key in &keys {
            let mut last_error = String::from("no node to read from");
            let read = 'rounds: loop {
                // The node the app routes reads to first, then every other:
                // a round, and a pause only after a round without an answer.
                let first = ctx.app().kv_route(ctx, KvRequest::Read);
                let round = first
                    .iter()
                    .chain(nodes.iter().filter(|n| Some(*n) != first.as_ref()));
                for node in round {
                    let Some(client) = ctx.client(node) else {
                        continue;
                    };
                    let context = format!("{node}: ");
                    let read = recorded_read(
                        ctx.app(),
                        client,
                        &mut history,
                        key,
                        self.request_timeout,
                        &context,
                    );
                    match read.await {
                        Ok(_) => break 'rounds true,
                        Err(why) => last_error = why,
                    }
                }
                if Instant::now() + RETRY_AFTER >= deadline {
                    break false;
                }
                tokio::time::sleep(RETRY_AFTER).await;
            };
            if !read {
                unread.push(format!("{key} ({last_error})"));
            }
        }
        if let Err(error) = ctx.history().flush() {
            return Err(Violation::new(format!(
                "the final reads were not recorded: {error}"
            )));
        }
        if unread.is_empty() {
            Ok(())
        } else {
            Err(Violation::new(format!(
                "{} of {} key(s) could not be read back within {:?} after the run",
                unread.len(),
                keys.len(),
                self.within
            ))
            .observed(unread.join("\n")))
        }
    }
}

impl<A: KeyValueStore> ScenarioBuilder<A> {
    /// Adds the framework's key-value workload and what judges it: the
    /// final reads, "every acknowledged write survives", and
    /// linearizability against the [`KeyValue`] model (end checks, in that
    /// order, after any added before).
    pub fn key_value(self, workload: KvWorkload) -> Self {
        let (within, timeout, deadline) = (
            workload.final_reads_within,
            workload.request_timeout,
            workload.check_deadline,
        );
        self.workload(workload)
            .expect(FinalReads::new(within, timeout))
            .expect(AcknowledgedWritesSurvive)
            .expect(Linearizable::new(KeyValue).deadline(deadline))
    }
}
