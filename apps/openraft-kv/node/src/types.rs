//! The node's openraft type configuration and the commands its log carries.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A command replicated through the Raft log and applied to the key-value map.
///
/// An enum, not a bare pair, so new commands (delete, compare-and-set) can be
/// added without changing the log format of existing entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    Set {
        key: String,
        value: String,
    },
    /// Sets `key` to `new` if it holds `expected` (`None`: no value).
    Cas {
        key: String,
        expected: Option<String>,
        new: String,
    },
}

/// What applying a [`KvCommand`] returns to the writer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvResponse {
    /// The value the key had before the command, if any.
    pub previous: Option<String>,
    /// A compare-and-set found another value and changed nothing.
    #[serde(default)]
    pub cas_failed: bool,
}

openraft::declare_raft_types!(
    /// openraft type configuration of the key-value node.
    pub TypeConfig:
        D = KvCommand,
        R = KvResponse,
        NodeId = NodeId,
        Node = Node,
        SnapshotData = Cursor<Vec<u8>>,
);

/// Node ids are plain integers, as on the command line.
pub type NodeId = u64;
/// A member's address book entry: `addr` is its `host:port`.
pub type Node = openraft::BasicNode;
/// The running Raft instance of this node.
pub type Raft = openraft::Raft<TypeConfig>;
/// A log entry of this node's log.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id of this node's log.
pub type LogId = openraft::LogId<NodeId>;
/// Storage errors as openraft wants them.
pub type StorageError = openraft::StorageError<NodeId>;
/// Membership as stored in the state machine.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// A snapshot of this node's state machine.
pub type Snapshot = openraft::Snapshot<TypeConfig>;
/// Metadata of a snapshot.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
