//! Snapshots: built from the state machine, kept in memory and in redb.
//!
//! Persisting the latest snapshot matters once openraft purges the log
//! entries a snapshot covers: after a restart those entries are gone, so the
//! state machine must start from the snapshot instead of from an empty map.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use openraft::storage::RaftSnapshotBuilder;
use openraft::{AnyError, StorageIOError};
use redb::ReadableDatabase;

use super::db::{Db, DbError, SNAPSHOT, decode, encode, snapshot_key};
use super::state_machine::KvState;
use crate::types::{Snapshot, SnapshotMeta, StorageError, TypeConfig};

/// A snapshot's metadata and its JSON-encoded state machine.
#[derive(Debug, Clone)]
pub struct StoredSnapshot {
    pub meta: SnapshotMeta,
    pub data: Vec<u8>,
}

/// The latest snapshot, in memory for fast reads and in redb for restarts.
#[derive(Clone)]
pub struct SnapshotStore {
    db: Db,
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    /// Makes snapshot ids unique among snapshots of the same log position.
    builds: Arc<AtomicU64>,
}

impl SnapshotStore {
    /// Loads the persisted snapshot, if any.
    pub fn open(db: Db) -> Result<Self, DbError> {
        let current = Self::load(&db)?;
        Ok(Self {
            db,
            current: Arc::new(Mutex::new(current)),
            builds: Arc::new(AtomicU64::new(0)),
        })
    }

    fn load(db: &Db) -> Result<Option<StoredSnapshot>, DbError> {
        let txn = db.database().begin_read()?;
        let table = txn.open_table(SNAPSHOT)?;
        let meta = table.get(snapshot_key::META)?;
        let data = table.get(snapshot_key::DATA)?;
        match (meta, data) {
            (Some(meta), Some(data)) => Ok(Some(StoredSnapshot {
                meta: decode("snapshot meta", meta.value())?,
                data: data.value().to_vec(),
            })),
            _ => Ok(None),
        }
    }

    /// The latest snapshot.
    pub fn current(&self) -> Option<StoredSnapshot> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Durably records `meta`/`data` as the latest snapshot.
    pub async fn save(&self, meta: SnapshotMeta, data: Vec<u8>) -> Result<(), StorageError> {
        let signature = meta.signature();
        let write_error =
            |e: DbError| StorageIOError::write_snapshot(Some(signature.clone()), AnyError::new(&e));
        let meta_bytes = encode("snapshot meta", &meta).map_err(write_error)?;
        let data_for_db = data.clone();
        self.db
            .write(move |txn| {
                let mut table = txn.open_table(SNAPSHOT)?;
                table.insert(snapshot_key::META, meta_bytes.as_slice())?;
                table.insert(snapshot_key::DATA, data_for_db.as_slice())?;
                Ok(())
            })
            .await
            .map_err(write_error)?;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(StoredSnapshot { meta, data });
        Ok(())
    }

    fn next_id(&self, meta_position: &str) -> String {
        let build = self.builds.fetch_add(1, Ordering::Relaxed);
        format!("{meta_position}-{build}")
    }
}

/// Builds a snapshot of the state machine as it is at the time of the call.
pub struct SnapshotBuilder {
    state: KvState,
    snapshots: SnapshotStore,
}

impl SnapshotBuilder {
    pub(crate) fn new(state: KvState, snapshots: SnapshotStore) -> Self {
        Self { state, snapshots }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        // Copy under the lock, encode outside it, so applies are not held up.
        let data = self.state.read().clone();
        let bytes = serde_json::to_vec(&data)
            .map_err(|e| StorageIOError::write_snapshot(None, AnyError::new(&e)))?;
        let position = match data.last_applied {
            Some(log_id) => format!("{}-{}", log_id.leader_id, log_id.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: data.last_applied,
            last_membership: data.last_membership,
            snapshot_id: self.snapshots.next_id(&position),
        };
        self.snapshots.save(meta.clone(), bytes.clone()).await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}
