//! Fault schedules as data: which fault, on which node, when and for how
//! long. A [`FaultMix`] draws one from the run's seed; `schedule.json` in
//! the run directory keeps it, and `--schedule FILE` replays one exactly.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::FaultKind;
use crate::rng::SplitMix64;

/// One fault of a schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scheduled {
    /// When it begins, from the run window's start (later when the
    /// cluster has not settled by then: the report says when it began).
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// How long it lasts.
    #[serde(with = "humantime_serde")]
    pub hold: Duration,
    /// The node it is aimed at.
    pub target: String,
    /// What it does.
    pub fault: FaultKind,
}

/// The faults of one workload of one run, in order of their start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The workload it belongs to.
    pub workload: String,
    /// The seed it was drawn from (`None`: written by hand).
    #[serde(default)]
    pub seed: Option<u64>,
    /// How many faults may be in force at once, each on a node of its own
    /// (1, the default: one at a time). A fault on the whole cluster's
    /// network ([`FaultKind::whole_cluster`]) is always in force alone.
    #[serde(default = "one")]
    pub at_once: usize,
    /// The faults.
    pub faults: Vec<Scheduled>,
}

fn one() -> usize {
    1
}

impl Schedule {
    /// Reads a schedule from `path`; the reason, naming the file, when it
    /// cannot.
    pub fn read(path: &Path) -> Result<Schedule, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the schedule {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a fault schedule: {e}", path.display()))
    }

    /// Writes it to `path`, readable by [`read`](Self::read).
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Checks it against the cluster's `nodes`: every target a node, every
    /// fault sound, faults in order of their start, and never more in
    /// force at once than [`at_once`](Self::at_once) allows, two on one
    /// node, or one on the whole cluster beside another. The reason when
    /// not, naming the fault.
    pub fn check(&self, nodes: &[String]) -> Result<(), String> {
        if self.at_once == 0 || self.at_once > nodes.len().max(1) {
            return Err(format!(
                "the schedule allows {} faults at once; give 1 to {} (the cluster's nodes)",
                self.at_once,
                nodes.len()
            ));
        }
        for (i, entry) in self.faults.iter().enumerate() {
            let which = |i: usize| {
                let entry = &self.faults[i];
                format!(
                    "fault {} of the schedule ({} at {:?})",
                    i + 1,
                    entry.target,
                    entry.at
                )
            };
            if !nodes.contains(&entry.target) {
                return Err(format!(
                    "{}: `{}` is not a node of this cluster (nodes: {})",
                    which(i),
                    entry.target,
                    nodes.join(", ")
                ));
            }
            entry
                .fault
                .check(&entry.target, nodes)
                .map_err(|why| format!("{}: {why}", which(i)))?;
            if i > 0 && entry.at < self.faults[i - 1].at {
                return Err(format!(
                    "{} begins before the fault listed above it; list faults in order of their start",
                    which(i)
                ));
            }
            let in_force: Vec<usize> = (0..i)
                .filter(|&j| self.faults[j].at + self.faults[j].hold > entry.at)
                .collect();
            let Some(&last) = in_force.last() else {
                continue;
            };
            let ends = self.faults[last].at + self.faults[last].hold;
            if self.at_once == 1 {
                return Err(format!(
                    "{} begins before the previous one ends ({ends:?}); one fault is in force at a time unless the schedule says more (\"at_once\": 2)",
                    which(i)
                ));
            }
            if in_force.len() >= self.at_once {
                return Err(format!(
                    "{} would be fault {} in force at once; the schedule allows {} (\"at_once\")",
                    which(i),
                    in_force.len() + 1,
                    self.at_once
                ));
            }
            for &j in &in_force {
                let other = &self.faults[j];
                if other.target == entry.target {
                    return Err(format!(
                        "{} is on {}, which {} is still on; one fault a node at a time",
                        which(i),
                        entry.target,
                        which(j)
                    ));
                }
                if other.fault.whole_cluster() || entry.fault.whole_cluster() {
                    return Err(format!(
                        "{} overlaps {}; a fault on the whole cluster's network (a partition, every link, a shape) is in force alone",
                        which(i),
                        which(j)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Draws a random fault schedule from a seed: the kinds a scenario allows,
/// on random nodes, at random times (on average `per_minute` a minute),
/// each held for a random time, one at a time (or up to
/// [`at_once`](FaultMix::at_once) together), all within the run window.
/// The same seed, window and nodes give the same schedule.
///
/// ```
/// use std::time::Duration;
/// use tf_core::fault::LinkFault;
/// use tf_core::workloads::{Around, FaultKind, FaultMix};
///
/// let mix = FaultMix::new([
///     FaultKind::Kill,
///     FaultKind::Pause,
///     FaultKind::link(Around::Ingress, LinkFault::cut()),
/// ])
/// .per_minute(12.0);
/// let nodes: Vec<String> = (0..3).map(|i| format!("node-{i}")).collect();
/// let schedule = mix.schedule("nemesis", 7, Duration::from_secs(60), &nodes);
/// assert_eq!(schedule, mix.schedule("nemesis", 7, Duration::from_secs(60), &nodes));
/// assert!(schedule.check(&nodes).is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FaultMix {
    kinds: Vec<FaultKind>,
    per_minute: f64,
    hold: (Duration, Duration),
    quiet_start: Duration,
    quiet_end: Duration,
    settle: Duration,
    at_once: usize,
}

impl FaultMix {
    /// Faults drawn among `kinds`.
    pub fn new(kinds: impl IntoIterator<Item = FaultKind>) -> Self {
        FaultMix {
            kinds: kinds.into_iter().collect(),
            per_minute: 6.0,
            hold: (Duration::from_secs(1), Duration::from_secs(4)),
            quiet_start: Duration::from_secs(2),
            quiet_end: Duration::from_secs(3),
            settle: Duration::from_secs(2),
            at_once: 1,
        }
    }

    /// On average `rate` faults a minute (default 6).
    pub fn per_minute(mut self, rate: f64) -> Self {
        self.per_minute = rate;
        self
    }

    /// Each held between `min` and `max` (default 1 s to 4 s).
    pub fn hold(mut self, min: Duration, max: Duration) -> Self {
        self.hold = (min, max.max(min));
        self
    }

    /// At least this long between the end of a fault and the next (default
    /// 2 s): the cluster's time to recover.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// At most `n` faults in force at once (default 1: one at a time), each
    /// on a node of its own; a fault on the whole cluster's network (a
    /// partition, every link, a shape) is always in force alone. Faults
    /// then arrive on their own clock (on average `per_minute` a minute)
    /// instead of after the previous one; a fault arriving when `n` are in
    /// force waits for one to end and the cluster to settle. Keep `n`
    /// below a majority to watch the cluster go on.
    pub fn at_once(mut self, n: usize) -> Self {
        self.at_once = n;
        self
    }

    /// The kinds drawn among.
    pub fn kinds(&self) -> &[FaultKind] {
        &self.kinds
    }

    /// Checks the mix; the reason when it cannot make a schedule.
    pub fn check(&self, nodes: &[String]) -> Result<(), String> {
        if self.kinds.is_empty() {
            return Err("a fault mix needs at least one kind of fault".into());
        }
        if !(self.per_minute.is_finite() && self.per_minute > 0.0 && self.per_minute <= 600.0) {
            return Err(format!(
                "a fault mix of {} faults a minute makes no sense; give from 0.1 to 600",
                self.per_minute
            ));
        }
        if self.at_once == 0 || (!nodes.is_empty() && self.at_once > nodes.len()) {
            return Err(format!(
                "a fault mix of {} faults at once on {} nodes makes no sense; give 1 to {}",
                self.at_once,
                nodes.len(),
                nodes.len()
            ));
        }
        if let Some(node) = nodes.first() {
            for kind in &self.kinds {
                kind.check(node, nodes)?;
            }
        }
        Ok(())
    }

    /// The schedule of workload `workload` drawn from `seed`, for a window
    /// of `window` on `nodes`.
    pub fn schedule(
        &self,
        workload: &str,
        seed: u64,
        window: Duration,
        nodes: &[String],
    ) -> Schedule {
        let mut rng = SplitMix64::new(seed);
        let end = window.saturating_sub(self.quiet_end);
        let mean_gap = 60.0 / self.per_minute.max(0.1);
        let first = self.quiet_start + gap(&mut rng, mean_gap);
        let faults = if nodes.is_empty() || self.kinds.is_empty() {
            Vec::new()
        } else if self.at_once > 1 {
            self.overlapping(&mut rng, round_ms(first), end, mean_gap, nodes)
        } else {
            self.one_at_a_time(&mut rng, first, end, mean_gap, nodes)
        };
        Schedule {
            workload: workload.to_owned(),
            seed: Some(seed),
            at_once: self.at_once.max(1),
            faults,
        }
    }

    /// A fault's hold and kind, drawn in this order.
    fn draw(&self, rng: &mut SplitMix64) -> (Duration, FaultKind) {
        let (min, max) = (self.hold.0.as_secs_f64(), self.hold.1.as_secs_f64());
        let hold = Duration::from_secs_f64(min + rng.unit() * (max - min));
        let kind = self.kinds[rng.below(self.kinds.len() as u64) as usize].clone();
        (hold, kind)
    }

    /// Faults from `at` until `end`, each after the previous one ended and
    /// the cluster settled.
    fn one_at_a_time(
        &self,
        rng: &mut SplitMix64,
        mut at: Duration,
        end: Duration,
        mean_gap: f64,
        nodes: &[String],
    ) -> Vec<Scheduled> {
        let mut faults = Vec::new();
        while at + self.hold.0 <= end {
            let (hold, kind) = self.draw(rng);
            let hold = hold.min(end - at);
            let target = nodes[rng.below(nodes.len() as u64) as usize].clone();
            faults.push(Scheduled {
                at: round_ms(at),
                hold: round_ms(hold),
                target,
                fault: kind,
            });
            at = round_ms(at) + round_ms(hold) + self.settle + gap(rng, mean_gap);
        }
        faults
    }

    /// Faults from `at` until `end` that may overlap, up to
    /// [`at_once`](Self::at_once) in force, on distinct nodes.
    fn overlapping(
        &self,
        rng: &mut SplitMix64,
        mut at: Duration,
        end: Duration,
        mean_gap: f64,
        nodes: &[String],
    ) -> Vec<Scheduled> {
        let mut faults: Vec<Scheduled> = Vec::new();
        while at + self.hold.0 <= end {
            let (hold, kind) = self.draw(rng);
            let hold = round_ms(hold);
            // What is in force then, counting each fault's settling time,
            // and the nodes free of it.
            let in_force: Vec<&Scheduled> = faults
                .iter()
                .filter(|f| f.at + f.hold + self.settle > at)
                .collect();
            let taken: Vec<&str> = in_force.iter().map(|f| f.target.as_str()).collect();
            let open: Vec<&String> = nodes
                .iter()
                .filter(|n| !taken.contains(&n.as_str()))
                .collect();
            let free = |f: &&Scheduled| f.at + f.hold + self.settle;
            // A fault on the whole cluster waits for every other to end;
            // any other waits for one to end when the limit is reached or
            // every node is taken (a limit above the cluster's size).
            let wait = if in_force.iter().any(|f| f.fault.whole_cluster())
                || (kind.whole_cluster() && !in_force.is_empty())
            {
                in_force.iter().map(free).max()
            } else if in_force.len() >= self.at_once || open.is_empty() {
                in_force.iter().map(free).min()
            } else {
                None
            };
            if let Some(until) = wait {
                // Up to the next whole millisecond: `at` must pass `until`.
                at = ceil_ms(until);
                continue;
            }
            let target = open[rng.below(open.len() as u64) as usize].clone();
            faults.push(Scheduled {
                at,
                hold: hold.min(end - at),
                target,
                fault: kind,
            });
            at = round_ms(at + gap(rng, mean_gap));
        }
        faults
    }
}

/// An exponential gap of mean `mean` seconds (faults as a Poisson process).
fn gap(rng: &mut SplitMix64, mean: f64) -> Duration {
    let u = rng.unit().max(f64::MIN_POSITIVE);
    Duration::from_secs_f64(-u.ln() * mean)
}

/// The next whole millisecond at or after `d`.
fn ceil_ms(d: Duration) -> Duration {
    let whole = round_ms(d);
    if whole < d {
        whole + Duration::from_millis(1)
    } else {
        whole
    }
}

/// Whole milliseconds, so that the schedule reads back exactly.
fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::{ClockFault, LinkFault, Links};
    use crate::workloads::Around;

    fn nodes() -> Vec<String> {
        (0..5).map(|i| format!("node-{i}")).collect()
    }

    fn mix() -> FaultMix {
        FaultMix::new([
            FaultKind::Kill,
            FaultKind::Pause,
            FaultKind::Partition,
            FaultKind::link(Around::Ingress, LinkFault::cut()),
            FaultKind::link(Around::Shape(Links::MajoritiesRing), LinkFault::cut()),
            FaultKind::link(
                Around::Everywhere,
                LinkFault::delay(Duration::from_millis(30)).loss(2.0),
            ),
            FaultKind::Clock(ClockFault::ahead(Duration::from_secs(2))),
        ])
        .per_minute(20.0)
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
        let window = Duration::from_secs(120);
        let one = mix().schedule("mix", 1, window, &nodes());
        assert_eq!(one, mix().schedule("mix", 1, window, &nodes()));
        assert_ne!(one, mix().schedule("mix", 2, window, &nodes()));
        assert!(one.faults.len() >= 10, "{} faults", one.faults.len());
        one.check(&nodes()).unwrap();
        // Every fault within the window, its end before the quiet end.
        for f in &one.faults {
            assert!(
                f.at >= Duration::from_secs(2) && f.at + f.hold <= window - Duration::from_secs(3)
            );
        }
    }

    #[test]
    fn a_schedule_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedule.json");
        let schedule = mix().schedule("mix", 9, Duration::from_secs(60), &nodes());
        schedule.write(&path).unwrap();
        assert_eq!(Schedule::read(&path).unwrap(), schedule);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"target\": \"node-"), "{text}");
    }

    /// The most faults of `schedule` in force at any moment.
    fn most_at_once(schedule: &Schedule) -> usize {
        schedule
            .faults
            .iter()
            .map(|f| {
                schedule
                    .faults
                    .iter()
                    .filter(|g| g.at <= f.at && g.at + g.hold > f.at)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn overlapping_faults_stay_within_their_limit_on_distinct_nodes() {
        let window = Duration::from_secs(300);
        let two = mix().per_minute(30.0).at_once(2);
        let one = two.schedule("mix", 5, window, &nodes());
        assert_eq!(one, two.schedule("mix", 5, window, &nodes()));
        assert_eq!(one.at_once, 2);
        one.check(&nodes()).unwrap();
        assert_eq!(most_at_once(&one), 2, "{one:#?}");
        for (i, f) in one.faults.iter().enumerate() {
            for g in &one.faults[..i] {
                if g.at + g.hold > f.at {
                    assert_ne!(f.target, g.target);
                    assert!(!f.fault.whole_cluster() && !g.fault.whole_cluster());
                }
            }
        }
        // Whole-cluster faults are still drawn, alone.
        assert!(one.faults.iter().any(|f| f.fault.whole_cluster()));
        // Three at once on five nodes.
        let three = mix()
            .per_minute(60.0)
            .at_once(3)
            .schedule("mix", 5, window, &nodes());
        three.check(&nodes()).unwrap();
        assert_eq!(most_at_once(&three), 3);
        // One at a time, as before, unless asked.
        assert_eq!(
            most_at_once(&mix().per_minute(60.0).schedule("mix", 5, window, &nodes())),
            1
        );
    }

    #[test]
    fn odd_settings_still_give_a_schedule() {
        let window = Duration::from_secs(60);
        // A settling time that is no whole number of milliseconds.
        let fractional = mix()
            .per_minute(60.0)
            .at_once(2)
            .settle(Duration::from_micros(1500));
        fractional
            .schedule("mix", 1, window, &nodes())
            .check(&nodes())
            .unwrap();
        // More at once than there are nodes (unchecked): every node busy.
        let two: Vec<String> = nodes()[..2].to_vec();
        let crowded = FaultMix::new([FaultKind::Kill])
            .per_minute(600.0)
            .at_once(4);
        let schedule = crowded.schedule("mix", 1, window, &two);
        assert!(schedule.faults.len() > 10);
        assert!(most_at_once(&schedule) <= 2);
    }

    #[test]
    fn overlaps_a_schedule_does_not_allow_are_named() {
        let at = |at: u64, hold: u64, target: &str, fault: FaultKind| Scheduled {
            at: Duration::from_secs(at),
            hold: Duration::from_secs(hold),
            target: target.into(),
            fault,
        };
        let schedule = |at_once: usize, faults: Vec<Scheduled>| Schedule {
            workload: "mix".into(),
            seed: None,
            at_once,
            faults,
        };
        let two = vec![
            at(1, 5, "node-0", FaultKind::Kill),
            at(2, 5, "node-1", FaultKind::Pause),
        ];
        assert!(schedule(2, two.clone()).check(&nodes()).is_ok());
        for (at_once, faults, expected) in [
            (
                1,
                two.clone(),
                "one fault is in force at a time unless the schedule says more (\"at_once\": 2)",
            ),
            (
                2,
                [two.clone(), vec![at(3, 1, "node-2", FaultKind::Kill)]].concat(),
                "fault 3 of the schedule (node-2 at 3s) would be fault 3 in force at once; the schedule allows 2",
            ),
            (
                2,
                vec![
                    at(1, 5, "node-0", FaultKind::Kill),
                    at(2, 1, "node-0", FaultKind::Pause),
                ],
                "is on node-0, which fault 1 of the schedule (node-0 at 1s) is still on",
            ),
            (
                3,
                vec![
                    at(1, 5, "node-0", FaultKind::Kill),
                    at(2, 1, "node-1", FaultKind::Partition),
                ],
                "is in force alone",
            ),
            (
                2,
                vec![
                    at(4, 1, "node-0", FaultKind::Kill),
                    at(2, 1, "node-1", FaultKind::Pause),
                ],
                "list faults in order of their start",
            ),
            (0, two.clone(), "give 1 to 5"),
            (6, two, "allows 6 faults at once"),
        ] {
            let error = schedule(at_once, faults).check(&nodes()).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        let error = mix().at_once(9).check(&nodes()).unwrap_err();
        assert!(error.contains("9 faults at once on 5 nodes"), "{error}");
    }

    #[test]
    fn a_bad_schedule_is_named() {
        let mut schedule = mix().schedule("mix", 3, Duration::from_secs(60), &nodes());
        schedule.faults[0].target = "node-9".into();
        let error = schedule.check(&nodes()).unwrap_err();
        assert!(error.starts_with("fault 1 of the schedule"), "{error}");
        assert!(error.contains("`node-9` is not a node"), "{error}");
        let mut overlapping = mix().schedule("mix", 3, Duration::from_secs(60), &nodes());
        overlapping.faults[1].at = overlapping.faults[0].at;
        assert!(
            overlapping
                .check(&nodes())
                .unwrap_err()
                .contains("one fault is in force at a time unless")
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\"faults\": 3}").unwrap();
        assert!(
            Schedule::read(&path)
                .unwrap_err()
                .contains("is not a fault schedule")
        );
        assert!(FaultMix::new([]).check(&nodes()).is_err());
    }
}
