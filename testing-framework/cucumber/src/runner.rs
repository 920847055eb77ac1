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
use crate::suggest::Catalog;
use crate::undefined::Suggesting;
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
    /// Steps no definition matches, each with its feature file and line
    /// and the closest defined steps of the run (printed under the step
    /// and again after the run's summary).
    pub undefined: Vec<String>,
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
            // libtest's threads are cucumber's concurrent scenarios.
            "--test-threads" => {
                out.push("--concurrency".into());
                out.extend(args.next());
            }
            _ if arg.starts_with("--test-threads=") => {
                out.push(arg.replacen("--test-threads=", "--concurrency=", 1));
            }
            "--format" | "--color" | "--skip" => {
                args.next();
            }
            _ if arg.starts_with("--format=")
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

/// Runs every feature of `options.features`, printing the run on stdout.
pub async fn run_features(options: RunnerOptions) -> io::Result<FeatureRun> {
    run_features_to(options, io::stdout).await
}

/// Runs every feature of `options.features`, printing the run on what
/// `output` opens.
async fn run_features_to<O: io::Write>(
    options: RunnerOptions,
    output: impl Fn() -> O,
) -> io::Result<FeatureRun> {
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

    // A step no definition matches is told with the closest steps of this
    // run, under the step and after the summary.
    let catalog = Arc::new(Catalog::new(&options.steps));
    let undefined = Arc::new(Mutex::new(Vec::new()));
    let mut cucumber = cucumber::Cucumber::<TfWorld, _, PathBuf, _, _>::new()
        .with_writer(
            Suggesting::new(
                writer::Basic::raw(output(), Coloring::Never, Verbosity::ShowWorldAndDocString),
                catalog,
                Arc::clone(&undefined),
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
        // Four clusters at a time (cucumber's `--concurrency N` sets
        // another number): a scenario mostly waits on observed state, so
        // four take about a quarter of the time on two cores. `@serial`
        // scenarios run alone.
        .max_concurrent_scenarios(4)
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
    let mut messages: Vec<String> = Vec::new();
    for message in std::mem::take(&mut *undefined.lock().unwrap_or_else(|e| e.into_inner())) {
        // A background's step is told once, not once per scenario.
        if !messages.contains(&message) {
            messages.push(message);
        }
    }
    if !messages.is_empty() {
        let mut out = output();
        let mut summary = match messages.len() {
            1 => "1 step matches no step definition:\n".to_owned(),
            n => format!("{n} steps match no step definition:\n"),
        };
        for message in &messages {
            summary.push_str(&format!("- {}\n", message.replace('\n', "\n  ")));
        }
        out.write_all(summary.as_bytes())
            .and_then(|()| out.flush())?;
    }
    Ok(FeatureRun {
        failed,
        junit,
        json,
        left_out: std::mem::take(&mut *left_out.lock().unwrap_or_else(|e| e.into_inner())),
        undefined: messages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_flags_are_dropped_or_translated_and_cucumber_ones_kept() {
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
            args(&["bin", "--concurrency", "1", "--tags", "@raft"])
        );
        assert_eq!(
            cucumber_args(args(&["bin", "--test-threads=2"])),
            args(&["bin", "--concurrency=2"])
        );
    }

    #[test]
    fn names_become_directory_names() {
        assert_eq!(slug("Raft: leader failover!"), "raft-leader-failover");
    }

    /// A directory of its own under the system's temporary one, removed
    /// when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let dir = std::env::temp_dir()
                .join(format!("tf-cucumber-{name}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// What the run printed.
    #[derive(Clone, Default)]
    struct Printed(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Printed {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Printed {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        }
    }

    #[tokio::test]
    async fn a_typo_in_a_step_is_told_with_its_line_and_the_closest_steps() {
        let dir = TempDir::new("typo");
        let feature = dir.0.join("typo.feature");
        // The typo is the scenario's first step: no cluster is started.
        std::fs::write(
            &feature,
            "Feature: Typo\n\
             \n\
             \x20 Scenario: A misspelled node step\n\
             \x20   When node-1 is stoped\n\
             \x20   Then the cluster has 3 nodes\n",
        )
        .expect("the feature is written");
        let printed = Printed::default();
        let run = run_features_to(
            RunnerOptions {
                features: feature.clone(),
                steps: crate::generic::steps(),
                reports: dir.0.join("reports"),
                runs_root: dir.0.join("runs"),
                args: vec!["test".into()],
                compose: Err("not in this test".into()),
            },
            || printed.clone(),
        )
        .await
        .expect("the run runs");
        let printed = printed.text();

        assert!(run.failed, "an undefined step fails the run\n{printed}");
        assert_eq!(run.undefined.len(), 1, "{:?}\n{printed}", run.undefined);
        let told = &run.undefined[0];
        let place = format!("{}:4", crate::suggest::shown_path(Some(&feature), ""));
        assert!(told.contains(&place), "{told}");
        assert!(told.contains("`When node-1 is stoped`"), "{told}");
        assert!(
            told.contains("When <name> is|are stopped|started|restarted|killed|paused|resumed  (as `When node-1 is stopped`)"),
            "{told}"
        );
        // The first suggestion is the intended step.
        let first = told.lines().nth(1).unwrap_or_default();
        assert!(first.contains("(as `When node-1 is stopped`)"), "{told}");
        // Under the step's failure, and again after the summary.
        let under_step = printed
            .find("Step doesn't match any function")
            .expect("cucumber says the step is undefined");
        let suggestion = "(as `When node-1 is stopped`)";
        assert!(
            printed[under_step..].matches(suggestion).count() == 2,
            "{printed}"
        );
        assert!(
            printed.contains("1 step matches no step definition:"),
            "{printed}"
        );
    }
}
