//! Typed scenario parameters: declared with a default and help, parsed
//! from text (`--set wallets=4`), refused when unknown or ill-typed.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What a parameter holds.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamKind {
    /// A whole number from `min` to `max`.
    Count {
        /// The smallest accepted value.
        min: usize,
        /// The largest accepted value.
        max: usize,
    },
    /// A number with a fraction, above zero.
    Rate,
    /// A duration (`15s`, `2m`).
    Duration,
    /// One of a few words.
    Choice(Vec<&'static str>),
}

/// A parameter's value.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// A whole number.
    Count(usize),
    /// A positive number.
    Rate(f64),
    /// A duration.
    Duration(Duration),
    /// One of the choices.
    Choice(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Count(n) => write!(f, "{n}"),
            ParamValue::Rate(r) => write!(f, "{r}"),
            ParamValue::Duration(d) => write!(f, "{}", humantime::format_duration(*d)),
            ParamValue::Choice(c) => f.write_str(c),
        }
    }
}

/// One declared parameter of a scenario: built by its kind's constructor,
/// so that its default always fits it.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    name: &'static str,
    help: &'static str,
    kind: ParamKind,
    default: ParamValue,
}

impl Param {
    /// A whole number, at least 0.
    pub fn count(name: &'static str, default: usize, help: &'static str) -> Self {
        Param {
            name,
            help,
            kind: ParamKind::Count {
                min: 0,
                max: usize::MAX,
            },
            default: ParamValue::Count(default),
        }
    }

    /// Refuses values below `min` (a default below it is raised to it).
    pub fn at_least(mut self, min: usize) -> Self {
        if let ParamKind::Count { min: m, .. } = &mut self.kind {
            *m = min;
        }
        if let ParamValue::Count(d) = &mut self.default {
            *d = (*d).max(min);
        }
        self
    }

    /// Refuses values above `max` (a default above it is lowered to it).
    pub fn at_most(mut self, max: usize) -> Self {
        if let ParamKind::Count { max: m, .. } = &mut self.kind {
            *m = max;
        }
        if let ParamValue::Count(d) = &mut self.default {
            *d = (*d).min(max);
        }
        self
    }

    /// Its name (`wallets`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// One line for `list`.
    pub fn help(&self) -> &'static str {
        self.help
    }

    /// What it holds.
    pub fn kind(&self) -> &ParamKind {
        &self.kind
    }

    /// Its value when not set.
    pub fn default_value(&self) -> &ParamValue {
        &self.default
    }

    /// A positive number (`4`, `0.5`).
    pub fn rate(name: &'static str, default: f64, help: &'static str) -> Self {
        Param {
            name,
            help,
            kind: ParamKind::Rate,
            default: ParamValue::Rate(default),
        }
    }

    /// A duration (`15s`, `2m`).
    pub fn duration(name: &'static str, default: Duration, help: &'static str) -> Self {
        Param {
            name,
            help,
            kind: ParamKind::Duration,
            default: ParamValue::Duration(default),
        }
    }

    /// One of `choices`, which must not be empty; the first is the default.
    pub fn choice(name: &'static str, choices: &[&'static str], help: &'static str) -> Self {
        assert!(!choices.is_empty(), "parameter `{name}` offers no choice");
        Param {
            name,
            help,
            kind: ParamKind::Choice(choices.to_vec()),
            default: ParamValue::Choice(choices.first().copied().unwrap_or_default().to_owned()),
        }
    }

    /// What it accepts, for people.
    pub fn accepts(&self) -> String {
        match &self.kind {
            ParamKind::Count {
                min: 0,
                max: usize::MAX,
            } => "a whole number".to_owned(),
            ParamKind::Count {
                min,
                max: usize::MAX,
            } => format!("a whole number, at least {min}"),
            ParamKind::Count { min, max } => format!("a whole number from {min} to {max}"),
            ParamKind::Rate => "a number above 0".to_owned(),
            ParamKind::Duration => "a duration such as 15s or 2m".to_owned(),
            ParamKind::Choice(choices) => format!("one of {}", choices.join(", ")),
        }
    }

    fn parse(&self, text: &str) -> Option<ParamValue> {
        match &self.kind {
            ParamKind::Count { min, max } => text
                .parse::<usize>()
                .ok()
                .filter(|n| (min..=max).contains(&n))
                .map(ParamValue::Count),
            ParamKind::Rate => text
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(ParamValue::Rate),
            ParamKind::Duration => humantime::parse_duration(text)
                .ok()
                .filter(|d| !d.is_zero())
                .map(ParamValue::Duration),
            ParamKind::Choice(choices) => choices
                .contains(&text)
                .then(|| ParamValue::Choice(text.to_owned())),
        }
    }
}

/// A parameter that cannot be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// Not a parameter of this scenario.
    #[error("scenario `{scenario}` has no parameter `{name}`; it takes: {known}")]
    Unknown {
        /// The scenario.
        scenario: String,
        /// The name given.
        name: String,
        /// The names it takes.
        known: String,
    },
    /// A value of the wrong type.
    #[error("parameter `{name}` of `{scenario}` must be {accepts}; got `{value}`")]
    Invalid {
        /// The scenario.
        scenario: String,
        /// The parameter.
        name: String,
        /// What it accepts.
        accepts: String,
        /// What was given.
        value: String,
    },
    /// Given twice.
    #[error("parameter `{name}` of `{scenario}` is set twice")]
    Twice {
        /// The scenario.
        scenario: String,
        /// The parameter.
        name: String,
    },
}

/// A scenario's parameters, every declared one with a value.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    values: BTreeMap<&'static str, ParamValue>,
    /// In declaration order, for reports.
    order: Vec<&'static str>,
}

impl Params {
    /// Every default of `declared`, overridden by `given` (`name`, text).
    pub(crate) fn parse<N: AsRef<str>, V: AsRef<str>>(
        scenario: &str,
        declared: &[Param],
        given: &[(N, V)],
    ) -> Result<Params, ParamError> {
        let mut values: BTreeMap<&'static str, ParamValue> = declared
            .iter()
            .map(|p| (p.name, p.default.clone()))
            .collect();
        let mut seen: Vec<&str> = Vec::new();
        for (name, text) in given {
            let (name, text) = (name.as_ref(), text.as_ref());
            let Some(param) = declared.iter().find(|p| p.name == name) else {
                let known: Vec<&str> = declared.iter().map(|p| p.name).collect();
                return Err(ParamError::Unknown {
                    scenario: scenario.to_owned(),
                    name: name.to_owned(),
                    known: if known.is_empty() {
                        "no parameters".to_owned()
                    } else {
                        known.join(", ")
                    },
                });
            };
            if seen.contains(&name) {
                return Err(ParamError::Twice {
                    scenario: scenario.to_owned(),
                    name: name.to_owned(),
                });
            }
            seen.push(name);
            let value = param
                .parse(text.trim())
                .ok_or_else(|| ParamError::Invalid {
                    scenario: scenario.to_owned(),
                    name: name.to_owned(),
                    accepts: param.accepts(),
                    value: text.to_owned(),
                })?;
            values.insert(param.name, value);
        }
        Ok(Params {
            values,
            order: declared.iter().map(|p| p.name).collect(),
        })
    }

    fn get(&self, name: &str) -> &ParamValue {
        self.values.get(name).unwrap_or_else(|| {
            panic!("the scenario's builder asked for `{name}`, which its entry does not declare")
        })
    }

    /// A count parameter's value. Panics if `name` is not a declared count
    /// (a bug in the entry, not in the user's input).
    pub fn count(&self, name: &str) -> usize {
        match self.get(name) {
            ParamValue::Count(n) => *n,
            other => panic!("parameter `{name}` is {other:?}, not a count"),
        }
    }

    /// A rate parameter's value.
    pub fn rate(&self, name: &str) -> f64 {
        match self.get(name) {
            ParamValue::Rate(r) => *r,
            other => panic!("parameter `{name}` is {other:?}, not a rate"),
        }
    }

    /// A duration parameter's value.
    pub fn duration(&self, name: &str) -> Duration {
        match self.get(name) {
            ParamValue::Duration(d) => *d,
            other => panic!("parameter `{name}` is {other:?}, not a duration"),
        }
    }

    /// A choice parameter's value.
    pub fn choice(&self, name: &str) -> &str {
        match self.get(name) {
            ParamValue::Choice(c) => c,
            other => panic!("parameter `{name}` is {other:?}, not a choice"),
        }
    }

    /// Every `(name, value)` as text, in declaration order: what
    /// `report.json` records and replay parses again.
    pub fn as_text(&self) -> Vec<(String, String)> {
        self.order
            .iter()
            .map(|name| ((*name).to_owned(), self.values[name].to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Vec<Param> {
        vec![
            Param::count("nodes", 3, "cluster size").at_least(3),
            Param::rate("rate", 4.0, "per second"),
            Param::duration("duration", Duration::from_secs(15), "window"),
            Param::choice("fault", &["kill", "restart", "pause"], "how"),
        ]
    }

    #[test]
    fn defaults_fill_what_is_not_given_and_text_round_trips() {
        let params =
            Params::parse("s", &declared(), &[("rate", "0.5"), ("duration", "1m 30s")]).unwrap();
        assert_eq!(params.count("nodes"), 3);
        assert_eq!(params.rate("rate"), 0.5);
        assert_eq!(params.duration("duration"), Duration::from_secs(90));
        assert_eq!(params.choice("fault"), "kill");
        let text = params.as_text();
        assert_eq!(Params::parse("s", &declared(), &text).unwrap(), params);
    }

    #[test]
    fn unknown_ill_typed_out_of_range_and_repeated_parameters_are_refused_clearly() {
        let err = |given: &[(&str, &str)]| {
            Params::parse("s", &declared(), given)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[("wallets", "4")]),
            "scenario `s` has no parameter `wallets`; it takes: nodes, rate, duration, fault"
        );
        assert_eq!(
            err(&[("nodes", "four")]),
            "parameter `nodes` of `s` must be a whole number, at least 3; got `four`"
        );
        assert_eq!(
            err(&[("nodes", "2")]),
            "parameter `nodes` of `s` must be a whole number, at least 3; got `2`"
        );
        assert!(err(&[("rate", "-1")]).contains("must be a number above 0"));
        let bounded = [Param::count("rate", 20, "writes per second")
            .at_least(1)
            .at_most(1000)];
        assert_eq!(
            Params::parse("s", &bounded, &[("rate", "99999999999")])
                .unwrap_err()
                .to_string(),
            "parameter `rate` of `s` must be a whole number from 1 to 1000; got `99999999999`"
        );
        assert!(err(&[("duration", "soon")]).contains("must be a duration such as 15s or 2m"));
        assert!(err(&[("fault", "crash")]).contains("must be one of kill, restart, pause"));
        assert_eq!(
            err(&[("rate", "1"), ("rate", "2")]),
            "parameter `rate` of `s` is set twice"
        );
    }
}
