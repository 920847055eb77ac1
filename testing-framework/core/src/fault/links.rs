//! Which links a network fault takes: a node's way out, its way in, one
//! link, or a partition of any shape ("who cannot hear whom").

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One direction of the link between two nodes: packets that `from`
/// sends to `to`. The runner's own access to the nodes is never one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Link {
    /// The sender.
    pub from: String,
    /// The receiver.
    pub to: String,
}

impl Link {
    /// `links` in words, joined: `node-0 -> node-1, node-0 -> node-2`.
    pub fn list(links: &[Link]) -> String {
        links
            .iter()
            .map(Link::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Packets from `from` to `to`.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Link {
            from: from.into(),
            to: to.into(),
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

/// The links a fault takes, named by the nodes at their ends; resolved
/// against the cluster's nodes when the fault begins.
///
/// ```
/// use tf_core::fault::{Link, Links};
///
/// let nodes = ["node-0", "node-1", "node-2"].map(String::from);
/// let cut = Links::one_way(["node-0"], ["node-1", "node-2"]).resolve(&nodes).unwrap();
/// assert_eq!(cut, vec![Link::new("node-0", "node-1"), Link::new("node-0", "node-2")]);
/// assert_eq!(Links::isolate("node-2").resolve(&nodes).unwrap().len(), 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Links {
    /// Everything `node` sends to the other nodes.
    Egress(String),
    /// Everything the other nodes send to `node`.
    Ingress(String),
    /// Both ways between `node` and every other node.
    Isolate(String),
    /// What the nodes in `from` send to the nodes in `to`, and not the
    /// other way: a one-way partition when cut.
    OneWay {
        /// The senders.
        from: Vec<String>,
        /// The receivers.
        to: Vec<String>,
    },
    /// Both ways between the nodes in the list and the rest: a clean
    /// partition in two when cut.
    Halves(Vec<String>),
    /// Every node hears a majority, but no two nodes the same one: the
    /// nodes in a ring, each hearing its nearest neighbours (Jepsen's
    /// majorities ring). Needs at least 4 nodes.
    MajoritiesRing,
    /// Two halves that hear each other only through the middle node.
    /// Needs at least 3 nodes.
    Bridge,
    /// Exactly these links.
    Exactly(Vec<Link>),
}

impl Links {
    /// What the nodes in `from` send to the nodes in `to`.
    pub fn one_way<F, T>(from: F, to: T) -> Self
    where
        F: IntoIterator,
        F::Item: Into<String>,
        T: IntoIterator,
        T::Item: Into<String>,
    {
        Links::OneWay {
            from: from.into_iter().map(Into::into).collect(),
            to: to.into_iter().map(Into::into).collect(),
        }
    }

    /// Both ways between `node` and the others.
    pub fn isolate(node: impl Into<String>) -> Self {
        Links::Isolate(node.into())
    }

    /// Both ways between `side` and the rest.
    pub fn halves<I>(side: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Links::Halves(side.into_iter().map(Into::into).collect())
    }

    /// The single link from `from` to `to`.
    pub fn link(from: impl Into<String>, to: impl Into<String>) -> Self {
        Links::Exactly(vec![Link::new(from, to)])
    }

    /// The links among `nodes` (the cluster, in topology order), sorted,
    /// each once; the reason when a name is not a node, a link joins a node
    /// to itself, or the shape does not fit the cluster.
    pub fn resolve(&self, nodes: &[String]) -> Result<Vec<Link>, String> {
        let known = |name: &String| {
            if nodes.contains(name) {
                Ok(())
            } else {
                Err(format!(
                    "`{name}` is not a node of this cluster (nodes: {})",
                    nodes.join(", ")
                ))
            }
        };
        let all_pairs = |from: &[String], to: &[String]| -> BTreeSet<Link> {
            from.iter()
                .flat_map(|f| to.iter().map(move |t| Link::new(f.clone(), t.clone())))
                .filter(|l| l.from != l.to)
                .collect()
        };
        let others = |node: &String| -> Vec<String> {
            nodes.iter().filter(|n| *n != node).cloned().collect()
        };
        let one = |node: &String| std::slice::from_ref(node).to_vec();
        let links: BTreeSet<Link> = match self {
            Links::Egress(node) => {
                known(node)?;
                all_pairs(&one(node), &others(node))
            }
            Links::Ingress(node) => {
                known(node)?;
                all_pairs(&others(node), &one(node))
            }
            Links::Isolate(node) => {
                known(node)?;
                let mut both = all_pairs(&one(node), &others(node));
                both.extend(all_pairs(&others(node), &one(node)));
                both
            }
            Links::OneWay { from, to } => {
                from.iter().chain(to).try_for_each(known)?;
                if let Some(both) = from.iter().find(|n| to.contains(n)) {
                    return Err(format!(
                        "{both} is among both the senders and the receivers; a node's link to itself cannot be cut"
                    ));
                }
                all_pairs(from, to)
            }
            Links::Halves(side) => {
                side.iter().try_for_each(known)?;
                let rest: Vec<String> = nodes
                    .iter()
                    .filter(|n| !side.contains(n))
                    .cloned()
                    .collect();
                if side.is_empty() || rest.is_empty() {
                    return Err(format!(
                        "a side must hold at least one node and leave at least one of the {} on the other",
                        nodes.len()
                    ));
                }
                let mut both = all_pairs(side, &rest);
                both.extend(all_pairs(&rest, side));
                both
            }
            Links::MajoritiesRing => {
                let n = nodes.len();
                if n < 4 {
                    return Err(format!(
                        "a majorities ring needs at least 4 nodes; with {n} every majority hears every node"
                    ));
                }
                // Each node hears itself and `reach` neighbours on each
                // side (one more on the right when a majority needs it).
                let majority = n / 2 + 1;
                let (left, right) = ((majority - 1) / 2, majority - 1 - (majority - 1) / 2);
                let mut cut = BTreeSet::new();
                for (i, receiver) in nodes.iter().enumerate() {
                    for (j, sender) in nodes.iter().enumerate() {
                        let ahead = (j + n - i) % n;
                        let hears = ahead == 0 || ahead <= right || n - ahead <= left;
                        if !hears {
                            cut.insert(Link::new(sender.clone(), receiver.clone()));
                        }
                    }
                }
                cut
            }
            Links::Bridge => {
                let n = nodes.len();
                if n < 3 {
                    return Err(format!("a bridge needs at least 3 nodes, not {n}"));
                }
                let (first, rest) = nodes.split_at(n / 2);
                let second = &rest[1..];
                let mut both = all_pairs(first, second);
                both.extend(all_pairs(second, first));
                both
            }
            Links::Exactly(links) => {
                for link in links {
                    known(&link.from)?;
                    known(&link.to)?;
                    if link.from == link.to {
                        return Err(format!(
                            "{link} joins a node to itself; a fault needs two nodes"
                        ));
                    }
                }
                links.iter().cloned().collect()
            }
        };
        if links.is_empty() {
            return Err(format!("{self} takes no link of this cluster"));
        }
        Ok(links.into_iter().collect())
    }
}

impl fmt::Display for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Links::Egress(node) => write!(f, "{node}'s way out"),
            Links::Ingress(node) => write!(f, "{node}'s way in"),
            Links::Isolate(node) => write!(f, "{node} both ways"),
            Links::OneWay { from, to } => write!(f, "{} -> {}", from.join(","), to.join(",")),
            Links::Halves(side) => write!(f, "{} | the rest", side.join(",")),
            Links::MajoritiesRing => f.write_str("a majorities ring"),
            Links::Bridge => f.write_str("a bridge"),
            Links::Exactly(links) => {
                let links: Vec<String> = links.iter().map(Link::to_string).collect();
                f.write_str(&links.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("node-{i}")).collect()
    }

    /// Who `receiver` hears, itself included.
    fn hears(cut: &[Link], nodes: &[String], receiver: &str) -> usize {
        nodes
            .iter()
            .filter(|s| !cut.contains(&Link::new(s.as_str(), receiver)))
            .count()
    }

    #[test]
    fn a_majorities_ring_gives_every_node_a_majority_and_no_two_the_same() {
        for n in 4..=9 {
            let nodes = nodes(n);
            let cut = Links::MajoritiesRing.resolve(&nodes).unwrap();
            let mut seen = BTreeSet::new();
            for receiver in &nodes {
                assert_eq!(hears(&cut, &nodes, receiver), n / 2 + 1, "n={n}");
                let heard: Vec<&String> = nodes
                    .iter()
                    .filter(|s| !cut.contains(&Link::new(s.as_str(), receiver.as_str())))
                    .collect();
                assert!(
                    seen.insert(heard),
                    "n={n}: two nodes hear the same majority"
                );
            }
        }
    }

    #[test]
    fn a_bridge_hears_both_halves_which_do_not_hear_each_other() {
        let nodes = nodes(5);
        let cut = Links::Bridge.resolve(&nodes).unwrap();
        assert_eq!(hears(&cut, &nodes, "node-2"), 5);
        assert_eq!(hears(&cut, &nodes, "node-0"), 3);
        assert!(cut.contains(&Link::new("node-0", "node-4")));
        assert!(cut.contains(&Link::new("node-4", "node-0")));
    }

    #[test]
    fn bad_targets_are_named() {
        let nodes = nodes(3);
        let cases = [
            (Links::link("node-1", "node-1"), "joins a node to itself"),
            (Links::Egress("node-7".into()), "`node-7` is not a node"),
            (
                Links::one_way(["node-0"], ["node-0", "node-1"]),
                "both the senders",
            ),
            (Links::halves(nodes.clone()), "leave at least one"),
            (Links::MajoritiesRing, "at least 4 nodes"),
        ];
        for (links, expected) in cases {
            let error = links.resolve(&nodes).unwrap_err();
            assert!(error.contains(expected), "{links}: {error}");
        }
    }

    #[test]
    fn ingress_and_egress_are_the_two_directions() {
        let nodes = nodes(3);
        let out = Links::Egress("node-0".into()).resolve(&nodes).unwrap();
        let into = Links::Ingress("node-0".into()).resolve(&nodes).unwrap();
        assert!(out.iter().all(|l| l.from == "node-0"));
        assert!(into.iter().all(|l| l.to == "node-0"));
        assert_eq!(
            Links::halves(["node-0"]).resolve(&nodes).unwrap(),
            Links::isolate("node-0").resolve(&nodes).unwrap()
        );
    }
}
