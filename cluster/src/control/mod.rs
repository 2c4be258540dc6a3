//! The control plane: the cluster topology ([`ClusterState`]) as a replicated state machine in
//! Raft (`openraft`), and CLUSTER MEET as the way a node gets into a cluster.
//!
//! This is the one part of the crate with sockets and tokio: the cluster bus (the cluster port,
//! `port + 10000` by default) carries Raft's traffic and the control plane's own requests.
//!
//! # Layout
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`ControlOptions`], [`ControlPlane`]: start, propose, state, changes, shutdown |
//! | `proposals.rs` | this node's proposals, committed in order and in batches through the leader |
//! | `membership.rs` | [`ControlPlane::meet`]: seeding a cluster, taking a node in; a member's new bus address |
//! | `view.rs` | the state the server reads: pending state, or the replicated one with `myself`, plus local observations |
//! | `state_machine.rs` | the replicated [`ClusterState`] as the log made it, snapshots |
//! | `storage.rs` | the Raft log and vote on disk |
//! | `network.rs` | the bus protocol, openraft's network, the bus server |
//! | `links.rs` | bus link liveness (pings, CLUSTER NODES' link column) and CLUSTER LINKS |
//! | `fence.rs` | write fencing: a master cut off from the majority or behind the log takes no writes |
//! | `failure.rs` | `fail?` / `fail`, automatic failover, replica migration, manual failover's pause |
//! | `types.rs` | the Raft type configuration: member ids, log payloads |
//!
//! # How changes flow
//!
//! ```text
//!  CLUSTER ADDSLOTS … ─▶ ClusterCommand ─▶ propose ─┬─ local observation ─────────▶ view (this node only)
//!                                                  ├─ in no cluster ─────────────▶ view (pending claims)
//!                                                  ├─ SETSLOT NODE (served slot) ▶ view (laid over, answered),
//!                                                  │                               then queued as below
//!                                                  └─ member ─▶ this node's queue (proposals.rs, in order)
//!                                                               ─▶ leader, a batch an entry (forwarded
//!                                                                  from a follower on one connection)
//!                                                               ─▶ Raft log, committed by a majority
//!                                                               ─▶ every member: state machine apply
//!                                                               ─▶ view = replicated state, myself = me
//!                                                               ─▶ changes() bumps (rewrite nodes.conf)
//! ```
//!
//! Every member applies the same committed commands to the same replicated state
//! ([`ClusterState::apply`] is deterministic), so every member's [`ControlPlane::state`] is the
//! same but for `myself` and the node-local observations (link state, `fail?`, replication
//! offsets, failure reports, `nofailover`, the `cluster_state` verdict:
//! [`ClusterCommand::is_local`]), which never go through the log. A follower's proposal returns
//! once this follower has applied it too (read your writes).
//!
//! # Joining: CLUSTER MEET
//!
//! A fresh node is in no Raft cluster. Its changes (ADDSLOTS, SET-CONFIG-EPOCH, …) apply to its
//! own state at once: they are its *pending claims*. When node A is told `CLUSTER MEET ip port`
//! it asks B, on B's bus, who it is and which cluster it is in, then:
//!
//! | A | B | what happens |
//! |---|---|---|
//! | in no cluster | in a cluster | B's leader takes A in: A becomes a learner and receives the log (or a snapshot), A's node record, slots and current epoch are committed (one entry: `AddNode`, `AddSlots`, `ObserveEpoch`), A becomes a voter. A's view is then the replicated state: its previous state is replaced, its claims kept. |
//! | in no cluster | in no cluster | B *seeds* a cluster: it becomes the single voter of a new Raft cluster whose first entry is B's own pending state, then takes A in as above. |
//! | in a cluster | in no cluster | A's leader takes B in as above, with the claims B told A. |
//! | in a cluster | the same | nothing to do; if the cluster had forgotten one of the two (FORGET), the other has it taken in again as above. |
//! | in a cluster | another | [`ClusterError::DifferentClusters`]: a cluster only takes in nodes that are in no cluster (Redis would merge them by gossip; here two logs cannot be merged). |
//! | — | unreachable | [`ClusterError::ControlPlane`]; nothing changes. |
//!
//! So `redis-cli --cluster create` (ADDSLOTS and SET-CONFIG-EPOCH on each fresh node, then
//! every other node MEETs the first) gives one cluster seeded by the first node, holding every
//! node's slots and epochs. A claim the cluster refuses (a slot some member already serves) is
//! dropped, and logged; the node joins all the same. Changes made on A while its join is under
//! way are lost with its pending state. MEET returns once A has applied the replicated state
//! (or after the join timeout).
//!
//! Every member is a voter. CLUSTER FORGET of a member, once committed, also removes it from
//! the Raft membership; the forgotten node keeps its last view (as a Redis node does), can be
//! MET again into the same cluster (its claims are those of that last view), and can join no
//! other cluster with its old Raft directory. The forgotten id stays 60 s on the replicated
//! forget list, so that the other members' FORGETs of it answer `+OK` as in Redis, where each
//! node forgets on its own (`redis-cli --cluster del-node`; see [`ClusterCommand::Forget`]).
//!
//! # Leaving: CLUSTER RESET
//!
//! CLUSTER RESET \[SOFT|HARD\] makes the node a fresh one in no cluster (HARD: under a new id,
//! epochs 0), its Raft storage wiped, so that a MEET can take it into a cluster again
//! (`redis-cli --cluster add-node`). A member the cluster still knows first leaves it
//! ([`ClusterCommand::Leave`], committed: the others forget it, unlike a Redis RESET, which the
//! others do not hear of; a Raft cluster cannot keep a voter that no longer takes part). One
//! already forgotten (`del-node` sends the FORGETs first) resets at once. If the cluster
//! cannot commit the leave in time, the reset fails and nothing changes.
//!
//! # Failures
//!
//! With three voters, losing one leaves a majority: proposals go on, and the lost node catches
//! up from the log (or a snapshot) when it is back. A node cut off from the majority cannot
//! commit: its proposals fail after `cluster-node-timeout` with a [`ClusterError::ControlPlane`]
//! error, and its view stays as it was. Such a failure is in doubt, as in any Raft system: a
//! leader that logged the change before losing its majority commits it if it hears from a
//! majority again while still leader. [`ControlPlane::majority_contact`] tells how long ago a
//! node last knew itself part of a majority (what a primary needs to stop accepting writes
//! when cut off, as DESIGN.md asks). Raft's heartbeat and election timeouts are derived from
//! `cluster-node-timeout` ([`ControlOptions::node_timeout`]): heartbeat 1/30 of it, election
//! between 1/10 and 1/5.
//!
//! # Persistence
//!
//! Under [`ControlOptions::dir`]: the vote, the log and the last snapshot (the replicated
//! state as JSON); see `storage.rs` and `state_machine.rs`. A node restarted with the same
//! directory rejoins as the same member and catches up. If its bus now answers elsewhere (another
//! port; another IP when it binds a given one), it tells a member, whose leader updates the Raft
//! membership and the cluster port of the node's record (`SetAddress`; the record's IP is what
//! the server announces). nodes.conf is the
//! server's: it rewrites it from [`ControlPlane::state`] after each bump of
//! [`ControlPlane::changes`], and passes what it read as [`ControlOptions::initial`] (used
//! until the restored state is applied).
//!
//! # The bus
//!
//! A small framed protocol of its own (see `network.rs`), not Redis's gossip: **a Redis node
//! cannot join a Ferrocache cluster**, nor a Ferrocache node a Redis cluster.
//!
//! # Not (yet) here
//!
//! Learning a member's new IP when it binds the unspecified address (it keeps its recorded IP),
//! and a limit on the number of voters.
//!
//! # Failure detection and failover
//!
//! See `failure.rs`: `fail?` from the pings, `fail` and the promotion of the best replica
//! decided by the leader in one entry, replica migration, and the master's side of a manual
//! CLUSTER FAILOVER ([`PauseHook`]).

mod failure;
mod fence;
mod links;
mod membership;
mod network;
mod proposals;
mod state_machine;
mod storage;
mod types;
mod view;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, Config, SnapshotPolicy};
use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

use self::network::{Network, Peer, ProposeReply, Reply, Request};
use self::state_machine::StateMachine;
use self::storage::LogStore;
use self::types::{Payload, Raft, RaftId};
use self::view::View;
use crate::{Applied, ClusterCommand, ClusterError, ClusterState, NodeId};
pub use failure::{NodeStatus, PauseHook};

/// Redis's default `cluster-node-timeout`.
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_millis(15_000);

/// How long a slot myself's DELSLOTS took from another node stays unassigned in this node's
/// view when no published state restores it sooner: about when Redis hears the owner's claim
/// again (pings go out every 100 ms, to the nodes least recently heard from first).
const FORGOTTEN_FOR: Duration = Duration::from_millis(500);

/// `slots` as the one-slot ranges ADDSLOTS / DELSLOTS carry.
fn one_by_one(slots: &[u16]) -> Vec<(u16, u16)> {
    slots.iter().map(|&s| (s, s)).collect()
}

/// How to start a [`ControlPlane`].
#[derive(Debug, Clone)]
pub struct ControlOptions {
    /// Where the Raft vote, log and snapshot live (created if missing).
    pub dir: PathBuf,
    /// Where the cluster bus listens. Port 0 takes a free port: the bus port actually bound
    /// ([`ControlPlane::bus_addr`]) becomes myself's cluster port.
    pub bus_bind: SocketAddr,
    /// This node's state as nodes.conf left it, or a fresh node's
    /// (`ClusterState::new(Node::new(NodeId::random(), "", port, port + 10000))`).
    pub initial: ClusterState,
    /// `cluster-node-timeout`: Raft's timings derive from it, and proposals give up after it.
    pub node_timeout: Duration,
    /// Take a snapshot every this many log entries (and keep as many entries after it for
    /// members that lag).
    pub snapshot_logs: u64,
}

impl ControlOptions {
    /// Options with the default node timeout (15 s) and snapshot interval (1000 entries).
    pub fn new(dir: impl Into<PathBuf>, bus_bind: SocketAddr, initial: ClusterState) -> ControlOptions {
        ControlOptions { dir: dir.into(), bus_bind, initial, node_timeout: DEFAULT_NODE_TIMEOUT, snapshot_logs: 1000 }
    }
}

/// Durations derived from the node timeout.
struct Timing {
    /// `cluster-node-timeout` (at least 300 ms).
    node_timeout: Duration,
    heartbeat: Duration,
    /// How long a proposal may take.
    propose: Duration,
    /// How long one attempt at a MEET's join may take (several commits).
    join: Duration,
    /// How long a MEET keeps retrying a join that ran out of time (a slow or starved majority):
    /// Redis's MEET never fails for slowness (its handshake runs in the background), so ours
    /// waits well past one attempt before it gives up.
    join_total: Duration,
    /// How long a plain request (hello) may take.
    rpc: Duration,
}

/// A running control plane. See the [module docs](self).
pub struct ControlPlane {
    /// This node's id, which is its Raft id (changed only by CLUSTER RESET HARD of a node in
    /// no cluster, which also replaces `raft`).
    me: RwLock<NodeId>,
    bus_addr: SocketAddr,
    raft: RwLock<Raft>,
    /// What a new Raft instance needs (after CLUSTER RESET HARD).
    dir: PathBuf,
    config: Arc<Config>,
    backoff: Duration,
    view: Arc<View>,
    timing: Timing,
    /// Serializes seeding and adding members on this node.
    join_lock: tokio::sync::Mutex<()>,
    /// Test hook: the bus is cut (no traffic in or out).
    cut: Arc<AtomicBool>,
    /// Raft traffic is served (false after CLUSTER RESET of a member, until some node asks to
    /// meet this one or it meets one: its former cluster's leader may still be sending).
    accepting: AtomicBool,
    closed: AtomicBool,
    server: Mutex<Option<JoinHandle<()>>>,
    /// When a leader last reached this node with entries or a heartbeat it accepted.
    leader_contact: Mutex<Option<std::time::Instant>>,
    /// The bus links alive now (see `links.rs`).
    links: Arc<links::LinkTable>,
    /// Failure detection's memory (see `failure.rs`).
    detector: failure::Detector,
    /// What the server does for a replica's manual failover.
    pause_hook: Mutex<Option<PauseHook>>,
    /// Whether this node, as a master, may take writes (see `fence.rs`).
    fence: fence::Fence,
    /// This node's proposals waiting for their commit (see `proposals.rs`).
    proposals: Arc<proposals::Proposals>,
}

impl ControlPlane {
    /// Binds the bus, restores the Raft state under `opts.dir` if there is one, and starts.
    pub async fn start(opts: ControlOptions) -> io::Result<Arc<ControlPlane>> {
        std::fs::create_dir_all(&opts.dir)?;
        let listener = TcpListener::bind(opts.bus_bind).await?;
        let bus_addr = listener.local_addr()?;
        let mut initial = opts.initial;
        let me = initial.myself().clone();
        if me.cport != bus_addr.port() {
            initial
                .apply(&ClusterCommand::SetAddress {
                    node: me.id,
                    ip: me.ip.clone(),
                    port: me.port,
                    cport: bus_addr.port(),
                    hostname: me.hostname.clone(),
                })
                .map_err(io::Error::other)?;
        }
        let view = Arc::new(View::new(initial));
        let log = LogStore::open(&opts.dir)?;
        let sm = StateMachine::open(&opts.dir, view.clone())?;
        if !log.is_blank() || !sm.is_blank() {
            view.set_member();
        }

        let nt = (opts.node_timeout.as_millis() as u64).max(300);
        let heartbeat = nt / 30;
        let config = Config {
            cluster_name: "ferrocache".to_string(),
            heartbeat_interval: heartbeat,
            election_timeout_min: nt / 10,
            election_timeout_max: nt / 5,
            install_snapshot_timeout: (nt / 5).max(500),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(opts.snapshot_logs.max(1)),
            max_in_snapshot_log_to_keep: opts.snapshot_logs,
            ..Config::default()
        };
        let config = Arc::new(config.validate().map_err(io::Error::other)?);
        let cut = Arc::new(AtomicBool::new(false));
        let backoff = Duration::from_millis(heartbeat * 2);
        let network = Network { cut: cut.clone(), backoff };
        let raft = Raft::new(RaftId(me.id), config.clone(), network, log, sm).await.map_err(io::Error::other)?;
        let timing = Timing {
            node_timeout: Duration::from_millis(nt),
            heartbeat: Duration::from_millis(heartbeat),
            propose: Duration::from_millis(nt),
            join: Duration::from_millis(nt * 2),
            join_total: Duration::from_millis((nt * 10).max(10_000)),
            rpc: Duration::from_millis(nt),
        };
        let plane = Arc::new(ControlPlane {
            me: RwLock::new(me.id),
            bus_addr,
            raft: RwLock::new(raft),
            dir: opts.dir,
            config,
            backoff,
            view,
            timing,
            join_lock: tokio::sync::Mutex::new(()),
            cut,
            accepting: AtomicBool::new(true),
            closed: AtomicBool::new(false),
            server: Mutex::new(None),
            leader_contact: Mutex::new(None),
            links: Arc::default(),
            detector: failure::Detector::default(),
            pause_hook: Mutex::new(None),
            fence: fence::Fence::default(),
            proposals: Arc::default(),
        });
        let server = tokio::spawn(network::serve(listener, Arc::downgrade(&plane)));
        *plane.server.lock() = Some(server);
        tokio::spawn(links::watch(Arc::downgrade(&plane)));
        tokio::spawn(proposals::run(plane.proposals.clone(), Arc::downgrade(&plane)));
        if plane.view.is_member() {
            tokio::spawn(membership::announce_address(Arc::downgrade(&plane)));
        }
        Ok(plane)
    }

    /// The applied state: the replicated state with `myself` = this node (or this node's
    /// pending state while it is in no cluster), with this node's local observations.
    ///
    /// Read it; change it only through [`ControlPlane::propose`]: each apply replaces it
    /// whole (keeping only [`ClusterState::set_config`]'s settings).
    pub fn state(&self) -> Arc<RwLock<ClusterState>> {
        self.view.state()
    }

    /// Calls `hook` after every change of [`ControlPlane::state`], at once, on the thread that
    /// made it, with no lock held (the server follows its role there, so that a promoted replica
    /// takes writes as soon as its state says it is a master). Keep it short.
    pub fn set_on_change(&self, hook: Arc<dyn Fn() + Send + Sync>) {
        self.view.set_on_change(hook);
    }

    /// A counter bumped after every change of [`ControlPlane::state`].
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.view.subscribe()
    }

    /// Whether this node belongs to a Raft cluster (its changes go through the log).
    pub fn is_member(&self) -> bool {
        self.view.is_member()
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.me()
    }

    fn me(&self) -> NodeId {
        *self.me.read()
    }

    /// The Raft instance (a cheap handle).
    fn raft(&self) -> Raft {
        self.raft.read().clone()
    }

    /// The address the cluster bus is bound to.
    pub fn bus_addr(&self) -> SocketAddr {
        self.bus_addr
    }

    /// The id of this node's Raft cluster, once it has applied a replicated state holding it.
    pub fn cluster_id(&self) -> Option<String> {
        self.view.cluster_id()
    }

    /// The current leader as this node knows it: its id and bus address.
    pub fn leader(&self) -> Option<(NodeId, String)> {
        let metrics = self.raft().metrics().borrow().clone();
        let leader = metrics.current_leader?;
        let node = metrics.membership_config.membership().get_node(&leader)?.clone();
        Some((leader.0, node.addr))
    }

    /// How long ago this node last knew itself part of a majority: for the leader, since a
    /// quorum last acknowledged it; for a follower, since the leader last reached it. `None`
    /// before either (or in no cluster). Past `cluster-node-timeout`, this node may be on the
    /// minority side of a partition: a primary there should stop accepting writes. (Accurate to
    /// a Raft tick, 1.5 heartbeats.)
    pub fn majority_contact(&self) -> Option<Duration> {
        let metrics = self.raft().metrics().borrow().clone();
        if metrics.current_leader == Some(RaftId(self.me())) && metrics.state == openraft::ServerState::Leader {
            return metrics.millis_since_quorum_ack.map(Duration::from_millis);
        }
        self.leader_contact.lock().map(|at| at.elapsed())
    }

    /// For the cron: the slots myself's DELSLOTS took from another node's in this view alone go
    /// back to it [`FORGOTTEN_FOR`] later, if no published state has done so by then (in Redis,
    /// the owner's next ping or pong claims them again).
    pub fn restore_forgotten_slots(&self) {
        self.view.restore_forgotten(FORGOTTEN_FOR);
    }

    /// Records this node's verdict on the cluster's health (`cluster_state`), node-local.
    pub fn set_health(&self, health: crate::ClusterHealth) {
        let _ = self.view.apply_local(&ClusterCommand::SetHealth { health });
    }

    /// Whether this node may take writes as a master now: in no cluster, always; as a member,
    /// only while in touch with a majority and up to date with the log (see `fence.rs`).
    /// Cheap: two atomic loads and a clock read.
    pub fn may_write(&self) -> bool {
        !self.view.is_member() || self.fence.open(self.timing.node_timeout, self.view.applied_index())
    }

    /// Applies `cmd` where it belongs, and answers what applying it answered:
    ///
    /// * a local observation ([`ClusterCommand::is_local`]): to this node's state only;
    /// * on a node in no cluster: to its pending state (its claims);
    /// * on a member: through the leader (forwarded there from a follower), committed by a
    ///   majority, applied by every member; returns once this node has applied it. No
    ///   majority within `cluster-node-timeout`: [`ClusterError::ControlPlane`].
    /// * myself's DELSLOTS / ADDSLOTS on a member: see [`del_slots`](Self::del_slots) and
    ///   [`add_slots`](Self::add_slots) (another node's slot leaves this node's view alone).
    /// * myself's `SETSLOT … NODE` on a member, of a slot some node serves: checked against
    ///   this node's view (Redis's errors), laid over it at once (the target serves the slot
    ///   here from now on) and answered; committed in the background, with whatever else this
    ///   node proposes meanwhile ([`View::hand_off`], `proposals.rs`). As in Redis, where
    ///   SETSLOT NODE is the receiving node's alone and the others learn it by gossip: a
    ///   reshard sends it to every master in turn, and needs no Raft round trip per slot to
    ///   wait for. One that changes nothing is answered without a commit.
    ///
    /// [`ClusterCommand::Meet`] is [`ControlPlane::meet`] (its address checked as Redis does;
    /// the random id is not used). [`ClusterCommand::Reset`] is `ControlPlane::reset` (the node leaves its cluster).
    pub async fn propose(&self, cmd: ClusterCommand) -> Result<Applied, ClusterError> {
        self.propose_with(cmd, false).await
    }

    /// [`propose`](Self::propose) for a command run by EXEC: a DELSLOTS of myself's own slots
    /// gives them up in the replicated state a little later, unless the same transaction takes
    /// them back meanwhile (see [`del_slots`](Self::del_slots)).
    pub async fn propose_in_transaction(&self, cmd: ClusterCommand) -> Result<Applied, ClusterError> {
        self.propose_with(cmd, true).await
    }

    async fn propose_with(&self, cmd: ClusterCommand, in_transaction: bool) -> Result<Applied, ClusterError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(ClusterError::ControlPlane("the control plane is shut down".to_string()));
        }
        if let ClusterCommand::Meet { ip, port, cport, .. } = &cmd {
            let invalid = || ClusterError::InvalidNodeAddress(ip.clone(), port.to_string());
            let port = u16::try_from(*port).ok().filter(|&p| p != 0).ok_or_else(invalid)?;
            let cport = u16::try_from(*cport).ok().filter(|&p| p != 0).ok_or_else(invalid)?;
            return self.meet(ip, port, cport).await.map(|()| Applied::Ok);
        }
        if let ClusterCommand::Reset { .. } = cmd {
            return self.reset(&cmd).await;
        }
        if cmd.is_local() {
            return self.view.apply_local(&cmd);
        }
        if cmd.is_open_slot_mark() {
            return self.view.apply_open_slot(&cmd);
        }
        if self.view.is_member() && proposals::is_handoff(&cmd) {
            if let Some(answer) = self.hand_off(&cmd) {
                return answer;
            }
        }
        match &cmd {
            ClusterCommand::DelSlots { node, ranges } if self.view.is_member() && *node == self.me() => {
                return self.del_slots(ranges, in_transaction).await;
            }
            ClusterCommand::AddSlots { node, ranges } if self.view.is_member() && *node == self.me() => {
                return self.add_slots(ranges).await;
            }
            _ => {}
        }
        let result = self.propose_change(&cmd).await;
        if result.is_ok() {
            self.view.close_open_slots(&cmd);
        }
        result
    }

    /// [`propose`](Self::propose) for the changes of the replicated state.
    async fn propose_change(&self, cmd: &ClusterCommand) -> Result<Applied, ClusterError> {
        if !self.view.is_member() {
            if let Some(result) = self.view.apply_pending(cmd) {
                return result;
            }
        }
        self.replicate(cmd.clone()).await
    }

    /// Myself's `SETSLOT <slot> NODE <target>` on a member (see [`propose`](Self::propose)):
    /// the answer, or `None` for a slot no node serves in this view, which is committed before
    /// the answer, as ADDSLOTS is (`redis-cli --cluster fix` gives an unassigned slot an owner
    /// this way and at once sends it keys).
    ///
    /// One that would change nothing in this node's view (`redis-cli` sends the same NODE to
    /// every master once the owner has taken the slot) is answered without a commit, as Redis
    /// answers it without gossip. Myself's open slots are node-local, left out of the
    /// comparison: the source's NODE after the target's changes only them (closed by
    /// [`View::close_open_slots`], no commit). A view behind the log is simply not a no-op here.
    fn hand_off(&self, cmd: &ClusterCommand) -> Option<Result<Applied, ClusterError>> {
        let &ClusterCommand::SetSlot { slot, .. } = cmd else { return None };
        let before = self.view.without_open_slots();
        let mut after = before.clone();
        let applied = match after.apply(cmd) {
            Ok(applied) => applied,
            Err(e) => return Some(Err(e)),
        };
        if after != before {
            // `apply` found the target, a master: it owns the slot now.
            let target = after.slot_owner(slot).map(|n| n.id)?;
            before.slot_owner(slot)?;
            // A follower handoff, if nothing but the owner changes (see `proposals.rs`).
            let mut owner_only = before;
            let follower = target != self.me() && owner_only.lay_handoff(slot, &target) && owner_only == after;
            self.view.hand_off(slot, target);
            let now = Instant::now();
            if follower {
                let due = now + proposals::HANDOFF_GRACE;
                self.proposals.defer_handoff(cmd.clone(), slot, target, due, due + self.timing.propose);
            } else {
                self.proposals.submit_handoff(cmd.clone(), slot, target, now + self.timing.propose);
            }
        }
        self.view.close_open_slots(cmd);
        Some(Ok(applied))
    }

    /// Myself's CLUSTER DELSLOTS\[RANGE\] on a member, checked against this node's view
    /// (Redis's errors). As in Redis, where DELSLOTS changes the receiving node's table alone,
    /// the slots leave this node's view at once and nobody else's:
    ///
    /// * Another node's slot comes back with the next published state, or a little later
    ///   ([`FORGOTTEN_FOR`]), as the owner's next claim brings it back in Redis.
    ///   `redis-cli --cluster fix` DELSLOTS a slot on each node that claims it but the owner it
    ///   picked, then NODEs it there and MIGRATEs the keys to the owner at once: a cluster-wide
    ///   deletion would leave the owner itself not serving the slot until the NODE's commit
    ///   reached it.
    /// * Myself's own slots are given up in the replicated state too (Redis's other nodes keep
    ///   sending their clients to the owner that no longer serves them; here they learn it):
    ///   committed before the answer, or, inside EXEC, by a `ReleaseSlots` proposed
    ///   [`proposals::HANDOFF_GRACE`] later unless the transaction has taken them back by then
    ///   ([`add_slots`](Self::add_slots)). `fix` makes the owner it picked
    ///   `MULTI; DELSLOTS s; ADDSLOTS s; BUMPEPOCH; EXEC`, which must not leave the slot unserved
    ///   anywhere, even for a moment.
    async fn del_slots(&self, ranges: &[(u16, u16)], in_transaction: bool) -> Result<Applied, ClusterError> {
        let me = self.me();
        let (mine, others): (Vec<u16>, Vec<u16>) = {
            let state = self.view.state();
            let state = state.read();
            let slots = state.check_slot_assignments(true, ranges)?;
            slots.into_iter().partition(|&s| state.slot_owner(s).is_some_and(|n| n.id == me))
        };
        if !mine.is_empty() && !in_transaction {
            self.propose_change(&ClusterCommand::DelSlots { node: me, ranges: one_by_one(&mine) }).await?;
        } else if !mine.is_empty() {
            self.view.forget_slots(&mine);
            let due = Instant::now() + proposals::HANDOFF_GRACE;
            self.proposals.defer_release(me, mine.clone(), due, due + self.timing.propose);
        }
        self.view.forget_slots(&others);
        let all: Vec<u16> = mine.into_iter().chain(others).collect();
        self.view.close_open_slots(&ClusterCommand::DelSlots { node: me, ranges: one_by_one(&all) });
        Ok(Applied::Ok)
    }

    /// Myself's CLUSTER ADDSLOTS\[RANGE\] on a member, checked against this node's view
    /// (Redis's errors): myself's own slots that its DELSLOTS took out of the view are simply
    /// served again; other nodes' are taken over, as in Redis (where the new claim wins by its
    /// epoch), in the same log entry as the unassigned slots are assigned.
    async fn add_slots(&self, ranges: &[(u16, u16)]) -> Result<Applied, ClusterError> {
        let me = self.me();
        let slots = self.view.state().read().check_slot_assignments(false, ranges)?;
        let (mine, others) = self.view.forgotten(&slots);
        self.view.unforget_mine(&mine);
        let taken: Vec<u16> = slots.iter().copied().filter(|s| !mine.contains(s)).collect();
        if taken.is_empty() {
            return Ok(Applied::Ok);
        }
        let add = ClusterCommand::AddSlots { node: me, ranges: one_by_one(&taken) };
        let mut cmds = Vec::new();
        if !others.is_empty() {
            cmds.push(ClusterCommand::DelSlots { node: me, ranges: one_by_one(&others) });
        }
        cmds.push(add.clone());
        let applied = self.replicate_all(cmds).await?;
        self.view.close_open_slots(&add);
        Ok(applied)
    }

    /// CLUSTER RESET \[SOFT|HARD\]: this node forgets every other node and all slots (HARD:
    /// under a new id, epochs 0) and is in no cluster any more, as a fresh node that can be
    /// MET into a cluster again (`redis-cli --cluster add-node`).
    ///
    /// 1. Redis's checks ([`ClusterState::apply`] of the reset on a copy of this node's view):
    ///    refused, nothing changes.
    /// 2. A member the cluster still knows (some other node it knows says so) first leaves it:
    ///    [`ClusterCommand::Leave`] is committed (every other member forgets it; their FORGETs
    ///    of it then succeed) and it leaves the Raft membership. Not committed within the
    ///    timeout: the reset fails, nothing changed here. A member the cluster has forgotten
    ///    (`redis-cli --cluster del-node` sends the FORGETs first), or whose peers are all
    ///    unreachable, resets at once.
    /// 3. Its Raft storage is wiped and Raft restarted blank (under the new id for HARD); its
    ///    view becomes the reset state. Until some node asks to meet it (or it meets one), it
    ///    ignores Raft traffic from its former cluster, whose leader may not have dropped it yet.
    async fn reset(&self, cmd: &ClusterCommand) -> Result<Applied, ClusterError> {
        let ClusterCommand::Reset { new_id, .. } = cmd else {
            return Err(ClusterError::ControlPlane("not a CLUSTER RESET".to_string()));
        };
        // No join may start meanwhile: it would bring the old state in.
        let _guard = self.join_lock.lock().await;
        let mut next = self.view.state().read().clone();
        next.apply(cmd)?;
        let old = self.me();
        let member = self.view.is_member();
        if member && self.cluster_knows_me().await {
            let leave = ClusterCommand::Leave { node: old, now_ms: crate::command::unix_ms() };
            self.replicate(leave).await?;
        }
        if !member && *new_id == old {
            // Nothing of Raft stored: the pending state is all there is.
            self.view.reset_to(next);
            return Ok(Applied::Ok);
        }
        if member {
            self.accepting.store(false, Ordering::Relaxed);
        }
        let raft = self.raft();
        let _ = raft.shutdown().await;
        let restart = async {
            storage::wipe(&self.dir)?;
            state_machine::wipe(&self.dir)?;
            self.view.reset_to(next);
            let log = LogStore::open(&self.dir)?;
            let sm = StateMachine::open(&self.dir, self.view.clone())?;
            let network = Network { cut: self.cut.clone(), backoff: self.backoff };
            Raft::new(RaftId(*new_id), self.config.clone(), network, log, sm).await.map_err(io::Error::other)
        };
        let raft = restart.await.map_err(|e| {
            tracing::warn!("CLUSTER RESET: restarting Raft: {e}");
            ClusterError::ControlPlane(format!("CLUSTER RESET: restarting Raft: {e}"))
        })?;
        *self.raft.write() = raft;
        *self.me.write() = *new_id;
        *self.leader_contact.lock() = None;
        if member {
            tracing::info!(node = %new_id, "CLUSTER RESET: left the cluster; now in no cluster");
        }
        Ok(Applied::Ok)
    }

    /// Whether any other node this node knows still has it in its state (asked on their
    /// buses, all at once; an unreachable node does not count).
    async fn cluster_knows_me(&self) -> bool {
        let me = self.me();
        let mine = self.view.cluster_id();
        let mut asks = tokio::task::JoinSet::new();
        for (_, addr) in self.peer_buses() {
            let mut peer = self.peer(addr);
            let wait = self.timing.rpc;
            asks.spawn(async move { peer.call(&Request::Hello { from: me }, wait).await });
        }
        while let Some(answer) = asks.join_next().await {
            if let Ok(Ok(Reply::Hello(hello))) = answer {
                if hello.knows_you && (mine.is_none() || hello.cluster == mine) {
                    return true;
                }
            }
        }
        false
    }

    /// Commits `cmd` through the leader, after this node's earlier proposals, retrying while
    /// there is no leader, until the timeout (see `proposals.rs`).
    async fn replicate(&self, cmd: ClusterCommand) -> Result<Applied, ClusterError> {
        self.replicate_all(vec![cmd]).await
    }

    /// `cmds` committed in one log entry: the first refusal, else the last command's outcome.
    async fn replicate_all(&self, cmds: Vec<ClusterCommand>) -> Result<Applied, ClusterError> {
        let outcome = self.proposals.submit(cmds, Instant::now() + self.timing.propose);
        outcome.await.unwrap_or_else(|_| Err(ClusterError::ControlPlane("the control plane is shut down".to_string())))
    }

    /// Commits `cmds` in one log entry through the leader (on `leader`, the connection kept to
    /// it, when this node is a follower and `may_forward`), retrying while there is no leader,
    /// until `deadline`: their results and the entry's index. A follower returns once it has
    /// applied the entry too (read your writes).
    async fn commit_batch(
        &self,
        cmds: Vec<ClusterCommand>,
        deadline: Instant,
        leader: &mut Option<(String, Peer)>,
        may_forward: bool,
    ) -> Result<(Vec<proposals::Outcome>, u64), proposals::NotCommitted> {
        let mut last = String::from("no leader");
        loop {
            // Ok(committed or refused), or Err(why it should be tried again).
            let attempt = async {
                match self.propose_here(cmds.clone()).await {
                    ProposeReply::Done { results, index } => Ok(Ok((results, index))),
                    ProposeReply::Failed(e) => Ok(Ok((vec![Err(e); cmds.len()], 0))),
                    ProposeReply::NotLeader if !may_forward => Ok(Err(proposals::NotCommitted::NotLeader)),
                    ProposeReply::NotLeader => {
                        let (_, addr) = self.leader().ok_or_else(|| "no leader".to_string())?;
                        if leader.as_ref().is_none_or(|(at, _)| *at != addr) {
                            *leader = Some((addr.clone(), self.peer(addr.clone())));
                        }
                        let Some((_, peer)) = leader.as_mut() else { return Err("no leader".to_string()) };
                        let wait = deadline.saturating_duration_since(Instant::now());
                        match peer.call(&Request::Propose(cmds.clone()), wait).await {
                            Ok(Reply::Propose(ProposeReply::Done { results, index })) => {
                                let left = deadline.saturating_duration_since(Instant::now());
                                let _ =
                                    self.raft().wait(Some(left)).applied_index_at_least(Some(index), "propose").await;
                                Ok(Ok((results, index)))
                            }
                            Ok(Reply::Propose(ProposeReply::Failed(e))) => Ok(Ok((vec![Err(e); cmds.len()], 0))),
                            Ok(Reply::Propose(ProposeReply::NotLeader)) => {
                                Err(format!("{addr} is no longer the leader"))
                            }
                            Ok(_) => Err(format!("unexpected answer from the leader at {addr}")),
                            Err(e) => Err(format!("leader unreachable: {e}")),
                        }
                    }
                }
            };
            match timeout_at(deadline, attempt).await {
                Ok(Ok(done)) => return done,
                Ok(Err(why)) => last = why,
                Err(_) => break,
            }
            if timeout_at(deadline, tokio::time::sleep(self.timing.heartbeat)).await.is_err() {
                break;
            }
        }
        Err(proposals::NotCommitted::TimedOut(self.not_committed(&last)))
    }

    /// The error of a proposal that timed out. Raft cannot take it back: a leader that had
    /// logged it may still commit it once a majority answers again.
    fn not_committed(&self, why: &str) -> ClusterError {
        ClusterError::ControlPlane(format!(
            "the cluster did not commit the change within {:?} (no majority reachable: {why}); \
             it may still be applied if a majority comes back",
            self.timing.propose
        ))
    }

    /// Commits `cmds` in one entry if this node is the leader.
    async fn propose_here(&self, cmds: Vec<ClusterCommand>) -> ProposeReply {
        match self.raft().client_write(Payload::Commands(cmds.clone())).await {
            Ok(response) => {
                let mut results = response.data;
                results.resize_with(cmds.len(), || Err(ClusterError::ControlPlane("no result".to_string())));
                for (result, cmd) in results.iter().zip(&cmds) {
                    match (result, cmd) {
                        (Ok(_), ClusterCommand::Forget { target, .. }) => self.drop_member(target).await,
                        (Ok(_), ClusterCommand::Leave { node, .. }) => self.drop_member(node.as_str()).await,
                        _ => {}
                    }
                }
                ProposeReply::Done { results, index: response.log_id.index }
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => ProposeReply::NotLeader,
            Err(e) => ProposeReply::Failed(ClusterError::ControlPlane(format!("cannot commit: {e}"))),
        }
    }

    /// After a committed FORGET: the forgotten node leaves the Raft membership too.
    async fn drop_member(&self, target: &str) {
        let Some(id) = NodeId::parse(target.as_bytes()).map(RaftId) else { return };
        let metrics = self.raft().metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let change = if membership.voter_ids().any(|v| v == id) {
            ChangeMembers::RemoveVoters([id].into())
        } else if membership.get_node(&id).is_some() {
            ChangeMembers::RemoveNodes([id].into())
        } else {
            return;
        };
        match tokio::time::timeout(self.timing.propose, self.raft().change_membership(change, false)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(node = %id, "forgotten node left in the Raft membership: {e}"),
            Err(_) => tracing::warn!(node = %id, "forgotten node left in the Raft membership: no majority"),
        }
    }

    /// Answers one bus request from `peer`, received on `local`.
    pub(crate) async fn handle(&self, req: Request, peer: SocketAddr, local: Option<SocketAddr>) -> Reply {
        if self.closed.load(Ordering::Relaxed) {
            return Reply::Refused("shutting down".to_string());
        }
        let raft_rpc = matches!(req, Request::AppendEntries(_) | Request::Vote(_) | Request::Snapshot { .. });
        if raft_rpc && !self.accepting.load(Ordering::Relaxed) {
            return Reply::Refused("this node was reset: it is in no cluster".to_string());
        }
        match req {
            Request::AppendEntries(rpc) => {
                let commit = rpc.leader_commit.map(|l| l.index);
                let reply = self.raft().append_entries(rpc).await;
                // Anything but "your vote is stale" means a current leader reached us.
                if matches!(&reply, Ok(r) if !matches!(r, openraft::raft::AppendEntriesResponse::HigherVote(_))) {
                    *self.leader_contact.lock() = Some(std::time::Instant::now());
                    self.fence.heard_leader(commit, self.timing.node_timeout);
                }
                Reply::AppendEntries(reply)
            }
            Request::Vote(rpc) => Reply::Vote(self.raft().vote(rpc).await),
            Request::Snapshot { vote, meta, data } => {
                let snapshot = openraft::Snapshot { meta, snapshot: Box::new(io::Cursor::new(data)) };
                Reply::Snapshot(self.raft().install_full_snapshot(vote, snapshot).await)
            }
            Request::Hello { from } => {
                // Someone means to meet this node: its cluster's leader will be sending.
                self.accepting.store(true, Ordering::Relaxed);
                Reply::Hello(self.hello(from, peer))
            }
            Request::Ping { .. } => {
                self.links.count(crate::replies::MessageType::Ping, false);
                self.links.count(crate::replies::MessageType::Pong, true);
                Reply::Pong(self.status_for_pong())
            }
            // Into the leader's own queue, to share a log entry with the other nodes' proposals.
            Request::Propose(_) if !self.is_leader() => Reply::Propose(ProposeReply::NotLeader),
            Request::Propose(cmds) => {
                let deadline = Instant::now() + self.timing.propose;
                let done = self.proposals.submit_forwarded(cmds, deadline);
                Reply::Propose(done.await.unwrap_or_else(|_| {
                    ProposeReply::Failed(ClusterError::ControlPlane("the control plane is shut down".to_string()))
                }))
            }
            Request::Join(req) => Reply::Join(self.handle_join(req, local.map(|a| a.ip())).await),
            Request::PauseForFailover { from, pause_ms } => Reply::Paused(self.pause_for_failover(from, pause_ms)),
            Request::Readdress { id, bus_addr } => Reply::Readdress(self.readdress(id, bus_addr).await),
        }
    }

    /// The other nodes this node knows, past their handshake and with a bus to reach, with
    /// their bus addresses.
    fn peer_buses(&self) -> Vec<(NodeId, String)> {
        let me = self.me();
        let state = self.view.state();
        let state = state.read();
        state
            .nodes()
            .iter()
            .filter(|n| n.id != me && !n.in_handshake() && n.cport != 0)
            .filter_map(|n| {
                let ip = n.ip.parse::<std::net::IpAddr>().ok()?;
                Some((n.id, SocketAddr::new(ip, n.cport).to_string()))
            })
            .collect()
    }

    fn peer(&self, addr: String) -> Peer {
        Peer::new(addr, self.cut.clone())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub(crate) fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }

    /// Test hook: cut this node's bus (no request in or out) to simulate a partition, or mend it.
    #[doc(hidden)]
    pub fn set_bus_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::Relaxed);
    }

    /// Stops Raft and the bus. The state stays readable; proposals fail. (Dropping the last
    /// handle without it closes the bus but leaves Raft's tasks to end on their own.)
    pub async fn shutdown(&self) {
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Some(server) = self.server.lock().take() {
            server.abort();
        }
        let _ = self.raft().shutdown().await;
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(server) = self.server.lock().take() {
            server.abort();
        }
    }
}
