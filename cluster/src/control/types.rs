//! The Raft type configuration: who the members are, what the log carries, what applying it
//! answers.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::{Applied, ClusterCommand, ClusterError, ClusterState, NodeId};

/// A member's Raft id: its cluster node id. (A wrapper because openraft wants `Default`.)
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RaftId(pub NodeId);

impl Default for RaftId {
    fn default() -> RaftId {
        RaftId(NodeId::from_bytes_hex(&[0; 20]))
    }
}

impl fmt::Display for RaftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for RaftId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short, for openraft's logs.
        f.write_str(&self.0.as_str()[..8])
    }
}

/// What one log entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// The first entry of a cluster: the seed node's own state (its pending claims) becomes the
    /// replicated state, under a fresh random cluster id.
    Seed { cluster_id: String, state: ClusterState },
    /// Commands applied in order to the replicated state, each all or nothing
    /// ([`ClusterState::apply`]); one result per command.
    Commands(Vec<ClusterCommand>),
}

/// What applying a [`Payload`] answers: one result per command (none for a seed, a blank or a
/// membership entry). A refused command is still a committed entry: every node refuses it alike.
pub type Response = Vec<Result<Applied, ClusterError>>;

openraft::declare_raft_types!(
    /// Ferrocache's control plane: [`RaftId`] members reached at a `BasicNode { addr }` bus
    /// address, logging [`Payload`]s.
    pub TypeConfig:
        D = Payload,
        R = Response,
        NodeId = RaftId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<RaftId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type Vote = openraft::Vote<RaftId>;
pub type StorageError = openraft::StorageError<RaftId>;
pub type StoredMembership = openraft::StoredMembership<RaftId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<RaftId, openraft::BasicNode>;
