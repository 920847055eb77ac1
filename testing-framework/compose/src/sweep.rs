//! Removes what crashed runs left behind: containers, networks and images
//! labelled by the framework, found by label.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use bollard::Docker;
use bollard::models::{ContainerSummary, ImageSummary, Network};
use bollard::query_parameters::{
    EventsOptions, ListContainersOptions, ListImagesOptions, ListNetworksOptions,
    RemoveImageOptions,
};
use futures::StreamExt;
use tf_core::scenario::deploy::DeployError;

use crate::engine::{connect, describe, is_not_found};
use crate::labels;
use crate::node::remove_container;

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
    leftovers_in(&connect().await?, run_dir).await
}

/// Waits, on the engine's events, until nothing of the run in `run_dir` is
/// left or `within` has passed; what is left then (empty: all gone).
pub async fn gone_within(
    run_dir: &std::path::Path,
    within: std::time::Duration,
) -> Result<Leftovers, DeployError> {
    let docker = connect().await?;
    let filters = HashMap::from([
        (
            "type".to_owned(),
            vec!["container".into(), "network".into()],
        ),
        ("event".to_owned(), vec!["destroy".into()]),
    ]);
    // Events from this second on: the stream connects when first polled,
    // after the first look, and the engine replays what came since.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut removals = docker.events(Some(EventsOptions {
        since: Some(since.to_string()),
        filters: Some(filters),
        ..Default::default()
    }));
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = leftovers_in(&docker, run_dir).await?;
        if left.is_empty() {
            return Ok(left);
        }
        match tokio::time::timeout_at(deadline, removals.next()).await {
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => {
                return Err(DeployError::Other(format!(
                    "the engine's events broke off: {}",
                    describe(&e)
                )));
            }
            Ok(None) | Err(_) => return leftovers_in(&docker, run_dir).await,
        }
    }
}

async fn leftovers_in(
    docker: &Docker,
    run_dir: &std::path::Path,
) -> Result<Leftovers, DeployError> {
    let filter = labels::filter(labels::RUN_DIR, &run_dir.display().to_string());
    Ok(Leftovers {
        containers: containers_labelled(docker, &filter)
            .await?
            .iter()
            .map(container_name)
            .collect(),
        networks: networks_labelled(docker, &filter)
            .await?
            .into_iter()
            .filter_map(|n| n.name)
            .collect(),
    })
}

/// Every node image the framework built that is still there, by its tags
/// (an image with none, left when a later build took its tag, by its ID).
pub async fn node_images() -> Result<Vec<String>, DeployError> {
    let docker = connect().await?;
    Ok(images_labelled(&docker)
        .await?
        .iter()
        .flat_map(image_names)
        .collect())
}

/// The names `image` can be removed by: its tags, or its ID when it has
/// none (the engine lists an untagged image as `<none>:<none>`, which it
/// does not accept back).
fn image_names(image: &ImageSummary) -> Vec<String> {
    let tags: Vec<String> = image
        .repo_tags
        .iter()
        .filter(|tag| tag.as_str() != "<none>:<none>")
        .cloned()
        .collect();
    if tags.is_empty() {
        vec![image.id.clone()]
    } else {
        tags
    }
}

/// Removes the node images named `tags` (tags or IDs); what could not be
/// removed is returned with why.
pub async fn remove_images(tags: &[String]) -> Result<Vec<String>, DeployError> {
    let docker = connect().await?;
    let mut problems = Vec::new();
    for tag in tags {
        match remove_image(&docker, tag).await {
            Ok(Removal::Removed | Removal::Gone) => {}
            Ok(Removal::InUse(why)) | Err(why) => problems.push(format!("image {tag}: {why}")),
        }
    }
    Ok(problems)
}

/// Removes the node images that are here now but were not in `before`
/// (the tags [`node_images`] gave at the start of a test run): a test run
/// leaves the images it found and takes away the ones it built. What could
/// not be removed is returned with why.
pub async fn remove_images_built_since(before: &[String]) -> Vec<String> {
    let built: Vec<String> = match node_images().await {
        Ok(now) => now.into_iter().filter(|t| !before.contains(t)).collect(),
        Err(error) => return vec![error.to_string()],
    };
    match remove_images(&built).await {
        Ok(problems) => problems,
        Err(error) => vec![error.to_string()],
    }
}

/// Images younger than this are left by a sweep without `include_live`.
const RECENT_IMAGE_SECS: i64 = 600;

/// Removes the containers and networks of every run whose runner is gone
/// (or of every run, with [`SweepOptions::include_live`]), then the node
/// images no container uses.
pub async fn sweep(options: SweepOptions) -> Result<SweepReport, DeployError> {
    let docker = connect().await?;
    let mut report = SweepReport::default();
    let mut live_runs = BTreeSet::new();
    let managed = labels::filter(labels::MANAGED, "true");
    for container in containers_labelled(&docker, &managed).await? {
        let label = |key| label(&container.labels, key);
        let (run, runner) = (label(labels::RUN), label(labels::RUNNER));
        if !options.include_live && tf_core::deployer_kit::runner_alive(&runner) {
            live_runs.insert(format!("{run} (runner {runner})"));
            continue;
        }
        let name = container_name(&container);
        let id = container.id.clone().unwrap_or_default();
        // By name where it has one, so that a problem names it.
        let target = if name.is_empty() { &id } else { &name };
        match remove_container(&docker, target).await {
            Ok(true) => report
                .containers
                .push(format!("{name} (run {run}, {})", what_of(&container))),
            Ok(false) => {}
            Err(problem) => report.problems.push(problem),
        }
    }
    for network in networks_labelled(&docker, &managed).await? {
        let runner = label(&network.labels, labels::RUNNER);
        if !options.include_live && tf_core::deployer_kit::runner_alive(&runner) {
            let run = label(&network.labels, labels::RUN);
            live_runs.insert(format!("{run} (runner {runner})"));
            continue;
        }
        let name = network.name.clone().unwrap_or_default();
        match crate::network::remove(&docker, &name).await {
            Ok(()) => report.networks.push(name),
            Err(problem) => report.problems.push(problem),
        }
    }
    if !options.keep_images {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(i64::MAX);
        for image in images_labelled(&docker).await? {
            let name = image_names(&image).swap_remove(0);
            // A run that has just built its image has no container yet to
            // keep it in use.
            if !options.include_live && now - image.created < RECENT_IMAGE_SECS {
                report.recent_images.push(name);
                continue;
            }
            match remove_image(&docker, &image.id).await {
                Ok(Removal::Removed) => report.images.push(name),
                // In use by a live run's container, or gone meanwhile.
                Ok(Removal::InUse(_) | Removal::Gone) => {}
                Err(problem) => report.problems.push(format!("image {name}: {problem}")),
            }
        }
    }
    report.live = live_runs.into_iter().collect();
    Ok(report)
}

/// What removing a run's containers and networks did.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunRemoval {
    /// What was removed (`container tf-ab12-node-0`, `network ...`).
    pub(crate) removed: Vec<String>,
    /// What could not be, and why.
    pub(crate) problems: Vec<String>,
}

/// Removes run `run`'s containers and networks, found by label, all but
/// its reaper: the link fault helpers first (they live in their nodes'
/// network namespaces), then the nodes, each batch at once, then the
/// networks. Cleanup, drop and the reaper all remove a run this way.
pub(crate) async fn remove_run(docker: &Docker, run: &str) -> RunRemoval {
    let of_run = labels::filter(labels::RUN, run);
    let mut removal = RunRemoval::default();
    let containers = match containers_labelled(docker, &of_run).await {
        Ok(containers) => containers,
        Err(error) => {
            removal.problems.push(error.to_string());
            return removal;
        }
    };
    let role = |c: &ContainerSummary| label(&c.labels, labels::ROLE);
    let (helpers, nodes): (Vec<_>, Vec<_>) = containers
        .iter()
        .filter(|c| role(c) != crate::reaper::ROLE)
        .partition(|c| !role(c).is_empty());
    for batch in [helpers, nodes] {
        let removals = batch.into_iter().map(|container| async move {
            let name = container_name(container);
            (remove_container(docker, &name).await, name)
        });
        for (removed, name) in futures::future::join_all(removals).await {
            match removed {
                Ok(true) => removal.removed.push(format!("container {name}")),
                Ok(false) => {}
                Err(problem) => removal.problems.push(problem),
            }
        }
    }
    match networks_labelled(docker, &of_run).await {
        Ok(networks) => {
            for name in networks.into_iter().filter_map(|n| n.name) {
                match crate::network::remove(docker, &name).await {
                    Ok(()) => removal.removed.push(format!("network {name}")),
                    Err(problem) => removal.problems.push(problem),
                }
            }
        }
        Err(error) => removal.problems.push(error.to_string()),
    }
    removal
}

/// A label's value, or empty.
fn label(labels: &Option<HashMap<String, String>>, key: &str) -> String {
    labels
        .as_ref()
        .and_then(|l| l.get(key).cloned())
        .unwrap_or_default()
}

/// What a container is to its run: its node (`node-1`), else its role
/// (`reaper`).
fn what_of(container: &ContainerSummary) -> String {
    let node = label(&container.labels, labels::NODE);
    match label(&container.labels, labels::ROLE) {
        role if node.is_empty() => role,
        role if role.is_empty() => node,
        role => format!("{node} {role}"),
    }
}

/// A container's name, without the engine's leading `/`.
fn container_name(container: &ContainerSummary) -> String {
    container
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_owned())
        .unwrap_or_default()
}

/// Every container (running or not) matching `filter`.
async fn containers_labelled(
    docker: &Docker,
    filter: &HashMap<String, Vec<String>>,
) -> Result<Vec<ContainerSummary>, DeployError> {
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filter.clone()),
            ..Default::default()
        }))
        .await
        .map_err(|e| DeployError::Other(format!("cannot list containers: {}", describe(&e))))
}

/// Every network matching `filter`.
async fn networks_labelled(
    docker: &Docker,
    filter: &HashMap<String, Vec<String>>,
) -> Result<Vec<Network>, DeployError> {
    docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filter.clone()),
        }))
        .await
        .map_err(|e| DeployError::Other(format!("cannot list networks: {}", describe(&e))))
}

/// Every node image the framework built.
async fn images_labelled(docker: &Docker) -> Result<Vec<ImageSummary>, DeployError> {
    docker
        .list_images(Some(ListImagesOptions {
            filters: Some(labels::filter(labels::MANAGED, "true")),
            ..Default::default()
        }))
        .await
        .map_err(|e| DeployError::Other(format!("cannot list images: {}", describe(&e))))
}

/// What removing an image did.
enum Removal {
    Removed,
    /// It was not there (any more).
    Gone,
    /// A container uses it (the engine's words).
    InUse(String),
}

/// Removes an image unless a container uses it.
async fn remove_image(docker: &Docker, image: &str) -> Result<Removal, String> {
    let options = RemoveImageOptions {
        force: false,
        noprune: false,
    };
    match docker.remove_image(image, Some(options), None).await {
        Ok(_) => Ok(Removal::Removed),
        Err(
            e @ bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            },
        ) => Ok(Removal::InUse(describe(&e))),
        Err(e) if is_not_found(&e) => Ok(Removal::Gone),
        Err(e) => Err(describe(&e)),
    }
}
