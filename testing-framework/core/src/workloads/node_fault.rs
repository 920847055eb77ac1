//! Take a node down, confirm through observation that it went down and
//! came back, repeat: the chaos every distributed system is tested with.

use std::any::{TypeId, type_name};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;

use serde::{Deserialize, Serialize};

use super::schedule::{FaultMix, Schedule};
use crate::fault::{ClockFault, Link, LinkFault, Links};
use crate::observation::error::{BoxError, WaitError};
use crate::observation::stream::Cursor;
use crate::observation::{AnySnapshot, Observer, StateHandle, panic_message};
use crate::scenario::{Application, NodeAction, ObserverChoice, RunContext, Workload};

/// How a [`NodeFault`] takes a node down, and brings it back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL, then start it again with its data.
    Kill,
    /// A graceful stop (SIGTERM), then start it again.
    Restart,
    /// Freeze it (SIGSTOP): it keeps its connections but answers nothing,
    /// as in a long GC pause; then thaw it.
    Pause,
    /// Cut it (and [`side`](NodeFault::side) - 1 more nodes) off from the
    /// rest of the cluster by a network partition; then heal. The runner
    /// still observes the cut side, so the node is not seen "down": confirm
    /// the effect with [`while_down`](NodeFault::while_down).
    Partition,
    /// A fault on links around the target ([`Around`]): slow, lossy or cut,
    /// one way or both; then removed. Like a partition, the node still
    /// answers the runner: confirm the effect with
    /// [`while_down`](NodeFault::while_down).
    Link {
        /// Which links, from the target.
        around: Around,
        /// What happens to their packets.
        fault: LinkFault,
    },
    /// The target's wall clock set off (ahead, behind, fast or slow), then
    /// set true again. The node keeps answering: confirm the effect with
    /// [`while_down`](NodeFault::while_down) (the node's own time as
    /// observed).
    Clock(ClockFault),
}

impl FaultKind {
    /// `fault` on the links `around` the target.
    pub fn link(around: Around, fault: LinkFault) -> Self {
        FaultKind::Link { around, fault }
    }

    fn verb(&self) -> String {
        match self {
            FaultKind::Kill => "kill".into(),
            FaultKind::Restart => "stop".into(),
            FaultKind::Pause => "pause".into(),
            FaultKind::Partition => "cut off".into(),
            FaultKind::Link { fault, .. } => format!("{fault} on"),
            FaultKind::Clock(clock) => format!("set the clock {clock} on"),
        }
    }

    fn past(&self) -> String {
        match self {
            FaultKind::Kill => "killed".into(),
            FaultKind::Restart => "stopped".into(),
            FaultKind::Pause => "paused".into(),
            FaultKind::Partition => "cut off".into(),
            FaultKind::Link { fault, .. } => format!("{fault}"),
            FaultKind::Clock(clock) => format!("clock {clock}"),
        }
    }

    /// Checks it, aimed at `target` among `nodes`; the reason when it
    /// cannot work there.
    pub fn check(&self, target: &str, nodes: &[String]) -> Result<(), String> {
        match self {
            FaultKind::Clock(clock) => clock.check(),
            FaultKind::Link { around, fault } => {
                fault.check()?;
                around.links(target, nodes).resolve(nodes).map(drop)
            }
            _ => Ok(()),
        }
    }

    /// Whether it changes the whole cluster's network (a partition, a
    /// fault on every link or on a shape of links) rather than one node's:
    /// such a fault is in force alone in a schedule.
    pub fn whole_cluster(&self) -> bool {
        matches!(
            self,
            FaultKind::Partition
                | FaultKind::Link {
                    around: Around::Everywhere | Around::Shape(_),
                    ..
                }
        )
    }

    /// Whether the target keeps answering the runner during the fault.
    fn keeps_answering(&self) -> bool {
        matches!(
            self,
            FaultKind::Partition | FaultKind::Link { .. } | FaultKind::Clock(_)
        )
    }
}

/// Which links a [`FaultKind::Link`] takes, from the fault's target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Around {
    /// What the target sends to the others.
    Egress,
    /// What the others send to the target: it can speak but not hear.
    Ingress,
    /// Both ways between the target and the others.
    Isolate,
    /// Every link between any two nodes (the target does not matter).
    Everywhere,
    /// These links (the target does not matter).
    Shape(Links),
}

impl Around {
    /// The links, for target `node` among `nodes`.
    pub fn links(&self, node: &str, nodes: &[String]) -> Links {
        match self {
            Around::Egress => Links::Egress(node.to_owned()),
            Around::Ingress => Links::Ingress(node.to_owned()),
            Around::Isolate => Links::Isolate(node.to_owned()),
            Around::Everywhere => Links::Exactly(
                nodes
                    .iter()
                    .flat_map(|from| {
                        nodes
                            .iter()
                            .filter(move |to| *to != from)
                            .map(move |to| Link::new(from.clone(), to.clone()))
                    })
                    .collect(),
            ),
            Around::Shape(links) => links.clone(),
        }
    }
}

/// A confirmation written for snapshots of type `S`, stored without it.
fn typed_confirm<S: 'static>(
    confirm: impl Fn(&S, &S, &str) -> Option<String> + Send + Sync + 'static,
) -> Arc<Confirm> {
    Arc::new(
        move |at_fault: &AnySnapshot, now: &AnySnapshot, node: &str| {
            confirm(
                at_fault.downcast_ref::<S>()?,
                now.downcast_ref::<S>()?,
                node,
            )
        },
    )
}

/// How long a node brought back after the run window may take to answer:
/// the runner gives workloads 10 s to return.
const AFTER_WINDOW: Duration = Duration::from_secs(5);

// The conditions, stored without their snapshot type: each reads the
// snapshot as the type it was written for (see `NodeFault::reads`).
type Pick = dyn Fn(&AnySnapshot) -> Option<String> + Send + Sync;
type Settled = dyn Fn(&AnySnapshot) -> bool + Send + Sync;
/// `(snapshot when the fault began, snapshot now, node)`: a description of
/// what was confirmed, or `None` while it is not.
type Confirm = dyn Fn(&AnySnapshot, &AnySnapshot, &str) -> Option<String> + Send + Sync;

/// Takes one node down every [`every`](Self::every), at most
/// [`max_faults`](Self::max_faults) times, and for each:
///
/// 1. waits until the cluster is settled (every source answers, and the
///    [`settled`](Self::settled) condition holds),
/// 2. picks a target: the next node in turn, or one chosen from the
///    snapshot ([`target`](Self::target), e.g. the current leader),
/// 3. kills, stops or pauses it and marks the fault window,
/// 4. confirms through observation that the node stopped answering, and
///    that [`while_down`](Self::while_down) holds (another node took over),
/// 5. keeps it down for [`down_for`](Self::down_for), brings it back,
/// 6. confirms that it answers again and that [`recovered`](Self::recovered)
///    holds (it caught up).
///
/// Each step is on the run's timeline; a confirmation that does not come
/// within [`confirm_within`](Self::confirm_within) fails the workload with
/// what was observed. The node is brought back and its fault window closed
/// whatever happens: the run window closing halfway, a failed
/// confirmation, a panicking condition.
///
/// It watches the observer whose snapshots its conditions read (the
/// argument type of [`target`](Self::target), [`settled`](Self::settled),
/// [`while_down`](Self::while_down) and [`recovered`](Self::recovered),
/// one type for all of them); with no condition, the scenario's only
/// observer. [`observed_by`](Self::observed_by) names it where that is
/// not enough. Down and back are seen through the runtime's per-source
/// health, so that observer must poll its sources with
/// [`Sources::poll_each`](crate::observation::Sources::poll_each).
///
/// ```
/// # use std::time::Duration;
/// use tf_core::workloads::{FaultKind, NodeFault};
///
/// let chaos = NodeFault::new("pauses", FaultKind::Pause)
///     .every(Duration::from_secs(3))
///     .max_faults(2)
///     // Only once every node has a height: the observer publishing
///     // `Vec<(String, Option<u64>)>` is the one it watches.
///     .settled(|heights: &Vec<(String, Option<u64>)>| heights.iter().all(|(_, h)| h.is_some()));
/// ```
pub struct NodeFault {
    name: String,
    /// The kinds faults take turns among.
    kinds: Vec<FaultKind>,
    every: Duration,
    down_for: Duration,
    max_faults: usize,
    side: usize,
    confirm_within: Duration,
    target: Option<Arc<Pick>>,
    settled: Option<Arc<Settled>>,
    while_down: Option<Arc<Confirm>>,
    recovered: Option<Arc<Confirm>>,
    /// The observer it watches.
    reads: ObserverChoice,
    /// Two conditions written for different snapshot types.
    mixed_states: Option<String>,
    /// Faults from a schedule drawn from the run's seed, instead of in
    /// turn.
    mix: Option<FaultMix>,
    /// The group whose nodes it strikes; `None`: every node.
    group: Option<String>,
}

impl NodeFault {
    /// Faults of `kind`, reported as `name`, on the nodes in turn.
    pub fn new(name: impl Into<String>, kind: FaultKind) -> Self {
        NodeFault {
            name: name.into(),
            kinds: vec![kind],
            every: Duration::from_secs(4),
            down_for: Duration::from_secs(1),
            max_faults: 3,
            side: 1,
            confirm_within: Duration::from_secs(10),
            target: None,
            settled: None,
            while_down: None,
            recovered: None,
            mix: None,
            group: None,
            reads: ObserverChoice::default(),
            mixed_states: None,
        }
    }

    /// Watches observer `O`: needed only when its conditions do not say
    /// which (several observers publish their snapshot type, or it has no
    /// condition and the scenario several observers).
    pub fn observed_by<O: Observer>(mut self) -> Self {
        self.reads.observer = Some(crate::scenario::observer_key::<O>());
        // Its conditions read what `O` publishes, or are refused.
        self.reads::<O::Snapshot>();
        self
    }

    /// Whether the cluster is settled for a fault: every source answers,
    /// and [`settled`](Self::settled) holds.
    fn is_settled(&self, handle: &dyn StateHandle<AnySnapshot>, snapshot: &AnySnapshot) -> bool {
        handle.source_health().iter().all(|h| !h.is_failing())
            && self
                .settled
                .as_ref()
                .is_none_or(|settled| settled(snapshot))
    }

    /// Notes that a condition reads snapshots of type `S`.
    fn reads<S: 'static>(&mut self) {
        let state = (TypeId::of::<S>(), type_name::<S>());
        match self.reads.state {
            None => self.reads.state = Some(state),
            Some((id, _)) if id == state.0 => {}
            Some((_, earlier)) => {
                self.mixed_states.get_or_insert(format!(
                    "it reads snapshots of two types, `{earlier}` and `{}` (its conditions' \
                     arguments, and what the observer named by observed_by publishes); they \
                     all read the one observer it watches",
                    state.1
                ));
            }
        }
    }

    /// Strikes only the nodes of `group` (a role: `sentinel`, `rpc`): they
    /// take turns, a fault mix draws among them, and a partition's side
    /// ([`side`](Self::side)) is counted among them, so
    /// `.on_group("rpc").side(n)` with `n` the group's size cuts the whole
    /// group off from the rest. Links are still drawn among every node.
    pub fn on_group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The nodes it may strike, in topology order.
    fn targets<A: Application>(&self, ctx: &RunContext<A>) -> Vec<String> {
        match &self.group {
            Some(group) => ctx.group(group),
            None => ctx.nodes().iter().map(|n| n.name.to_string()).collect(),
        }
    }

    /// Faults on a schedule drawn from the run's seed by `mix` (random
    /// kinds among the mix's, random nodes, random times and holds, one at
    /// a time unless the mix allows more at once), reported as `name`. The schedule is written to the run
    /// directory as `schedule.json` before the first fault, and a run given
    /// `--schedule FILE` replays that file instead. `every`, `down_for`,
    /// `max_faults` and `target` do not apply; the confirmations do.
    pub fn mix(name: impl Into<String>, mix: FaultMix) -> Self {
        let mut fault = NodeFault::new(name, FaultKind::Kill);
        fault.kinds = mix.kinds().to_vec();
        fault.mix = Some(mix);
        fault
    }

    /// Adds a kind of fault: faults take turns among the kinds, in the
    /// order given (`kill`, `pause`, `kill`, ...). One workload takes one
    /// node down at a time, where two workloads of one kind each could take
    /// two at once.
    pub fn mixed_with(mut self, kind: FaultKind) -> Self {
        self.kinds.push(kind);
        self
    }

    /// Pause before each fault (default 4 s).
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// How long the node stays down (default 1 s).
    pub fn down_for(mut self, down_for: Duration) -> Self {
        self.down_for = down_for;
        self
    }

    /// At most this many faults (default 3).
    pub fn max_faults(mut self, max: usize) -> Self {
        self.max_faults = max;
        self
    }

    /// How many nodes a [`FaultKind::Partition`] cuts off: the target and
    /// the ones after it in topology order (default 1, the target alone).
    /// Keep it a minority to watch the majority go on.
    pub fn side(mut self, nodes: usize) -> Self {
        self.side = nodes.max(1);
        self
    }

    /// How long each confirmation may take (default 10 s).
    pub fn confirm_within(mut self, within: Duration) -> Self {
        self.confirm_within = within;
        self
    }

    /// Picks the target from the settled snapshot (the leader, say)
    /// instead of the next node in turn; `None` skips this round.
    pub fn target<S: 'static>(
        mut self,
        pick: impl Fn(&S) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.reads::<S>();
        self.target = Some(Arc::new(move |s: &AnySnapshot| {
            s.downcast_ref::<S>().and_then(&pick)
        }));
        self
    }

    /// What must hold, besides every source answering, before a fault.
    pub fn settled<S: 'static>(
        mut self,
        settled: impl Fn(&S) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.reads::<S>();
        self.settled = Some(Arc::new(move |s: &AnySnapshot| {
            s.downcast_ref::<S>().is_some_and(&settled)
        }));
        self
    }

    /// What must be observed while the node is down, given the snapshot
    /// when the fault began, the one now, and the node: a description
    /// (`new leader node-2`) once it holds.
    pub fn while_down<S: 'static>(
        mut self,
        confirm: impl Fn(&S, &S, &str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.reads::<S>();
        self.while_down = Some(typed_confirm(confirm));
        self
    }

    /// What must be observed after the node is back (it caught up), in the
    /// same form as [`while_down`](Self::while_down).
    pub fn recovered<S: 'static>(
        mut self,
        confirm: impl Fn(&S, &S, &str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.reads::<S>();
        self.recovered = Some(typed_confirm(confirm));
        self
    }

    /// The nodes a fault on `node` takes: the target, and for a partition
    /// the next `side - 1` nodes in topology order.
    fn side_of<A: Application>(
        &self,
        ctx: &RunContext<A>,
        kind: &FaultKind,
        node: &str,
    ) -> Vec<String> {
        if *kind != FaultKind::Partition {
            return vec![node.to_owned()];
        }
        let names = self.targets(ctx);
        let start = names.iter().position(|n| n == node).unwrap_or(0);
        let mut side = vec![node.to_owned()];
        side.extend(
            (1..self.side.min(names.len())).map(|k| names[(start + k) % names.len()].clone()),
        );
        side
    }

    /// Waits after `cursor` for `confirm` to describe a snapshot.
    async fn confirm(
        &self,
        handle: &dyn StateHandle<AnySnapshot>,
        cursor: Cursor,
        at_fault: &AnySnapshot,
        node: &str,
        confirm: &Confirm,
    ) -> Result<String, WaitError> {
        let seen = handle
            .wait_until(
                Some(cursor),
                &|now| confirm(at_fault, now, node).is_some(),
                self.confirm_within,
            )
            .await?;
        Ok(confirm(at_fault, seen.snapshot(), node).unwrap_or_default())
    }

    /// One fault on `node`; the node is back and the fault window closed
    /// when this returns, whatever happened.
    async fn fault<A: Application>(
        &self,
        ctx: &RunContext<A>,
        handle: &dyn StateHandle<AnySnapshot>,
        kind: &FaultKind,
        node: &str,
        at_fault: &AnySnapshot,
        hold: Duration,
    ) -> Result<(), BoxError> {
        let name = self.name.as_str();
        let cursor = handle.cursor();
        let side = self.side_of(ctx, kind, node);
        let names = ctx.node_names();
        let links = match kind {
            FaultKind::Link { around, .. } => {
                let links = around.links(node, &names);
                let resolved = links.resolve(&names)?;
                Some((links, resolved))
            }
            _ => None,
        };
        let who = match &links {
            Some((links, _)) => links.to_string(),
            None => side.join(", "),
        };
        ctx.record(name, format!("{} {who}", kind.verb()));
        // A link fault's window opens once it is in force: setting it up
        // (a helper started, connects timed before) is not the fault.
        let struck: Vec<String> = match &links {
            Some((_, resolved)) => {
                let mut ends: Vec<String> = resolved
                    .iter()
                    .flat_map(|l| [l.from.clone(), l.to.clone()])
                    .collect();
                ends.sort();
                ends.dedup();
                ends
            }
            None => side.clone(),
        };
        let window = |ctx: &RunContext<A>| {
            ctx.begin_fault_on(name, format!("{who} {}", kind.past()), &struck)
        };
        let early = (!matches!(kind, FaultKind::Link { .. })).then(|| window(ctx));
        let injected = match (kind, &links) {
            (FaultKind::Kill, _) => ctx.control().kill(node).await.map(|()| None),
            (FaultKind::Restart, _) => ctx.control().stop(node).await.map(|()| None),
            (FaultKind::Pause, _) => ctx.control().pause(node).await.map(|()| None),
            (FaultKind::Partition, _) => ctx.control().partition(&side).await.map(|()| None),
            (FaultKind::Link { fault, .. }, Some((_, resolved))) => {
                ctx.control().impair(resolved, fault).await.map(Some)
            }
            (FaultKind::Clock(clock), _) => {
                ctx.control().set_clock(node, clock).await.map(|()| None)
            }
            (FaultKind::Link { .. }, None) => unreachable!("links are resolved above"),
        };
        let impaired = match injected {
            Ok(impaired) => impaired,
            Err(error) => {
                if let Some(fault) = early {
                    ctx.end_fault(fault);
                }
                return Err(error.into());
            }
        };
        let fault = early.unwrap_or_else(|| window(ctx));
        for line in impaired.iter().flat_map(|i| &i.confirmed) {
            ctx.record(name, format!("confirmed {line}"));
        }
        let seen_down = AtomicBool::new(false);
        let down = async {
            // A cut-off node still answers the runner.
            if !kind.keeps_answering() {
                handle
                    .wait_for_reachability_from(cursor, &|r| r.is_lost(node), self.confirm_within)
                    .await
                    .map_err(|e| {
                        format!(
                            "{node} was {} but {} still reaches it: {e}",
                            kind.past(),
                            handle.observer_name()
                        )
                    })?;
                seen_down.store(true, Ordering::Relaxed);
                ctx.record(name, format!("observed {node} down"));
            }
            if let Some(while_down) = &self.while_down {
                let seen = self
                    .confirm(handle, cursor, at_fault, node, &**while_down)
                    .await
                    .map_err(|e| {
                        let state = match kind {
                            FaultKind::Partition => "cut off".to_owned(),
                            FaultKind::Link { fault, .. } => format!("under {fault}"),
                            FaultKind::Clock(clock) => format!("{clock}"),
                            _ => "down".to_owned(),
                        };
                        format!(
                            "while {who} was {state}, the expected change was not observed: {e}"
                        )
                    })?;
                ctx.record(name, format!("observed {seen}"));
            }
            // Staying down is part of the fault.
            tokio::time::sleep(hold).await;
            Ok::<(), String>(())
        };
        // The window may close meanwhile: stop confirming, but always bring
        // the node back so that the end checks see the whole cluster.
        let confirmed = tokio::select! {
            () = ctx.over() => Ok(()),
            confirmed = AssertUnwindSafe(down).catch_unwind() => confirmed.unwrap_or_else(|panic| {
                Err(format!("a condition panicked while {node} was down: {}", panic_message(panic.as_ref())))
            }),
        };
        let back_from = handle.cursor();
        let (verb, restored) = match (kind, &impaired) {
            (FaultKind::Pause, _) => ("resume", ctx.control().resume(node).await),
            (FaultKind::Partition, _) => ("heal the partition of", ctx.control().heal().await),
            (FaultKind::Link { .. }, Some(impaired)) => {
                let restored = ctx.control().restore(impaired.id).await;
                for line in restored.iter().flatten() {
                    ctx.record(name, format!("restored {line}"));
                }
                ("restore", restored.map(|_| ()))
            }
            (FaultKind::Clock(_), _) => (
                "set the true time on",
                ctx.control().set_clock(node, &ClockFault::default()).await,
            ),
            _ => ("start", ctx.control().start(node).await),
        };
        ctx.record(name, format!("{verb} {who}"));
        ctx.end_fault(fault);
        restored?;
        confirmed?;
        // After the window, only a short wait fits in the runner's grace
        // for workloads, and nothing more than "back" is confirmed.
        let over = ctx.is_over();
        let within = if over {
            self.confirm_within.min(AFTER_WINDOW)
        } else {
            self.confirm_within
        };
        if seen_down.load(Ordering::Relaxed) {
            handle
                .wait_for_reachability_from(back_from, &|r| r.is_back(node), within)
                .await
                .map_err(|e| format!("{node} did not answer again within {within:?}: {e}"))?;
            ctx.record(name, format!("observed {node} back"));
        }
        if let (Some(recovered), false) = (&self.recovered, over) {
            let seen =
                AssertUnwindSafe(self.confirm(handle, back_from, at_fault, node, &**recovered))
                    .catch_unwind()
                    .await
                    .map_err(|panic| {
                        format!(
                            "the recovered condition panicked: {}",
                            panic_message(panic.as_ref())
                        )
                    })?
                    .map_err(|e| format!("{node} came back but did not recover: {e}"))?;
            ctx.record(name, format!("observed {seen}"));
        }
        Ok(())
    }
}

impl NodeFault {
    /// The schedule to follow: the one the run was given for this
    /// workload, or one drawn from the run's seed; written to the run
    /// directory either way.
    fn schedule<A: Application>(
        &self,
        ctx: &RunContext<A>,
        mix: &FaultMix,
        names: &[String],
    ) -> Result<Schedule, String> {
        let given = match ctx.given_schedule() {
            Some(path) => {
                let schedule = Schedule::read(path)?;
                (schedule.workload == self.name).then_some((schedule, path.to_owned()))
            }
            None => None,
        };
        let (schedule, origin) = match given {
            Some((schedule, path)) => (schedule, format!("replayed from {}", path.display())),
            None => {
                let seed = ctx.seed_for(&self.name);
                let window = match ctx.planned_window() {
                    d if d.is_zero() => Duration::from_secs(60),
                    d => d,
                };
                (
                    mix.schedule(&self.name, seed, window, names),
                    format!("drawn from the run's seed ({})", ctx.seed()),
                )
            }
        };
        schedule.check(names)?;
        let mut written = String::new();
        if let Some(dir) = ctx.run_dir() {
            let mut path = dir.join("schedule.json");
            if path.exists() {
                path = dir.join(format!("schedule-{}.json", self.name));
            }
            schedule.write(&path)?;
            written = format!(", in {}", path.display());
        }
        ctx.record(
            &self.name,
            format!("{} faults {origin}{written}", schedule.faults.len()),
        );
        Ok(schedule)
    }

    /// Each fault of `schedule` at its time (or later: once the faults
    /// listed before it that end before it begins have ended, and, when no
    /// other fault is in force, once the cluster settled), held for its
    /// time. Faults the schedule overlaps run at once. After a fault fails,
    /// no more begin; those in force are brought back first, and the first
    /// failure is the result.
    async fn scheduled<A: Application>(
        &self,
        ctx: &RunContext<A>,
        handle: &dyn StateHandle<AnySnapshot>,
        schedule: &Schedule,
    ) -> Result<(), BoxError> {
        let faults = &schedule.faults;
        let (ended, _) = tokio::sync::watch::channel(vec![false; faults.len()]);
        // The first failure, in time; once there is one, no fault begins.
        let (failure, _) = tokio::sync::watch::channel(None::<String>);
        let in_force = std::sync::atomic::AtomicUsize::new(0);
        let one = |i: usize| {
            let (ended, in_force, failure) = (&ended, &in_force, &failure);
            let entry = &faults[i];
            // Those listed before it that the schedule ends before it begins.
            let before: Vec<usize> = (0..i)
                .filter(|&j| faults[j].at + faults[j].hold <= entry.at)
                .collect();
            async move {
                let (mut ends, mut failed) = (ended.subscribe(), failure.subscribe());
                let waited = async {
                    ends.wait_for(|e| before.iter().all(|&j| e[j])).await.ok();
                    tokio::time::sleep(entry.at.saturating_sub(ctx.elapsed())).await;
                };
                tokio::select! {
                    () = ctx.over() => return Ok(()),
                    _ = failed.wait_for(Option::is_some) => return Ok(()),
                    () = waited => {}
                }
                // With another fault in force the cluster cannot settle:
                // the latest snapshot is the one at the fault.
                let others = in_force.load(Ordering::Relaxed) > 0;
                let ready = |s: &AnySnapshot| others || self.is_settled(handle, s);
                let settled = tokio::select! {
                    () = ctx.over() => return Ok(()),
                    _ = failed.wait_for(Option::is_some) => return Ok(()),
                    settled = handle.wait_until(
                        None,
                        &ready,
                        self.confirm_within,
                    ) => settled.map_err(|e| format!("the cluster did not settle before a scheduled fault: {e}"))?,
                };
                in_force.fetch_add(1, Ordering::Relaxed);
                let result = self
                    .fault(
                        ctx,
                        handle,
                        &entry.fault,
                        &entry.target,
                        settled.snapshot(),
                        entry.hold,
                    )
                    .await;
                in_force.fetch_sub(1, Ordering::Relaxed);
                result
            }
        };
        let runs = (0..faults.len()).map(|i| {
            let (ended, failure) = (&ended, &failure);
            let run = one(i);
            async move {
                let result: Result<(), BoxError> = run.await;
                if let Err(error) = result {
                    failure.send_if_modified(|first| {
                        first.is_none() && first.replace(error.to_string()).is_none()
                    });
                }
                ended.send_modify(|e| e[i] = true);
            }
        });
        futures::future::join_all(runs).await;
        match failure.borrow().clone() {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl<A: Application> Workload<A> for NodeFault {
    fn name(&self) -> &str {
        &self.name
    }

    fn needs(&self) -> Vec<NodeAction> {
        let mut needs = Vec::new();
        for kind in &self.kinds {
            let more: &[NodeAction] = match kind {
                FaultKind::Pause => &[NodeAction::Pause],
                FaultKind::Kill => &[NodeAction::Kill, NodeAction::StartStop],
                FaultKind::Restart => &[NodeAction::StartStop],
                FaultKind::Partition => &[NodeAction::Partition],
                FaultKind::Link { .. } => &[NodeAction::Links],
                FaultKind::Clock(_) => &[NodeAction::Clock],
            };
            for action in more {
                if !needs.contains(action) {
                    needs.push(*action);
                }
            }
        }
        needs
    }

    fn check(&self, nodes: &[String]) -> Result<(), String> {
        if let Some(mixed) = &self.mixed_states {
            return Err(mixed.clone());
        }
        if let Some(mix) = &self.mix {
            return mix.check(nodes);
        }
        // Any node stands for the target: a shape that fits one fits all.
        match nodes.first() {
            Some(node) => self.kinds.iter().try_for_each(|k| k.check(node, nodes)),
            None => Ok(()),
        }
    }

    fn groups(&self) -> Vec<String> {
        self.group.iter().cloned().collect()
    }

    async fn run(&self, ctx: &RunContext<A>) -> Result<(), BoxError> {
        let handle = ctx.any_state(self.reads)?;
        let handle = &*handle;
        let names = self.targets(ctx);
        if let Some(mix) = &self.mix {
            let schedule = self.schedule(ctx, mix, &names)?;
            return self.scheduled(ctx, handle, &schedule).await;
        }
        let mut turn = 0;
        for round in 0..self.max_faults {
            let kind = &self.kinds[round % self.kinds.len()];
            // The fault schedule itself, not a wait for state.
            tokio::select! {
                () = ctx.over() => return Ok(()),
                () = tokio::time::sleep(self.every) => {}
            }
            let settled_within = self.confirm_within;
            let ready = |s: &AnySnapshot| self.is_settled(handle, s);
            let settled = tokio::select! {
                () = ctx.over() => return Ok(()),
                settled = handle.wait_until(
                    None,
                    &ready,
                    settled_within,
                ) => settled.map_err(|e| format!("the cluster did not settle before a fault: {e}"))?,
            };
            let node = match &self.target {
                Some(pick) => match pick(settled.snapshot()) {
                    Some(node) => {
                        if let Some(group) = self.group.as_ref().filter(|_| !names.contains(&node))
                        {
                            return Err(format!(
                                "the target {node} is not a node of group `{group}` (its nodes: {})",
                                names.join(", ")
                            )
                            .into());
                        }
                        node
                    }
                    None => continue,
                },
                None => {
                    let Some(node) = names.get(turn % names.len().max(1)).cloned() else {
                        return Ok(());
                    };
                    turn += 1;
                    node
                }
            };
            self.fault(ctx, handle, kind, &node, settled.snapshot(), self.down_for)
                .await?;
        }
        Ok(())
    }
}
