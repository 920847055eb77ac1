//! Persistent storage of a node: the Raft log store and the state machine.

mod db;
mod log;
mod snapshot;
mod state_machine;

#[cfg(test)]
mod log_tests;
#[cfg(test)]
mod state_machine_tests;

use std::path::Path;

pub use db::{DB_FILE, Db, DbError};
pub use log::LogStore;
pub use snapshot::{SnapshotBuilder, SnapshotStore, StoredSnapshot};
pub use state_machine::{KvState, StateMachineData, StateMachineStore};

/// Both stores of a node, over one database file in `data_dir`.
pub struct Stores {
    pub log: LogStore,
    pub state_machine: StateMachineStore,
}

impl Stores {
    /// Opens (or creates) the database in `data_dir` and restores the state
    /// machine from the latest persisted snapshot.
    pub fn open(data_dir: &Path) -> Result<Self, DbError> {
        let db = Db::open(data_dir)?;
        let snapshots = SnapshotStore::open(db.clone())?;
        Ok(Self {
            log: LogStore::new(db),
            state_machine: StateMachineStore::new(snapshots)?,
        })
    }
}
