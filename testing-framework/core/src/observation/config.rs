//! Settings of a runtime; some can change while it runs.

use std::time::Duration;

/// Settings of an [`ObservationRuntime`](super::ObservationRuntime).
///
/// `poll_interval`, `cycle_timeout`, `history_capacity` and
/// `history_max_age` can be changed while the runtime runs, through
/// [`ObservationRuntime::update_config`](super::ObservationRuntime::update_config).
#[derive(Clone, Debug, PartialEq)]
pub struct ObservationConfig {
    /// Time from the start of one cycle to the start of the next. A cycle
    /// that takes longer is followed at once by the next.
    pub poll_interval: Duration,
    /// Upper bound of a whole cycle (source refresh, init, poll). A cycle
    /// that takes longer is recorded as failed and the next one runs.
    pub cycle_timeout: Duration,
    /// How many observations the history keeps; subscribers replay from it,
    /// and one that falls further behind is told how many it missed.
    pub history_capacity: usize,
    /// Optionally, drop observations older than this from the history too.
    /// Applied whenever an observation is published or the settings change;
    /// the newest observation is always kept.
    pub history_max_age: Option<Duration>,
    /// Per-source timeout of [`Sources::poll_each`](super::Sources::poll_each).
    pub source_timeout: Duration,
    /// How many sources [`Sources::poll_each`](super::Sources::poll_each)
    /// polls at once.
    pub source_concurrency: usize,
}

impl Default for ObservationConfig {
    fn default() -> Self {
        ObservationConfig {
            poll_interval: Duration::from_millis(200),
            cycle_timeout: Duration::from_secs(5),
            history_capacity: 1024,
            history_max_age: None,
            source_timeout: Duration::from_secs(2),
            source_concurrency: 32,
        }
    }
}

impl ObservationConfig {
    /// With another poll interval.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// With another cycle timeout.
    pub fn with_cycle_timeout(mut self, timeout: Duration) -> Self {
        self.cycle_timeout = timeout;
        self
    }

    /// With another history capacity.
    pub fn with_history_capacity(mut self, capacity: usize) -> Self {
        self.history_capacity = capacity;
        self
    }

    /// With an age bound on the history.
    pub fn with_history_max_age(mut self, max_age: Duration) -> Self {
        self.history_max_age = Some(max_age);
        self
    }

    /// With another per-source timeout.
    pub fn with_source_timeout(mut self, timeout: Duration) -> Self {
        self.source_timeout = timeout;
        self
    }

    /// With another per-source concurrency.
    pub fn with_source_concurrency(mut self, concurrency: usize) -> Self {
        self.source_concurrency = concurrency;
        self
    }

    /// Checks the settings; [`ObservationRuntime::start`](super::ObservationRuntime::start)
    /// does this too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = |field: &'static str, hint: &'static str| Err(ConfigError::Zero { field, hint });
        if self.poll_interval.is_zero() {
            return zero("poll_interval", "a positive interval, e.g. 200ms");
        }
        if self.cycle_timeout.is_zero() {
            return zero("cycle_timeout", "a positive timeout, e.g. 5s");
        }
        if self.history_capacity == 0 {
            return zero(
                "history_capacity",
                "at least 1 (subscribers replay from it)",
            );
        }
        if self.history_max_age.is_some_and(|age| age.is_zero()) {
            return zero(
                "history_max_age",
                "a positive age, or None for no age bound",
            );
        }
        if self.source_timeout.is_zero() {
            return zero("source_timeout", "a positive timeout, e.g. 2s");
        }
        if self.source_concurrency == 0 {
            return zero("source_concurrency", "at least 1");
        }
        if self.source_timeout >= self.cycle_timeout {
            return Err(ConfigError::SourceTimeoutNotBelowCycleTimeout {
                source_timeout: self.source_timeout,
                cycle_timeout: self.cycle_timeout,
            });
        }
        Ok(())
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is zero.
    #[error("observation config: `{field}` must not be zero; set it to {hint}")]
    Zero {
        /// The setting.
        field: &'static str,
        /// What to set instead.
        hint: &'static str,
    },
    /// One slow source would fail the whole cycle.
    #[error(
        "observation config: `source_timeout` ({source_timeout:?}) must be below `cycle_timeout` \
         ({cycle_timeout:?}), or one slow source fails the whole cycle; lower `source_timeout` \
         or raise `cycle_timeout`"
    )]
    SourceTimeoutNotBelowCycleTimeout {
        /// The per-source timeout.
        source_timeout: Duration,
        /// The cycle timeout.
        cycle_timeout: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        ObservationConfig::default().validate().unwrap();
    }

    #[test]
    fn zero_settings_name_the_field_and_the_fix() {
        let err = ObservationConfig::default()
            .with_poll_interval(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "observation config: `poll_interval` must not be zero; set it to a positive interval, e.g. 200ms"
        );
        let err = ObservationConfig::default()
            .with_history_capacity(0)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("history_capacity"), "{err}");
    }

    #[test]
    fn source_timeout_not_below_cycle_timeout_is_rejected() {
        let err = ObservationConfig::default()
            .with_cycle_timeout(Duration::from_secs(2))
            .validate()
            .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::SourceTimeoutNotBelowCycleTimeout { .. }
        ));
        assert!(err.to_string().contains("lower `source_timeout`"), "{err}");
    }
}
