//! [`ClusterState`]: the node table, the slot → owner table, open (migrating / importing)
//! slots and epochs, changed only by [`ClusterState::apply`]ing a [`ClusterCommand`].
//!
//! The operations are those of Redis 7.0's `cluster.c`, with its checks, its order of checks
//! and its error texts. Two differences of shape make the state a replicated state machine:
//!
//! * **Every command names the node acting** (`node`), where Redis means "myself": a command
//!   proposed by node A and applied on node B changes A's view, not B's. Which node is
//!   "myself" is only a property of the viewer ([`ClusterState::my_id`]), used when rendering
//!   replies and routing, never by `apply`.
//! * **Facts only the acting node knows travel in the command**: whether its keyspace is empty
//!   (`db_keys`), how many keys a slot holds (`keys_in_slot`), its `cluster-allow-replica-migration`
//!   setting; random ids are drawn before ([`NodeId::random`]). So `apply` reads no clock,
//!   draws no random number, and gives the same result on every node.
//!
//! Per-node open slots follow from the first point: Redis keeps one `migrating_slots_to` /
//! `importing_slots_from` table per process; here each [`Node`] holds its own, and CLUSTER NODES
//! prints those of myself, as Redis does.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::ClusterError;
use crate::node::{LinkState, Node, NodeFlags, NodeId};
use crate::slot::{slot_ranges, SLOTS};

/// Slot table entry of an unassigned slot.
const NO_OWNER: u16 = u16::MAX;

/// Most nodes a state holds (node indices are `u16`, one value marks unassigned slots).
pub const MAX_NODES: usize = NO_OWNER as usize;

/// How long a forgotten node stays on the forget list (`CLUSTER_BLACKLIST_TTL`, 60 s).
pub const FORGET_TTL_MS: u64 = 60_000;

/// A node on the forget list: forgotten (by a FORGET or its own RESET) until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forgotten {
    /// Unix ms after which the entry no longer counts.
    pub until_ms: u64,
    /// The nodes that have sent FORGET for it: a second FORGET from one of them is refused
    /// (`Unknown node`), as a Redis node refuses a node it has already forgotten.
    pub by: Vec<NodeId>,
}

/// `cluster_state` of CLUSTER INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ClusterHealth {
    Ok,
    /// A fresh node starts `fail`, as Redis does.
    #[default]
    Fail,
}

/// What `cluster-preferred-endpoint-type` says to put in redirections and CLUSTER SLOTS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointType {
    /// The node's IP (the default).
    #[default]
    Ip,
    /// The node's announced hostname, `?` when it has none.
    Hostname,
    /// An empty endpoint (`""` in redirections, a null in CLUSTER SLOTS).
    Unknown,
}

/// The node-local `cluster-*` settings that routing and replies read. Not replicated and not
/// serialized: after deserializing a state, set them again with [`ClusterState::set_config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterConfig {
    /// `cluster-require-full-coverage` (yes): used by [`ClusterState::evaluate_health`].
    pub require_full_coverage: bool,
    /// `cluster-allow-reads-when-down` (no).
    pub allow_reads_when_down: bool,
    /// `cluster-allow-pubsubshard-when-down` (yes).
    pub allow_pubsubshard_when_down: bool,
    /// `cluster-preferred-endpoint-type` (ip).
    pub preferred_endpoint: EndpointType,
    /// `cluster-allow-replica-migration` (yes): a replica may move to an orphaned master.
    pub allow_replica_migration: bool,
    /// `cluster-migration-barrier` (1): replicas a master keeps before one of them may move.
    pub migration_barrier: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            require_full_coverage: true,
            allow_reads_when_down: false,
            allow_pubsubshard_when_down: true,
            preferred_endpoint: EndpointType::Ip,
            allow_replica_migration: true,
            migration_barrier: 1,
        }
    }
}

/// The action of CLUSTER SETSLOT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetSlotAction {
    /// `SETSLOT <slot> MIGRATING <node-id>`, the id as the client gave it.
    Migrating(String),
    /// `SETSLOT <slot> IMPORTING <node-id>`.
    Importing(String),
    /// `SETSLOT <slot> STABLE`.
    Stable,
    /// `SETSLOT <slot> NODE <node-id>`.
    Node {
        target: String,
        /// Keys the acting node holds in the slot (`countKeysInSlot`).
        keys_in_slot: u64,
        /// The acting node's `cluster-allow-replica-migration` (default yes): a master that
        /// gives away its last slot becomes a replica of the receiver.
        allow_replica_migration: bool,
        /// The acting node was importing the slot (its open slots are node-local, not in the
        /// replicated state): giving the slot to itself then takes a new config epoch.
        #[serde(default)]
        closing_import: bool,
        /// The acting node was migrating the slot to the target: the slot counts as its own
        /// (a master left without slots then follows them).
        #[serde(default)]
        migrating_to_target: bool,
    },
}

/// Every change a [`ClusterState`] can undergo. Apply it with [`ClusterState::apply`].
///
/// `node` is always the node acting (the one a client sent the CLUSTER command to); ids given
/// by clients stay `String`s so that refusals echo them verbatim. Commands marked *local* carry
/// one node's own observations (bus links, failure detection, replication offsets) and are meant
/// to be applied to that node's state only, not proposed to the replicated log
/// ([`ClusterCommand::is_local`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterCommand {
    /// CLUSTER ADDSLOTS (one `(s, s)` range per slot argument) and ADDSLOTSRANGE: assign the
    /// slots to `node`, all or none.
    AddSlots { node: NodeId, ranges: Vec<(u16, u16)> },
    /// CLUSTER DELSLOTS / DELSLOTSRANGE: unassign the slots, all or none.
    DelSlots { node: NodeId, ranges: Vec<(u16, u16)> },
    /// A member's DELSLOTS of its own slots, committed a little after it took them out of its
    /// own view (see `ControlPlane::del_slots`): unassigns those of `slots` that `node` still
    /// serves, and nothing else; never refused.
    ReleaseSlots { node: NodeId, slots: Vec<u16> },
    /// CLUSTER FLUSHSLOTS: unassign every slot of `node`, whose keyspace holds `db_keys` keys.
    FlushSlots { node: NodeId, db_keys: u64 },
    /// CLUSTER SETSLOT.
    SetSlot { node: NodeId, slot: u16, action: SetSlotAction },
    /// CLUSTER BUMPEPOCH (also what a TAKEOVER failover does first).
    BumpEpoch { node: NodeId },
    /// CLUSTER SET-CONFIG-EPOCH.
    SetConfigEpoch { node: NodeId, epoch: i64 },
    /// CLUSTER MEET: start a handshake with `ip:port@cport` under the random id `id`.
    Meet { id: NodeId, ip: String, port: i64, cport: i64 },
    /// The handshake with a node finished: it is really `to` (`clusterRenameNode`); clears
    /// `handshake`.
    RenameNode { from: NodeId, to: NodeId },
    /// Add a node learned whole (from gossip, from the control plane). Its `primary`, if any,
    /// and the targets of its open slots must be known.
    AddNode { node: Box<Node> },
    /// CLUSTER FORGET: `node` forgets `target`, which stays on the forget list
    /// ([`ClusterState::forgotten`]) for [`FORGET_TTL_MS`] after `now_ms` (unix ms, read by the
    /// proposer: applying reads no clock).
    ///
    /// In Redis each node forgets on its own (`redis-cli --cluster del-node` sends FORGET to
    /// every node); here the first FORGET removes the node from the replicated state. So that
    /// the others' FORGETs still succeed, as they do in Redis, a FORGET of a node on the list
    /// answers `+OK` once per node that has not forgotten it yet, within the 60 s Redis keeps
    /// its blacklist (`clusterBlacklistAddNode`); after that, or a second time on one node,
    /// `Unknown node`, as Redis answers for a node it no longer knows.
    Forget {
        node: NodeId,
        target: String,
        #[serde(default)]
        now_ms: u64,
    },
    /// `node` leaves the cluster (CLUSTER RESET of a member): every other node forgets it, as
    /// if each had been sent FORGET, and it goes on the forget list with nobody having
    /// forgotten it yet, so that the FORGETs `redis-cli` or a user sends afterwards succeed. A
    /// node already gone: nothing to do. The viewer's own node is not removed from its own view.
    Leave { node: NodeId, now_ms: u64 },
    /// CLUSTER REPLICATE: `node`, whose keyspace holds `db_keys` keys, replicates `target`.
    Replicate { node: NodeId, target: String, db_keys: u64 },
    /// Turn `node` into a master (`primary: None`) or a replica of `primary`, unchecked: a role
    /// learned from elsewhere (gossip, the control plane).
    SetRole { node: NodeId, primary: Option<NodeId> },
    /// A replica takes over its master (`clusterFailoverReplaceYourMaster`): it becomes master
    /// with a new config epoch and all its master's slots; the old master and its other
    /// replicas become its replicas (as they do in Redis once they hear of it). `takeover`
    /// takes the epoch as BUMPEPOCH does instead of as an election winner.
    Failover { node: NodeId, takeover: bool },
    /// CLUSTER RESET \[HARD\]: `node` forgets every other node and all slots, becomes a master;
    /// HARD also zeroes the epochs and renames it `new_id`. A node's own affair: apply it locally.
    Reset { node: NodeId, hard: bool, new_id: NodeId, db_keys: u64 },
    /// A node's address changed (`nodeUpdateAddressIfNeeded`, `cluster-announce-*`); clears `noaddr`.
    SetAddress { node: NodeId, ip: String, port: u16, cport: u16, hostname: String },
    /// *Local*: bus link state and ping / pong times (unix ms).
    SetLink { node: NodeId, link: LinkState, ping_sent: u64, pong_received: u64 },
    /// *Local* (`fail?`) / replicated (`fail`): failure detection's verdict.
    SetFailState { node: NodeId, pfail: bool, fail: bool },
    /// The cluster no longer deems `node` failed (`clearNodeFailureIfNeeded`): clears `fail`.
    ClearFail { node: NodeId },
    /// *Local*: a node's replication offset.
    SetReplOffset { node: NodeId, offset: i64 },
    /// *Local*: failure reports about a node (COUNT-FAILURE-REPORTS).
    SetFailureReports { node: NodeId, count: u64 },
    /// *Local*: `cluster-replica-no-failover` of a node.
    SetNoFailover { node: NodeId, on: bool },
    /// *Local*: the verdict of `clusterUpdateState` (see [`ClusterState::evaluate_health`]).
    SetHealth { health: ClusterHealth },
    /// An epoch seen elsewhere: the current epoch becomes at least `epoch`.
    ObserveEpoch { epoch: u64 },
    /// The last epoch this node voted in (kept in nodes.conf).
    SetLastVoteEpoch { epoch: u64 },
}

impl ClusterCommand {
    /// True for the commands that record one node's own observations: apply them to that node's
    /// state, don't replicate them.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            ClusterCommand::SetLink { .. }
                | ClusterCommand::SetReplOffset { .. }
                | ClusterCommand::SetFailureReports { .. }
                | ClusterCommand::SetNoFailover { .. }
                | ClusterCommand::SetHealth { .. }
                | ClusterCommand::SetFailState { fail: false, .. }
                | ClusterCommand::Reset { .. }
        )
    }

    /// True for SETSLOT MIGRATING / IMPORTING / STABLE: in Redis these are node-local (never
    /// gossiped; only myself's open slots are shown or used), and so they are here: the
    /// control plane applies them to the acting node's view only. They are not
    /// [`is_local`](Self::is_local): older replicated logs hold some, and still apply.
    pub fn is_open_slot_mark(&self) -> bool {
        matches!(
            self,
            ClusterCommand::SetSlot {
                action: SetSlotAction::Migrating(_) | SetSlotAction::Importing(_) | SetSlotAction::Stable,
                ..
            }
        )
    }
}

/// What an applied command answers, when it is more than `+OK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    Ok,
    /// CLUSTER BUMPEPOCH took a new epoch: `+BUMPED <epoch>`.
    Bumped(u64),
    /// CLUSTER BUMPEPOCH kept the epoch: `+STILL <epoch>`.
    Still(u64),
}

impl Applied {
    /// The reply Redis sends for it.
    pub fn to_reply(self) -> ferrocache_protocol::Reply {
        use ferrocache_protocol::Reply;
        match self {
            Applied::Ok => Reply::OK,
            Applied::Bumped(e) => Reply::Simple(format!("BUMPED {e}").into()),
            Applied::Still(e) => Reply::Simple(format!("STILL {e}").into()),
        }
    }
}

/// A node's view of the cluster. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StateRepr", into = "StateRepr")]
pub struct ClusterState {
    myself: NodeId,
    /// Index of myself in `nodes`.
    my_index: usize,
    current_epoch: u64,
    last_vote_epoch: u64,
    health: ClusterHealth,
    config: ClusterConfig,
    /// In the order CLUSTER NODES prints them (insertion order).
    nodes: Vec<Node>,
    /// Slot → index in `nodes`, or `NO_OWNER`. 32 KiB.
    owners: Box<[u16]>,
    /// Slots owned, per index in `nodes`.
    slot_counts: Vec<u16>,
    /// Recently forgotten nodes (Redis's `nodes_black_list`), see [`ClusterCommand::Forget`].
    forgotten: BTreeMap<NodeId, Forgotten>,
}

impl ClusterState {
    /// The state of a fresh node (`clusterInit` without a nodes.conf): it knows only itself.
    /// `me` gets the `master` flag unless it has `slave` already.
    pub fn new(mut me: Node) -> ClusterState {
        if !me.flags.intersects(NodeFlags::MASTER | NodeFlags::SLAVE) {
            me.flags.insert(NodeFlags::MASTER);
        }
        me.primary = None;
        me.migrating.clear();
        me.importing.clear();
        ClusterState {
            myself: me.id,
            my_index: 0,
            current_epoch: 0,
            last_vote_epoch: 0,
            health: ClusterHealth::Fail,
            config: ClusterConfig::default(),
            nodes: vec![me],
            owners: vec![NO_OWNER; usize::from(SLOTS)].into_boxed_slice(),
            slot_counts: vec![0],
            forgotten: BTreeMap::new(),
        }
    }

    // ----- reading -----

    pub fn my_id(&self) -> NodeId {
        self.myself
    }
    pub fn myself(&self) -> &Node {
        &self.nodes[self.my_index]
    }
    /// Every node, in CLUSTER NODES order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.index_of(id).map(|i| &self.nodes[i])
    }
    /// The node a client-given name designates (`clusterLookupNode`): `None` for unknown
    /// ids and for anything that is not an id.
    pub fn lookup(&self, name: &[u8]) -> Option<&Node> {
        NodeId::parse(name).and_then(|id| self.node(&id))
    }
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }
    pub fn last_vote_epoch(&self) -> u64 {
        self.last_vote_epoch
    }
    pub fn health(&self) -> ClusterHealth {
        self.health
    }
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }
    /// Replaces the node-local settings (they are not part of the replicated state).
    pub fn set_config(&mut self, config: ClusterConfig) {
        self.config = config;
    }

    /// The forget list: nodes forgotten recently, with when they leave it (entries past their
    /// time are dropped by the next FORGET or RESET applied, and never count).
    pub fn forgotten(&self) -> &BTreeMap<NodeId, Forgotten> {
        &self.forgotten
    }

    /// Makes `id` the viewer's own node ("myself"), e.g. after installing a snapshot taken on
    /// another node.
    pub fn set_myself(&mut self, id: NodeId) -> Result<(), ClusterError> {
        let index = self.index_of(&id).ok_or_else(|| unknown_id(&id))?;
        self.myself = id;
        self.my_index = index;
        Ok(())
    }

    /// The node serving `slot`, if any (`server.cluster->slots[slot]`).
    pub fn slot_owner(&self, slot: u16) -> Option<&Node> {
        self.owner_index(slot).map(|i| &self.nodes[i])
    }
    /// How many slots the node serves (`numslots`); 0 for unknown nodes.
    pub fn slot_count(&self, id: &NodeId) -> usize {
        self.index_of(id).map_or(0, |i| usize::from(self.slot_counts[i]))
    }
    /// The node's slots as ascending inclusive ranges.
    pub fn slot_ranges_of(&self, id: &NodeId) -> Vec<(u16, u16)> {
        match self.index_of(id) {
            Some(i) if self.slot_counts[i] > 0 => {
                slot_ranges((0..SLOTS).filter(|&s| self.owners[usize::from(s)] == i as u16))
            }
            _ => Vec::new(),
        }
    }
    /// Every node's slot ranges, in one pass over the slot table (`clusterGenNodesSlotsInfo`),
    /// indexed like [`ClusterState::nodes`].
    pub fn slot_ranges_by_node(&self) -> Vec<Vec<(u16, u16)>> {
        let mut ranges = vec![Vec::new(); self.nodes.len()];
        for (start, end, owner) in self.slot_run_indices() {
            ranges[owner].push((start, end));
        }
        ranges
    }
    /// Runs of consecutive slots with the same owner, in slot order, with the owner:
    /// the rows of CLUSTER SLOTS.
    pub fn slot_runs(&self) -> Vec<(u16, u16, &Node)> {
        self.slot_run_indices().map(|(start, end, owner)| (start, end, &self.nodes[owner])).collect()
    }
    /// Runs of consecutive assigned slots with one owner: `(start, end, owner index)`.
    fn slot_run_indices(&self) -> impl Iterator<Item = (u16, u16, usize)> + '_ {
        let mut start = 0usize;
        std::iter::from_fn(move || {
            while start < usize::from(SLOTS) {
                let owner = self.owners[start];
                let mut end = start;
                while end + 1 < usize::from(SLOTS) && self.owners[end + 1] == owner {
                    end += 1;
                }
                let run = (start as u16, end as u16, usize::from(owner));
                start = end + 1;
                if owner != NO_OWNER {
                    return Some(run);
                }
            }
            None
        })
    }
    /// Number of assigned slots.
    pub fn slots_assigned(&self) -> usize {
        self.slot_counts.iter().map(|&c| usize::from(c)).sum()
    }
    /// The replicas of `id` (nodes whose primary it is), in node table order.
    pub fn replicas_of<'a>(&'a self, id: &'a NodeId) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes.iter().filter(move |n| n.primary.as_ref() == Some(id))
    }
    /// Where myself is migrating `slot` to.
    pub fn migrating_to(&self, slot: u16) -> Option<&NodeId> {
        self.myself().migrating.get(&slot)
    }
    /// Where myself is importing `slot` from.
    pub fn importing_from(&self, slot: u16) -> Option<&NodeId> {
        self.myself().importing.get(&slot)
    }
    /// `cluster_size`: masters serving at least one slot.
    pub fn cluster_size(&self) -> usize {
        self.nodes.iter().zip(&self.slot_counts).filter(|(n, &c)| n.is_master() && c > 0).count()
    }
    /// `clusterGetMaxEpoch`: the greatest config epoch, or the current epoch if greater.
    pub fn max_epoch(&self) -> u64 {
        self.nodes.iter().map(|n| n.config_epoch).max().unwrap_or(0).max(self.current_epoch)
    }
    /// The epoch CLUSTER INFO calls `cluster_my_epoch` and CLUSTER NODES prints for a node:
    /// a replica with a known primary shows its primary's config epoch.
    pub fn shown_epoch(&self, node: &Node) -> u64 {
        match (node.is_replica(), node.primary.as_ref().and_then(|p| self.node(p))) {
            (true, Some(primary)) => primary.config_epoch,
            _ => node.config_epoch,
        }
    }

    /// The verdict of `clusterUpdateState` on this state, without its timers (the 2 s writable
    /// delay after start-up and the rejoin delay after a partition, which the caller owns):
    /// `fail` if full coverage is required and a slot is unassigned or served by a FAIL node,
    /// or if fewer than a majority of the slot-serving masters are reachable (neither FAIL nor
    /// PFAIL). Record the verdict with [`ClusterCommand::SetHealth`].
    pub fn evaluate_health(&self) -> ClusterHealth {
        if self.config.require_full_coverage
            && self.owners.iter().any(|&o| o == NO_OWNER || self.nodes[usize::from(o)].is_failed())
        {
            return ClusterHealth::Fail;
        }
        let size = self.cluster_size();
        let reachable = self
            .nodes
            .iter()
            .zip(&self.slot_counts)
            .filter(|(n, &c)| n.is_master() && c > 0 && !n.flags.intersects(NodeFlags::FAIL | NodeFlags::PFAIL))
            .count();
        if reachable < size / 2 + 1 {
            ClusterHealth::Fail
        } else {
            ClusterHealth::Ok
        }
    }

    /// The preconditions of CLUSTER FAILOVER [FORCE|TAKEOVER] on `node` (`force` for both
    /// options): it must be a replica of a known master which, unless forced, is neither
    /// failed nor disconnected.
    pub fn check_failover(&self, node: &NodeId, force: bool) -> Result<(), ClusterError> {
        let me = self.node(node).ok_or_else(|| unknown_id(node))?;
        if me.is_master() {
            return Err(ClusterError::FailoverOnMaster);
        }
        let primary = me.primary.as_ref().and_then(|p| self.node(p)).ok_or(ClusterError::FailoverMasterUnknown)?;
        if !force && (primary.is_failed() || primary.link == LinkState::Disconnected) {
            return Err(ClusterError::FailoverMasterDown);
        }
        Ok(())
    }

    /// The checks of CLUSTER ADDSLOTS / DELSLOTS\[RANGE\] (`checkSlotAssignmentsOrReply`), in
    /// Redis's order, without changing anything: the slots named, or the first refusal.
    pub fn check_slot_assignments(&self, del: bool, ranges: &[(u16, u16)]) -> Result<Vec<u16>, ClusterError> {
        let mut seen = vec![false; usize::from(SLOTS)];
        let mut slots = Vec::new();
        for &(start, end) in ranges {
            if start >= SLOTS || end >= SLOTS {
                return Err(ClusterError::InvalidSlot);
            }
            if start > end {
                return Err(ClusterError::SlotRangeReversed(start, end));
            }
            for slot in start..=end {
                let assigned = self.owners[usize::from(slot)] != NO_OWNER;
                if del && !assigned {
                    return Err(ClusterError::SlotUnassigned(slot));
                }
                if !del && assigned {
                    return Err(ClusterError::SlotBusy(slot));
                }
                if std::mem::replace(&mut seen[usize::from(slot)], true) {
                    return Err(ClusterError::SlotRepeated(slot));
                }
                slots.push(slot);
            }
        }
        slots.sort_unstable();
        Ok(slots)
    }

    // ----- changing -----

    /// Applies `command`: all of it, or nothing and the error Redis replies with.
    /// Deterministic: the same command on equal states gives equal states.
    pub fn apply(&mut self, command: &ClusterCommand) -> Result<Applied, ClusterError> {
        use ClusterCommand as C;
        match command {
            C::AddSlots { node, ranges } => self.update_slots(node, ranges, false),
            C::DelSlots { node, ranges } => self.update_slots(node, ranges, true),
            C::ReleaseSlots { node, slots } => {
                let acting = self.acting(node)?;
                for &slot in slots {
                    if self.owner_index(slot) == Some(acting) {
                        self.del_slot(slot);
                    }
                }
                Ok(Applied::Ok)
            }
            C::FlushSlots { node, db_keys } => {
                let acting = self.acting(node)?;
                if *db_keys != 0 {
                    return Err(ClusterError::FlushSlotsNotEmpty);
                }
                for slot in 0..SLOTS {
                    if self.owner_index(slot) == Some(acting) {
                        self.del_slot(slot);
                    }
                }
                Ok(Applied::Ok)
            }
            C::SetSlot { node, slot, action } => self.set_slot(node, *slot, action),
            C::BumpEpoch { node } => {
                let acting = self.acting(node)?;
                Ok(if self.bump_epoch(acting) {
                    Applied::Bumped(self.nodes[acting].config_epoch)
                } else {
                    Applied::Still(self.nodes[acting].config_epoch)
                })
            }
            C::SetConfigEpoch { node, epoch } => {
                let acting = self.acting(node)?;
                if *epoch < 0 {
                    Err(ClusterError::InvalidConfigEpoch(*epoch))
                } else if self.nodes.len() > 1 {
                    Err(ClusterError::ConfigEpochOtherNodes)
                } else if self.nodes[acting].config_epoch != 0 {
                    Err(ClusterError::ConfigEpochNonZero)
                } else {
                    let epoch = *epoch as u64;
                    self.nodes[acting].config_epoch = epoch;
                    self.current_epoch = self.current_epoch.max(epoch);
                    Ok(Applied::Ok)
                }
            }
            C::Meet { id, ip, port, cport } => self.meet(*id, ip, *port, *cport),
            C::RenameNode { from, to } => {
                let index = self.index_of(from).ok_or_else(|| unknown_id(from))?;
                if self.index_of(to).is_some() && from != to {
                    return Err(ClusterError::Invalid(format!("node {to} is already known")));
                }
                self.rename(index, *to);
                self.nodes[index].flags.remove(NodeFlags::HANDSHAKE | NodeFlags::MEET);
                Ok(Applied::Ok)
            }
            C::AddNode { node } => self.add_node(node),
            C::Forget { node, target, now_ms } => self.forget(node, target, *now_ms),
            C::Leave { node, now_ms } => {
                if let Some(n) = self.index_of(node).filter(|&n| n != self.my_index) {
                    self.del_node_forgotten(n, *now_ms, Vec::new());
                }
                Ok(Applied::Ok)
            }
            C::Replicate { node, target, db_keys } => {
                let acting = self.acting(node)?;
                let n = self.lookup_index(target).ok_or_else(|| ClusterError::UnknownNode(target.clone()))?;
                if n == acting {
                    return Err(ClusterError::ReplicateMyself);
                }
                if self.nodes[n].is_replica() {
                    return Err(ClusterError::ReplicateReplica);
                }
                if self.nodes[acting].is_master() && (self.slot_counts[acting] != 0 || *db_keys != 0) {
                    return Err(ClusterError::ReplicateNotEmpty);
                }
                self.set_master(acting, n);
                Ok(Applied::Ok)
            }
            C::SetRole { node, primary } => {
                let acting = self.acting(node)?;
                match primary {
                    None => self.set_node_as_master(acting),
                    Some(p) => {
                        let n = self.index_of(p).ok_or_else(|| unknown_id(p))?;
                        if n == acting {
                            return Err(ClusterError::ReplicateMyself);
                        }
                        let node = &mut self.nodes[acting];
                        node.flags.remove(NodeFlags::MASTER);
                        node.flags.insert(NodeFlags::SLAVE);
                        node.primary = Some(*p);
                        node.migrating.clear();
                        node.importing.clear();
                    }
                }
                Ok(Applied::Ok)
            }
            C::Failover { node, takeover } => self.failover(node, *takeover),
            C::Reset { node, hard, new_id, db_keys } => self.reset(node, *hard, *new_id, *db_keys),
            C::SetAddress { node, ip, port, cport, hostname } => {
                let n = self.node_mut(node)?;
                n.ip.clone_from(ip);
                n.port = *port;
                n.cport = *cport;
                n.hostname.clone_from(hostname);
                n.flags.remove(NodeFlags::NOADDR);
                Ok(Applied::Ok)
            }
            C::SetLink { node, link, ping_sent, pong_received } => {
                let n = self.node_mut(node)?;
                n.link = *link;
                n.ping_sent = *ping_sent;
                n.pong_received = *pong_received;
                Ok(Applied::Ok)
            }
            C::SetFailState { node, pfail, fail } => {
                let n = self.node_mut(node)?;
                n.flags.set(NodeFlags::PFAIL, *pfail);
                n.flags.set(NodeFlags::FAIL, *fail);
                Ok(Applied::Ok)
            }
            C::ClearFail { node } => {
                let index = self.acting(node)?;
                self.nodes[index].flags.remove(NodeFlags::FAIL);
                // A master failed over while it was down learns it on its return (Redis: the
                // UPDATE message): it replicates the node that took its slots.
                if let Some(heir) = self.nodes[index].failed_over_to.take() {
                    if let Some(h) = self.index_of(&heir) {
                        if h != index && self.nodes[h].is_master() && self.slot_counts[index] == 0 {
                            self.set_master(index, h);
                        }
                    }
                }
                Ok(Applied::Ok)
            }
            C::SetReplOffset { node, offset } => {
                self.node_mut(node)?.repl_offset = *offset;
                Ok(Applied::Ok)
            }
            C::SetFailureReports { node, count } => {
                self.node_mut(node)?.failure_reports = *count;
                Ok(Applied::Ok)
            }
            C::SetNoFailover { node, on } => {
                self.node_mut(node)?.flags.set(NodeFlags::NOFAILOVER, *on);
                Ok(Applied::Ok)
            }
            C::SetHealth { health } => {
                self.health = *health;
                Ok(Applied::Ok)
            }
            C::ObserveEpoch { epoch } => {
                self.current_epoch = self.current_epoch.max(*epoch);
                Ok(Applied::Ok)
            }
            C::SetLastVoteEpoch { epoch } => {
                self.last_vote_epoch = *epoch;
                Ok(Applied::Ok)
            }
        }
    }

    // ----- internals -----

    pub(crate) fn index_of(&self, id: &NodeId) -> Option<usize> {
        if self.nodes.get(self.my_index).is_some_and(|n| n.id == *id) {
            return Some(self.my_index);
        }
        self.nodes.iter().position(|n| n.id == *id)
    }

    fn lookup_index(&self, name: &str) -> Option<usize> {
        NodeId::parse(name.as_bytes()).and_then(|id| self.index_of(&id))
    }

    /// The index of the acting node of a command.
    fn acting(&self, id: &NodeId) -> Result<usize, ClusterError> {
        self.index_of(id).ok_or_else(|| unknown_id(id))
    }

    fn node_mut(&mut self, id: &NodeId) -> Result<&mut Node, ClusterError> {
        let index = self.acting(id)?;
        Ok(&mut self.nodes[index])
    }

    #[inline]
    pub(crate) fn owner_index(&self, slot: u16) -> Option<usize> {
        match self.owners.get(usize::from(slot)) {
            Some(&o) if o != NO_OWNER => Some(usize::from(o)),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn my_index(&self) -> usize {
        self.my_index
    }

    #[inline]
    pub(crate) fn node_at(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// `clusterAddSlot` after `clusterDelSlot`: `slot` now belongs to `index`.
    fn assign(&mut self, slot: u16, index: usize) {
        self.del_slot(slot);
        self.owners[usize::from(slot)] = index as u16;
        self.slot_counts[index] += 1;
    }

    /// `clusterDelSlot`.
    fn del_slot(&mut self, slot: u16) {
        if let Some(old) = self.owner_index(slot) {
            self.slot_counts[old] -= 1;
            self.owners[usize::from(slot)] = NO_OWNER;
        }
    }

    fn update_slots(&mut self, node: &NodeId, ranges: &[(u16, u16)], del: bool) -> Result<Applied, ClusterError> {
        let acting = self.acting(node)?;
        let slots = self.check_slot_assignments(del, ranges)?;
        for slot in slots {
            // Now the real owner (or the slot is gone): an import of it is over.
            self.nodes[acting].importing.remove(&slot);
            if del {
                self.del_slot(slot);
            } else {
                self.assign(slot, acting);
            }
        }
        Ok(Applied::Ok)
    }

    fn set_slot(&mut self, node: &NodeId, slot: u16, action: &SetSlotAction) -> Result<Applied, ClusterError> {
        let acting = self.acting(node)?;
        if self.nodes[acting].is_replica() {
            return Err(ClusterError::SetSlotOnReplica);
        }
        if slot >= SLOTS {
            return Err(ClusterError::InvalidSlot);
        }
        let owner = self.owner_index(slot);
        match action {
            SetSlotAction::Migrating(target) => {
                if owner != Some(acting) {
                    return Err(ClusterError::NotSlotOwner(slot));
                }
                let n = self.open_slot_peer(target)?;
                self.nodes[acting].migrating.insert(slot, n);
            }
            SetSlotAction::Importing(target) => {
                if owner == Some(acting) {
                    return Err(ClusterError::AlreadySlotOwner(slot));
                }
                let n = self.open_slot_peer(target)?;
                self.nodes[acting].importing.insert(slot, n);
            }
            SetSlotAction::Stable => {
                self.nodes[acting].importing.remove(&slot);
                self.nodes[acting].migrating.remove(&slot);
            }
            SetSlotAction::Node {
                target,
                keys_in_slot,
                allow_replica_migration,
                closing_import,
                migrating_to_target,
            } => {
                let n = self.lookup_index(target).ok_or_else(|| ClusterError::UnknownNode(target.clone()))?;
                if self.nodes[n].is_replica() {
                    return Err(ClusterError::TargetNotMaster);
                }
                if owner == Some(acting) && n != acting && *keys_in_slot != 0 {
                    return Err(ClusterError::SlotHasKeys(slot));
                }
                // The slot was the acting node's: it still owns it, or it was migrating it to the
                // target, whose own `SETSLOT NODE` (redis-cli informs the target first) already
                // gave it the slot in the one replicated state.
                let target_id = self.nodes[n].id;
                let was_mine = owner == Some(acting)
                    || *migrating_to_target
                    || self.nodes[acting].migrating.get(&slot) == Some(&target_id);
                // Giving the slot away with no keys left closes a migration.
                if *keys_in_slot == 0 {
                    self.nodes[acting].migrating.remove(&slot);
                }
                self.assign(slot, n);
                // A master left without slots follows them (replica migration).
                if was_mine && n != acting && self.slot_counts[acting] == 0 && *allow_replica_migration {
                    self.set_master(acting, n);
                }
                // Closing an import: take a new config epoch so that the new owner wins. The
                // importing mark is the acting node's own (`closing_import`); older logs had it
                // in the replicated state.
                if n == acting && (*closing_import || self.nodes[acting].importing.contains_key(&slot)) {
                    self.bump_epoch(acting);
                    self.nodes[acting].importing.remove(&slot);
                }
            }
        }
        Ok(Applied::Ok)
    }

    /// Lays a node-local open slot of myself again over a new state (the control plane's
    /// view): myself must still be a master and `peer` still known, else the mark is over.
    /// Unlike SETSLOT, ownership is not checked: Redis keeps a migrating slot after the target
    /// took it, and an importing one after someone else's change handed it to myself.
    pub(crate) fn reopen_slot(&mut self, slot: u16, peer: NodeId, importing: bool) -> Result<(), ClusterError> {
        if slot >= SLOTS {
            return Err(ClusterError::InvalidSlot);
        }
        if !self.myself().is_master() {
            return Err(ClusterError::SetSlotOnReplica);
        }
        if self.index_of(&peer).is_none() {
            return Err(unknown_id(&peer));
        }
        let me = &mut self.nodes[self.my_index];
        if importing {
            me.importing.insert(slot, peer);
        } else {
            me.migrating.insert(slot, peer);
        }
        Ok(())
    }

    /// Lays myself's `SETSLOT <slot> NODE <target>`, answered but not yet committed, over a new
    /// state (the control plane's view): `target` serves the slot; nothing else changes (the
    /// epoch, a role: the commit brings those). False if `target` is no longer a known master.
    pub(crate) fn lay_handoff(&mut self, slot: u16, target: &NodeId) -> bool {
        match self.index_of(target) {
            Some(n) if slot < SLOTS && !self.nodes[n].is_replica() => {
                self.assign(slot, n);
                true
            }
            _ => false,
        }
    }

    /// Gives `slot` back to `owner` (none: unassigned) in a view, when a handoff laid over it
    /// ends without its commit. An owner no longer a known master leaves the slot unassigned.
    pub(crate) fn restore_slot_owner(&mut self, slot: u16, owner: Option<&NodeId>) {
        if !owner.is_some_and(|o| self.lay_handoff(slot, o)) && slot < SLOTS {
            self.del_slot(slot);
        }
    }

    /// Unassigns `slot` in a view (myself's DELSLOTS of a slot another node serves).
    pub(crate) fn unassign(&mut self, slot: u16) {
        if slot < SLOTS {
            self.del_slot(slot);
        }
    }

    /// Closes myself's open slot marks for `slot` (migrating and / or importing).
    pub(crate) fn close_my_open_slot(&mut self, slot: u16, migrating: bool, importing: bool) {
        let me = &mut self.nodes[self.my_index];
        if migrating {
            me.migrating.remove(&slot);
        }
        if importing {
            me.importing.remove(&slot);
        }
    }

    /// Closes all of myself's open slot marks.
    pub(crate) fn close_my_open_slots(&mut self) {
        let me = &mut self.nodes[self.my_index];
        me.migrating.clear();
        me.importing.clear();
    }

    /// The other end of a MIGRATING / IMPORTING slot: a known node that is not a replica.
    fn open_slot_peer(&self, target: &str) -> Result<NodeId, ClusterError> {
        let n = self.lookup_index(target).ok_or_else(|| ClusterError::NodeNotKnown(target.to_string()))?;
        if self.nodes[n].is_replica() {
            return Err(ClusterError::TargetNotMaster);
        }
        Ok(self.nodes[n].id)
    }

    /// `clusterBumpConfigEpochWithoutConsensus`: true if a new epoch was taken.
    fn bump_epoch(&mut self, index: usize) -> bool {
        let max = self.max_epoch();
        let node = &mut self.nodes[index];
        if node.config_epoch == 0 || node.config_epoch != max {
            self.current_epoch += 1;
            node.config_epoch = self.current_epoch;
            true
        } else {
            false
        }
    }

    /// `clusterSetMaster`: `index` replicates `primary`; a master turning replica closes its
    /// open slots.
    fn set_master(&mut self, index: usize, primary: usize) {
        let primary_id = self.nodes[primary].id;
        let node = &mut self.nodes[index];
        if node.is_master() {
            node.flags.remove(NodeFlags::MASTER);
            node.flags.insert(NodeFlags::SLAVE);
            node.migrating.clear();
            node.importing.clear();
        }
        node.primary = Some(primary_id);
    }

    /// `clusterSetNodeAsMaster`.
    fn set_node_as_master(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        if node.is_master() {
            return;
        }
        node.flags.remove(NodeFlags::SLAVE);
        node.flags.insert(NodeFlags::MASTER);
        node.primary = None;
    }

    fn meet(&mut self, id: NodeId, ip: &str, port: i64, cport: i64) -> Result<Applied, ClusterError> {
        let invalid = || ClusterError::InvalidNodeAddress(ip.to_string(), port.to_string());
        // inet_pton(AF_INET) then inet_pton(AF_INET6), and the address as inet_ntop prints it.
        let addr: IpAddr = ip.parse().map_err(|_| invalid())?;
        if !(1..=65535).contains(&port) || !(1..=65535).contains(&cport) {
            return Err(invalid());
        }
        let norm_ip = addr.to_string();
        let (port, cport) = (port as u16, cport as u16);
        // A handshake with that address already under way: Redis answers +OK and does nothing.
        if self
            .nodes
            .iter()
            .any(|n| n.in_handshake() && n.ip.eq_ignore_ascii_case(&norm_ip) && n.port == port && n.cport == cport)
        {
            return Ok(Applied::Ok);
        }
        let mut node = Node::new(id, norm_ip, port, cport);
        node.flags = NodeFlags::HANDSHAKE | NodeFlags::MEET;
        self.push_node(node)?;
        Ok(Applied::Ok)
    }

    fn add_node(&mut self, node: &Node) -> Result<Applied, ClusterError> {
        let refs = node.primary.iter().chain(node.migrating.values()).chain(node.importing.values());
        if let Some(missing) = refs.into_iter().find(|id| self.index_of(id).is_none() && **id != node.id) {
            return Err(unknown_id(missing));
        }
        self.push_node(node.clone())?;
        // Known again (met again after a FORGET): off the forget list.
        self.forgotten.remove(&node.id);
        Ok(Applied::Ok)
    }

    /// CLUSTER FORGET, in Redis's order of checks, with the forget list standing in for the
    /// nodes that have not forgotten `target` yet (see [`ClusterCommand::Forget`]).
    fn forget(&mut self, node: &NodeId, target: &str, now_ms: u64) -> Result<Applied, ClusterError> {
        let acting = self.acting(node)?;
        let Some(n) = self.lookup_index(target) else {
            let listed = NodeId::parse(target.as_bytes())
                .filter(|id| self.forgotten.get(id).is_some_and(|f| f.until_ms > now_ms && !f.by.contains(node)));
            return match listed {
                Some(id) => {
                    self.prune_forgotten(now_ms);
                    if let Some(entry) = self.forgotten.get_mut(&id) {
                        entry.by.push(*node);
                    }
                    Ok(Applied::Ok)
                }
                None => Err(ClusterError::UnknownNode(target.to_string())),
            };
        };
        if n == acting {
            return Err(ClusterError::ForgetMyself);
        }
        if self.nodes[acting].is_replica() && self.nodes[acting].primary == Some(self.nodes[n].id) {
            return Err(ClusterError::ForgetMyMaster);
        }
        self.del_node_forgotten(n, now_ms, vec![*node]);
        Ok(Applied::Ok)
    }

    /// Removes node `n` and puts it on the forget list from `now_ms`, forgotten already `by`
    /// those nodes.
    fn del_node_forgotten(&mut self, n: usize, now_ms: u64, by: Vec<NodeId>) {
        let id = self.nodes[n].id;
        self.prune_forgotten(now_ms);
        self.del_node(n);
        self.forgotten.insert(id, Forgotten { until_ms: now_ms.saturating_add(FORGET_TTL_MS), by });
    }

    /// Drops the forget list's entries whose time is over at `now_ms` (`clusterBlacklistCleanup`).
    fn prune_forgotten(&mut self, now_ms: u64) {
        self.forgotten.retain(|_, f| f.until_ms > now_ms);
    }

    fn push_node(&mut self, node: Node) -> Result<(), ClusterError> {
        if self.index_of(&node.id).is_some() {
            return Err(ClusterError::Invalid(format!("node {} is already known", node.id)));
        }
        if self.nodes.len() >= MAX_NODES {
            return Err(ClusterError::Invalid("too many nodes".to_string()));
        }
        self.nodes.push(node);
        self.slot_counts.push(0);
        Ok(())
    }

    /// Renames the node at `index`, and every reference to it.
    fn rename(&mut self, index: usize, to: NodeId) {
        let from = std::mem::replace(&mut self.nodes[index].id, to);
        for node in &mut self.nodes {
            if node.primary == Some(from) {
                node.primary = Some(to);
            }
            for target in node.migrating.values_mut().chain(node.importing.values_mut()) {
                if *target == from {
                    *target = to;
                }
            }
        }
        if self.myself == from {
            self.myself = to;
        }
    }

    /// `clusterDelNode`: the node's slots become unassigned, open slots naming it close, its
    /// replicas lose their primary, and it leaves the table. The viewer's own node is never
    /// removed from its own view (another node forgetting it changes nothing for it, as in
    /// Redis), so [`ClusterState::myself`] always exists.
    fn del_node(&mut self, index: usize) {
        if index == self.my_index {
            return;
        }
        let id = self.nodes[index].id;
        for slot in 0..SLOTS {
            if self.owner_index(slot) == Some(index) {
                self.del_slot(slot);
            }
        }
        for node in &mut self.nodes {
            node.migrating.retain(|_, t| *t != id);
            node.importing.retain(|_, t| *t != id);
            if node.primary == Some(id) {
                node.primary = None;
            }
        }
        self.nodes.remove(index);
        self.slot_counts.remove(index);
        let removed = index as u16;
        for owner in self.owners.iter_mut() {
            if *owner != NO_OWNER && *owner > removed {
                *owner -= 1;
            }
        }
        if self.my_index > index {
            self.my_index -= 1;
        }
    }

    fn failover(&mut self, node: &NodeId, takeover: bool) -> Result<Applied, ClusterError> {
        let acting = self.acting(node)?;
        if self.nodes[acting].is_master() {
            return Err(ClusterError::FailoverOnMaster);
        }
        let old =
            self.nodes[acting].primary.and_then(|p| self.index_of(&p)).ok_or(ClusterError::FailoverMasterUnknown)?;
        if takeover {
            self.bump_epoch(acting);
        } else {
            // The election's epoch (`failover_auth_epoch`): one past the current epoch.
            self.current_epoch += 1;
            self.nodes[acting].config_epoch = self.current_epoch;
        }
        self.set_node_as_master(acting);
        for slot in 0..SLOTS {
            if self.owner_index(slot) == Some(old) {
                self.assign(slot, acting);
            }
        }
        // What the others do when they hear of it (`clusterUpdateSlotsConfigWith`): the old
        // master, left without slots, and its other replicas follow the new master.
        let new_id = self.nodes[acting].id;
        let old_id = self.nodes[old].id;
        if self.nodes[old].is_failed() {
            // Down, it cannot hear of it: a master without slots until it is back (ClearFail).
            self.nodes[old].failed_over_to = Some(new_id);
        } else {
            self.set_master(old, acting);
        }
        for node in &mut self.nodes {
            if node.primary == Some(old_id) {
                node.primary = Some(new_id);
            }
        }
        Ok(Applied::Ok)
    }

    fn reset(&mut self, node: &NodeId, hard: bool, new_id: NodeId, db_keys: u64) -> Result<Applied, ClusterError> {
        let acting = self.acting(node)?;
        if self.nodes[acting].is_master() && db_keys != 0 {
            return Err(ClusterError::ResetMasterWithKeys);
        }
        if hard && new_id != self.nodes[acting].id && self.index_of(&new_id).is_some() {
            return Err(ClusterError::Invalid(format!("node {new_id} is already known")));
        }
        if self.nodes[acting].is_replica() {
            self.set_node_as_master(acting);
        }
        let me = &mut self.nodes[acting];
        me.migrating.clear();
        me.importing.clear();
        for slot in 0..SLOTS {
            self.del_slot(slot);
        }
        let mut index = 0;
        while index < self.nodes.len() {
            if self.nodes[index].id == *node || index == self.my_index {
                index += 1;
            } else {
                self.del_node(index);
            }
        }
        if hard {
            let acting = self.acting(node)?;
            self.current_epoch = 0;
            self.last_vote_epoch = 0;
            self.nodes[acting].config_epoch = 0;
            self.rename(acting, new_id);
        }
        Ok(Applied::Ok)
    }

    /// Builds a state from nodes with their slots, checking every invariant (used by
    /// deserialization and the nodes.conf / CLUSTER NODES parsers).
    pub(crate) fn from_parts(
        myself: NodeId,
        current_epoch: u64,
        last_vote_epoch: u64,
        nodes: Vec<(Node, Vec<(u16, u16)>)>,
    ) -> Result<ClusterState, ClusterError> {
        if nodes.len() > MAX_NODES {
            return Err(ClusterError::Invalid("too many nodes".to_string()));
        }
        let mut owners = vec![NO_OWNER; usize::from(SLOTS)].into_boxed_slice();
        let mut slot_counts = vec![0u16; nodes.len()];
        for (index, (_, ranges)) in nodes.iter().enumerate() {
            for &(start, end) in ranges {
                if start > end || end >= SLOTS {
                    return Err(ClusterError::Invalid(format!("bad slot range {start}-{end}")));
                }
                for slot in start..=end {
                    let entry = &mut owners[usize::from(slot)];
                    if *entry != NO_OWNER {
                        return Err(ClusterError::Invalid(format!("slot {slot} has two owners")));
                    }
                    *entry = index as u16;
                    slot_counts[index] += 1;
                }
            }
        }
        let nodes: Vec<Node> = nodes.into_iter().map(|(n, _)| n).collect();
        for (i, node) in nodes.iter().enumerate() {
            if nodes[..i].iter().any(|n| n.id == node.id) {
                return Err(ClusterError::Invalid(format!("node {} listed twice", node.id)));
            }
        }
        for node in &nodes {
            let refs = node.primary.iter().chain(node.migrating.values()).chain(node.importing.values());
            if let Some(missing) = refs.into_iter().find(|id| !nodes.iter().any(|n| n.id == **id)) {
                return Err(unknown_id(missing));
            }
            if node.migrating.keys().chain(node.importing.keys()).any(|&s| s >= SLOTS) {
                return Err(ClusterError::InvalidSlot);
            }
        }
        let my_index = nodes.iter().position(|n| n.id == myself).ok_or_else(|| unknown_id(&myself))?;
        Ok(ClusterState {
            myself,
            my_index,
            current_epoch,
            last_vote_epoch,
            health: ClusterHealth::Fail,
            config: ClusterConfig::default(),
            nodes,
            owners,
            slot_counts,
            forgotten: BTreeMap::new(),
        })
    }
}

fn unknown_id(id: &NodeId) -> ClusterError {
    ClusterError::Invalid(format!("Unknown node {id}"))
}

/// The serialized form: nodes with their slot ranges, so a snapshot is small and readable.
#[derive(Serialize, Deserialize)]
struct StateRepr {
    myself: NodeId,
    current_epoch: u64,
    last_vote_epoch: u64,
    health: ClusterHealth,
    nodes: Vec<NodeRepr>,
    /// Absent from states serialized before the forget list existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    forgotten: BTreeMap<NodeId, Forgotten>,
}

#[derive(Serialize, Deserialize)]
struct NodeRepr {
    node: Node,
    slots: Vec<(u16, u16)>,
}

impl From<ClusterState> for StateRepr {
    fn from(state: ClusterState) -> StateRepr {
        let ranges = state.slot_ranges_by_node();
        let nodes = state.nodes.iter().zip(ranges).map(|(n, slots)| NodeRepr { node: n.clone(), slots }).collect();
        StateRepr {
            myself: state.myself,
            current_epoch: state.current_epoch,
            last_vote_epoch: state.last_vote_epoch,
            health: state.health,
            nodes,
            forgotten: state.forgotten,
        }
    }
}

impl TryFrom<StateRepr> for ClusterState {
    type Error = ClusterError;
    fn try_from(repr: StateRepr) -> Result<ClusterState, ClusterError> {
        let nodes = repr.nodes.into_iter().map(|n| (n.node, n.slots)).collect();
        let mut state = ClusterState::from_parts(repr.myself, repr.current_epoch, repr.last_vote_epoch, nodes)?;
        state.health = repr.health;
        state.forgotten = repr.forgotten;
        Ok(state)
    }
}

#[cfg(test)]
pub(crate) mod tests;
