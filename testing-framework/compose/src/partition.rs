//! Partitions and heals, confirmed rather than assumed: a partition moves
//! one side off the peers network (see `control.rs`), and then each node
//! that answers on the cut side must reach none of the others, while the
//! runner still reaches it; after a heal, each healed node must reach
//! every other node that answers, and the runner must reach it. The
//! connects are made from inside the node's network namespace by its link
//! fault helper (`links.rs`), and from here to the node's published port.
//! A heal that did not take is tried again, then reported. Before a node
//! leaves the peers network it is fenced off it from inside (`links.rs`),
//! so that the engine's isolation rules, which it takes out for a moment
//! whenever a network comes or goes, are not all that holds the cut.

use std::time::Duration;

use tf_netfault::driver::connects;
use tokio::net::TcpStream;

use crate::control::ComposeControl;
use crate::network::{self, Net};

/// How long a connect across a cut may take before it counts as none: the
/// cut side has no route to the others, so a connect fails at once.
const ACROSS_A_CUT: Duration = Duration::from_millis(150);
/// How long the runner waits for a connect to a node's published port.
const RUNNER_CONNECT: Duration = Duration::from_secs(2);
/// How many times a heal that did not take is tried again.
const REJOINS: usize = 3;

impl ComposeControl {
    /// The nodes answering now (running, not paused), among `names`.
    fn answering_of(&self, names: &[String]) -> Vec<String> {
        let answering = self.link_nodes().answering;
        names
            .iter()
            .filter(|n| answering.contains(n))
            .cloned()
            .collect()
    }

    /// The answering nodes not in `side`.
    fn others_of(&self, side: &[String]) -> Vec<String> {
        let all: Vec<String> = self.nodes.all().iter().map(|n| n.name.clone()).collect();
        self.answering_of(&all)
            .into_iter()
            .filter(|n| !side.contains(n))
            .collect()
    }

    /// Whether the runner reaches `node` at its published probe port.
    async fn runner_reaches(&self, node: &str) -> Result<(), String> {
        let port = self.node(node).map_err(|e| e.to_string())?.probe_port;
        match tokio::time::timeout(RUNNER_CONNECT, TcpStream::connect(("127.0.0.1", port))).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!(
                "the runner cannot reach {node} at 127.0.0.1:{port}: {e}"
            )),
            Err(_) => Err(format!(
                "the runner cannot reach {node} at 127.0.0.1:{port}: no answer within {RUNNER_CONNECT:?}"
            )),
        }
    }

    /// Fences each running node of `side` off the peers network from
    /// inside (see `links.rs`), before it leaves it: off it, the node then
    /// reaches its peers by no other way, whatever the engine does to its
    /// own rules meanwhile.
    pub(crate) async fn fence(&self, side: &[String]) -> Result<(), String> {
        let nodes = self.link_nodes();
        let mut running = Vec::new();
        for name in side {
            if self.node(name).map_err(|e| e.to_string())?.is_running() {
                running.push(nodes.fenced(name));
            }
        }
        futures::future::try_join_all(running).await.map(drop)
    }

    /// Confirms the cut of `side`: what each of its answering nodes
    /// reaches of the others (nothing), a line each.
    pub(crate) async fn confirm_cut(&self, side: &[String]) -> Result<Vec<String>, String> {
        let others = self.others_of(side);
        let mut lines = Vec::new();
        if others.is_empty() {
            return Ok(lines);
        }
        let nodes = self.link_nodes();
        for node in self.answering_of(side) {
            let rtts = connects(&nodes, &node, &others, Some(ACROSS_A_CUT)).await?;
            for (other, rtt) in others.iter().zip(&rtts) {
                if rtt.median.is_some() {
                    return Err(format!(
                        "the partition did not take: {node} -> {other}: connect {}",
                        rtt.describe()
                    ));
                }
            }
            self.runner_reaches(&node).await?;
            lines.push(format!(
                "{node} -> {}: no answer; the runner reaches {node}",
                others.join(",")
            ));
        }
        Ok(lines)
    }

    /// Confirms the heal of `side`: each of its answering nodes reaches
    /// every answering other node, and the runner reaches it. A node that
    /// does not is taken off the peers network and put back, up to
    /// [`REJOINS`] times; then the heal is an error naming the path.
    pub(crate) async fn confirm_healed(&self, side: &[String]) -> Result<Vec<String>, String> {
        let others = self.others_of(side);
        let mut lines = Vec::new();
        for node in self.answering_of(side) {
            let mut attempt = 0;
            let line = loop {
                match self.reaches_all(&node, &others).await {
                    Ok(line) => break line,
                    Err(why) if attempt == REJOINS => {
                        return Err(format!(
                            "the heal did not take after {REJOINS} rejoins: {why}"
                        ));
                    }
                    Err(why) => {
                        attempt += 1;
                        tracing::warn!(%node, %why, attempt, "a heal did not take; rejoining");
                        let container = self
                            .node(&node)
                            .map_err(|e| e.to_string())?
                            .container
                            .clone();
                        let peers = Net::Peers.name(&self.run);
                        let _ = network::disconnect(&self.docker, &peers, &container).await;
                        self.rejoin(&node).await?;
                    }
                }
            };
            lines.push(if attempt == 0 {
                line
            } else {
                format!("{line} (after {attempt} rejoins)")
            });
        }
        Ok(lines)
    }

    /// `node` reaches each of `others` and the runner reaches `node`: a
    /// line saying so, or which path failed.
    async fn reaches_all(&self, node: &str, others: &[String]) -> Result<String, String> {
        self.runner_reaches(node).await?;
        if others.is_empty() {
            return Ok(format!("the runner reaches {node}"));
        }
        let rtts = connects(&self.link_nodes(), node, others, None).await?;
        let mut reached = Vec::new();
        for (other, rtt) in others.iter().zip(&rtts) {
            if rtt.median.is_none() {
                return Err(format!("{node} -> {other}: connect {}", rtt.describe()));
            }
            reached.push(format!("{other} {}", rtt.describe()));
        }
        Ok(format!(
            "{node} reaches {}; the runner reaches {node}",
            reached.join(", ")
        ))
    }
}
