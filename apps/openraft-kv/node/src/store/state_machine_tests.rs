//! State machine behaviour: applying, snapshotting, and restoring from the
//! persisted snapshot after reopening.

use std::collections::{BTreeMap, BTreeSet};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{CommittedLeaderId, EntryPayload, Membership};

use super::Stores;
use crate::types::{Entry, KvCommand, LogId, Node};

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, 0), index)
}

fn set(index: u64, key: &str, value: &str) -> Entry {
    Entry {
        log_id: log_id(index),
        payload: EntryPayload::Normal(KvCommand::Set {
            key: key.to_string(),
            value: value.to_string(),
        }),
    }
}

fn membership(index: u64) -> Entry {
    let voters = BTreeSet::from([0]);
    let nodes = BTreeMap::from([(0, Node::new("127.0.0.1:1"))]);
    Entry {
        log_id: log_id(index),
        payload: EntryPayload::Membership(Membership::new(vec![voters], nodes)),
    }
}

#[tokio::test]
async fn apply_updates_map_applied_id_and_membership() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stores = Stores::open(dir.path()).expect("open");
    let kv = stores.state_machine.state();
    let responses = stores
        .state_machine
        .apply([membership(1), set(2, "a", "1"), set(3, "a", "2")])
        .await
        .expect("apply");
    assert_eq!(responses[1].previous, None);
    assert_eq!(responses[2].previous.as_deref(), Some("1"));
    assert_eq!(kv.get("a").as_deref(), Some("2"));
    assert_eq!(kv.get("missing"), None);
    let (applied, stored_membership) = stores.state_machine.applied_state().await.expect("state");
    assert_eq!(applied, Some(log_id(3)));
    assert_eq!(stored_membership.log_id(), &Some(log_id(1)));
}

#[tokio::test]
async fn snapshot_survives_reopen_and_installs_elsewhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshot = {
        let mut stores = Stores::open(dir.path()).expect("open");
        stores
            .state_machine
            .apply([membership(1), set(2, "a", "1"), set(3, "b", "2")])
            .await
            .expect("apply");
        let mut builder = stores.state_machine.get_snapshot_builder().await;
        builder.build_snapshot().await.expect("build")
    };
    assert_eq!(snapshot.meta.last_log_id, Some(log_id(3)));

    // Reopened: the state machine starts from the persisted snapshot.
    let mut reopened = Stores::open(dir.path()).expect("reopen");
    let kv = reopened.state_machine.state();
    assert_eq!(kv.len_and_digest().0, 2);
    let (applied, _) = reopened.state_machine.applied_state().await.expect("state");
    assert_eq!(applied, Some(log_id(3)));
    let current = reopened
        .state_machine
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!(current.meta, snapshot.meta);

    // Installed on an empty node, it yields the same map.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let mut other = Stores::open(other_dir.path()).expect("open");
    other
        .state_machine
        .install_snapshot(&snapshot.meta, snapshot.snapshot)
        .await
        .expect("install");
    assert_eq!(other.state_machine.state().all(), kv.all());
    assert_eq!(
        other.state_machine.state().len_and_digest(),
        kv.len_and_digest()
    );
}

#[tokio::test]
async fn garbage_snapshot_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut stores = Stores::open(dir.path()).expect("open");
    let meta = crate::types::SnapshotMeta::default();
    let data = Box::new(std::io::Cursor::new(b"not json".to_vec()));
    assert!(
        stores
            .state_machine
            .install_snapshot(&meta, data)
            .await
            .is_err()
    );
}
