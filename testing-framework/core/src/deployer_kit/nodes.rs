//! The nodes of a cluster that grows and shrinks while it runs, by name,
//! as a deployer's node control and cluster share them.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::scenario::deploy::{ControlError, DeployError, DeploymentRequest, NodeSlot};
use crate::scenario::{PortMap, PortSpec};

/// A deployer's nodes (processes, containers), in the order they were
/// added. Cheap to read; adding or removing one takes a short write lock.
pub struct NodeTable<N> {
    nodes: RwLock<Vec<Arc<N>>>,
    name: fn(&N) -> &str,
}

impl<N> NodeTable<N> {
    /// A table of `nodes`, each named by `name`.
    pub fn new(nodes: Vec<Arc<N>>, name: fn(&N) -> &str) -> Self {
        NodeTable {
            nodes: RwLock::new(nodes),
            name,
        }
    }

    /// The node called `name`.
    pub fn get(&self, name: &str) -> Result<Arc<N>, ControlError> {
        self.nodes
            .read()
            .iter()
            .find(|n| (self.name)(n) == name)
            .cloned()
            .ok_or_else(|| ControlError::UnknownNode(name.to_owned()))
    }

    /// Every node, in the order they were added.
    pub fn all(&self) -> Vec<Arc<N>> {
        self.nodes.read().clone()
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.nodes.read().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.nodes.read().is_empty()
    }

    /// Adds a node.
    pub fn push(&self, node: Arc<N>) {
        self.nodes.write().push(node);
    }

    /// Takes the node called `name` out of the table.
    pub fn remove(&self, name: &str) -> Result<Arc<N>, ControlError> {
        let mut nodes = self.nodes.write();
        let at = nodes
            .iter()
            .position(|n| (self.name)(n) == name)
            .ok_or_else(|| ControlError::UnknownNode(name.to_owned()))?;
        Ok(nodes.remove(at))
    }
}

/// Every named port for each of `count` nodes, all distinct and free on
/// 127.0.0.1 a moment ago.
pub fn port_maps(ports: &[PortSpec], count: usize) -> Result<Vec<PortMap>, DeployError> {
    port_maps_of(&vec![ports; count])
}

/// Every named port of each node, given each node's ports (nodes of
/// several groups), all distinct and free on 127.0.0.1 a moment ago.
pub fn port_maps_of(nodes: &[&[PortSpec]]) -> Result<Vec<PortMap>, DeployError> {
    let protocols: Vec<_> = nodes
        .iter()
        .flat_map(|ports| ports.iter().map(|p| p.protocol))
        .collect();
    let mut numbers = super::ports::free_ports(&protocols)
        .map_err(|e| DeployError::Other(format!("cannot find free ports on 127.0.0.1: {e}")))?
        .into_iter();
    Ok(nodes
        .iter()
        .map(|ports| {
            PortMap::new(
                ports
                    .iter()
                    .map(|p| (p.name.clone(), numbers.next().unwrap_or_default())),
            )
        })
        .collect())
}

/// Every node of `request` with its ports, all distinct and free on
/// 127.0.0.1 a moment ago (nodes whose ports the host publishes as they
/// are).
pub fn slots_with_ports(
    request: &DeploymentRequest,
) -> Result<Vec<(NodeSlot<'_>, PortMap)>, DeployError> {
    let slots = request.slots();
    let ports: Vec<&[PortSpec]> = slots.iter().map(|s| s.group.ports.as_slice()).collect();
    let maps = port_maps_of(&ports)?;
    Ok(slots.into_iter().zip(maps).collect())
}

/// The numbers a cluster gives the nodes it adds: the next index in the
/// topology, and the next number in the node's group. Numbers are never
/// reused, so neither are names, logs or data directories.
#[derive(Clone, Debug, Default)]
pub struct Numbering {
    next_index: usize,
    next_in_group: HashMap<String, usize>,
}

impl Numbering {
    /// After the nodes of `request`.
    pub fn after(request: &DeploymentRequest) -> Self {
        Numbering {
            next_index: request.nodes(),
            next_in_group: request
                .groups
                .iter()
                .map(|g| (g.name.clone(), g.nodes))
                .collect(),
        }
    }

    /// The index and the number in `group` of the next node of `group`.
    pub fn next(&mut self, group: &str) -> (usize, usize) {
        let ordinal = self.next_in_group.entry(group.to_owned()).or_default();
        let numbers = (self.next_index, *ordinal);
        self.next_index += 1;
        *ordinal += 1;
        numbers
    }
}

/// Like [`port_maps`], avoiding every port in `taken` (the ports of a
/// cluster's nodes, stopped ones included: a stopped node must find its
/// ports free when it starts again).
pub fn port_maps_except(
    ports: &[PortSpec],
    count: usize,
    taken: &[u16],
) -> Result<Vec<PortMap>, DeployError> {
    for _ in 0..16 {
        let maps = port_maps(ports, count)?;
        let clash = maps.iter().any(|m| m.numbers().any(|n| taken.contains(&n)));
        if !clash {
            return Ok(maps);
        }
    }
    Err(DeployError::Other(
        "cannot find free ports on 127.0.0.1 that no node of the cluster holds".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(String);

    fn table(names: &[&str]) -> NodeTable<Named> {
        NodeTable::new(
            names.iter().map(|n| Arc::new(Named((*n).into()))).collect(),
            |n| &n.0,
        )
    }

    #[test]
    fn finds_adds_and_removes_by_name() {
        let nodes = table(&["node-0", "node-1"]);
        assert_eq!(nodes.get("node-1").unwrap().0, "node-1");
        assert!(matches!(nodes.get("node-7"), Err(ControlError::UnknownNode(n)) if n == "node-7"));
        nodes.push(Arc::new(Named("node-2".into())));
        assert_eq!(nodes.len(), 3);
        nodes.remove("node-0").unwrap();
        let left: Vec<_> = nodes.all().iter().map(|n| n.0.clone()).collect();
        assert_eq!(left, ["node-1", "node-2"]);
        assert!(nodes.remove("node-0").is_err());
    }

    #[test]
    fn port_maps_are_distinct_across_nodes() {
        let ports = [PortSpec::tcp("api"), PortSpec::udp("gossip")];
        let maps = port_maps(&ports, 3).unwrap();
        assert_eq!(maps.len(), 3);
        let mut all: Vec<u16> = maps
            .iter()
            .flat_map(|m| [m.get("api").unwrap(), m.get("gossip").unwrap()])
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 6);
    }
}
