//! The replicated key-value state machine.
//!
//! The map lives in memory: it is a pure function of the committed log (and
//! the latest snapshot), both of which are durable, so openraft rebuilds it on
//! restart by re-applying committed entries on top of the persisted snapshot.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use openraft::storage::RaftStateMachine;
use openraft::{AnyError, EntryPayload, OptionalSend, StorageIOError};
use serde::{Deserialize, Serialize};

use super::db::DbError;
use super::snapshot::{SnapshotBuilder, SnapshotStore};
use crate::digest::kv_digest;
use crate::types::{
    Entry, KvCommand, KvResponse, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig,
};

/// Everything the state machine holds; also the JSON body of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMachineData {
    pub last_applied: Option<LogId>,
    pub last_membership: StoredMembership,
    pub kv: BTreeMap<String, String>,
}

impl StateMachineData {
    /// Applies one entry, returning what the writer of that entry gets back.
    fn apply(&mut self, entry: Entry) -> KvResponse {
        self.last_applied = Some(entry.log_id);
        match entry.payload {
            EntryPayload::Blank => KvResponse::default(),
            EntryPayload::Normal(KvCommand::Set { key, value }) => KvResponse {
                previous: self.kv.insert(key, value),
                cas_failed: false,
            },
            EntryPayload::Normal(KvCommand::Cas { key, expected, new }) => {
                let previous = self.kv.get(&key).cloned();
                if previous == expected {
                    self.kv.insert(key, new);
                    KvResponse {
                        previous,
                        cas_failed: false,
                    }
                } else {
                    KvResponse {
                        previous,
                        cas_failed: true,
                    }
                }
            }
            EntryPayload::Membership(membership) => {
                self.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                KvResponse::default()
            }
        }
    }
}

/// Read access to the state machine for the HTTP handlers, shared with the
/// Raft-owned [`StateMachineStore`].
#[derive(Clone, Default)]
pub struct KvState {
    inner: Arc<RwLock<StateMachineData>>,
}

impl KvState {
    /// A poisoned lock only means a panic elsewhere; the data is still the
    /// last consistent state, so reads and writes carry on.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, StateMachineData> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, StateMachineData> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The local value of `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.read().kv.get(key).cloned()
    }

    /// A copy of the whole local map.
    pub fn all(&self) -> BTreeMap<String, String> {
        self.read().kv.clone()
    }

    /// Number of keys and [`kv_digest`] of the map, taken under one lock.
    pub fn len_and_digest(&self) -> (usize, String) {
        let data = self.read();
        (data.kv.len(), kv_digest(&data.kv))
    }
}

/// The state machine openraft drives: applies entries, builds and installs snapshots.
pub struct StateMachineStore {
    state: KvState,
    snapshots: SnapshotStore,
}

impl StateMachineStore {
    /// A state machine restored from the persisted snapshot, if there is one.
    pub fn new(snapshots: SnapshotStore) -> Result<Self, DbError> {
        let state = KvState::default();
        if let Some(current) = snapshots.current() {
            *state.write() =
                restore(&current.meta, &current.data).map_err(|source| DbError::Codec {
                    what: "snapshot data",
                    source,
                })?;
        }
        Ok(Self { state, snapshots })
    }

    /// Read handle for the HTTP layer.
    pub fn state(&self) -> KvState {
        self.state.clone()
    }
}

/// Decodes snapshot data; the metadata, not the data, is authoritative for
/// the applied log id and membership.
fn restore(meta: &SnapshotMeta, data: &[u8]) -> Result<StateMachineData, serde_json::Error> {
    let decoded: StateMachineData = serde_json::from_slice(data)?;
    Ok(StateMachineData {
        last_applied: meta.last_log_id,
        last_membership: meta.last_membership.clone(),
        kv: decoded.kv,
    })
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let data = self.state.read();
        Ok((data.last_applied, data.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<KvResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut data = self.state.write();
        Ok(entries.into_iter().map(|entry| data.apply(entry)).collect())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder::new(self.state.clone(), self.snapshots.clone())
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let restored = restore(meta, &data).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        // Persist first: if that fails the old state stays, consistent with disk.
        self.snapshots.save(meta.clone(), data).await?;
        *self.state.write() = restored;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        Ok(self.snapshots.current().map(|current| Snapshot {
            meta: current.meta,
            snapshot: Box::new(Cursor::new(current.data)),
        }))
    }
}
