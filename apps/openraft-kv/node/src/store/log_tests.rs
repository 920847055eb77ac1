//! Log store behaviour, including that everything Raft's safety rests on
//! survives closing and reopening the database file.

use std::path::Path;

use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, EntryPayload, Vote};

use super::{Db, LogStore};
use crate::types::{Entry, KvCommand, LogId};

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

fn entry(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(KvCommand::Set {
            key: format!("k{index}"),
            value: format!("v{index}"),
        }),
    }
}

fn open(dir: &Path) -> LogStore {
    LogStore::new(Db::open(dir).expect("open database"))
}

fn indexes(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.log_id.index).collect()
}

#[tokio::test]
async fn append_then_read_ranges_and_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    let state = store.get_log_state().await.expect("state");
    assert_eq!((state.last_purged_log_id, state.last_log_id), (None, None));

    store
        .blocking_append((1..=5).map(|i| entry(1, i)))
        .await
        .expect("append");
    let all = store.try_get_log_entries(0..100).await.expect("read");
    assert_eq!(indexes(&all), vec![1, 2, 3, 4, 5]);
    assert_eq!(all[1], entry(1, 2), "entries round-trip unchanged");
    let middle = store.try_get_log_entries(2..=3).await.expect("read");
    assert_eq!(indexes(&middle), vec![2, 3]);
    let mut reader = store.get_log_reader().await;
    let tail = reader.try_get_log_entries(4..).await.expect("read");
    assert_eq!(indexes(&tail), vec![4, 5]);

    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_log_id, Some(log_id(1, 5)));
}

#[tokio::test]
async fn truncate_removes_the_entry_and_everything_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    store
        .blocking_append((1..=5).map(|i| entry(1, i)))
        .await
        .expect("append");
    store.truncate(log_id(1, 3)).await.expect("truncate");
    let left = store.try_get_log_entries(..).await.expect("read");
    assert_eq!(indexes(&left), vec![1, 2]);
    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_log_id, Some(log_id(1, 2)));

    // A new leader's entries replace the truncated ones.
    store.blocking_append([entry(2, 3)]).await.expect("append");
    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_log_id, Some(log_id(2, 3)));
}

#[tokio::test]
async fn purge_removes_up_to_and_including_and_remembers_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = open(dir.path());
    store
        .blocking_append((1..=5).map(|i| entry(1, i)))
        .await
        .expect("append");
    store.purge(log_id(1, 2)).await.expect("purge");
    let left = store.try_get_log_entries(..).await.expect("read");
    assert_eq!(indexes(&left), vec![3, 4, 5]);
    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
    assert_eq!(state.last_log_id, Some(log_id(1, 5)));

    // Purging everything leaves the purged id as the last log id.
    store.purge(log_id(1, 5)).await.expect("purge");
    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 5)));
    assert_eq!(state.last_log_id, Some(log_id(1, 5)));
    assert!(
        store
            .try_get_log_entries(..)
            .await
            .expect("read")
            .is_empty()
    );
}

#[tokio::test]
async fn vote_committed_entries_and_purge_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut store = open(dir.path());
        assert_eq!(store.read_vote().await.expect("vote"), None);
        assert_eq!(store.read_committed().await.expect("committed"), None);
        store
            .blocking_append((1..=4).map(|i| entry(3, i)))
            .await
            .expect("append");
        store
            .save_vote(&Vote::new_committed(3, 7))
            .await
            .expect("save vote");
        store
            .save_committed(Some(log_id(3, 3)))
            .await
            .expect("save committed");
        store.purge(log_id(3, 1)).await.expect("purge");
        store.truncate(log_id(3, 4)).await.expect("truncate");
    }
    // The store (and its database handle) is dropped: reopen the file.
    let mut store = open(dir.path());
    assert_eq!(
        store.read_vote().await.expect("vote"),
        Some(Vote::new_committed(3, 7))
    );
    assert_eq!(
        store.read_committed().await.expect("committed"),
        Some(log_id(3, 3))
    );
    let left = store.try_get_log_entries(..).await.expect("read");
    assert_eq!(indexes(&left), vec![2, 3]);
    let state = store.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id, Some(log_id(3, 1)));
    assert_eq!(state.last_log_id, Some(log_id(3, 3)));

    // Later writes overwrite earlier ones.
    store.save_vote(&Vote::new(4, 1)).await.expect("save vote");
    assert_eq!(
        store.read_vote().await.expect("vote"),
        Some(Vote::new(4, 1))
    );
}
