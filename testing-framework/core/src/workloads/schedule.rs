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

/// The faults of one workload of one run, in order, one at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The workload it belongs to.
    pub workload: String,
    /// The seed it was drawn from (`None`: written by hand).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The faults.
    pub faults: Vec<Scheduled>,
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
    /// fault sound, faults in order without overlapping. The reason when
    /// not, naming the fault.
    pub fn check(&self, nodes: &[String]) -> Result<(), String> {
        let mut free_from = Duration::ZERO;
        for (i, entry) in self.faults.iter().enumerate() {
            let which = || {
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
                    which(),
                    entry.target,
                    nodes.join(", ")
                ));
            }
            entry
                .fault
                .check(&entry.target, nodes)
                .map_err(|why| format!("{}: {why}", which()))?;
            if entry.at < free_from {
                return Err(format!(
                    "{} begins before the previous one ends ({free_from:?}); one fault is in force at a time",
                    which()
                ));
            }
            free_from = entry.at + entry.hold;
        }
        Ok(())
    }
}

/// Draws a random fault schedule from a seed: the kinds a scenario allows,
/// on random nodes, at random times (on average `per_minute` a minute),
/// each held for a random time, one at a time, all within the run window.
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
        let mut faults = Vec::new();
        let end = window.saturating_sub(self.quiet_end);
        let mean_gap = 60.0 / self.per_minute.max(0.1);
        let mut at = self.quiet_start + gap(&mut rng, mean_gap);
        while !nodes.is_empty() && !self.kinds.is_empty() && at + self.hold.0 <= end {
            let (min, max) = (self.hold.0.as_secs_f64(), self.hold.1.as_secs_f64());
            let hold = Duration::from_secs_f64(min + rng.unit() * (max - min));
            let hold = hold.min(end - at);
            let kind = self.kinds[rng.below(self.kinds.len() as u64) as usize].clone();
            let target = nodes[rng.below(nodes.len() as u64) as usize].clone();
            faults.push(Scheduled {
                at: round_ms(at),
                hold: round_ms(hold),
                target,
                fault: kind,
            });
            at = round_ms(at) + round_ms(hold) + self.settle + gap(&mut rng, mean_gap);
        }
        Schedule {
            workload: workload.to_owned(),
            seed: Some(seed),
            faults,
        }
    }
}

/// An exponential gap of mean `mean` seconds (faults as a Poisson process).
fn gap(rng: &mut SplitMix64, mean: f64) -> Duration {
    let u = rng.unit().max(f64::MIN_POSITIVE);
    Duration::from_secs_f64(-u.ln() * mean)
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
                .contains("one fault is in force at a time")
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
