//! One Cucumber scenario's world.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use tf_core::fault::{LinkFault, Links};
use tf_core::manual::{GroupOf, ManualCluster, ManualError};
use tf_core::scenario::{Application, Deployer};

use crate::cluster::AnyCluster;

/// Which deployer a scenario's clusters run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeployerKind {
    /// Local processes (the default, tag `@local`).
    #[default]
    Local,
    /// Containers through the Docker API (tag `@compose`).
    Compose,
    /// Pods on the cluster the kubeconfig names (tag `@k8s`).
    K8s,
}

impl DeployerKind {
    /// From a scenario's tags (its own and its feature's), else
    /// `TF_DEPLOYER` (`local`, `compose`, `k8s`), else local.
    pub fn from_tags<'a>(tags: impl IntoIterator<Item = &'a String>) -> Result<Self, String> {
        let mut chosen = None;
        for tag in tags {
            match tag.as_str() {
                "compose" => chosen = Some(DeployerKind::Compose),
                "k8s" => chosen = Some(DeployerKind::K8s),
                "local" => chosen = Some(DeployerKind::Local),
                _ => {}
            }
        }
        match chosen {
            Some(kind) => Ok(kind),
            None => Self::from_env(),
        }
    }

    fn from_env() -> Result<Self, String> {
        match std::env::var("TF_DEPLOYER").ok().as_deref() {
            None | Some("") | Some("local") => Ok(DeployerKind::Local),
            Some("compose") => Ok(DeployerKind::Compose),
            Some("k8s") => Ok(DeployerKind::K8s),
            Some(other) => Err(format!(
                "TF_DEPLOYER=`{other}` is not a deployer; use `local`, `compose` or `k8s`"
            )),
        }
    }

    fn deployer(self, runs_root: PathBuf) -> Box<dyn Deployer> {
        match self {
            DeployerKind::Local => {
                Box::new(tf_local::LocalDeployer::new().with_runs_root(runs_root))
            }
            DeployerKind::Compose => {
                Box::new(tf_compose::ComposeDeployer::new().with_runs_root(runs_root))
            }
            DeployerKind::K8s => Box::new(tf_k8s::K8sDeployer::new().with_runs_root(runs_root)),
        }
    }
}

/// A Cucumber scenario's world: where its clusters run, the cluster its
/// generic steps act on, other clusters it deployed, and app state.
#[derive(Default)]
pub struct TfWorld {
    /// Where clusters run.
    pub deployer: DeployerKind,
    /// `<feature>/<scenario>`, named for the run directories.
    pub name: String,
    /// Where this scenario's run directories go.
    pub runs_root: PathBuf,
    cluster: Option<Box<dyn AnyCluster>>,
    others: Vec<(String, Box<dyn AnyCluster>)>,
    state: HashMap<TypeId, Box<dyn Any>>,
    /// Set when the scenario could not be set up (a bad tag).
    pub(crate) setup_error: Option<String>,
    /// Nodes start under a clock that steps can set off (tag `@clocks`).
    pub clocks: bool,
    /// Link faults in force, until `the links are restored`.
    impairments: Vec<u64>,
}

impl fmt::Debug for TfWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TfWorld")
            .field("deployer", &self.deployer)
            .field("name", &self.name)
            .field("nodes", &self.cluster.as_ref().map(|c| c.nodes()))
            .field(
                "run_dir",
                &self.cluster.as_ref().map(|c| c.run_dir().to_owned()),
            )
            .finish_non_exhaustive()
    }
}

impl cucumber::World for TfWorld {
    type Error = std::convert::Infallible;

    async fn new() -> Result<Self, Self::Error> {
        Ok(TfWorld::default())
    }
}

impl TfWorld {
    /// Deploys the scenario's cluster: `nodes` nodes of `app` on its
    /// deployer (zero: a cluster to grow). The generic steps act on it.
    pub async fn start<A: Application>(
        &mut self,
        app: A,
        nodes: usize,
    ) -> Result<&mut ManualCluster<A>, ManualError> {
        self.can_start_cluster()?;
        let cluster = self.deploy(app, "cluster", nodes).await?;
        self.cluster = Some(Box::new(cluster));
        Ok(self.app_mut::<A>().expect("just started"))
    }

    /// Refuses a second cluster for the scenario.
    fn can_start_cluster(&self) -> Result<(), ManualError> {
        if self.cluster.is_some() {
            return Err(ManualError::Invalid(
                "this scenario has its cluster already; start it once (in a Given step)".into(),
            ));
        }
        Ok(())
    }

    /// Deploys the scenario's cluster as `groups` of one app type (each
    /// with its own settings: validators and RPC nodes), each group after
    /// the ones it waits for. The generic steps act on it; its nodes are
    /// named after their groups (`validator-0`, `rpc-1`).
    pub async fn start_groups<A: Application>(
        &mut self,
        groups: Vec<GroupOf<A>>,
    ) -> Result<&mut ManualCluster<A>, ManualError> {
        self.can_start_cluster()?;
        if let Some(error) = &self.setup_error {
            return Err(ManualError::Invalid(error.clone()));
        }
        let deployer = self.deployer.deployer(self.runs_root.clone());
        let name = format!("{}-cluster", self.name);
        let cluster = ManualCluster::start_groups(&*deployer, &name, groups, self.clocks).await?;
        self.cluster = Some(Box::new(cluster));
        Ok(self.app_mut::<A>().expect("just started"))
    }

    /// Deploys another cluster (a "public" network the scenario attaches
    /// to), kept under `role` and cleaned up with the scenario.
    pub async fn start_other<A: Application>(
        &mut self,
        role: &str,
        app: A,
        nodes: usize,
    ) -> Result<&mut ManualCluster<A>, ManualError> {
        if self.others.iter().any(|(r, _)| r == role) {
            return Err(ManualError::Invalid(format!(
                "this scenario has a `{role}` cluster already"
            )));
        }
        let cluster = self.deploy(app, role, nodes).await?;
        self.others.push((role.to_owned(), Box::new(cluster)));
        Ok(self.other_of::<A>(role).expect("just started"))
    }

    async fn deploy<A: Application>(
        &self,
        app: A,
        role: &str,
        nodes: usize,
    ) -> Result<ManualCluster<A>, ManualError> {
        if let Some(error) = &self.setup_error {
            return Err(ManualError::Invalid(error.clone()));
        }
        let deployer = self.deployer.deployer(self.runs_root.clone());
        let name = format!("{}-{role}", self.name);
        if self.clocks {
            ManualCluster::start_with_clocks(Arc::new(app), &*deployer, &name, nodes).await
        } else {
            ManualCluster::start(Arc::new(app), &*deployer, &name, nodes).await
        }
    }

    /// Applies `fault` to `links` of the scenario's cluster, kept until
    /// [`restore_links`](Self::restore_links).
    pub async fn impair(&mut self, links: &Links, fault: &LinkFault) -> Result<(), String> {
        let cluster = self.cluster()?;
        let id = cluster
            .impair(links, fault)
            .await
            .map_err(|e| e.to_string())?;
        self.impairments.push(id);
        Ok(())
    }

    /// Removes every link fault the scenario applied.
    pub async fn restore_links(&mut self) -> Result<(), String> {
        let ids = std::mem::take(&mut self.impairments);
        if ids.is_empty() {
            return Err("no link fault is in force (`When the link from node-0 to node-1 drops 10% of packets` applies one)".into());
        }
        let cluster = self.cluster()?;
        for id in ids {
            cluster.restore(id).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The scenario's cluster, for the generic steps.
    pub fn cluster(&self) -> Result<&dyn AnyCluster, String> {
        self.cluster.as_deref().ok_or_else(no_cluster)
    }

    /// The scenario's cluster, for the generic steps.
    pub fn cluster_mut(&mut self) -> Result<&mut (dyn AnyCluster + 'static), String> {
        self.cluster.as_deref_mut().ok_or_else(no_cluster)
    }

    /// The scenario's cluster as `A`'s, for app steps.
    pub fn app<A: Application>(&self) -> Result<&ManualCluster<A>, String> {
        let cluster = self.cluster.as_deref().ok_or_else(no_cluster)?;
        cluster
            .as_any()
            .downcast_ref::<ManualCluster<A>>()
            .ok_or_else(|| wrong_app(cluster, "this scenario's cluster"))
    }

    /// The scenario's cluster as `A`'s, to change it.
    pub fn app_mut<A: Application>(&mut self) -> Result<&mut ManualCluster<A>, String> {
        as_app_mut(
            self.cluster.as_deref_mut().ok_or_else(no_cluster)?,
            "this scenario's cluster",
        )
    }

    /// The other cluster called `role`, as `A`'s.
    pub fn other_of<A: Application>(
        &mut self,
        role: &str,
    ) -> Result<&mut ManualCluster<A>, String> {
        as_app_mut(
            other_mut(&mut self.others, role)?,
            &format!("the `{role}` cluster"),
        )
    }

    /// Both the scenario's cluster and the other one called `role`.
    pub fn both_of<A: Application>(
        &mut self,
        role: &str,
    ) -> Result<(&mut ManualCluster<A>, &mut ManualCluster<A>), String> {
        let main = self.cluster.as_deref_mut().ok_or_else(no_cluster)?;
        let other = other_mut(&mut self.others, role)?;
        Ok((
            as_app_mut(main, "this scenario's cluster")?,
            as_app_mut(other, &format!("the `{role}` cluster"))?,
        ))
    }

    /// App state of type `T`, made with `T::default()` on first use.
    pub fn state<T: Default + 'static>(&mut self) -> &mut T {
        self.state
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(T::default()))
            .downcast_mut::<T>()
            .expect("stored under its own type")
    }

    /// Where a failing step's reader should look.
    pub fn where_to_look(&self) -> String {
        let mut dirs: Vec<String> = self
            .cluster
            .iter()
            .map(|c| c.run_dir().display().to_string())
            .collect();
        dirs.extend(
            self.others
                .iter()
                .map(|(role, c)| format!("{} ({role})", c.run_dir().display())),
        );
        if dirs.is_empty() {
            String::new()
        } else {
            format!(
                "\nrun directory: {} (node logs, and steps.log: every action and wait with what was observed)",
                dirs.join(", ")
            )
        }
    }

    /// Stops every cluster of the scenario; problems are returned.
    pub async fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(cluster) = self.cluster.as_mut() {
            problems.extend(cluster.cleanup().await.problems);
        }
        for (role, cluster) in &mut self.others {
            problems.extend(
                cluster
                    .cleanup()
                    .await
                    .problems
                    .into_iter()
                    .map(|p| format!("{role}: {p}")),
            );
        }
        problems
    }
}

/// The other cluster called `role`.
fn other_mut<'a>(
    others: &'a mut [(String, Box<dyn AnyCluster>)],
    role: &str,
) -> Result<&'a mut dyn AnyCluster, String> {
    others
        .iter_mut()
        .find(|(r, _)| r == role)
        .map(|(_, c)| &mut **c as &mut dyn AnyCluster)
        .ok_or_else(|| format!("this scenario started no `{role}` cluster"))
}

/// `cluster` as `A`'s; `whose` names it in the error.
fn as_app_mut<'a, A: Application>(
    cluster: &'a mut dyn AnyCluster,
    whose: &str,
) -> Result<&'a mut ManualCluster<A>, String> {
    if !cluster.as_any().is::<ManualCluster<A>>() {
        return Err(wrong_app(cluster, whose));
    }
    Ok(cluster
        .as_any_mut()
        .downcast_mut::<ManualCluster<A>>()
        .expect("checked just above"))
}

fn wrong_app(cluster: &dyn AnyCluster, whose: &str) -> String {
    format!(
        "{whose} runs {}, not the app this step is for",
        cluster.app_name()
    )
}

fn no_cluster() -> String {
    "this scenario has no cluster yet; start one with a Given step such as `Given a Raft cluster of 3 nodes`".into()
}
