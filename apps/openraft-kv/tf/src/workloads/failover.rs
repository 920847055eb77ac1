//! Leader failover: the framework's [`NodeFault`] aimed at the current
//! leader, confirmed by another node taking over.

use tf_core::workloads::{FaultKind, NodeFault};

use crate::RaftSnapshot;

/// Takes the observed leader down (kill, graceful stop or pause), confirms
/// that it stopped answering and that another node leads in a higher term,
/// brings it back, and repeats.
pub fn leader_failover(kind: FaultKind) -> NodeFault {
    NodeFault::new("leader-failover", kind)
        .settled(|s: &RaftSnapshot| s.leader.is_some() && s.unreachable().is_empty())
        .target(|s: &RaftSnapshot| s.leader.as_ref().map(|l| l.node.clone()))
        .while_down(|at_fault: &RaftSnapshot, now: &RaftSnapshot, _: &str| {
            let old = at_fault.leader.as_ref()?;
            let new = now
                .leader
                .as_ref()
                .filter(|l| l.id != old.id && l.term > old.term)?;
            Some(format!("new leader {} (term {})", new.node, new.term))
        })
}
