//! The applied state the server reads ([`View`]): the replicated state seen from this node, or
//! this node's pending state while it is in no cluster, plus its local observations.
//!
//! * **Pending** (no cluster yet): the state is this node's own, changed directly by
//!   [`View::apply_pending`]. What it claims there (its slots, its config epoch, its current
//!   epoch) is what it brings into the cluster it joins ([`View::claims`], [`View::seed_state`]).
//! * **Member**: every apply of the replicated state machine publishes a copy of the replicated
//!   state with `myself` set to this node ([`View::publish`]). The pending state is dropped then:
//!   its claims went into the log with the join.
//!
//! Local observations ([`ClusterCommand::is_local`]: link state, `fail?`, replication offsets,
//! failure reports, `nofailover`, the `cluster_state` verdict) never go through the log; the
//! latest of each kind per node is kept here and laid again over every published state, so a
//! topology change does not wipe them. The node-local [`crate::ClusterConfig`] is kept too.
//!
//! Myself's open slots (SETSLOT MIGRATING / IMPORTING / STABLE,
//! [`ClusterCommand::is_open_slot_mark`]) are node-local as in Redis, kept here per slot and
//! laid again over every published state ([`ClusterState::reopen_slot`]); one that no longer
//! fits (myself became a replica, the peer was forgotten) is dropped. They end as Redis ends
//! them ([`View::close_open_slots`]): STABLE; myself's SETSLOT NODE (the migration once no key
//! is left, the import when myself takes the slot); myself's ADDSLOTS / DELSLOTS (the import).
//! At start-up they are those of the initial state (nodes.conf's `[slot->-id]` marks). An
//! import of a slot myself owns ends whenever a state is published or loaded.
//!
//! Myself's *handoffs* (SETSLOT NODE answered before its commit, see
//! [`ControlPlane::propose`](super::ControlPlane::propose)) are laid over every published
//! state too, giving the slot to its target, until a published state shows the target owning
//! it or the proposal ends ([`View::hand_off`], [`View::end_handoff`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use super::state_machine::Replicated;
use crate::{
    Applied, ClusterCommand, ClusterError, ClusterHealth, ClusterState, LinkState, Node, NodeFlags, NodeId,
    SetSlotAction,
};

pub(crate) struct View {
    /// The index of the last log entry applied and published (see `fence.rs`).
    applied: std::sync::atomic::AtomicU64,
    /// See [`View::is_member`].
    member: std::sync::atomic::AtomicBool,
    /// This node's id (changed only by CLUSTER RESET HARD of a node in no cluster).
    me: RwLock<NodeId>,
    state: Arc<RwLock<ClusterState>>,
    inner: Mutex<ViewInner>,
    changes: watch::Sender<u64>,
    /// See [`View::set_on_change`].
    on_change: Mutex<Option<std::sync::Arc<dyn Fn() + Send + Sync>>>,
}

struct ViewInner {
    /// The replicated state's cluster id, once it holds this node.
    cluster_id: Option<String>,
    /// This node's Raft storage is not blank: it belongs (or belonged) to a cluster, even before
    /// its replicated state is applied again.
    member: bool,
    /// Latest local observation of each kind per node.
    overlay: Vec<ClusterCommand>,
    /// Myself's open slots: `(slot, importing)` → the peer (migrating to / importing from).
    open_slots: BTreeMap<(u16, bool), NodeId>,
    /// Myself's handoffs not yet seen committed: slot → (the node it was given to, its owner
    /// in the replicated state last published, for a handoff that ends without its commit).
    handoffs: BTreeMap<u16, (NodeId, Option<NodeId>)>,
    /// Slots myself's DELSLOTS took out of this view (see `ControlPlane::del_slots`).
    forgotten: BTreeMap<u16, Forgotten>,
}

/// A slot myself's DELSLOTS took out of this view.
#[derive(Clone, Copy)]
struct Forgotten {
    at: std::time::Instant,
    /// Its owner then.
    owner: NodeId,
    /// Myself's own slot: out of the view until the replicated state shows it given up (the
    /// deferred `ReleaseSlots`) or someone else's, or myself takes it back. Another node's:
    /// back at the next published state, or by [`View::restore_forgotten`] a little later, as
    /// the owner's next claim brings it back in Redis.
    mine: bool,
}

/// Myself's open slots in `state`, as [`ViewInner::open_slots`] keeps them.
fn open_slots_of(state: &ClusterState) -> BTreeMap<(u16, bool), NodeId> {
    let me = state.myself();
    let migrating = me.migrating.iter().map(|(&s, &p)| ((s, false), p));
    let importing = me.importing.iter().map(|(&s, &p)| ((s, true), p));
    migrating.chain(importing).filter(|&((slot, imp), _)| !imports_own_slot(state, slot, imp)).collect()
}

/// An import of a slot myself already owns: over. Myself's SETSLOT NODE closes it once its
/// commit is applied, a moment after the state that gives myself the slot is published (and
/// maybe saved to nodes.conf); a node killed in between must not come back importing a slot
/// it owns, which Redis never shows (its SETSLOT NODE does both at once) and which
/// `redis-cli --cluster fix` cannot repair ("I'm already the owner of hash slot").
fn imports_own_slot(state: &ClusterState, slot: u16, importing: bool) -> bool {
    importing && state.slot_owner(slot).is_some_and(|o| o.id == state.my_id())
}

/// What a node brings into the cluster that takes it in: itself, its slots, its epoch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Claims {
    /// Its own node record, cleaned of local observations and of references to other nodes.
    pub node: Node,
    pub slots: Vec<(u16, u16)>,
    pub current_epoch: u64,
}

impl Claims {
    /// The commands that bring the node and its claims into a replicated state.
    pub(crate) fn commands(&self) -> Vec<ClusterCommand> {
        let id = self.node.id;
        let mut cmds = vec![ClusterCommand::AddNode { node: Box::new(self.node.clone()) }];
        if !self.slots.is_empty() {
            cmds.push(ClusterCommand::AddSlots { node: id, ranges: self.slots.clone() });
        }
        cmds.push(ClusterCommand::ObserveEpoch { epoch: self.current_epoch });
        cmds
    }
}

impl View {
    pub(crate) fn new(initial: ClusterState) -> View {
        // The open slots nodes.conf kept (a restart during a reshard): the replicated state
        // published later does not hold them.
        let open_slots = open_slots_of(&initial);
        let inner = ViewInner {
            cluster_id: None,
            member: false,
            overlay: Vec::new(),
            open_slots,
            handoffs: BTreeMap::new(),
            forgotten: BTreeMap::new(),
        };
        View {
            applied: Default::default(),
            member: Default::default(),
            me: RwLock::new(initial.my_id()),
            state: Arc::new(RwLock::new(initial)),
            inner: Mutex::new(inner),
            changes: watch::channel(0).0,
            on_change: Mutex::new(None),
        }
    }

    pub(crate) fn state(&self) -> Arc<RwLock<ClusterState>> {
        self.state.clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn cluster_id(&self) -> Option<String> {
        self.inner.lock().cluster_id.clone()
    }

    /// True once this node belongs to a Raft cluster (its changes go through the log).
    /// Lock-free (the write path asks): `member` mirrors `inner.member || inner.cluster_id`,
    /// set and cleared under the inner lock with them.
    pub(crate) fn is_member(&self) -> bool {
        self.member.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn set_member(&self) {
        self.inner.lock().member = true;
        self.member.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Records that entries up to `index` are applied and their state published.
    pub(crate) fn set_applied(&self, index: u64) {
        self.applied.store(index, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn applied_index(&self) -> u64 {
        self.applied.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Tells the watchers of [`subscribe`](Self::subscribe) and the change hook that the state
    /// changed.
    pub(crate) fn bump(&self) {
        self.changes.send_modify(|v| *v += 1);
        let hook = self.on_change.lock().clone();
        if let Some(hook) = hook {
            hook();
        }
    }

    /// Installs a function called after every change, synchronously, with no lock held.
    pub(crate) fn set_on_change(&self, hook: std::sync::Arc<dyn Fn() + Send + Sync>) {
        *self.on_change.lock() = Some(hook);
    }

    /// Applies a local observation now and keeps it for later published states.
    pub(crate) fn apply_local(&self, cmd: &ClusterCommand) -> Result<Applied, ClusterError> {
        let result = self.apply_observation(cmd);
        if result.is_ok() {
            self.bump();
        }
        result
    }

    /// [`apply_local`](Self::apply_local) but for the bump: for a batch of observations,
    /// followed by one [`bump`](Self::bump).
    pub(crate) fn apply_observation(&self, cmd: &ClusterCommand) -> Result<Applied, ClusterError> {
        let mut inner = self.inner.lock();
        let mut state = self.state.write();
        let result = match cmd {
            // `fail?` is ours, `fail` the cluster's: keep the current one, and no `fail?` beside it.
            ClusterCommand::SetFailState { node, pfail, fail: false } => {
                let fail = state.node(node).is_some_and(Node::is_failed);
                state.apply(&ClusterCommand::SetFailState { node: *node, pfail: *pfail && !fail, fail })
            }
            _ => state.apply(cmd),
        };
        drop(state);
        if result.is_ok() {
            if let Some(key) = overlay_key(cmd) {
                inner.overlay.retain(|c| overlay_key(c) != Some(key));
                inner.overlay.push(cmd.clone());
            }
        }
        result
    }

    /// SETSLOT MIGRATING / IMPORTING / STABLE of myself ([`ClusterCommand::is_open_slot_mark`]):
    /// applied to this node's view with SETSLOT's checks, and kept for later published states.
    pub(crate) fn apply_open_slot(&self, cmd: &ClusterCommand) -> Result<Applied, ClusterError> {
        let ClusterCommand::SetSlot { slot, action, .. } = cmd else {
            return Err(ClusterError::ControlPlane(format!("not an open slot mark: {cmd:?}")));
        };
        let mut inner = self.inner.lock();
        let mut state = self.state.write();
        let applied = state.apply(cmd)?;
        let slot = *slot;
        match action {
            SetSlotAction::Migrating(_) => {
                if let Some(peer) = state.migrating_to(slot) {
                    inner.open_slots.insert((slot, false), *peer);
                }
            }
            SetSlotAction::Importing(_) => {
                if let Some(peer) = state.importing_from(slot) {
                    inner.open_slots.insert((slot, true), *peer);
                }
            }
            _ => {
                inner.open_slots.remove(&(slot, false));
                inner.open_slots.remove(&(slot, true));
            }
        }
        drop(state);
        drop(inner);
        self.bump();
        Ok(applied)
    }

    /// After myself's `cmd` applied (committed, or found a no-op): the open slots it ends, as
    /// in Redis. SETSLOT NODE ends the migration once the slot has no key left, and the import
    /// when myself takes the slot; ADDSLOTS / DELSLOTS end the imports of their slots.
    pub(crate) fn close_open_slots(&self, cmd: &ClusterCommand) {
        let mut inner = self.inner.lock();
        let me = *self.me.read();
        let mut closing: Vec<(u16, bool, bool)> = Vec::new();
        match cmd {
            ClusterCommand::SetSlot { node, slot, action: SetSlotAction::Node { target, keys_in_slot, .. } }
                if *node == me =>
            {
                let to_me = NodeId::parse(target.as_bytes()) == Some(me);
                closing.push((*slot, *keys_in_slot == 0, to_me));
            }
            ClusterCommand::AddSlots { node, ranges } | ClusterCommand::DelSlots { node, ranges } if *node == me => {
                for &(start, end) in ranges {
                    closing.extend((start..=end).map(|s| (s, false, true)));
                }
            }
            _ => return,
        }
        let mut changed = false;
        let mut state = self.state.write();
        for (slot, migrating, importing) in closing {
            for (is_import, close) in [(false, migrating), (true, importing)] {
                if close && inner.open_slots.remove(&(slot, is_import)).is_some() {
                    changed = true;
                }
            }
            let before = (state.migrating_to(slot).is_some(), state.importing_from(slot).is_some());
            state.close_my_open_slot(slot, migrating, importing);
            changed |= before != (state.migrating_to(slot).is_some(), state.importing_from(slot).is_some());
        }
        drop(state);
        drop(inner);
        if changed {
            self.bump();
        }
    }

    /// Myself's SETSLOT `slot` NODE `target`, checked, answered, and proposed: `target`
    /// serves the slot in this view from now on, and in every state published until one shows
    /// it owning the slot or [`end_handoff`](Self::end_handoff).
    pub(crate) fn hand_off(&self, slot: u16, target: NodeId) {
        let mut inner = self.inner.lock();
        let mut state = self.state.write();
        let replicated_owner = match inner.handoffs.get(&slot) {
            Some(&(_, owner)) => owner,
            None => state.slot_owner(slot).map(|n| n.id),
        };
        if state.lay_handoff(slot, &target) {
            inner.handoffs.insert(slot, (target, replicated_owner));
        }
        drop(state);
        drop(inner);
        self.bump();
    }

    /// Myself's DELSLOTS of `slots` (assigned in this view): out of this view at once (see
    /// [`Forgotten`]).
    pub(crate) fn forget_slots(&self, slots: &[u16]) {
        let mut inner = self.inner.lock();
        let mut state = self.state.write();
        let (now, me) = (std::time::Instant::now(), state.my_id());
        for &slot in slots {
            if let Some(owner) = state.slot_owner(slot).map(|n| n.id) {
                inner.forgotten.insert(slot, Forgotten { at: now, owner, mine: owner == me });
                state.unassign(slot);
            }
        }
        drop(state);
        drop(inner);
        self.bump();
    }

    /// Of `slots`, those forgotten by myself's DELSLOTS: (myself's own, other nodes').
    pub(crate) fn forgotten(&self, slots: &[u16]) -> (Vec<u16>, Vec<u16>) {
        let inner = self.inner.lock();
        let known = slots.iter().filter_map(|s| inner.forgotten.get(s).map(|f| (*s, f.mine)));
        let (mine, others): (Vec<_>, Vec<_>) = known.partition(|&(_, mine)| mine);
        (mine.into_iter().map(|(s, _)| s).collect(), others.into_iter().map(|(s, _)| s).collect())
    }

    /// Myself's own `slots` that myself's DELSLOTS forgot, served again (myself took them back
    /// before their release was committed, or the release failed). Others are left alone.
    pub(crate) fn unforget_mine(&self, slots: &[u16]) {
        let mut inner = self.inner.lock();
        let mut state = self.state.write();
        let me = state.my_id();
        let mut changed = false;
        for slot in slots {
            if inner.forgotten.get(slot).is_some_and(|f| f.mine) {
                inner.forgotten.remove(slot);
                if state.slot_owner(*slot).is_none() {
                    changed |= state.lay_handoff(*slot, &me);
                }
            }
        }
        drop(state);
        drop(inner);
        if changed {
            self.bump();
        }
    }

    /// Gives the slots of other nodes forgotten longer than `after` ago back to their owner,
    /// unless something else assigned them meanwhile (see [`Forgotten`]).
    pub(crate) fn restore_forgotten(&self, after: std::time::Duration) {
        let mut inner = self.inner.lock();
        if inner.forgotten.values().all(|f| f.mine) {
            return;
        }
        let now = std::time::Instant::now();
        let mut state = self.state.write();
        let mut changed = false;
        inner.forgotten.retain(|&slot, f| {
            if f.mine || now.duration_since(f.at) < after {
                return true;
            }
            if state.slot_owner(slot).is_none() {
                changed |= state.lay_handoff(slot, &f.owner);
            }
            false
        });
        drop(state);
        drop(inner);
        if changed {
            self.bump();
        }
    }

    /// Whether myself's handoff of `slot` to `target` is still laid over the view (no published
    /// state has shown it yet).
    pub(crate) fn handoff_pending(&self, slot: u16, target: NodeId) -> bool {
        self.inner.lock().handoffs.get(&slot).is_some_and(|&(t, _)| t == target)
    }

    /// The proposal of a handoff ended: committed (its state published already, which ended
    /// the handoff), refused, or given up. In the last two cases the slot's owner is the
    /// replicated state's again.
    pub(crate) fn end_handoff(&self, slot: u16, target: NodeId) {
        let mut inner = self.inner.lock();
        let Some(&(laid, owner)) = inner.handoffs.get(&slot) else { return };
        if laid != target {
            return;
        }
        inner.handoffs.remove(&slot);
        self.state.write().restore_slot_owner(slot, owner.as_ref());
        drop(inner);
        self.bump();
    }

    /// The view as the replicated state alone makes it, for comparisons: without myself's
    /// node-local open slots.
    pub(crate) fn without_open_slots(&self) -> ClusterState {
        let mut state = self.state.read().clone();
        state.close_my_open_slots();
        state
    }

    /// [`apply_local`](Self::apply_local) for a `SetLink` observation, which the pings make
    /// every second: `changes` (and so a nodes.conf rewrite) only when the link goes up or
    /// down, not for each new pong time.
    pub(crate) fn observe_link(&self, cmd: &ClusterCommand) {
        let ClusterCommand::SetLink { node, link, .. } = cmd else { return };
        let flipped = self.state.read().node(node).is_some_and(|n| n.link != *link);
        if self.apply_observation(cmd).is_ok() && flipped {
            self.bump();
        }
    }

    /// After CLUSTER RESET: `state` (the reset view: myself alone) becomes this node's pending
    /// state, in no cluster, under its id (HARD renamed it); the observations of other nodes
    /// are dropped with them. The node-local settings stay.
    pub(crate) fn reset_to(&self, mut state: ClusterState) {
        let mut inner = self.inner.lock();
        inner.member = false;
        self.member.store(false, std::sync::atomic::Ordering::Release);
        self.applied.store(0, std::sync::atomic::Ordering::Release);
        inner.cluster_id = None;
        inner.overlay.clear();
        inner.open_slots.clear();
        inner.handoffs.clear();
        inner.forgotten.clear();
        *self.me.write() = state.my_id();
        let mut current = self.state.write();
        state.set_config(*current.config());
        *current = state;
        drop(current);
        drop(inner);
        self.bump();
    }

    /// Applies `cmd` to the pending state; `None` if this node became a member meanwhile (the
    /// command must then go through the log).
    pub(crate) fn apply_pending(&self, cmd: &ClusterCommand) -> Option<Result<Applied, ClusterError>> {
        let inner = self.inner.lock();
        if inner.member || inner.cluster_id.is_some() {
            return None;
        }
        let result = self.state.write().apply(cmd);
        drop(inner);
        if result.is_ok() {
            self.bump();
        }
        Some(result)
    }

    /// Publishes the replicated state as this node's view, if it holds this node. One that no
    /// longer does (this node was forgotten) leaves the view as it was.
    pub(crate) fn publish(&self, replicated: &Replicated) {
        let mut inner = self.inner.lock();
        let me = *self.me.read();
        if replicated.state.node(&me).is_none() {
            return;
        }
        let mut next = replicated.state.clone();
        // Present: checked above.
        let _ = next.set_myself(me);
        next.set_config(*self.state.read().config());
        for cmd in &inner.overlay {
            let cmd = match cmd {
                // `fail?` is ours; `fail` is the cluster's: keep the replicated one.
                ClusterCommand::SetFailState { node, pfail, .. } => {
                    let fail = next.node(node).is_some_and(Node::is_failed);
                    ClusterCommand::SetFailState { node: *node, pfail: *pfail && !fail, fail }
                }
                other => other.clone(),
            };
            // A node the cluster has forgotten meanwhile: nothing to lay over.
            let _ = next.apply(&cmd);
        }
        // A published state is the owners' claim: what myself's DELSLOTS forgot of other nodes'
        // is back. Myself's own stay out while the replicated state still has them myself's.
        inner.forgotten.retain(|&slot, f| {
            let keep = f.mine && next.slot_owner(slot).is_some_and(|n| n.id == me);
            if keep {
                next.unassign(slot);
            }
            keep
        });
        // Myself's handoffs; over once the state shows them (or their target is gone).
        inner.handoffs.retain(|&slot, (target, owner)| {
            *owner = next.slot_owner(slot).map(|n| n.id);
            *owner != Some(*target) && next.lay_handoff(slot, target)
        });
        // Myself's open slots; one that no longer fits is over (as when Redis turns a master
        // into a replica, or forgets the peer).
        inner.open_slots.retain(|&(slot, importing), peer| {
            !imports_own_slot(&next, slot, importing) && next.reopen_slot(slot, *peer, importing).is_ok()
        });
        inner.cluster_id = Some(replicated.cluster_id.clone());
        self.member.store(true, std::sync::atomic::Ordering::Release);
        *self.state.write() = next;
        drop(inner);
        self.bump();
    }

    /// This node's claims, from its current view.
    pub(crate) fn claims(&self) -> Claims {
        let state = self.state.read();
        let mut node = state.myself().clone();
        clean_node(&mut node);
        Claims { node, slots: state.slot_ranges_of(&state.my_id()), current_epoch: state.current_epoch() }
    }

    /// The pending state made the first replicated state of a new cluster: local observations
    /// dropped, and myself's IP filled in with `my_ip` (how the joining node reached this one)
    /// if it was not known.
    pub(crate) fn seed_state(&self, my_ip: Option<IpAddr>) -> ClusterState {
        let mut state = self.state.read().clone();
        let ids: Vec<(NodeId, bool)> = state.nodes().iter().map(|n| (n.id, n.is_failed())).collect();
        for (node, fail) in ids {
            // The nodes exist: these cannot fail.
            let _ = state.apply(&ClusterCommand::SetLink {
                node,
                link: LinkState::Disconnected,
                ping_sent: 0,
                pong_received: 0,
            });
            let _ = state.apply(&ClusterCommand::SetReplOffset { node, offset: 0 });
            let _ = state.apply(&ClusterCommand::SetFailureReports { node, count: 0 });
            let _ = state.apply(&ClusterCommand::SetFailState { node, pfail: false, fail });
        }
        let _ = state.apply(&ClusterCommand::SetHealth { health: ClusterHealth::Fail });
        let me = state.myself().clone();
        if let (true, Some(ip)) = (me.ip.is_empty(), my_ip) {
            let _ = state.apply(&ClusterCommand::SetAddress {
                node: me.id,
                ip: ip.to_string(),
                port: me.port,
                cport: me.cport,
                hostname: me.hostname.clone(),
            });
        }
        state
    }
}

/// A node record as another cluster may take it in: no local observations, no references to
/// nodes that cluster may not know (its primary, its open slots), a master.
fn clean_node(node: &mut Node) {
    node.link = LinkState::Disconnected;
    node.ping_sent = 0;
    node.pong_received = 0;
    node.repl_offset = 0;
    node.failure_reports = 0;
    node.flags.remove(NodeFlags::PFAIL | NodeFlags::FAIL | NodeFlags::HANDSHAKE | NodeFlags::MEET | NodeFlags::SLAVE);
    node.flags.insert(NodeFlags::MASTER);
    node.primary = None;
    node.migrating.clear();
    node.importing.clear();
}

/// Which observation a local command records: its kind and the node observed.
fn overlay_key(cmd: &ClusterCommand) -> Option<(u8, Option<NodeId>)> {
    use ClusterCommand as C;
    Some(match cmd {
        C::SetLink { node, .. } => (0, Some(*node)),
        C::SetFailState { node, fail: false, .. } => (1, Some(*node)),
        C::SetReplOffset { node, .. } => (2, Some(*node)),
        C::SetFailureReports { node, .. } => (3, Some(*node)),
        C::SetNoFailover { node, .. } => (4, Some(*node)),
        C::SetHealth { .. } => (5, None),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SetSlotAction;

    fn id(c: char) -> NodeId {
        NodeId::parse(c.to_string().repeat(40).as_bytes()).unwrap()
    }

    /// Masters `a` (slots 0-99), `b` (100-199), `c` (200-299); myself is `a`.
    fn cluster() -> ClusterState {
        let mut state = ClusterState::new(Node::new(id('a'), "127.0.0.1", 7000, 17000));
        for (c, port) in [('b', 7001), ('c', 7002)] {
            let mut node = Node::new(id(c), "127.0.0.1", port, port + 10000);
            node.flags = NodeFlags::MASTER;
            state.apply(&ClusterCommand::AddNode { node: Box::new(node) }).unwrap();
        }
        for (c, range) in [('a', (0, 99)), ('b', (100, 199)), ('c', (200, 299))] {
            state.apply(&ClusterCommand::AddSlots { node: id(c), ranges: vec![range] }).unwrap();
        }
        state
    }

    fn replicated(state: &ClusterState) -> Replicated {
        Replicated { cluster_id: "x".to_string(), state: state.clone() }
    }

    fn set_slot(slot: u16, action: SetSlotAction) -> ClusterCommand {
        ClusterCommand::SetSlot { node: id('a'), slot, action }
    }

    fn node_action(target: char, keys_in_slot: u64) -> SetSlotAction {
        SetSlotAction::Node {
            target: id(target).to_string(),
            keys_in_slot,
            allow_replica_migration: true,
            closing_import: false,
            migrating_to_target: false,
        }
    }

    /// A view of `a` in a cluster, migrating slot 5 to `b` and importing 150 from `b`, 250
    /// from `c`.
    fn open_view() -> (View, ClusterState) {
        let shared = cluster();
        let view = View::new(shared.clone());
        view.publish(&replicated(&shared));
        for cmd in [
            set_slot(5, SetSlotAction::Migrating(id('b').to_string())),
            set_slot(150, SetSlotAction::Importing(id('b').to_string())),
            set_slot(250, SetSlotAction::Importing(id('c').to_string())),
        ] {
            assert!(cmd.is_open_slot_mark() && !cmd.is_local());
            view.apply_open_slot(&cmd).unwrap();
        }
        (view, shared)
    }

    /// Myself's (migrating, importing) slots in the view.
    type Open = (Vec<(u16, NodeId)>, Vec<(u16, NodeId)>);

    fn open(view: &View) -> Open {
        let state = view.state();
        let state = state.read();
        let me = state.myself();
        (me.migrating.iter().map(|(&s, &p)| (s, p)).collect(), me.importing.iter().map(|(&s, &p)| (s, p)).collect())
    }

    #[test]
    fn open_slots_outlive_published_states() {
        let (view, mut shared) = open_view();
        // SETSLOT's checks still apply.
        let refused = view.apply_open_slot(&set_slot(150, SetSlotAction::Migrating(id('b').to_string())));
        assert_eq!(refused.unwrap_err().reply_text(), "ERR I'm not the owner of hash slot 150");
        let all = (vec![(5, id('b'))], vec![(150, id('b')), (250, id('c'))]);
        assert_eq!(open(&view), all);
        // Someone else's commit taking the migrating slot: the mark stays (Redis keeps it until
        // myself's SETSLOT NODE).
        shared.apply(&ClusterCommand::SetSlot { node: id('b'), slot: 5, action: node_action('b', 0) }).unwrap();
        view.publish(&replicated(&shared));
        assert_eq!(open(&view), all);
        assert_eq!(view.without_open_slots().myself().importing.len(), 0);
        // One handing myself the imported slot ends the import: a node never shows an import
        // of a slot it owns (see `imports_own_slot`).
        shared.apply(&ClusterCommand::SetSlot { node: id('b'), slot: 150, action: node_action('a', 0) }).unwrap();
        view.publish(&replicated(&shared));
        assert_eq!(open(&view), (vec![(5, id('b'))], vec![(250, id('c'))]));
        // STABLE ends both marks of its slot.
        view.apply_open_slot(&set_slot(250, SetSlotAction::Stable)).unwrap();
        view.publish(&replicated(&shared));
        assert_eq!(open(&view), (vec![(5, id('b'))], vec![]));
    }

    #[test]
    fn open_slots_end_as_in_redis() {
        let (view, shared) = open_view();
        // Myself's NODE: the migration ends only with no key left in the slot.
        view.close_open_slots(&set_slot(5, node_action('b', 3)));
        assert_eq!(open(&view).0, vec![(5, id('b'))]);
        view.close_open_slots(&set_slot(5, node_action('b', 0)));
        assert_eq!(open(&view).0, vec![]);
        // The import ends when myself takes the slot, not when another does.
        view.close_open_slots(&set_slot(150, node_action('c', 0)));
        assert_eq!(open(&view).1.len(), 2);
        view.close_open_slots(&set_slot(150, node_action('a', 0)));
        assert_eq!(open(&view).1, vec![(250, id('c'))]);
        // Another node's commands end nothing; myself's ADDSLOTS / DELSLOTS end the import.
        view.close_open_slots(&ClusterCommand::DelSlots { node: id('c'), ranges: vec![(250, 250)] });
        assert_eq!(open(&view).1, vec![(250, id('c'))]);
        view.close_open_slots(&ClusterCommand::DelSlots { node: id('a'), ranges: vec![(240, 260)] });
        assert_eq!(open(&view).1, vec![]);
        // And they stay ended.
        view.publish(&replicated(&shared));
        assert_eq!(open(&view), (vec![], vec![]));
    }

    #[test]
    fn open_slots_end_with_myself_a_replica_or_the_peer_forgotten() {
        let (view, mut shared) = open_view();
        shared.apply(&ClusterCommand::Forget { node: id('a'), target: id('c').to_string(), now_ms: 0 }).unwrap();
        view.publish(&replicated(&shared));
        assert_eq!(open(&view), (vec![(5, id('b'))], vec![(150, id('b'))]));
        shared.apply(&ClusterCommand::SetRole { node: id('a'), primary: Some(id('b')) }).unwrap();
        view.publish(&replicated(&shared));
        assert_eq!(open(&view), (vec![], vec![]));
        // A master again: they do not come back.
        shared.apply(&ClusterCommand::SetRole { node: id('a'), primary: None }).unwrap();
        view.publish(&replicated(&shared));
        assert_eq!(open(&view), (vec![], vec![]));
    }

    #[test]
    fn open_slots_of_the_initial_state_are_kept() {
        // nodes.conf's `[5->-b]` `[150-<-b]`, then the replicated state (without them).
        let shared = cluster();
        let mut initial = shared.clone();
        initial.apply(&set_slot(5, SetSlotAction::Migrating(id('b').to_string()))).unwrap();
        initial.apply(&set_slot(150, SetSlotAction::Importing(id('b').to_string()))).unwrap();
        let view = View::new(initial);
        view.publish(&replicated(&shared));
        assert_eq!(open(&view), (vec![(5, id('b'))], vec![(150, id('b'))]));
    }
}
