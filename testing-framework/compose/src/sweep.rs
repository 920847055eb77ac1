//! Removes what crashed runs left behind: containers, networks and images
//! labelled by the framework, found by label.

use std::collections::BTreeSet;
use std::fmt;

use bollard::query_parameters::{
    ListContainersOptions, ListImagesOptions, ListNetworksOptions, RemoveContainerOptions,
    RemoveImageOptions,
};
use tf_core::scenario::DeployError;

use crate::engine::{connect, describe, is_not_found};
use crate::labels;

/// What to sweep.
#[derive(Clone, Copy, Debug, Default)]
pub struct SweepOptions {
    /// Also runs whose runner is still alive on this machine (by default
    /// they are left alone: they are someone's run in progress).
    pub include_live: bool,
    /// Keep the node images (they make the next run start sooner). Without
    /// it, images no container uses are removed, except those built in the
    /// last 10 minutes (unless `include_live`).
    pub keep_images: bool,
}

/// What a sweep removed and left.
#[derive(Clone, Debug, Default)]
pub struct SweepReport {
    /// Containers removed (`name (run, node)`).
    pub containers: Vec<String>,
    /// Networks removed.
    pub networks: Vec<String>,
    /// Images removed.
    pub images: Vec<String>,
    /// Images built in the last few minutes, left for a run that may be
    /// about to use them (`--all` removes them too).
    pub recent_images: Vec<String>,
    /// Runs left alone because their runner is alive (`run (runner)`).
    pub live: Vec<String>,
    /// What could not be removed, and why.
    pub problems: Vec<String>,
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, what: &str, items: &[String]| -> fmt::Result {
            if items.is_empty() {
                writeln!(f, "{what}: none")
            } else {
                writeln!(f, "{what} ({}):", items.len())?;
                items.iter().try_for_each(|i| writeln!(f, "  - {i}"))
            }
        };
        list(f, "containers removed", &self.containers)?;
        list(f, "networks removed", &self.networks)?;
        list(f, "images removed", &self.images)?;
        if !self.recent_images.is_empty() {
            list(
                f,
                "images left alone (built in the last 10 minutes; --all removes them too)",
                &self.recent_images,
            )?;
        }
        if !self.live.is_empty() {
            list(
                f,
                "runs left alone (their runner is alive; --all removes them too)",
                &self.live,
            )?;
        }
        if !self.problems.is_empty() {
            list(f, "problems", &self.problems)?;
        }
        Ok(())
    }
}

/// The containers and networks of the run in `run_dir` that still exist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Container names.
    pub containers: Vec<String>,
    /// Network names.
    pub networks: Vec<String>,
}

impl Leftovers {
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty()
    }
}

/// What of the run in `run_dir` is still there, found by label.
pub async fn leftovers(run_dir: &std::path::Path) -> Result<Leftovers, DeployError> {
    let docker = connect().await?;
    let filter = labels::filter(labels::RUN_DIR, &run_dir.display().to_string());
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filter.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|e| DeployError::Other(format!("cannot list containers: {}", describe(&e))))?;
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filter),
        }))
        .await
        .map_err(|e| DeployError::Other(format!("cannot list networks: {}", describe(&e))))?;
    Ok(Leftovers {
        containers: containers
            .into_iter()
            .filter_map(|c| {
                c.names?
                    .first()
                    .map(|n| n.trim_start_matches('/').to_owned())
            })
            .collect(),
        networks: networks.into_iter().filter_map(|n| n.name).collect(),
    })
}

/// The tags of every node image the framework built that is still there.
pub async fn node_images() -> Result<Vec<String>, DeployError> {
    let docker = connect().await?;
    let images = docker
        .list_images(Some(ListImagesOptions {
            filters: Some(labels::filter(labels::MANAGED, "true")),
            ..Default::default()
        }))
        .await
        .map_err(|e| DeployError::Other(format!("cannot list images: {}", describe(&e))))?;
    Ok(images.into_iter().flat_map(|i| i.repo_tags).collect())
}

/// Removes the node images tagged `tags`; what could not be removed is
/// returned with why.
pub async fn remove_images(tags: &[String]) -> Result<Vec<String>, DeployError> {
    let docker = connect().await?;
    let mut problems = Vec::new();
    for tag in tags {
        match docker
            .remove_image(
                tag,
                Some(RemoveImageOptions {
                    force: false,
                    noprune: false,
                }),
                None,
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => problems.push(format!("image {tag}: {}", describe(&e))),
        }
    }
    Ok(problems)
}

/// Images younger than this are left by a sweep without `include_live`.
const RECENT_IMAGE_SECS: i64 = 600;

/// Whether the runner named by a [`labels::RUNNER`] value is alive: on this
/// host with its process still there. A runner on another host counts as
/// alive (this machine cannot tell).
fn runner_alive(runner: &str) -> bool {
    let Some((pid, host)) = runner.split_once('@') else {
        return false;
    };
    if host != labels::hostname() {
        return true;
    }
    pid.parse::<u32>()
        .is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes the containers and networks of every run whose runner is gone
/// (or of every run, with [`SweepOptions::include_live`]), then the node
/// images no container uses.
pub async fn sweep(options: SweepOptions) -> Result<SweepReport, DeployError> {
    let docker = connect().await?;
    let mut report = SweepReport::default();
    let mut live_runs = BTreeSet::new();
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(labels::filter(labels::MANAGED, "true")),
            ..Default::default()
        }))
        .await
        .map_err(|e| DeployError::Other(format!("cannot list containers: {}", describe(&e))))?;
    for container in containers {
        let label = |key: &str| {
            container
                .labels
                .as_ref()
                .and_then(|l| l.get(key).cloned())
                .unwrap_or_default()
        };
        let (run, runner) = (label(labels::RUN), label(labels::RUNNER));
        if !options.include_live && runner_alive(&runner) {
            live_runs.insert(format!("{run} (runner {runner})"));
            continue;
        }
        let name = container
            .names
            .as_ref()
            .and_then(|n| n.first().cloned())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned();
        let id = container.id.clone().unwrap_or_default();
        match docker
            .remove_container(
                &id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    link: false,
                }),
            )
            .await
        {
            Ok(()) => report
                .containers
                .push(format!("{name} (run {run}, {})", label(labels::NODE))),
            Err(e) if is_not_found(&e) => {}
            Err(e) => report
                .problems
                .push(format!("container {name}: {}", describe(&e))),
        }
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(labels::filter(labels::MANAGED, "true")),
        }))
        .await
        .map_err(|e| DeployError::Other(format!("cannot list networks: {}", describe(&e))))?;
    for network in networks {
        let label = |key: &str| {
            network
                .labels
                .as_ref()
                .and_then(|l| l.get(key).cloned())
                .unwrap_or_default()
        };
        let runner = label(labels::RUNNER);
        if !options.include_live && runner_alive(&runner) {
            live_runs.insert(format!("{} (runner {runner})", label(labels::RUN)));
            continue;
        }
        let name = network.name.clone().unwrap_or_default();
        match crate::network::remove(&docker, &name).await {
            Ok(()) => report.networks.push(name),
            Err(problem) => report.problems.push(problem),
        }
    }
    if !options.keep_images {
        let images = docker
            .list_images(Some(ListImagesOptions {
                filters: Some(labels::filter(labels::MANAGED, "true")),
                ..Default::default()
            }))
            .await
            .map_err(|e| DeployError::Other(format!("cannot list images: {}", describe(&e))))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(i64::MAX);
        for image in images {
            let name = image
                .repo_tags
                .first()
                .cloned()
                .unwrap_or_else(|| image.id.clone());
            // A run that has just built its image has no container yet to
            // keep it in use.
            if !options.include_live && now - image.created < RECENT_IMAGE_SECS {
                report.recent_images.push(name);
                continue;
            }
            match docker
                .remove_image(
                    &image.id,
                    Some(RemoveImageOptions {
                        force: false,
                        noprune: false,
                    }),
                    None,
                )
                .await
            {
                Ok(_) => report.images.push(name),
                // In use by a live run's container.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409, ..
                }) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => report
                    .problems
                    .push(format!("image {name}: {}", describe(&e))),
            }
        }
    }
    report.live = live_runs.into_iter().collect();
    Ok(report)
}
