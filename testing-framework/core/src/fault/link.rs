//! What happens to the packets on a link: delay with jitter, loss,
//! duplication, reordering, a rate limit, or nothing gets through.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// How a delay's jitter is spread around the delay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    /// Evenly within delay ± jitter.
    #[default]
    Uniform,
    /// Normally, with the jitter as its standard deviation (cut at ± 3
    /// deviations, and never below zero).
    Normal,
}

/// A fault on a link's packets, applied where they leave the sender, so
/// that a link from A to B can differ from the one from B to A.
///
/// ```
/// use std::time::Duration;
/// use tf_core::fault::LinkFault;
///
/// let slow = LinkFault::delay(Duration::from_millis(50))
///     .jitter(Duration::from_millis(20))
///     .loss(5.0);
/// assert!(slow.check().is_ok());
/// assert_eq!(slow.to_string(), "50ms ± 20ms delay, 5% loss");
/// assert!(LinkFault::cut().is_cut());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkFault {
    /// Added to every packet.
    #[serde(with = "humantime_serde")]
    pub delay: Duration,
    /// Spread of the delay.
    #[serde(with = "humantime_serde")]
    pub jitter: Duration,
    /// How the jitter is spread.
    pub distribution: Distribution,
    /// Percent of packets dropped; 100 cuts the link.
    pub loss: f64,
    /// Percent of packets sent twice.
    pub duplicate: f64,
    /// Percent of delayed packets sent at once, ahead of the others.
    pub reorder: f64,
    /// At most this many bits a second; the rest wait their turn.
    pub rate_bits: Option<u64>,
}

impl LinkFault {
    /// Every packet `delay` late.
    pub fn delay(delay: Duration) -> Self {
        LinkFault {
            delay,
            ..LinkFault::default()
        }
    }

    /// Nothing gets through: the link is cut (a one-way partition when
    /// the other direction is left alone).
    pub fn cut() -> Self {
        LinkFault::default().loss(100.0)
    }

    /// With the delay spread by `jitter` (uniformly unless
    /// [`normal`](Self::normal)).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// With the jitter spread normally.
    pub fn normal(mut self) -> Self {
        self.distribution = Distribution::Normal;
        self
    }

    /// Dropping `percent` of the packets.
    pub fn loss(mut self, percent: f64) -> Self {
        self.loss = percent;
        self
    }

    /// Sending `percent` of the packets twice.
    pub fn duplicate(mut self, percent: f64) -> Self {
        self.duplicate = percent;
        self
    }

    /// Sending `percent` of the delayed packets at once.
    pub fn reorder(mut self, percent: f64) -> Self {
        self.reorder = percent;
        self
    }

    /// At most `kbit` kilobits a second.
    pub fn rate_kbit(mut self, kbit: u64) -> Self {
        self.rate_bits = Some(kbit.saturating_mul(1000));
        self
    }

    /// Whether nothing gets through.
    pub fn is_cut(&self) -> bool {
        self.loss >= 100.0
    }

    /// Whether packets wait in a delay line (delay, rate or reordering),
    /// rather than only being dropped or copied.
    pub fn holds_packets(&self) -> bool {
        !self.is_cut() && (!self.delay.is_zero() || self.rate_bits.is_some())
    }

    /// Checks the settings; the reason when they make no sense, saying
    /// what would.
    pub fn check(&self) -> Result<(), String> {
        for (what, percent) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=100.0).contains(&percent) {
                return Err(format!(
                    "{what} is {percent}%; give a percentage from 0 to 100"
                ));
            }
        }
        if self.jitter > self.delay {
            return Err(format!(
                "a jitter of {:?} on a delay of {:?} would make packets early; keep the jitter at most the delay",
                self.jitter, self.delay
            ));
        }
        if self.reorder > 0.0 && self.delay.is_zero() {
            return Err(
                "reordering sends some packets ahead of delayed ones; give a delay too".into(),
            );
        }
        if self.rate_bits == Some(0) {
            return Err("a rate of 0 bits a second is a cut; use LinkFault::cut()".into());
        }
        if self.delay > Duration::from_secs(60) {
            return Err(format!(
                "a delay of {:?} holds packets past any TCP timeout; keep it at most 60 s, or cut the link",
                self.delay
            ));
        }
        if *self == LinkFault::default() {
            return Err(
                "this link fault changes nothing; give a delay, a loss, a duplication or a rate"
                    .into(),
            );
        }
        Ok(())
    }

    /// A delay line for packets under this fault, its random choices drawn
    /// from `seed`.
    pub fn delay_line(&self, seed: u64) -> DelayLine {
        DelayLine {
            fault: self.clone(),
            rng: SplitMix64::new(seed),
            last_release: Duration::ZERO,
            busy_until: Duration::ZERO,
        }
    }
}

impl fmt::Display for LinkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_cut() {
            return f.write_str("cut");
        }
        let mut parts = Vec::new();
        if !self.delay.is_zero() {
            let mut delay = format!("{:?}", self.delay);
            if !self.jitter.is_zero() {
                delay.push_str(&format!(" ± {:?}", self.jitter));
                if self.distribution == Distribution::Normal {
                    delay.push_str(" (normal)");
                }
            }
            parts.push(format!("{delay} delay"));
        }
        for (what, percent) in [
            ("loss", self.loss),
            ("duplicated", self.duplicate),
            ("reordered", self.reorder),
        ] {
            if percent > 0.0 {
                parts.push(format!("{percent}% {what}"));
            }
        }
        if let Some(bits) = self.rate_bits {
            parts.push(format!("at most {} kbit/s", bits / 1000));
        }
        f.write_str(&parts.join(", "))
    }
}

/// Decides when each packet of a link leaves: the delay, its jitter,
/// reordering and the rate limit, in the order packets arrive. Times are
/// offsets from any fixed instant the caller picks.
#[derive(Clone, Debug)]
pub struct DelayLine {
    fault: LinkFault,
    rng: SplitMix64,
    last_release: Duration,
    busy_until: Duration,
}

impl DelayLine {
    /// When a packet of `len` bytes arriving at `now` leaves. Packets leave
    /// in the order they came, but for the reordered ones, which leave at
    /// once.
    pub fn release(&mut self, now: Duration, len: usize) -> Duration {
        let fault = &self.fault;
        if fault.reorder > 0.0 && self.chance(self.fault.reorder) {
            return now;
        }
        let delay = self.sample_delay();
        let mut at = (now + delay).max(self.last_release);
        if let Some(bits) = self.fault.rate_bits {
            let start = at.max(self.busy_until);
            let sending = Duration::from_secs_f64((len as f64 * 8.0) / bits as f64);
            self.busy_until = start + sending;
            at = self.busy_until;
        }
        self.last_release = at;
        at
    }

    fn chance(&mut self, percent: f64) -> bool {
        (self.rng.next_u64() as f64 / u64::MAX as f64) * 100.0 < percent
    }

    fn sample_delay(&mut self) -> Duration {
        let (delay, jitter) = (
            self.fault.delay.as_secs_f64(),
            self.fault.jitter.as_secs_f64(),
        );
        if jitter == 0.0 {
            return self.fault.delay;
        }
        let offset = match self.fault.distribution {
            Distribution::Uniform => (self.rng.unit() * 2.0 - 1.0) * jitter,
            Distribution::Normal => {
                // Box-Muller.
                let (u1, u2) = (self.rng.unit().max(f64::MIN_POSITIVE), self.rng.unit());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                z.clamp(-3.0, 3.0) * jitter
            }
        };
        Duration::from_secs_f64((delay + offset).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nonsense_is_refused_with_what_to_do() {
        let cases = [
            (LinkFault::cut().loss(101.0), "loss is 101%"),
            (LinkFault::delay(MS).loss(-1.0), "loss is -1%"),
            (
                LinkFault::delay(MS).jitter(2 * MS),
                "keep the jitter at most",
            ),
            (LinkFault::default().reorder(5.0), "give a delay too"),
            (LinkFault::default(), "changes nothing"),
            (LinkFault::default().rate_kbit(0), "is a cut"),
        ];
        for (fault, expected) in cases {
            let error = fault.check().unwrap_err();
            assert!(error.contains(expected), "{fault:?}: {error}");
        }
    }

    #[test]
    fn a_delay_line_keeps_order_and_the_spread() {
        // Sparse packets (one every 100 ms) take their own delays, spread
        // over the jitter.
        let mut line = LinkFault::delay(50 * MS).jitter(20 * MS).delay_line(7);
        let delays: Vec<Duration> = (0..2_000u32)
            .map(|i| {
                let now = 100 * MS * i;
                line.release(now, 100) - now
            })
            .collect();
        let min = delays.iter().min().unwrap();
        let max = delays.iter().max().unwrap();
        assert!(*min >= 30 * MS && *min < 32 * MS, "{min:?}");
        assert!(*max <= 70 * MS && *max > 68 * MS, "{max:?}");
        let mean = delays.iter().sum::<Duration>() / delays.len() as u32;
        assert!(mean > 48 * MS && mean < 52 * MS, "{mean:?}");
        // Dense packets (one every 0.5 ms) keep their order: one never
        // leaves before an earlier one, so they wait behind slow ones.
        let mut line = LinkFault::delay(50 * MS).jitter(20 * MS).delay_line(7);
        let mut last = Duration::ZERO;
        for i in 0..10_000u32 {
            let now = Duration::from_micros(u64::from(i) * 500);
            let at = line.release(now, 100);
            assert!(at >= last, "packet {i} overtook");
            assert!(at - now <= 70 * MS, "packet {i} waited {:?}", at - now);
            last = at;
        }
    }

    #[test]
    fn reordered_packets_leave_at_once_and_the_rate_spaces_the_rest() {
        let mut line = LinkFault::delay(10 * MS).reorder(50.0).delay_line(1);
        let ahead = (0..1000)
            .filter(|_| line.release(Duration::ZERO, 1) == Duration::ZERO)
            .count();
        assert!((400..600).contains(&ahead), "{ahead} of 1000 went ahead");
        // 1000 bytes at 80 kbit/s: 100 ms each.
        let mut line = LinkFault::default().rate_kbit(80).delay_line(1);
        let times: Vec<Duration> = (0..3).map(|_| line.release(Duration::ZERO, 1000)).collect();
        assert_eq!(times, vec![100 * MS, 200 * MS, 300 * MS]);
    }

    #[test]
    fn the_same_seed_gives_the_same_delays() {
        let fault = LinkFault::delay(50 * MS).jitter(20 * MS).normal();
        let run = |seed| {
            let mut line = fault.delay_line(seed);
            (0..100)
                .map(|i| line.release(i * MS, 1))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
