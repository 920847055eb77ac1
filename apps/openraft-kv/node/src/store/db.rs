//! The redb database file shared by the log store and the snapshot store.
//!
//! One file (`<data-dir>/raft.redb`) holds everything that must survive a
//! restart; redb allows a file to be open once per process, so both stores
//! share one handle. Every write is a redb transaction committed with
//! immediate durability (fsync) before it is reported done: that is what makes
//! a restarted node safe under Raft's rules.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Log entries, keyed by log index, JSON-encoded.
pub(crate) const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
/// Small singleton records (vote, committed, last purged), JSON-encoded.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The latest snapshot: its metadata (JSON) and its data (raw bytes).
pub(crate) const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");

/// Keys of [`META`].
pub(crate) mod meta_key {
    pub const VOTE: &str = "vote";
    pub const COMMITTED: &str = "committed";
    pub const LAST_PURGED: &str = "last_purged";
}

/// Keys of [`SNAPSHOT`].
pub(crate) mod snapshot_key {
    pub const META: &str = "meta";
    pub const DATA: &str = "data";
}

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "raft.redb";

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open database {path}: {source}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    #[error("database transaction failed: {0}")]
    Transaction(#[from] redb::TransactionError),
    #[error("database table failed: {0}")]
    Table(#[from] redb::TableError),
    #[error("database storage failed: {0}")]
    Storage(#[from] redb::StorageError),
    #[error("database commit failed: {0}")]
    Commit(#[from] redb::CommitError),
    #[error("cannot encode or decode {what}: {source}")]
    Codec {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("database worker task failed: {0}")]
    Worker(String),
}

/// Cheaply clonable handle to the node's database.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Database>,
}

impl Db {
    /// Opens (or creates) `<dir>/raft.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<Self, DbError> {
        std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let database = Database::create(&path).map_err(|source| DbError::Open {
            path: path.clone(),
            source,
        })?;
        let db = Self {
            inner: Arc::new(database),
        };
        // Create the tables up front so that readers never meet a missing table.
        db.write_now(|txn| {
            txn.open_table(LOGS)?;
            txn.open_table(META)?;
            txn.open_table(SNAPSHOT)?;
            Ok(())
        })?;
        Ok(db)
    }

    /// The underlying redb database, for read transactions.
    pub(crate) fn database(&self) -> &Database {
        &self.inner
    }

    /// Runs `f` in a write transaction and commits it durably, on the calling thread.
    pub(crate) fn write_now<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let txn = self.inner.begin_write()?;
        let out = f(&txn)?;
        txn.commit()?;
        Ok(out)
    }

    /// Like [`Db::write_now`], on tokio's blocking pool: a commit waits for
    /// fsync, which must not stall the async workers serving Raft RPCs.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_now(f))
            .await
            .map_err(|e| DbError::Worker(e.to_string()))?
    }

    /// Reads and decodes one [`META`] record.
    pub(crate) fn get_meta<T: DeserializeOwned>(
        &self,
        key: &'static str,
    ) -> Result<Option<T>, DbError> {
        let txn = self.inner.begin_read()?;
        let table = txn.open_table(META)?;
        match table.get(key)? {
            Some(bytes) => decode(key, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Encodes and durably stores one [`META`] record.
    pub(crate) async fn put_meta<T: Serialize>(
        &self,
        key: &'static str,
        value: &T,
    ) -> Result<(), DbError> {
        let bytes = encode(key, value)?;
        self.write(move |txn| {
            txn.open_table(META)?.insert(key, bytes.as_slice())?;
            Ok(())
        })
        .await
    }
}

pub(crate) fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, DbError> {
    serde_json::to_vec(value).map_err(|source| DbError::Codec { what, source })
}

pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, DbError> {
    serde_json::from_slice(bytes).map_err(|source| DbError::Codec { what, source })
}
