//! Storage behind a small trait (load, store, remove, execute a batch
//! atomically), with an in-memory backend for tests and a persistent one on
//! redb: a pure-Rust embedded engine the workspace already uses for the Raft
//! node, so nothing C has to be compiled. A node restarted on the persistent
//! backend rebuilds its chain from it.

use std::collections::BTreeMap;
use std::path::Path;

use parking_lot::Mutex;
use redb::{Database, ReadableDatabase, TableDefinition};

use crate::block::Block;
use crate::ledger::Ledger;
use crate::tree::{BlockError, BlockTree};

/// One change in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Set `key` to `value`.
    Store(Vec<u8>, Vec<u8>),
    /// Delete `key`.
    Remove(Vec<u8>),
}

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The backend failed.
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// A stored value does not read back.
    #[error("stored value under `{key}` is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

fn backend(error: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(error.to_string())
}

/// A stored key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Byte keys and values.
pub trait Storage: Send + Sync {
    /// The value under `key`.
    fn load(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// Applies every op, or none.
    fn execute(&self, ops: Vec<Op>) -> Result<(), StorageError>;
    /// Every entry whose key starts with `prefix`, in key order.
    fn scan(&self, prefix: &[u8]) -> Result<Vec<Entry>, StorageError>;

    /// Sets one key.
    fn store(&self, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.execute(vec![Op::Store(key.to_vec(), value.to_vec())])
    }

    /// Deletes one key.
    fn remove(&self, key: &[u8]) -> Result<(), StorageError> {
        self.execute(vec![Op::Remove(key.to_vec())])
    }
}

/// In memory: for tests and throwaway nodes.
#[derive(Default)]
pub struct MemoryStorage(Mutex<BTreeMap<Vec<u8>, Vec<u8>>>);

impl Storage for MemoryStorage {
    fn load(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.0.lock().get(key).cloned())
    }

    fn execute(&self, ops: Vec<Op>) -> Result<(), StorageError> {
        let mut map = self.0.lock();
        for op in ops {
            match op {
                Op::Store(key, value) => map.insert(key, value),
                Op::Remove(key) => map.remove(&key),
            };
        }
        Ok(())
    }

    fn scan(&self, prefix: &[u8]) -> Result<Vec<Entry>, StorageError> {
        let map = self.0.lock();
        Ok(map
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("chain");

/// On disk, in one redb file; every batch is one durable transaction.
pub struct RedbStorage(Database);

impl RedbStorage {
    /// Opens (or creates) `dir/chain.redb`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let path = dir.join("chain.redb");
        let database = Database::create(&path)
            .map_err(|e| StorageError::Backend(format!("cannot open {}: {e}", path.display())))?;
        let txn = database.begin_write().map_err(backend)?;
        txn.open_table(TABLE).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(RedbStorage(database))
    }
}

impl Storage for RedbStorage {
    fn load(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let txn = self.0.begin_read().map_err(backend)?;
        let table = txn.open_table(TABLE).map_err(backend)?;
        Ok(table.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn execute(&self, ops: Vec<Op>) -> Result<(), StorageError> {
        let txn = self.0.begin_write().map_err(backend)?;
        {
            let mut table = txn.open_table(TABLE).map_err(backend)?;
            for op in &ops {
                match op {
                    Op::Store(key, value) => {
                        table
                            .insert(key.as_slice(), value.as_slice())
                            .map_err(backend)?;
                    }
                    Op::Remove(key) => {
                        table.remove(key.as_slice()).map_err(backend)?;
                    }
                }
            }
        }
        txn.commit().map_err(backend)
    }

    fn scan(&self, prefix: &[u8]) -> Result<Vec<Entry>, StorageError> {
        let txn = self.0.begin_read().map_err(backend)?;
        let table = txn.open_table(TABLE).map_err(backend)?;
        let mut found = Vec::new();
        for row in table.range::<&[u8]>(prefix..).map_err(backend)? {
            let (key, value) = row.map_err(backend)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            found.push((key.value().to_vec(), value.value().to_vec()));
        }
        Ok(found)
    }
}

const BLOCK_PREFIX: &[u8] = b"block/";

/// Keeps `block`.
pub fn save_block(storage: &dyn Storage, block: &Block) -> Result<(), StorageError> {
    let mut key = BLOCK_PREFIX.to_vec();
    key.extend_from_slice(&block.id().0);
    let value = serde_json::to_vec(block).map_err(backend)?;
    storage.store(&key, &value)
}

/// Rebuilds a block tree from every stored block: genesis and its ledger
/// first, then the blocks by height. Blocks that fork off below the final
/// block are skipped (they can never be followed again).
pub fn load_tree(
    storage: &dyn Storage,
    genesis: Block,
    ledger: Ledger,
    k: u64,
) -> Result<BlockTree, StorageError> {
    let mut blocks = Vec::new();
    for (key, value) in storage.scan(BLOCK_PREFIX)? {
        let block: Block = serde_json::from_slice(&value).map_err(|e| StorageError::Corrupt {
            key: hex::encode(&key[BLOCK_PREFIX.len()..]),
            reason: e.to_string(),
        })?;
        blocks.push(block);
    }
    blocks.sort_by_key(|b| b.header.height);
    let mut tree = BlockTree::new(genesis, ledger, k);
    for block in blocks {
        let id = block.id();
        match tree.insert(block) {
            Ok(_) | Err(BlockError::BelowFinal { .. }) => {}
            Err(error) => {
                return Err(StorageError::Corrupt {
                    key: id.to_string(),
                    reason: error.to_string(),
                });
            }
        }
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn behaves_like_storage(storage: &dyn Storage) {
        assert_eq!(storage.load(b"a").unwrap(), None);
        storage.store(b"a", b"1").unwrap();
        assert_eq!(storage.load(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        storage
            .execute(vec![
                Op::Store(b"p/2".to_vec(), b"two".to_vec()),
                Op::Store(b"p/1".to_vec(), b"one".to_vec()),
                Op::Store(b"q/1".to_vec(), b"other".to_vec()),
                Op::Remove(b"a".to_vec()),
            ])
            .unwrap();
        assert_eq!(storage.load(b"a").unwrap(), None);
        let scanned: Vec<Vec<u8>> = storage
            .scan(b"p/")
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(
            scanned,
            [b"one".to_vec(), b"two".to_vec()],
            "in key order, only the prefix"
        );
        storage.remove(b"p/1").unwrap();
        assert_eq!(storage.scan(b"p/").unwrap().len(), 1);
    }

    #[test]
    fn the_memory_backend_behaves_like_storage() {
        behaves_like_storage(&MemoryStorage::default());
    }

    #[test]
    fn the_redb_backend_behaves_like_storage() {
        let dir = tempfile::tempdir().unwrap();
        behaves_like_storage(&RedbStorage::open(dir.path()).unwrap());
    }

    #[test]
    fn a_corrupt_block_is_a_clear_error() {
        let storage = MemoryStorage::default();
        storage.store(b"block/\x01\x02", b"not json").unwrap();
        let err = load_tree(&storage, Block::genesis(), Ledger::default(), 3)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("stored value under `0102` is corrupt"),
            "{err}"
        );
    }
}
