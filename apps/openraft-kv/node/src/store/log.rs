//! The Raft log store: vote, entries, committed and last purged log ids in redb.
//!
//! Everything here is on disk because Raft's safety depends on it: a node that
//! forgot its vote could vote twice in a term, and one that forgot entries it
//! acknowledged could lose committed writes.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, OptionalSend, StorageIOError, Vote};
use redb::{ReadableDatabase, ReadableTable};

use super::db::{Db, DbError, LOGS, decode, encode, meta_key};
use crate::types::{Entry, LogId, NodeId, StorageError, TypeConfig};

/// Log store over the shared database. Clones share the database and serve as
/// the log readers openraft asks for; redb lets reads run beside the writer.
#[derive(Clone)]
pub struct LogStore {
    db: Db,
}

impl LogStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Entries whose index is in `range`, in index order.
    fn read_range(&self, range: (Bound<u64>, Bound<u64>)) -> Result<Vec<Entry>, DbError> {
        let txn = self.db.database().begin_read()?;
        let table = txn.open_table(LOGS)?;
        let mut entries = Vec::new();
        for row in table.range::<u64>(range)? {
            let (_, bytes) = row?;
            entries.push(decode("log entry", bytes.value())?);
        }
        Ok(entries)
    }

    /// The log id of the newest entry present, if any.
    fn last_entry_id(&self) -> Result<Option<LogId>, DbError> {
        let txn = self.db.database().begin_read()?;
        let table = txn.open_table(LOGS)?;
        match table.last()? {
            Some((_, bytes)) => {
                let entry: Entry = decode("log entry", bytes.value())?;
                Ok(Some(entry.log_id))
            }
            None => Ok(None),
        }
    }

    /// Writes entries in one durable transaction.
    async fn append_entries(&self, entries: Vec<Entry>) -> Result<(), DbError> {
        let rows = entries
            .iter()
            .map(|entry| Ok((entry.log_id.index, encode("log entry", entry)?)))
            .collect::<Result<Vec<_>, DbError>>()?;
        self.db
            .write(move |txn| {
                let mut table = txn.open_table(LOGS)?;
                for (index, bytes) in &rows {
                    table.insert(index, bytes.as_slice())?;
                }
                Ok(())
            })
            .await
    }

    /// Deletes every entry at `from` and after.
    async fn truncate_from(&self, from: u64) -> Result<(), DbError> {
        self.db
            .write(move |txn| {
                txn.open_table(LOGS)?.retain_in(from.., |_, _| false)?;
                Ok(())
            })
            .await
    }

    /// Deletes every entry up to and including `upto` and records it as the
    /// last purged id, atomically, so the log's start is never unknown.
    async fn purge_upto(&self, upto: LogId) -> Result<(), DbError> {
        let marker = encode("last purged log id", &upto)?;
        self.db
            .write(move |txn| {
                txn.open_table(super::db::META)?
                    .insert(meta_key::LAST_PURGED, marker.as_slice())?;
                txn.open_table(LOGS)?
                    .retain_in(..=upto.index, |_, _| false)?;
                Ok(())
            })
            .await
    }
}

/// Wraps a database failure the way openraft reports storage errors.
fn storage_error(subject: ErrorSubject<NodeId>, verb: ErrorVerb, e: DbError) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::new(&e)).into()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        self.read_range(bounds)
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let read = |e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e);
        let last_purged_log_id: Option<LogId> =
            self.db.get_meta(meta_key::LAST_PURGED).map_err(read)?;
        // After a purge of the whole log the last purged id is also the last one.
        let last_log_id = self.last_entry_id().map_err(read)?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.db
            .put_meta(meta_key::VOTE, vote)
            .await
            .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.db
            .get_meta(meta_key::VOTE)
            .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Read, e))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.db
            .put_meta(meta_key::COMMITTED, &committed)
            .await
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let stored: Option<Option<LogId>> = self
            .db
            .get_meta(meta_key::COMMITTED)
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e))?;
        Ok(stored.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        match self.append_entries(entries).await {
            Ok(()) => {
                // The commit above returned only after fsync: now it is flushed.
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::other(e.to_string())));
                Err(storage_error(ErrorSubject::Logs, ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.truncate_from(log_id.index)
            .await
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.purge_upto(log_id)
            .await
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Delete, e))
    }
}
