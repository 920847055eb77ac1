//! Every node's client, whatever its group's app: observers and workloads
//! take the nodes whose client is of the type they read.

use std::any::{Any, TypeId};
use std::sync::Arc;

use super::NodeEndpoint;
use super::group::Group;
use crate::observation::error::BoxError;
use crate::observation::{ObservedSource, SourceSet};

/// One node's client, boxed.
#[derive(Clone)]
pub(crate) struct NodeClient {
    pub(crate) name: String,
    pub(crate) group: String,
    client: Arc<dyn Any + Send + Sync>,
}

/// The clients of a run's nodes, in topology order.
#[derive(Clone, Default)]
pub(crate) struct NodeClients(Vec<NodeClient>);

impl NodeClients {
    /// Each endpoint's client, made by its group's app; the error names the
    /// node that has none.
    pub(crate) fn make(groups: &[Group], endpoints: &[NodeEndpoint]) -> Result<Self, String> {
        endpoints
            .iter()
            .map(|endpoint| {
                let group = groups
                    .iter()
                    .find(|g| g.name() == endpoint.group)
                    .ok_or_else(|| {
                        format!(
                            "{} is in group `{}`, which the scenario does not have",
                            endpoint.name, endpoint.group
                        )
                    })?;
                let client = (group.client)(endpoint).map_err(|error: BoxError| {
                    format!(
                        "cannot make a client of {}: {}; see the app's Application::client",
                        endpoint.name,
                        crate::ErrorChain(&*error)
                    )
                })?;
                Ok(NodeClient {
                    name: endpoint.name.clone(),
                    group: endpoint.group.clone(),
                    client,
                })
            })
            .collect::<Result<_, String>>()
            .map(NodeClients)
    }

    /// Clients of one type: `(node, group, client)`.
    pub(crate) fn typed<C: Send + Sync + 'static>(
        nodes: impl IntoIterator<Item = (String, String, C)>,
    ) -> Self {
        NodeClients(
            nodes
                .into_iter()
                .map(|(name, group, client)| NodeClient {
                    name,
                    group,
                    client: Arc::new(client),
                })
                .collect(),
        )
    }

    /// The clients of type `C`, of the nodes of `groups` (every group when
    /// `None`), as sources named after their nodes.
    pub(crate) fn of<C: Clone + Send + Sync + 'static>(
        &self,
        groups: Option<&[String]>,
    ) -> SourceSet<C> {
        self.0
            .iter()
            .filter(|n| groups.is_none_or(|g| g.contains(&n.group)))
            .filter_map(|n| {
                let client = n.client.downcast_ref::<C>()?;
                Some(ObservedSource::new(n.name.clone(), client.clone()))
            })
            .collect()
    }

    /// Every node's name, in order.
    pub(crate) fn names(&self) -> Vec<String> {
        self.0.iter().map(|n| n.name.clone()).collect()
    }

    /// The names of `group`'s nodes, in order.
    pub(crate) fn group(&self, group: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|n| n.group == group)
            .map(|n| n.name.clone())
            .collect()
    }
}

/// Whether an observer reading `C` can watch `groups` (every group whose
/// app's client is `C`, when `None`); the reason when not.
pub(crate) fn check_watch(
    observer: &str,
    source: (TypeId, &'static str),
    groups: Option<&[String]>,
    all: &[Group],
) -> Result<(), String> {
    let names = || all.iter().map(Group::name).collect::<Vec<_>>().join(", ");
    let Some(groups) = groups else {
        return if all.iter().any(|g| g.client_type == source.0) {
            Ok(())
        } else {
            Err(format!(
                "observer `{observer}` reads `{}` clients, which no group's app makes (groups: {}); watch groups of an app with that client",
                source.1,
                names()
            ))
        };
    };
    if groups.is_empty() {
        return Err(format!("observer `{observer}` is given no group to watch"));
    }
    for name in groups {
        let Some(group) = all.iter().find(|g| g.name() == name) else {
            return Err(format!(
                "observer `{observer}` watches group `{name}`, which is not a group of this scenario (groups: {})",
                names()
            ));
        };
        if group.client_type != source.0 {
            return Err(format!(
                "observer `{observer}` reads `{}` clients but group `{name}`'s app `{}` makes `{}` clients; watch groups of an app with that client",
                source.1, group.request.app, group.client_type_name
            ));
        }
    }
    Ok(())
}
