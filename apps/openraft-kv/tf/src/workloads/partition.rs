//! Leader partition: the framework's [`NodeFault`] cutting the current
//! leader off from the majority, confirmed by the majority electing
//! another leader that goes on committing, and by the old leader following
//! it after the heal.

use tf_core::workloads::{FaultKind, NodeFault};

use crate::{RaftObserver, RaftSnapshot};

/// The highest index any node other than `except` applied.
fn applied_elsewhere(s: &RaftSnapshot, except: &str) -> u64 {
    s.nodes
        .iter()
        .filter(|(name, _)| name.as_str() != except)
        .filter_map(|(_, v)| v.state.as_ref()?.last_applied)
        .max()
        .unwrap_or(0)
}

/// Cuts the observed leader off from the rest for `cut_for`, at most
/// `max_faults` times. While cut off, the majority must elect a new leader
/// in a higher term and commit past where the cluster was; after the heal,
/// the old leader must follow the new one.
pub fn leader_partition(
    cut_for: std::time::Duration,
    max_faults: usize,
) -> NodeFault<RaftObserver> {
    NodeFault::new("leader-partition", FaultKind::Partition)
        .down_for(cut_for)
        .max_faults(max_faults)
        .settled(|s: &RaftSnapshot| s.leader.is_some() && s.unreachable().is_empty())
        .target(|s: &RaftSnapshot| s.leader.as_ref().map(|l| l.node.clone()))
        .while_down(|at_fault: &RaftSnapshot, now: &RaftSnapshot, cut: &str| {
            let old = at_fault.leader.as_ref()?;
            let new = now
                .leader
                .as_ref()
                .filter(|l| l.node != cut && l.term > old.term)?;
            let (before, after) = (applied_elsewhere(at_fault, cut), applied_elsewhere(now, cut));
            (after > before).then(|| {
                format!(
                    "new leader {} (term {}) on the majority side, committing (applied {before} -> {after})",
                    new.node, new.term
                )
            })
        })
        .recovered(|_: &RaftSnapshot, now: &RaftSnapshot, cut: &str| {
            let leader = now.leader.as_ref()?;
            let state = now.nodes.get(cut)?.state.as_ref()?;
            (leader.node != cut && state.leader == Some(leader.id) && state.term == leader.term)
                .then(|| format!("{cut} follows {} again (term {})", leader.node, leader.term))
        })
}
