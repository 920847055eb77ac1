//! Runs feature files: the generic steps and an app's, one scenario at a
//! time (clusters share two cores), every cluster cleaned up after its
//! scenario, and JUnit XML and cucumber JSON written from the same run.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cucumber::WriterExt as _;
use cucumber::cli::{Opts, Parser as _};
use cucumber::tag::Ext as _;
use cucumber::writer::{self, Coloring, Verbosity};
use futures::FutureExt as _;

use crate::Steps;
use crate::world::{DeployerKind, TfWorld};

/// How to run.
pub struct RunnerOptions {
    /// A feature file, or a directory of them.
    pub features: PathBuf,
    /// The steps: [`crate::generic::steps`] and the apps'.
    pub steps: Steps,
    /// Where `junit.xml` and `cucumber.json` go.
    pub reports: PathBuf,
    /// Where each scenario's run directories go.
    pub runs_root: PathBuf,
    /// Command-line arguments for cucumber (`--tags @raft`, `--name
    /// regex`); libtest's own flags are dropped.
    pub args: Vec<String>,
    /// Whether `@compose` scenarios run: `Err(why)` leaves them out, and
    /// the run says so.
    pub compose: Result<(), String>,
}

/// What a run did.
#[derive(Debug)]
pub struct FeatureRun {
    /// Whether any scenario failed, any step was undefined, skipped or
    /// ambiguous, any hook failed, or a feature did not parse.
    pub failed: bool,
    /// The JUnit XML report.
    pub junit: PathBuf,
    /// The cucumber JSON report.
    pub json: PathBuf,
    /// Scenarios left out because their deployer is not available, with why.
    pub left_out: Vec<String>,
}

/// libtest's flags that `cargo test` may pass; cucumber does not know them.
fn cucumber_args(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = args.into_iter();
    out.extend(args.next());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--nocapture" | "--quiet" | "-q" | "--show-output" | "--exact" | "--ignored"
            | "--include-ignored" => {}
            "--test-threads" | "--format" | "--color" | "--skip" => {
                args.next();
            }
            _ if arg.starts_with("--test-threads=")
                || arg.starts_with("--format=")
                || arg.starts_with("--color=")
                || arg.starts_with("--skip=") => {}
            // A libtest name filter (`cargo test --workspace leader`) picks
            // the scenarios whose name holds it.
            _ if !arg.starts_with('-')
                && out
                    .last()
                    .is_none_or(|prev: &String| !prev.starts_with('-') || prev == &out[0]) =>
            {
                out.push("--name".into());
                out.push(regex::escape(&arg));
            }
            _ => out.push(arg),
        }
    }
    out
}

fn create(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    File::create(path)
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(60).collect()
}

fn tags<'a>(
    feature: &'a cucumber::gherkin::Feature,
    scenario: &'a cucumber::gherkin::Scenario,
) -> Vec<String> {
    feature
        .tags
        .iter()
        .chain(&scenario.tags)
        .map(|t| t.trim_start_matches('@').to_owned())
        .collect()
}

/// Runs every feature of `options.features`.
pub async fn run_features(options: RunnerOptions) -> io::Result<FeatureRun> {
    let junit = options.reports.join("junit.xml");
    let json = options.reports.join("cucumber.json");
    let junit_file = create(&junit)?;
    let json_file = create(&json)?;
    let mut opts =
        Opts::<_, _, _, cucumber::cli::Empty>::try_parse_from(cucumber_args(options.args))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    // Cucumber drops a run's own filter when `--tags` or `--name` is given;
    // they are applied here instead, together with the deployer check.
    let tags_filter = opts.tags_filter.take();
    let name_filter = opts.re_filter.take();

    let mut cucumber = cucumber::Cucumber::<TfWorld, _, PathBuf, _, _>::new()
        .with_writer(
            writer::Basic::raw(
                io::stdout(),
                Coloring::Never,
                Verbosity::ShowWorldAndDocString,
            )
            .summarized()
            .tee::<TfWorld, _>(writer::JUnit::for_tee(
                junit_file,
                Verbosity::ShowWorldAndDocString,
            ))
            .tee::<TfWorld, _>(writer::Json::for_tee(json_file))
            .normalized(),
        )
        .fail_on_skipped()
        .max_concurrent_scenarios(1)
        .with_cli(opts);
    // A step is found whatever its keyword: `And within 20 seconds ...`
    // after a `Given` is the same wait as after a `Then`.
    for (_, regex, step) in options.steps.steps {
        cucumber = cucumber
            .given(regex.clone(), step)
            .when(regex.clone(), step)
            .then(regex, step);
    }
    let runs_root = options.runs_root.clone();
    let cucumber = cucumber
        .before(move |feature, _, scenario, world| {
            let runs_root = runs_root.clone();
            async move {
                world.name = format!("{}--{}", slug(&feature.name), slug(&scenario.name));
                world.runs_root = runs_root;
                let tags = tags(feature, scenario);
                world.clocks = tags.iter().any(|t| t == "clocks");
                match DeployerKind::from_tags(&tags) {
                    Ok(kind) => world.deployer = kind,
                    Err(error) => world.setup_error = Some(error),
                }
            }
            .boxed_local()
        })
        .after(|_, _, _, _, world| {
            async move {
                if let Some(world) = world {
                    let problems = world.cleanup().await;
                    if !problems.is_empty() {
                        panic!(
                            "cleanup after the scenario left: {}\n(`cargo run -p scenarios -- cleanup` removes leftovers)",
                            problems.join("; ")
                        );
                    }
                }
            }
            .boxed_local()
        });

    let compose = options.compose.clone();
    let left_out = Arc::new(Mutex::new(Vec::new()));
    let noted = std::sync::Arc::clone(&left_out);
    let writer = cucumber
        .filter_run(options.features.clone(), move |feature, rule, scenario| {
            let selected = match (&name_filter, &tags_filter) {
                (Some(name), _) => name.is_match(&scenario.name),
                (None, Some(expression)) => expression.eval(
                    feature
                        .tags
                        .iter()
                        .chain(rule.iter().flat_map(|r| &r.tags))
                        .chain(&scenario.tags),
                ),
                (None, None) => true,
            };
            if !selected {
                return false;
            }
            let wants_compose = tags(feature, scenario).iter().any(|t| t == "compose");
            match (&compose, wants_compose) {
                (Err(why), true) => {
                    noted
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("{}: {} ({why})", feature.name, scenario.name));
                    false
                }
                _ => true,
            }
        })
        .await;
    let failed = cucumber::writer::Stats::execution_has_failed(&writer);
    Ok(FeatureRun {
        failed,
        junit,
        json,
        left_out: std::mem::take(&mut *left_out.lock().unwrap_or_else(|e| e.into_inner())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_flags_are_dropped_and_cucumber_ones_kept() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            cucumber_args(args(&[
                "bin",
                "--nocapture",
                "--test-threads",
                "1",
                "--tags",
                "@raft"
            ])),
            args(&["bin", "--tags", "@raft"])
        );
    }

    #[test]
    fn names_become_directory_names() {
        assert_eq!(slug("Raft: leader failover!"), "raft-leader-failover");
    }
}
