//! Offline replay: judge a scenario's expectations again against a run's
//! recorded observations, without starting any node. Fix or sharpen an
//! expectation, then check it against yesterday's failing run in a second.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Duration;
use tokio_util::sync::CancellationToken;

use super::deploy::{Capabilities, ControlError, NodeControl};
use super::window::{Flow, Window, WindowEvent};
use super::{Application, RunContext, Scenario, Unrecorded};
use crate::history::{HISTORY_FILE, History, read_history};
use crate::observation::SourceSet;
use crate::report::OBSERVATIONS_FILE;
use crate::report::{ExpectationReport, ReplayReport};
use crate::report::{NodeExit, RunReport};

/// Why a run could not be replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A file of the run is missing or unreadable.
    #[error("cannot read {path}: {error}; is this a run directory written by a recorded run?")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: String,
    },
    /// The run is of another scenario.
    #[error("{dir} is a run of `{recorded}`, not of `{asked}`")]
    OtherScenario {
        /// The run directory.
        dir: String,
        /// The scenario it recorded.
        recorded: String,
        /// The scenario asked for.
        asked: String,
    },
    /// A recorded observation does not read back into the observer's types.
    #[error("observer `{observer}`: {error}")]
    Unreadable {
        /// The observer.
        observer: String,
        /// Why.
        error: String,
    },
}

#[derive(Deserialize)]
struct ObserverOfLine {
    observer: String,
    at_ms: u64,
}

/// No cluster: a replay has only recordings.
struct NoCluster(watch::Sender<Vec<NodeExit>>);

#[async_trait]
impl NodeControl for NoCluster {
    fn capabilities(&self) -> Capabilities {
        Capabilities::BASIC
    }
    async fn start(&self, node: &str) -> Result<(), ControlError> {
        Err(replaying("start", node))
    }
    async fn stop(&self, node: &str) -> Result<(), ControlError> {
        Err(replaying("stop", node))
    }
    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        Err(replaying("kill", node))
    }
    fn unexpected_exits(&self) -> watch::Receiver<Vec<NodeExit>> {
        self.0.subscribe()
    }
}

fn replaying(action: &'static str, node: &str) -> ControlError {
    ControlError::Failed {
        action,
        node: node.to_owned(),
        reason: "this is a replay; there is no cluster".into(),
    }
}

fn read(path: &Path) -> Result<String, ReplayError> {
    std::fs::read_to_string(path).map_err(|e| ReplayError::Read {
        path: path.display().to_string(),
        error: e.to_string(),
    })
}

/// Replays `scenario`'s expectations against the run recorded in
/// `run_dir`. Runs on the current Tokio runtime; on a paused clock (as
/// `scenarios replay` uses) it takes milliseconds, whatever the run's length.
pub async fn replay<A: Application>(
    scenario: Scenario<A>,
    run_dir: &Path,
) -> Result<ReplayReport, ReplayError> {
    let recorded = RunReport::read_json(run_dir).map_err(|e| ReplayError::Read {
        path: e.path,
        error: e.error,
    })?;
    if recorded.scenario != scenario.name {
        return Err(ReplayError::OtherScenario {
            dir: run_dir.display().to_string(),
            recorded: recorded.scenario,
            asked: scenario.name,
        });
    }
    let observations_path = run_dir.join(OBSERVATIONS_FILE);
    let mut lines_by_observer: HashMap<String, Vec<String>> = HashMap::new();
    let mut last_at_ms = 0;
    // A run whose judgement rests on its client history alone may have
    // recorded no observation.
    let history_path = run_dir.join(HISTORY_FILE);
    let observed = if !observations_path.exists() && history_path.exists() {
        String::new()
    } else {
        read(&observations_path)?
    };
    for line in observed.lines() {
        // A torn last line (the run was killed mid-write) is skipped.
        if let Ok(of) = serde_json::from_str::<ObserverOfLine>(line) {
            last_at_ms = last_at_ms.max(of.at_ms);
            lines_by_observer
                .entry(of.observer)
                .or_default()
                .push(line.to_owned());
        }
    }

    let mut replaying = Vec::new();
    let mut unrecorded = Vec::new();
    for slot in scenario.observers {
        let (name, id, state) = (slot.name(), slot.observer_type(), slot.state_type());
        let lines = lines_by_observer.remove(&name).unwrap_or_default();
        match slot.replay(&lines) {
            None => unrecorded.push(Unrecorded {
                name,
                observer: id,
                state,
            }),
            Some(Err(error)) => {
                return Err(ReplayError::Unreadable {
                    observer: name,
                    error,
                });
            }
            Some(Ok(observer)) => replaying.push((name, lines.len(), observer)),
        }
    }

    let history = if history_path.exists() {
        History::from_events(read_history(&history_path).map_err(|e| ReplayError::Read {
            path: history_path.display().to_string(),
            error: e.to_string(),
        })?)
    } else {
        History::in_memory()
    };
    let ctx = Arc::new(
        RunContext::new(
            Arc::clone(&scenario.app),
            SourceSet::empty(),
            Arc::new(NoCluster(watch::channel(Vec::new()).0)),
            replaying
                .iter()
                .map(|(_, _, o)| (o.observer_type(), o.handle()))
                .collect(),
            history,
        )
        .with_unrecorded(unrecorded)
        .with_faults(recorded.faults.clone()),
    );
    let origin = ctx.started;
    let observations = replaying
        .iter()
        .map(|(name, n, _)| (name.clone(), *n))
        .collect();
    let players: Vec<_> = replaying
        .into_iter()
        .map(|(_, _, o)| tokio::spawn(o.play(origin)))
        .collect();

    let mut verdicts: HashMap<String, ExpectationReport> = HashMap::new();
    let mut replayed = Vec::new();
    for expectation in &scenario.expectations {
        let mut entry = ExpectationReport::pending(expectation.name(), expectation.timing());
        if expectation.replayable() {
            replayed.push(Arc::clone(expectation));
        } else {
            entry.reason = Some("not replayed: it needs the live cluster".into());
        }
        verdicts.insert(entry.name.clone(), entry);
    }
    let mut decide = |(name, outcome): (String, Result<(), super::Violation>)| {
        if let Some(entry) = verdicts.get_mut(&name) {
            entry.decided_at_ms = Some(origin.elapsed().as_millis() as u64);
            match outcome {
                Ok(()) => entry.passed = Some(true),
                Err(violation) if violation.not_judged => {
                    entry.reason = Some(format!("not replayed: {}", violation.reason));
                }
                Err(violation) => {
                    entry.passed = Some(false);
                    entry.reason = Some(violation.reason);
                    entry.observed = violation.observed;
                }
            }
        }
    };
    // The same engine as a live run: the recorded run window (and at least
    // every recorded observation: a run stopped by a failure ends on the
    // observation that broke it), the grace for checks that ignore its end,
    // then the end checks on the last snapshots.
    let mut window = Window::open(&ctx, &[], replayed);
    let length = Duration::from_millis(recorded.timings.run_ms.max(last_at_ms + 1));
    let never = CancellationToken::new();
    window
        .run(length, &never, None, |event| {
            if let WindowEvent::Verdict(verdict) = event {
                decide(verdict);
            }
            Flow::Continue
        })
        .await;
    for player in players {
        let _ = player.await;
    }
    window.close().await;
    window
        .settle(Some(Duration::ZERO), &never, &mut decide)
        .await;

    let expectations = scenario
        .expectations
        .iter()
        .filter_map(|e| verdicts.remove(e.name()))
        .collect();
    Ok(ReplayReport {
        scenario: scenario.name,
        expectations,
        recorded: recorded
            .expectations
            .into_iter()
            .map(|e| (e.name, e.passed))
            .collect(),
        observations,
    })
}
