//! Ferrocache's Redis Cluster core: pure data and decisions, no store; sockets and tokio only
//! in [`control`], the Raft control plane that replicates the topology.
//!
//! Everything here mirrors Redis 7.0.15's `cluster.c`: replies and error texts are compared
//! byte for byte with a real `redis-server` in this crate's `tests/`.
//!
//! # Layout
//!
//! | module | what | Redis |
//! |---|---|---|
//! | [`slot`] | [`key_slot`] (CRC16-XMODEM of the first non-empty `{tag}`), slot argument parsing | `keyHashSlot`, `crc16`, `getSlotOrReply` |
//! | [`node`] | [`NodeId`], [`NodeFlags`], [`Node`], [`LinkState`] | `clusterNode` |
//! | [`state`] | [`ClusterState`], the [`ClusterCommand`]s that change it, [`ClusterState::apply`] | `clusterState`, `clusterCommand`'s mutations |
//! | [`route`](mod@route) | [`route()`]: Local / MOVED / ASK / CROSSSLOT / TRYAGAIN / CLUSTERDOWN | `getNodeByQuery`, `clusterRedirectClient` |
//! | [`replies`] | CLUSTER NODES / SLOTS / SHARDS / INFO / MYID / LINKS / HELP … as [`Reply`] values | `clusterGenNodesDescription`, `clusterReplyMultiBulkSlots`, … |
//! | [`nodes_conf`] | nodes.conf read / write, [`ClusterState::from_nodes_text`] | `clusterLoadConfig`, `clusterSaveConfig` |
//! | [`command`] | [`parse_cluster`]: CLUSTER's arguments → a [`ClusterRequest`] (a reply, a [`ClusterCommand`], or work for the server) | the command table's arity checks, `clusterCommand`'s parsing |
//! | [`error`] | [`ClusterError`]: every refusal, rendering to Redis's exact text | the `addReplyError*` calls |
//! | [`control`] | [`control::ControlPlane`]: the topology replicated in Raft (openraft), CLUSTER MEET, the cluster bus | `cluster.c`'s gossip, replaced |
//!
//! # How the server uses it
//!
//! ```text
//!   request ─▶ dispatch: lookup → arity → auth ─▶ route(&Query, &ClusterState, ClientFlags)
//!                                                   │ Local → OOM check → handler
//!                                                   └ Moved / Ask / … → Route::to_reply()
//!   CLUSTER <sub> (read)   ─▶ replies::*(&ClusterState)                     ─▶ Reply
//!   CLUSTER <sub> (change) ─▶ ClusterCommand ─▶ (Raft log) ─▶ ClusterState::apply on every node
//!                                                              ─▶ Applied::to_reply() | ClusterError::to_reply()
//!   start-up / change      ─▶ nodes_conf::load_nodes_conf / render_nodes_conf  (cluster-config-file)
//! ```
//!
//! [`ClusterState`] is `Serialize + Deserialize` (the Raft snapshot) and `apply` is
//! deterministic: commands carry the acting node, random ids, and the facts only that node knows
//! (key counts). See [`state`] for how this generalises Redis's per-process "myself".
//!
//! ```
//! use ferrocache_cluster::*;
//!
//! let me = NodeId::random();
//! let mut state = ClusterState::new(Node::new(me, "127.0.0.1", 7000, 17000));
//! state.apply(&ClusterCommand::AddSlots { node: me, ranges: vec![(0, 16383)] }).unwrap();
//! state.apply(&ClusterCommand::SetHealth { health: ClusterHealth::Ok }).unwrap();
//! let exists = |_: &[u8]| true;
//! let query = Query { keys: &[&b"foo"[..]], write: false, kind: CommandKind::Regular, key_exists: &exists };
//! assert_eq!(route(&query, &state, ClientFlags::default()), Route::Local);
//! let busy = state.apply(&ClusterCommand::AddSlots { node: me, ranges: vec![(1, 1)] }).unwrap_err();
//! assert_eq!(busy.reply_text(), "ERR Slot 1 is already busy");
//! ```

//! # Integrating it (what the server does)
//!
//! **Start-up** (`--cluster-enabled yes`): read `cluster-config-file` with
//! [`load_nodes_conf`]; `Ok(None)` (missing or empty file) means a new node:
//! `ClusterState::new(Node::new(NodeId::random(), "", port, port + 10000))`, then write
//! [`render_nodes_conf`] at once (Redis does, so the id survives a crash). Rewrite the file
//! (write + fsync, or write-and-rename) after every applied change. Set the node-local settings
//! with [`ClusterState::set_config`], and record [`ClusterState::evaluate_health`]'s verdict with
//! [`ClusterCommand::SetHealth`] (Redis waits 2 s after start-up before a master turns `ok`).
//!
//! **Dispatch**: [`route()`] for every command with keys and for EXEC, after arity and auth, not on
//! the primary's replication link; see the [`route`](mod@route) module docs for MULTI, ASKING and blocked
//! clients ([`route_blocked`]). `SELECT` other than 0, `ASKING`, `READONLY`, `READWRITE` are the
//! server's.
//!
//! **CLUSTER**: `parse_cluster(&args[1..], &state, &facts)` after the cluster-enabled check
//! (with cluster mode off, [`check_subcommand`] first, then [`ClusterError::ClusterDisabled`]):
//!
//! | subcommand | [`ClusterRequest`] | the server then |
//! |---|---|---|
//! | HELP, NODES, SLOTS, SHARDS, MYID, KEYSLOT, REPLICAS, SLAVES, COUNT-FAILURE-REPORTS | `Reply` | sends it |
//! | INFO | `Info` | [`replies::info_reply`] with its [`replies::MessageStats`] |
//! | LINKS | `Links` | [`replies::links_reply`] with its bus links |
//! | SAVECONFIG | `SaveConfig` | writes [`render_nodes_conf`] |
//! | COUNTKEYSINSLOT, GETKEYSINSLOT | `CountKeysInSlot`, `GetKeysInSlot` | asks the store |
//! | ADDSLOTS, ADDSLOTSRANGE | `Change(AddSlots)` | applies (through the log), replies [`Applied::to_reply`] |
//! | DELSLOTS, DELSLOTSRANGE | `Change(DelSlots)` | 〃 for myself's own slots; another node's leave myself's view alone, as in Redis (`ControlPlane::propose`) |
//! | FLUSHSLOTS | `Change(FlushSlots)` | 〃 |
//! | SETSLOT | `Change(SetSlot)` | 〃; after NODE, if myself became a replica, starts replicating |
//! | BUMPEPOCH | `Change(BumpEpoch)` | 〃 (`+BUMPED n` / `+STILL n`) |
//! | SET-CONFIG-EPOCH | `Change(SetConfigEpoch)` | 〃 |
//! | MEET | `Change(Meet)` | [`control::ControlPlane::propose`] (or `meet`): joins the two nodes' clusters |
//! | FORGET | `Change(Forget)` | 〃 |
//! | REPLICATE | `Change(Replicate)` | 〃, then replicates the new primary |
//! | RESET [SOFT\|HARD] | `Change(Reset)` | [`control::ControlPlane::propose`]: the node leaves its cluster, a fresh node again; a replica also flushes its data and stops replicating |
//! | FAILOVER [FORCE\|TAKEOVER] | `Failover` | runs the failover, ending with [`ClusterCommand::Failover`] |
//!
//! Knowledge that arrives from elsewhere (the control plane, gossip, the node's own timers)
//! enters through the other commands: [`ClusterCommand::AddNode`], `SetRole`, `SetAddress`,
//! `ObserveEpoch`, `SetLastVoteEpoch`, and the local observations `SetLink`, `SetFailState`,
//! `SetReplOffset` (keep myself's current: CLUSTER SLOTS and SHARDS read it), `SetFailureReports`,
//! `SetNoFailover`, `SetHealth`.
//!
//! With the control plane, "applies (through the log)" is [`control::ControlPlane::propose`]
//! (local observations and a node in no cluster apply at once; a member's changes go through
//! the leader), the state read is [`control::ControlPlane::state`], and nodes.conf is rewritten
//! on each bump of [`control::ControlPlane::changes`]. See the [`control`] module docs.
//!
//! The FORGET blacklist is here in another role: no gossip can bring a forgotten node back
//! with a Raft control plane, but the first FORGET removes the node from every member's state,
//! so the list is what lets the other members' FORGETs of it succeed, as they do in Redis (see
//! [`ClusterCommand::Forget`]).
//!
//! Failure detection and failover live in [`control`] (they need the bus and a leader). Not
//! here: TLS
//! plaintext ports (`pport`), module flags, pub/sub channel bookkeeping per slot.

pub mod command;
pub mod control;
pub mod error;
pub mod node;
pub mod nodes_conf;
pub mod replies;
pub mod route;
pub mod slot;
pub mod state;

pub use command::{check_subcommand, parse_cluster, ClusterRequest, LocalFacts};
pub use error::ClusterError;
pub use ferrocache_protocol::Reply;
pub use node::{LinkState, Node, NodeFlags, NodeId, NODE_ID_LEN};
pub use nodes_conf::{load_nodes_conf, render_nodes_conf, NodesParseError};
pub use route::{route, route_blocked, ClientFlags, CommandKind, DownReason, Query, Route};
pub use slot::{key_slot, parse_slot, SLOTS};
pub use state::{
    Applied, ClusterCommand, ClusterConfig, ClusterHealth, ClusterState, EndpointType, Forgotten, SetSlotAction,
    FORGET_TTL_MS, MAX_NODES,
};
