//! The replicated state machine (openraft's [`RaftStateMachine`]): the cluster's
//! [`ClusterState`] as the committed log made it, and its snapshots on disk.
//!
//! The state kept here is the replicated one, identical on every member; which node is
//! "myself" in it means nothing (see [`apply_replicated`]). After every batch of entries it is
//! published to the [`View`], which makes this node myself in a copy.
//!
//! `snapshot.json` holds the last snapshot: its meta (last log id, membership) and the state.
//! It is written whole and renamed into place; a restarted node starts from it and re-applies
//! the log after it.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};

use super::storage::{read_json, remove_written, write_atomic};
use super::types::{Entry, LogId, Payload, Response, SnapshotMeta, StorageError, StoredMembership, TypeConfig};
use super::view::View;
use crate::{Applied, ClusterCommand, ClusterError, ClusterState, NodeId};

const SNAPSHOT_FILE: &str = "snapshot.json";

/// The replicated state and the id of the cluster it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Replicated {
    pub cluster_id: String,
    pub state: ClusterState,
}

/// `snapshot.json`.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    replicated: Option<Replicated>,
}

#[derive(Clone, Default)]
struct Data {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    replicated: Option<Replicated>,
}

pub(crate) struct StateMachine {
    dir: PathBuf,
    data: Data,
    view: Arc<View>,
}

impl StateMachine {
    /// The state machine as the snapshot under `dir` left it (empty without one), published to
    /// `view`.
    pub(crate) fn open(dir: &Path, view: Arc<View>) -> io::Result<StateMachine> {
        let mut data = Data::default();
        if let Some(stored) = read_json::<StoredSnapshot>(&dir.join(SNAPSHOT_FILE))? {
            data.last_applied = stored.meta.last_log_id;
            data.membership = stored.meta.last_membership;
            data.replicated = stored.replicated;
        }
        if let Some(replicated) = &data.replicated {
            view.publish(replicated);
        }
        view.set_applied(data.last_applied.map_or(0, |l| l.index));
        Ok(StateMachine { dir: dir.to_path_buf(), data, view })
    }

    /// True if a snapshot was restored.
    pub(crate) fn is_blank(&self) -> bool {
        self.data.last_applied.is_none()
    }
}

/// Removes the snapshot (and its temporary file) from `dir` (CLUSTER RESET of a member).
pub(crate) fn wipe(dir: &Path) -> io::Result<()> {
    remove_written(&dir.join(SNAPSHOT_FILE))
}

/// Applies one command to the replicated state.
///
/// The replicated state has a "myself" like any [`ClusterState`], and `ClusterState` never
/// deletes myself (CLUSTER FORGET of a node does not remove it from its own view). So that
/// forgetting any node removes it from the replicated state alike on every member, myself is
/// first moved to the acting node, which FORGET never removes.
fn apply_replicated(state: &mut ClusterState, cmd: &ClusterCommand) -> Result<Applied, ClusterError> {
    if cmd.is_local() {
        return Err(ClusterError::ControlPlane(format!("a node-local command in the log: {cmd:?}")));
    }
    match cmd {
        ClusterCommand::Forget { node, target, .. }
            if NodeId::parse(target.as_bytes()) == Some(state.my_id()) && state.node(node).is_some() =>
        {
            let _ = state.set_myself(*node);
        }
        // The leaving node is removed: myself moves to any other (none: it is the last node,
        // and stays, as every member would keep it).
        ClusterCommand::Leave { node, .. } if *node == state.my_id() => {
            if let Some(other) = state.nodes().iter().map(|n| n.id).find(|id| id != node) {
                let _ = state.set_myself(other);
            }
        }
        _ => {}
    }
    state.apply(cmd)
}

/// What a snapshot's data is: the replicated state as JSON.
fn snapshot_bytes(replicated: &Option<Replicated>) -> io::Result<Vec<u8>> {
    Ok(serde_json::to_vec(replicated)?)
}

fn snapshot_error(verb: ErrorVerb, e: io::Error) -> StorageError {
    StorageError::from_io_error(ErrorSubject::Snapshot(None), verb, e)
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.data.last_applied, self.data.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        let mut changed = false;
        for entry in entries {
            self.data.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Membership(membership) => {
                    self.data.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Vec::new()
                }
                EntryPayload::Normal(Payload::Seed { cluster_id, state }) => {
                    // Only the first seed counts (a second could only come from a confused leader).
                    if self.data.replicated.is_none() {
                        self.data.replicated = Some(Replicated { cluster_id, state });
                        changed = true;
                    }
                    Vec::new()
                }
                EntryPayload::Normal(Payload::Commands(cmds)) => match &mut self.data.replicated {
                    Some(replicated) => {
                        changed = true;
                        cmds.iter().map(|cmd| apply_replicated(&mut replicated.state, cmd)).collect()
                    }
                    None => {
                        let unseeded = ClusterError::ControlPlane("the cluster has no state yet".to_string());
                        cmds.iter().map(|_| Err(unseeded.clone())).collect()
                    }
                },
            };
            responses.push(response);
        }
        if changed {
            if let Some(replicated) = &self.data.replicated {
                self.view.publish(replicated);
            }
        }
        if let Some(last) = self.data.last_applied {
            self.view.set_applied(last.index);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder { dir: self.dir.clone(), data: self.data.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let replicated: Option<Replicated> =
            serde_json::from_slice(snapshot.get_ref()).map_err(|e| snapshot_error(ErrorVerb::Read, e.into()))?;
        let stored = StoredSnapshot { meta: meta.clone(), replicated };
        let file = serde_json::to_vec(&stored).map_err(|e| snapshot_error(ErrorVerb::Write, e.into()))?;
        write_atomic(&self.dir.join(SNAPSHOT_FILE), &file, true).map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
        self.data = Data {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            replicated: stored.replicated,
        };
        if let Some(replicated) = &self.data.replicated {
            self.view.publish(replicated);
        }
        if let Some(last) = self.data.last_applied {
            self.view.set_applied(last.index);
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let stored = read_json::<StoredSnapshot>(&self.dir.join(SNAPSHOT_FILE))
            .map_err(|e| snapshot_error(ErrorVerb::Read, e))?;
        match stored {
            None => Ok(None),
            Some(stored) => {
                let bytes = snapshot_bytes(&stored.replicated).map_err(|e| snapshot_error(ErrorVerb::Read, e))?;
                Ok(Some(Snapshot { meta: stored.meta, snapshot: Box::new(Cursor::new(bytes)) }))
            }
        }
    }
}

/// Takes a snapshot of the state as it was when openraft asked for the builder.
pub(crate) struct SnapshotBuilder {
    dir: PathBuf,
    data: Data,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let snapshot_id = match &self.data.last_applied {
            Some(id) => format!("{}-{}", id.leader_id.term, id.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: self.data.last_applied,
            last_membership: self.data.membership.clone(),
            snapshot_id,
        };
        let stored = StoredSnapshot { meta: meta.clone(), replicated: self.data.replicated.clone() };
        let file = serde_json::to_vec(&stored).map_err(|e| snapshot_error(ErrorVerb::Write, e.into()))?;
        write_atomic(&self.dir.join(SNAPSHOT_FILE), &file, true).map_err(|e| snapshot_error(ErrorVerb::Write, e))?;
        let bytes = snapshot_bytes(&self.data.replicated).map_err(|e| snapshot_error(ErrorVerb::Read, e))?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Node;

    #[test]
    fn forgetting_the_replicated_myself_removes_it() {
        let (a, b, c) = (NodeId::random(), NodeId::random(), NodeId::random());
        let mut state = ClusterState::new(Node::new(a, "127.0.0.1", 7000, 17000));
        for (id, port) in [(b, 7001), (c, 7002)] {
            let mut node = Node::new(id, "127.0.0.1", port, port + 10000);
            node.flags = crate::NodeFlags::MASTER;
            state.apply(&ClusterCommand::AddNode { node: Box::new(node) }).unwrap();
        }
        state.apply(&ClusterCommand::AddSlots { node: a, ranges: vec![(0, 9)] }).unwrap();
        // a is the replicated state's myself (it seeded the cluster); b forgets it.
        let forget = ClusterCommand::Forget { node: b, target: a.to_string(), now_ms: 0 };
        assert_eq!(apply_replicated(&mut state, &forget), Ok(Applied::Ok));
        assert!(state.node(&a).is_none(), "gone, as on every other member");
        assert_eq!(state.slots_assigned(), 0);
        assert_eq!(state.my_id(), b);
        // The same command on a copy whose myself is c gives the same state but for myself.
        let mut other = ClusterState::new(Node::new(a, "127.0.0.1", 7000, 17000));
        for (id, port) in [(b, 7001), (c, 7002)] {
            let mut node = Node::new(id, "127.0.0.1", port, port + 10000);
            node.flags = crate::NodeFlags::MASTER;
            other.apply(&ClusterCommand::AddNode { node: Box::new(node) }).unwrap();
        }
        other.set_myself(c).unwrap();
        other.apply(&ClusterCommand::AddSlots { node: a, ranges: vec![(0, 9)] }).unwrap();
        assert_eq!(apply_replicated(&mut other, &forget), Ok(Applied::Ok));
        other.set_myself(b).unwrap();
        assert_eq!(other, state);
        // Node-local commands never apply from the log.
        let link = ClusterCommand::SetHealth { health: crate::ClusterHealth::Ok };
        assert!(matches!(apply_replicated(&mut state, &link), Err(ClusterError::ControlPlane(_))));
    }
}
