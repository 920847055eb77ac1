//! The Kubernetes deployer from the CLI (cargo feature `k8s`): runs on a
//! cluster, its dry run, the runner inside the cluster, attach mode, the
//! partition probe and the sweep of what killed runs left there.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tf_core::catalog::AnyScenario;
use tf_core::report::RunReport;
use tf_core::scenario::Deployer;
use tf_k8s::{K8sAttach, K8sDeployer};

use crate::{RunArgs, given};

/// Whether this is the runner inside a cluster (its pod says so): it
/// prints its results, and its log, for the launcher to copy out.
pub(crate) fn in_cluster() -> bool {
    std::env::var_os(tf_k8s::runner::RESULTS_ENV).is_some()
}

/// What `--deployer k8s` comes to: a deployer to run on, or a run that is
/// already over (a dry run, the runner in the cluster).
pub(crate) enum Outcome {
    Deploy(Box<dyn Deployer>),
    Done(bool),
}

/// The k8s deployer `args` ask for, or the run they ask for done.
pub(crate) async fn deployer(
    scenario: &dyn AnyScenario,
    args: &RunArgs,
) -> anyhow::Result<Outcome> {
    if args.dry_run {
        return k8s_dry_run(scenario, args).map(Outcome::Done);
    }
    if args.runner_in_cluster {
        return k8s_launch(scenario, args).await.map(Outcome::Done);
    }
    if let Some(selector) = &args.attach {
        return Ok(Outcome::Deploy(Box::new(K8sAttach::new(
            args.namespace.clone(),
            selector.clone(),
        ))));
    }
    let mut deployer = K8sDeployer::new();
    if let Some(image) = &args.image {
        deployer = deployer.with_image(image);
    }
    if args.no_log_streams {
        deployer = deployer.with_log_streams(false);
    }
    if let Some(host) = &args.node_port_host {
        deployer = deployer.with_access(tf_k8s::Access::NodePort { host: host.clone() });
    }
    if let Some(grace) = args.stop_grace {
        deployer = deployer.with_stop_grace(grace);
    }
    Ok(Outcome::Deploy(Box::new(deployer)))
}

/// The runner in a cluster hands its results to the launcher this way.
pub(crate) fn hand_over_results(report: &RunReport) {
    if in_cluster() {
        if let Some(dir) = &report.run_dir {
            tf_k8s::runner::print_results(dir);
        }
    }
}

/// Sweeps what k8s runs left on the cluster the kubeconfig names (when
/// there is one) and prints it; whether nothing was left unremoved.
pub(crate) async fn sweep(include_live: bool) -> anyhow::Result<bool> {
    if !tf_k8s::api::configured().await {
        println!("k8s: no Kubernetes configuration, nothing to sweep there");
        return Ok(true);
    }
    let client = tf_k8s::api::connect().await?;
    let k8s = tf_k8s::sweep::sweep(&client, include_live).await?;
    print!("{k8s}");
    Ok(k8s.problems.is_empty())
}

/// This build can give the runner's own image the k8s deployer.
pub(crate) fn check_runner_image() -> anyhow::Result<()> {
    Ok(())
}

/// `scenarios probe`: whether `address` can be reached within `within`
/// seconds, after `control` was: exit 0 if not (the cut holds),
/// `tf_k8s::REACHED` if so, `tf_k8s::BLIND` if `control` could not be
/// reached, 2 if a name does not resolve.
pub(crate) fn probe(address: &str, control: Option<&str>, within: u64) -> ExitCode {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        eprintln!("error: cannot start the async runtime");
        return ExitCode::from(2);
    };
    let limit = Duration::from_secs(within);
    rt.block_on(async {
        if let Some(control) = control {
            match reach(control, limit).await {
                Err(code) => return code,
                Ok(Ok(())) => println!("reached {control}, on the probe's own side"),
                Ok(Err(why)) => {
                    println!("could not reach {control}, on the probe's own side: {why}");
                    return ExitCode::from(tf_k8s::BLIND as u8);
                }
            }
        }
        match reach(address, limit).await {
            Err(code) => code,
            Ok(Ok(())) => {
                println!("reached {address}");
                ExitCode::from(tf_k8s::REACHED as u8)
            }
            Ok(Err(why)) => {
                println!("could not reach {address}: {why}");
                ExitCode::SUCCESS
            }
        }
    })
}

/// Connects to `address` within `limit`: whether it could (and why not),
/// or exit code 2 when the name does not resolve.
async fn reach(address: &str, limit: Duration) -> Result<Result<(), String>, ExitCode> {
    let resolved = match tokio::net::lookup_host(address).await {
        Ok(mut addresses) => addresses.next(),
        Err(error) => {
            eprintln!("error: cannot resolve {address}: {error}");
            return Err(ExitCode::from(2));
        }
    };
    let Some(target) = resolved else {
        eprintln!("error: {address} resolves to nothing");
        return Err(ExitCode::from(2));
    };
    Ok(
        match tokio::time::timeout(limit, tokio::net::TcpStream::connect(target)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(format!("{target}: {error}")),
            Err(_) => Err(format!("{target}: no answer within {limit:?}")),
        },
    )
}

/// The runner of `scenario` inside the cluster: its objects, with the same
/// scenario and parameters, on the given or default images.
fn runner_plan(scenario: &dyn AnyScenario, args: &RunArgs) -> anyhow::Result<tf_k8s::Plan> {
    let request = scenario.deployment();
    let first = request.groups.first().map(|g| g.binary.name.as_str());
    let node_image = args
        .image
        .clone()
        .unwrap_or_else(|| tf_k8s::default_image(first.unwrap_or_default()));
    let runner_image = args.runner_image.clone().unwrap_or_else(|| {
        std::env::var("TF_K8S_RUNNER_IMAGE")
            .ok()
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| format!("{}:latest", tf_core::deployer_kit::image_name("scenarios")))
    });
    let mut inner = vec![
        "run".to_owned(),
        args.scenario.clone(),
        "--deployer".into(),
        "k8s".into(),
        "--image".into(),
        node_image.clone(),
    ];
    for (name, value) in given(args)? {
        inner.push("--set".into());
        inner.push(format!("{name}={value}"));
    }
    if args.no_log_streams {
        inner.push("--no-log-streams".into());
    }
    let settings = tf_k8s::K8sSettings::for_image(&node_image);
    Ok(tf_k8s::runner::runner_plan(
        &tf_core::deployer_kit::run_id(),
        &runner_image,
        &node_image,
        &inner,
        &settings,
    ))
}

/// Runs `scenario` with the runner inside the cluster and copies its log
/// and results into the local run directory.
async fn k8s_launch(scenario: &dyn AnyScenario, args: &RunArgs) -> anyhow::Result<bool> {
    let plan = runner_plan(scenario, args)?;
    let dir = tf_core::deployer_kit::run_dir(
        args.run_dir.as_deref(),
        &tf_core::deployer_kit::default_runs_root(),
        &format!("{}-k8s-runner", args.scenario),
    )?;
    let client = tf_k8s::api::connect().await?;
    println!(
        "runner in the cluster: namespace {}, log and results into {}",
        plan.namespace,
        dir.display()
    );
    let launched = tf_k8s::runner::launch(&client, &plan, &dir, Duration::from_secs(300)).await?;
    for file in &launched.copied {
        println!("  {}", file.display());
    }
    Ok(launched.code == 0)
}

/// Writes the objects the k8s deployer would create for `scenario`, and
/// creates nothing.
fn k8s_dry_run(scenario: &dyn AnyScenario, args: &RunArgs) -> anyhow::Result<bool> {
    let request = scenario.deployment();
    let mut deployer = tf_k8s::K8sDeployer::new();
    if let Some(image) = &args.image {
        deployer = deployer.with_image(image);
    }
    let run = tf_core::deployer_kit::run_id();
    let settings = deployer.settings_for(&request);
    let image = std::iter::once(settings.image.clone())
        .chain(
            settings
                .group_images
                .iter()
                .map(|(g, i)| format!("{i} for {g}")),
        )
        .collect::<Vec<_>>()
        .join(", ");
    let plan = tf_k8s::plan(&request, &run, &settings)?;
    let dir = tf_core::deployer_kit::run_dir(
        args.run_dir.as_deref(),
        &tf_core::deployer_kit::default_runs_root(),
        &format!("{}-k8s-dry-run", request.scenario),
    )?;
    let mut written = plan.write(&dir)?;
    if args.node_port_host.is_some() {
        let mut yaml = String::new();
        for node in &plan.nodes {
            yaml.push_str("---\n");
            yaml.push_str(&serde_yaml_service(&tf_k8s::node_port_service(
                &request, &plan.run, node,
            ))?);
        }
        let path = dir.join("k8s").join("node-ports.yaml");
        std::fs::write(&path, yaml).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    if args.runner_in_cluster {
        let runner = runner_plan(scenario, args)?;
        let path = dir.join("k8s").join("runner.yaml");
        std::fs::write(&path, runner.to_yaml()?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    println!(
        "dry run: {} objects of run {} (namespace {}, image {image}) written, nothing created:",
        plan.objects.len(),
        plan.run,
        plan.namespace
    );
    for file in &written {
        println!("  {}", file.display());
    }
    Ok(true)
}

/// A NodePort Service as YAML.
fn serde_yaml_service(service: &tf_k8s::Service) -> anyhow::Result<String> {
    Ok(tf_k8s::Object::Service(service.clone()).to_yaml()?)
}
