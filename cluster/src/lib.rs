//! Ferrocache's Redis Cluster core: pure data and decisions, no sockets, no tokio, no store.
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
//! | [`route`] | [`route`]: Local / MOVED / ASK / CROSSSLOT / TRYAGAIN / CLUSTERDOWN | `getNodeByQuery`, `clusterRedirectClient` |
//! | [`replies`] | CLUSTER NODES / SLOTS / SHARDS / INFO / MYID / LINKS / HELP … as [`Reply`] values | `clusterGenNodesDescription`, `clusterReplyMultiBulkSlots`, … |
//! | [`nodes_conf`] | nodes.conf read / write, [`ClusterState::from_nodes_text`] | `clusterLoadConfig`, `clusterSaveConfig` |
//! | [`command`] | [`parse_cluster`]: CLUSTER's arguments → a [`ClusterRequest`] (a reply, a [`ClusterCommand`], or work for the server) | the command table's arity checks, `clusterCommand`'s parsing |
//! | [`error`] | [`ClusterError`]: every refusal, rendering to Redis's exact text | the `addReplyError*` calls |
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

pub mod command;
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
    Applied, ClusterCommand, ClusterConfig, ClusterHealth, ClusterState, EndpointType, SetSlotAction, MAX_NODES,
};
