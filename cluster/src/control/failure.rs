//! Failure detection and automatic failover, Redis Cluster's rules decided through Raft.
//!
//! * **`fail?` (PFAIL)** is each node's own verdict: a node it has not heard from (no pong to
//!   its pings, see `links.rs`) for `cluster-node-timeout`. A local observation, never logged.
//! * **Failure reports**: every pong carries the answering node's [`NodeStatus`], which lists
//!   the nodes it flags `fail?` or `fail`. A report from a master stays valid for twice the
//!   node timeout (`CLUSTER_FAIL_REPORT_VALIDITY_MULT`); COUNT-FAILURE-REPORTS counts them.
//! * **`fail` (FAIL)** is the cluster's: the Raft leader marks a node failed when it flags it
//!   `fail?` itself and a majority of the slot-serving masters agree (`needed_quorum`, the
//!   leader counting itself when it is a master), as `markNodeAsFailingIfNeeded` does.
//! * **Failover**: in the same log entry as the FAIL of a master with slots, the leader
//!   promotes its best replica: one it hears from, not `nofailover`, not `replica-priority 0`,
//!   whose data is fresh enough (`cluster-replica-validity-factor`, judged by the replica:
//!   [`NodeStatus::can_fail_over`]); the highest replication offset wins, then the lowest
//!   priority. One committed entry, so there is never a moment with two masters for a slot in
//!   the log; Redis's election delays (500 ms plus a rank delay) are not needed.
//! * **Coming back**: the leader clears FAIL (`clearNodeFailureIfNeeded`) once it hears from the
//!   node again, at once for a replica or a master without slots, after twice the node timeout
//!   for a master that still has its slots (nobody took over).
//!
//! **Replica migration**: a replica of a master with more working replicas than
//! `cluster-migration-barrier` moves to an orphaned master (no working replica left), as
//! `clusterHandleSlaveMigration` decides it, by committing its new role.
//!
//! The minority side of a partition stops by Redis's own rule, in
//! [`ClusterState::evaluate_health`]: fewer than a majority of the masters reachable (`fail?`
//! counts as unreachable) means `cluster_state:fail`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::network::{Reply, Request};
use super::types::Payload;
use super::ControlPlane;
use crate::{ClusterCommand, ClusterError, ClusterState, NodeId, MAX_NODES};

/// What a node tells the nodes that ping it (in each pong).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Its replication offset: a master's `master_repl_offset`, a replica's processed offset.
    pub repl_offset: i64,
    /// `replica-priority`: lower is preferred; 0 never becomes a master.
    pub replica_priority: u32,
    /// A replica that may be promoted: `cluster-replica-no-failover no` and its data not older
    /// than `cluster-replica-validity-factor` allows.
    pub can_fail_over: bool,
    /// The nodes it flags `fail?` or `fail` (filled in by the control plane).
    #[serde(default)]
    pub suspects: Vec<NodeId>,
}

impl Default for NodeStatus {
    fn default() -> NodeStatus {
        NodeStatus { repl_offset: 0, replica_priority: 100, can_fail_over: true, suspects: Vec::new() }
    }
}

/// A node's failure-detection memory.
///
/// Lock order: `failed_since` → `heard` → `peers`; `local`, and `had_replicas` →
/// `orphaned_since`, on their own. All are leaves below the view's state lock: no state lock
/// is taken while one of these is held (callers read a clone of the state).
#[derive(Default)]
pub(crate) struct Detector {
    /// This node's own status, as the server last set it.
    local: Mutex<NodeStatus>,
    /// The last status each peer answered with, and when.
    peers: Mutex<HashMap<NodeId, (NodeStatus, Instant)>>,
    /// When each node was last heard from (a pong); a node never heard from counts from when
    /// this node first pinged it.
    heard: Mutex<HashMap<NodeId, Instant>>,
    /// On the leader: when each node was seen failed (to time `clearNodeFailureIfNeeded`).
    failed_since: Mutex<HashMap<NodeId, Instant>>,
    /// Masters seen with a replica (Redis's `CLUSTER_NODE_MIGRATE_TO`): only those count as
    /// orphaned when they have none left.
    had_replicas: Mutex<HashSet<NodeId>>,
    /// When each orphaned master was first seen orphaned.
    orphaned_since: Mutex<HashMap<NodeId, Instant>>,
}

/// How long a master stays orphaned before a replica moves to it
/// (`CLUSTER_SLAVE_MIGRATION_DELAY`).
const MIGRATION_DELAY: Duration = Duration::from_millis(5000);

impl Detector {
    /// Records one ping's outcome.
    pub(crate) fn observe(&self, node: NodeId, status: Option<NodeStatus>) {
        let now = Instant::now();
        let mut heard = self.heard.lock();
        match status {
            Some(mut status) => {
                heard.insert(node, now);
                status.suspects.truncate(MAX_NODES);
                self.peers.lock().insert(node, (status, now));
            }
            None => {
                heard.entry(node).or_insert(now);
            }
        }
    }

    /// `nodeTimedOut`'s test: not heard from for `timeout`.
    fn timed_out(&self, node: &NodeId, timeout: Duration) -> bool {
        self.heard.lock().get(node).is_some_and(|at| at.elapsed() > timeout)
    }

    /// A peer's status if it is fresh (answered within `validity`).
    fn status(&self, node: &NodeId, validity: Duration) -> Option<NodeStatus> {
        self.peers.lock().get(node).filter(|(_, at)| at.elapsed() <= validity).map(|(s, _)| s.clone())
    }

    /// Forgets nodes no longer in the state.
    fn retain(&self, known: impl Fn(&NodeId) -> bool) {
        self.heard.lock().retain(|id, _| known(id));
        self.peers.lock().retain(|id, _| known(id));
        self.failed_since.lock().retain(|id, _| known(id));
        self.had_replicas.lock().retain(|id| known(id));
        self.orphaned_since.lock().retain(|id, _| known(id));
    }
}

/// What the server does when a replica asks for a manual failover: pause writes for the
/// given time and answer its replication offset.
pub type PauseHook = std::sync::Arc<dyn Fn(Duration) -> i64 + Send + Sync>;

impl ControlPlane {
    /// Installs the server's [`PauseHook`] (without one, manual failovers are refused).
    pub fn set_pause_hook(&self, hook: PauseHook) {
        *self.pause_hook.lock() = Some(hook);
    }

    /// A replica's request to pause for its manual failover (see [`PauseHook`]).
    pub(crate) fn pause_for_failover(&self, from: NodeId, pause_ms: u64) -> Result<i64, ClusterError> {
        let is_my_replica = {
            let state = self.view.state();
            let state = state.read();
            state.myself().is_master() && state.node(&from).is_some_and(|n| n.primary == Some(state.my_id()))
        };
        if !is_my_replica {
            return Err(ClusterError::ControlPlane(format!("{from} is not a replica of this node")));
        }
        let hook = self.pause_hook.lock().clone();
        let hook = hook.ok_or_else(|| ClusterError::ControlPlane("no pause hook".to_string()))?;
        tracing::info!(replica = %from, "Manual failover requested by replica");
        // At most CLUSTER_MF_TIMEOUT × 2, as Redis pauses.
        Ok(hook(Duration::from_millis(pause_ms.min(10_000))))
    }

    /// A manual failover's first step, on the replica: asks `master` to pause its writes for
    /// `pause` and answers its replication offset then.
    pub async fn request_failover_pause(&self, master: NodeId, pause: Duration) -> Result<i64, ClusterError> {
        let addr = {
            let state = self.view.state();
            let state = state.read();
            let node = state.node(&master).ok_or_else(|| ClusterError::ControlPlane("unknown master".to_string()))?;
            let ip: std::net::IpAddr =
                node.ip.parse().map_err(|_| ClusterError::ControlPlane("the master has no address".to_string()))?;
            std::net::SocketAddr::new(ip, node.cport).to_string()
        };
        let request = Request::PauseForFailover { from: self.me(), pause_ms: pause.as_millis() as u64 };
        let mut peer = self.peer(addr);
        match peer.call(&request, self.timing.rpc).await {
            Ok(Reply::Paused(result)) => result,
            Ok(_) => Err(ClusterError::ControlPlane("unexpected answer from the master".to_string())),
            Err(e) => Err(ClusterError::ControlPlane(format!("master unreachable: {e}"))),
        }
    }

    /// Sets this node's status, which its pongs carry (the server calls it from its cron).
    pub fn set_local_status(&self, status: NodeStatus) {
        *self.detector.local.lock() = status;
    }

    /// The status a pong carries: the server's part and the nodes flagged `fail?` or `fail`.
    pub(crate) fn status_for_pong(&self) -> NodeStatus {
        let mut status = self.detector.local.lock().clone();
        let state = self.view.state();
        let state = state.read();
        status.suspects = state.nodes().iter().filter(|n| n.is_failed() || n.is_timed_out()).map(|n| n.id).collect();
        status
    }

    /// After each round of pings: this node's `fail?` flags, the failure reports it holds and
    /// the offsets it heard; on the leader, the FAIL / failover / recovery decisions.
    pub(crate) async fn after_pings(&self) {
        let timeout = self.timing.node_timeout;
        let validity = timeout * 2;
        let state = self.view.state().read().clone();
        let me = state.my_id();
        self.detector.retain(|id| state.node(id).is_some());
        let mut observations = Vec::new();
        for node in state.nodes().iter().filter(|n| n.id != me && !n.in_handshake()) {
            let pfail = !node.is_failed() && self.detector.timed_out(&node.id, timeout);
            if pfail != node.is_timed_out() {
                if pfail {
                    tracing::info!(node = %node.id, "Marking node as failing (quorum not reached yet)");
                }
                observations.push(ClusterCommand::SetFailState { node: node.id, pfail, fail: node.is_failed() });
            }
            let reports = self.failure_reports(&state, &node.id, validity);
            if reports != node.failure_reports {
                observations.push(ClusterCommand::SetFailureReports { node: node.id, count: reports });
            }
            if let Some(status) = self.detector.status(&node.id, validity) {
                if status.repl_offset != node.repl_offset {
                    observations.push(ClusterCommand::SetReplOffset { node: node.id, offset: status.repl_offset });
                }
            }
        }
        let mine = self.detector.local.lock().repl_offset;
        if mine != state.myself().repl_offset {
            observations.push(ClusterCommand::SetReplOffset { node: me, offset: mine });
        }
        for cmd in &observations {
            let _ = self.view.apply_observation(cmd);
        }
        if observations.iter().any(|c| matches!(c, ClusterCommand::SetFailState { .. })) {
            self.view.bump();
        }
        let state = self.view.state().read().clone();
        if let Some(target) = self.orphan_to_adopt(&state) {
            tracing::info!(master = %target, "Migrating to orphaned master");
            let adopt = ClusterCommand::SetRole { node: me, primary: Some(target) };
            if let Err(e) = self.propose(adopt).await {
                tracing::warn!("replica migration: {e}");
            }
        }
        if self.is_leader() && self.majority_answered(&state, self.timing.node_timeout) {
            self.fence.quorum_acked(Duration::ZERO);
        }
        if self.is_leader() {
            for decision in self.decide(&state) {
                if let Err(e) = self.raft().client_write(Payload::Commands(decision)).await {
                    tracing::warn!("failure detection: cannot commit: {e}");
                }
            }
        }
    }

    /// The masters other than this node that report `node` `fail?` or `fail` in a status
    /// received within `validity` (`clusterNodeFailureReportsCount`).
    fn failure_reports(&self, state: &ClusterState, node: &NodeId, validity: Duration) -> u64 {
        state
            .nodes()
            .iter()
            .filter(|n| n.id != state.my_id() && n.id != *node && n.is_master())
            .filter(|n| self.detector.status(&n.id, validity).is_some_and(|s| s.suspects.contains(node)))
            .count() as u64
    }

    /// The leader's decisions: one log entry each.
    fn decide(&self, state: &ClusterState) -> Vec<Vec<ClusterCommand>> {
        let timeout = self.timing.node_timeout;
        let validity = timeout * 2;
        let me = state.my_id();
        let quorum = state.cluster_size() / 2 + 1;
        let mut entries = Vec::new();
        let mut failed_since = self.detector.failed_since.lock();
        for node in state.nodes().iter().filter(|n| n.id != me && !n.in_handshake()) {
            let reachable = !self.detector.timed_out(&node.id, timeout);
            if node.is_failed() {
                let since = *failed_since.entry(node.id).or_insert_with(Instant::now);
                let serves_slots = node.is_master() && state.slot_count(&node.id) > 0;
                if reachable && (!serves_slots || since.elapsed() > validity) {
                    tracing::info!(node = %node.id, "Clear FAIL state for node: it is reachable again");
                    entries.push(vec![ClusterCommand::ClearFail { node: node.id }]);
                }
                continue;
            }
            failed_since.remove(&node.id);
            if reachable || state.cluster_size() == 0 {
                continue;
            }
            let reports =
                self.failure_reports(state, &node.id, validity) as usize + usize::from(state.myself().is_master());
            if reports < quorum {
                continue;
            }
            tracing::info!(node = %node.id, reports, quorum, "Marking node as failing");
            // FAIL first: the failover then knows the old master is down.
            let mut entry = vec![ClusterCommand::SetFailState { node: node.id, pfail: false, fail: true }];
            if node.is_master() && state.slot_count(&node.id) > 0 {
                match self.best_replica(state, &node.id) {
                    Some(replica) => {
                        tracing::info!(failed = %node.id, promoted = %replica, "Failover: promoting the best replica");
                        entry.push(ClusterCommand::Failover { node: replica, takeover: false });
                    }
                    None => tracing::warn!(node = %node.id, "A failed master has no replica that can take over"),
                }
            }
            entries.push(entry);
        }
        entries
    }

    /// The replica of `master` to promote, if any can be (see the module docs).
    fn best_replica(&self, state: &ClusterState, master: &NodeId) -> Option<NodeId> {
        let timeout = self.timing.node_timeout;
        let me = state.my_id();
        state
            .replicas_of(master)
            .filter(|r| !r.is_failed() && !r.flags.contains(crate::NodeFlags::NOFAILOVER))
            .filter_map(|r| {
                let status = if r.id == me {
                    Some(self.detector.local.lock().clone())
                } else if self.detector.timed_out(&r.id, timeout) {
                    None
                } else {
                    self.detector.status(&r.id, timeout * 2)
                };
                status.filter(|s| s.can_fail_over && s.replica_priority != 0).map(|s| (r.id, s))
            })
            .min_by_key(|(id, s)| (std::cmp::Reverse(s.repl_offset), s.replica_priority, *id))
            .map(|(id, _)| id)
    }

    /// Replica migration (`clusterHandleSlaveMigration`): the orphaned master this replica
    /// should move to, if it is the one to go. Only while the cluster is ok, only from a master
    /// with the most working replicas (at least two), more than `cluster-migration-barrier`,
    /// only the replica with the smallest id among those masters' replicas, and only once a
    /// master with slots that had replicas has had none working for [`MIGRATION_DELAY`].
    fn orphan_to_adopt(&self, state: &ClusterState) -> Option<NodeId> {
        let me = state.myself();
        let working = |n: &&crate::Node| !n.is_failed() && !n.is_timed_out();
        let working_replicas = |id: &NodeId| state.replicas_of(id).filter(working).count();
        let mut had = self.detector.had_replicas.lock();
        had.extend(state.nodes().iter().filter(|n| n.is_replica()).filter_map(|n| n.primary));
        let masters: Vec<&crate::Node> = state.nodes().iter().filter(|n| n.is_master()).collect();
        let mut orphaned_since = self.detector.orphaned_since.lock();
        let mut target = None;
        for master in &masters {
            let orphaned = !master.is_failed() && had.contains(&master.id) && working_replicas(&master.id) == 0;
            if !orphaned {
                orphaned_since.remove(&master.id);
                continue;
            }
            let since = *orphaned_since.entry(master.id).or_insert_with(Instant::now);
            if target.is_none() && state.slot_count(&master.id) > 0 {
                target = Some((master.id, since));
            }
        }
        let config = state.config();
        let my_master = me.primary.filter(|_| me.is_replica())?;
        let max = masters.iter().map(|m| working_replicas(&m.id)).max().unwrap_or(0);
        let mine = working_replicas(&my_master);
        if !config.allow_replica_migration
            || state.health() != crate::ClusterHealth::Ok
            || max < 2
            || mine != max
            || mine as u64 <= config.migration_barrier
        {
            return None;
        }
        let candidate = masters
            .iter()
            .filter(|m| working_replicas(&m.id) == max)
            .flat_map(|m| state.replicas_of(&m.id))
            .map(|r| r.id)
            .min()?;
        let (target, since) = target?;
        (candidate == me.id && since.elapsed() > MIGRATION_DELAY).then_some(target)
    }

    /// Whether, counting this node, a majority of the nodes (every member is a voter)
    /// answered its pings within `within`: the leader's side of the write fence. (openraft's
    /// `millis_since_quorum_ack` is computed when metrics are reported, which an idle cluster
    /// does not do, so it can be neither trusted fresh nor stale.)
    fn majority_answered(&self, state: &ClusterState, within: Duration) -> bool {
        let me = state.my_id();
        let members: Vec<&crate::Node> = state.nodes().iter().filter(|n| !n.in_handshake()).collect();
        let answered = members.iter().filter(|n| n.id != me && self.detector.status(&n.id, within).is_some()).count();
        (answered + 1) * 2 > members.len()
    }

    /// Whether this node is the Raft leader now.
    pub(crate) fn is_leader(&self) -> bool {
        let me = self.me();
        self.raft().metrics().borrow().current_leader.is_some_and(|l| l.0 == me)
    }
}
