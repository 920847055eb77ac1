//! A node's wall clock set off: ahead or behind by an offset, running fast
//! or slow by a rate.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a node's wall clock differs from the machine's, from the moment the
/// fault is set: `offset` ahead (negative: behind), then drifting by
/// `rate` (1.5: a second of real time is 1.5 s on the node's clock). Only
/// the wall clock: the node's monotonic clock, and so its timers, run
/// true.
///
/// ```
/// use std::time::Duration;
/// use tf_core::fault::ClockFault;
///
/// let ahead = ClockFault::ahead(Duration::from_secs(3));
/// assert_eq!(ahead.to_string(), "3s ahead");
/// assert_eq!(ClockFault::behind(Duration::from_millis(1500)).rate(2.0).to_string(), "1.5s behind, running 2x");
/// assert!(ClockFault::default().is_true());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockFault {
    /// Milliseconds ahead of the machine's clock; negative: behind.
    pub offset_ms: i64,
    /// Seconds on the node's clock per real second.
    pub rate: f64,
}

impl Default for ClockFault {
    /// The true time.
    fn default() -> Self {
        ClockFault {
            offset_ms: 0,
            rate: 1.0,
        }
    }
}

impl ClockFault {
    /// `by` ahead.
    pub fn ahead(by: Duration) -> Self {
        ClockFault {
            offset_ms: i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            ..ClockFault::default()
        }
    }

    /// `by` behind.
    pub fn behind(by: Duration) -> Self {
        ClockFault {
            offset_ms: -i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            ..ClockFault::default()
        }
    }

    /// Running at `rate` seconds a real second from now on.
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate;
        self
    }

    /// Whether this is the true time.
    pub fn is_true(&self) -> bool {
        self.offset_ms == 0 && self.rate == 1.0
    }

    /// Checks the settings; the reason when they make no sense.
    pub fn check(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && (0.1..=10.0).contains(&self.rate)) {
            return Err(format!(
                "a clock rate of {} makes no sense here; give one from 0.1 (slow) to 10 (fast), 1 for true",
                self.rate
            ));
        }
        const YEAR_MS: i64 = 366 * 24 * 3600 * 1000;
        if self.offset_ms.abs() > YEAR_MS {
            return Err(format!(
                "a clock offset of {} s is more than a year; give at most a year either way",
                self.offset_ms / 1000
            ));
        }
        Ok(())
    }

    /// libfaketime's setting for a process started at `started` (seconds
    /// since the epoch, real time) so that, from `at` (the same), its
    /// clock reads `at + offset` and then runs at the rate: libfaketime
    /// scales the time since the process started, so the offset it is
    /// given makes up for the time already run.
    pub fn faketime_spec(&self, started: f64, at: f64) -> String {
        let offset = self.offset_ms as f64 / 1000.0 + (at - started) * (1.0 - self.rate);
        format!("{offset:+.3} x{}", self.rate)
    }
}

impl fmt::Display for ClockFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset = Duration::from_millis(self.offset_ms.unsigned_abs());
        let mut parts = Vec::new();
        match self.offset_ms.signum() {
            1 => parts.push(format!("{offset:?} ahead")),
            -1 => parts.push(format!("{offset:?} behind")),
            _ => {}
        }
        if self.rate != 1.0 {
            parts.push(format!("running {}x", self.rate));
        }
        if parts.is_empty() {
            parts.push("true time".into());
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_is_refused() {
        assert!(
            ClockFault::default()
                .rate(0.0)
                .check()
                .unwrap_err()
                .contains("0.1")
        );
        assert!(ClockFault::default().rate(f64::NAN).check().is_err());
        let far = ClockFault::ahead(Duration::from_secs(400 * 24 * 3600));
        assert!(far.check().unwrap_err().contains("more than a year"));
    }

    #[test]
    fn the_spec_keeps_the_clock_continuous_at_the_change() {
        // Started at 1000, set at 1100: 2 s ahead at 1100, then 1.5x.
        let fault = ClockFault::ahead(Duration::from_secs(2)).rate(1.5);
        let spec = fault.faketime_spec(1000.0, 1100.0);
        assert_eq!(spec, "-48.000 x1.5");
        // libfaketime: started + offset + (t - started) * rate.
        let read = |t: f64| 1000.0 - 48.0 + (t - 1000.0) * 1.5;
        assert!((read(1100.0) - 1102.0).abs() < 1e-9);
        assert!((read(1110.0) - 1117.0).abs() < 1e-9);
        assert_eq!(
            ClockFault::default().faketime_spec(1000.0, 1100.0),
            "+0.000 x1"
        );
        assert_eq!(
            ClockFault::behind(Duration::from_secs(3)).faketime_spec(0.0, 5.0),
            "-3.000 x1"
        );
    }
}
