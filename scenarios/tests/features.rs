//! Runs every feature in `features/` (part of `cargo test --workspace --all-features`):
//! the generic steps and the Raft and chain apps' steps, four scenarios at
//! a time (`-- --concurrency 1` or `--test-threads 1`: one at a time). Undefined, skipped or ambiguous steps fail the run. JUnit XML and
//! the cucumber JSON report go to `target/tf-features/`.
//!
//! One feature or tag: `cargo test -p scenarios --test features --
//! --tags @raft` (or `--name "leader failover"`; `TF_FEATURES=features/x.feature`
//! runs one file). `@compose` scenarios need a Docker engine: without one
//! they are left out, and the run says so; `TF_REQUIRE_DOCKER=1` fails
//! instead.

use std::path::PathBuf;

use tf_core::deployer_kit::target_dir;
use tf_cucumber::{RunnerOptions, run_features};

fn main() {
    // `cargo test -- --list` lists tests; features are not listed one by one.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    // Relative to the workspace (cargo runs tests in the package's folder).
    let features = std::env::var_os("TF_FEATURES")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_relative() {
                workspace.join(p)
            } else {
                p
            }
        })
        .unwrap_or_else(|| workspace.join("features"));
    let out = target_dir().join("tf-features");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let required = std::env::var("TF_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    let compose = runtime.block_on(tf_compose::docker_available());
    if let (Err(why), true) = (&compose, required) {
        eprintln!("TF_REQUIRE_DOCKER=1 but the Docker engine is not usable: {why}");
        std::process::exit(1);
    }
    let images_before = match compose {
        Ok(()) => runtime.block_on(tf_compose::sweep::node_images()).ok(),
        Err(_) => None,
    };
    let steps = tf_cucumber::generic::steps()
        .and(openraft_kv_tf::steps::steps())
        .and(chain_tf::steps::steps());
    let run = runtime.block_on(run_features(RunnerOptions {
        features,
        steps,
        reports: out.clone(),
        runs_root: out.join("runs"),
        args: std::env::args().collect(),
        compose: compose.map_err(|why| format!("no Docker engine: {why}")),
    }));
    if let Some(before) = images_before {
        let problems = runtime.block_on(tf_compose::sweep::remove_images_built_since(&before));
        for problem in problems {
            eprintln!("image left: {problem}");
        }
    }
    match run {
        Ok(run) => {
            for scenario in &run.left_out {
                eprintln!("left out (shown here, not passed): {scenario}");
            }
            println!(
                "reports: {} and {}",
                run.junit.display(),
                run.json.display()
            );
            if run.failed {
                eprintln!(
                    "features failed; each failing step names its run directory (node logs, steps.log)"
                );
                std::process::exit(1);
            }
        }
        Err(error) => {
            eprintln!("the features could not run: {error}");
            std::process::exit(2);
        }
    }
}
