//! Leader cuts: the framework's [`NodeFault`] cutting the current leader
//! off from the majority (both ways, or one way with link faults),
//! confirmed by the majority electing another leader that goes on
//! committing, and by the old leader following it after the heal; and
//! slow links everywhere, confirmed by the cluster committing through
//! them.

use std::time::Duration;

use tf_core::fault::LinkFault;
use tf_core::workloads::{Around, FaultKind, NodeFault};

use crate::RaftSnapshot;

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
pub fn leader_partition(cut_for: Duration, max_faults: usize) -> NodeFault {
    leader_cut(
        "leader-partition",
        FaultKind::Partition,
        cut_for,
        max_faults,
    )
}

/// One-way cuts of the observed leader, in turn: first it cannot hear the
/// others (its incoming peer traffic is dropped, its outgoing flows), then
/// it cannot be heard; each for `cut_for`, at most `max_faults` in all.
/// The same confirmations as [`leader_partition`]: the others elect a
/// leader that commits, and the old one follows it after.
pub fn leader_one_way(cut_for: Duration, max_faults: usize) -> NodeFault {
    leader_cut(
        "leader-one-way",
        FaultKind::link(Around::Ingress, LinkFault::cut()),
        cut_for,
        max_faults,
    )
    .mixed_with(FaultKind::link(Around::Egress, LinkFault::cut()))
}

/// `fault` on every link between any two nodes for `hold`, once, after
/// the cluster settled; confirmed by the cluster committing through it.
pub fn slow_links(fault: LinkFault, hold: Duration) -> NodeFault {
    NodeFault::new("slow-links", FaultKind::link(Around::Everywhere, fault))
        .every(Duration::from_secs(1))
        .down_for(hold)
        .max_faults(1)
        .confirm_within(Duration::from_secs(20))
        .settled(|s: &RaftSnapshot| s.leader.is_some() && s.unreachable().is_empty())
        .while_down(|at_fault: &RaftSnapshot, now: &RaftSnapshot, _: &str| {
            let (before, after) = (applied_elsewhere(at_fault, ""), applied_elsewhere(now, ""));
            let leader = now.leader.as_ref()?;
            (after > before + 5).then(|| {
                format!(
                    "{} leads and the cluster commits through the slow links (applied {before} -> {after})",
                    leader.node
                )
            })
        })
}

fn leader_cut(name: &str, kind: FaultKind, cut_for: Duration, max_faults: usize) -> NodeFault {
    NodeFault::new(name, kind)
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
