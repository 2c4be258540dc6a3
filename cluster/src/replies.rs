//! The replies of the CLUSTER subcommands that read the state, byte for byte as Redis 7.0
//! builds them (`clusterGenNodeDescription`, `clusterReplyMultiBulkSlots`,
//! `clusterReplyShards`, the CLUSTER INFO text, `addReplyClusterLinksDescription`, the HELP
//! lines).
//!
//! Redis prints nodes in the order of its node dict, effectively random; these functions print
//! them in the state's node order (see [`ClusterState::nodes`]), so a state parsed from a
//! Redis node's CLUSTER NODES renders that node's order back.

use std::fmt::Write as _;

use bytes::Bytes;
use ferrocache_protocol::Reply;

use crate::error::ClusterError;
use crate::node::{LinkState, Node, NodeId, FLAG_NAMES};
use crate::route::preferred_endpoint;
use crate::slot::key_slot;
use crate::state::{ClusterHealth, ClusterState, EndpointType};

fn bulk(s: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(s.into()))
}

fn bulk_static(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

/// The flags column: `myself,master`, …, or `noflags` (`representClusterNodeFlags`).
pub fn flags_text(state: &ClusterState, node: &Node) -> String {
    let mut names: Vec<&str> = Vec::with_capacity(3);
    if node.id == state.my_id() {
        names.push("myself");
    }
    names.extend(FLAG_NAMES.iter().filter(|(flag, _)| node.flags.contains(*flag)).map(|(_, name)| *name));
    if names.is_empty() {
        "noflags".to_string()
    } else {
        names.join(",")
    }
}

/// One line of CLUSTER NODES (and of CLUSTER REPLICAS), without the final newline:
/// `<id> <ip>:<port>@<cport>[,<hostname>] <flags> <primary|-> <ping-sent> <pong-recv>
/// <config-epoch> <connected|disconnected> <slot ranges>…`, plus `[slot->-id]` / `[slot-<-id]`
/// for the open slots of myself.
pub fn node_line(state: &ClusterState, node: &Node) -> String {
    node_line_with(state, node, &state.slot_ranges_of(&node.id))
}

/// [`node_line`] with the node's slot ranges already known.
fn node_line_with(state: &ClusterState, node: &Node, ranges: &[(u16, u16)]) -> String {
    let mut line = String::with_capacity(128);
    let _ = write!(line, "{} {}:{}@{}", node.id, node.ip, node.port, node.cport);
    if let Some(hostname) = node.hostname() {
        let _ = write!(line, ",{hostname}");
    }
    line.push(' ');
    line.push_str(&flags_text(state, node));
    line.push(' ');
    match &node.primary {
        Some(primary) => line.push_str(primary.as_str()),
        None => line.push('-'),
    }
    let is_myself = node.id == state.my_id();
    let link = if node.link == LinkState::Connected || is_myself { "connected" } else { "disconnected" };
    let _ = write!(line, " {} {} {} {}", node.ping_sent, node.pong_received, state.shown_epoch(node), link);
    for &(start, end) in ranges {
        if start == end {
            let _ = write!(line, " {start}");
        } else {
            let _ = write!(line, " {start}-{end}");
        }
    }
    if is_myself {
        // Slot order; a slot both migrating and importing shows as migrating.
        let mut open: Vec<u16> = node.migrating.keys().chain(node.importing.keys()).copied().collect();
        open.sort_unstable();
        open.dedup();
        for slot in open {
            if let Some(to) = node.migrating.get(&slot) {
                let _ = write!(line, " [{slot}->-{to}]");
            } else if let Some(from) = node.importing.get(&slot) {
                let _ = write!(line, " [{slot}-<-{from}]");
            }
        }
    }
    line
}

/// The CLUSTER NODES text: one line per node, each ending `\n`.
pub fn nodes_text(state: &ClusterState) -> String {
    let mut text = String::with_capacity(state.nodes().len() * 128);
    for (node, ranges) in state.nodes().iter().zip(state.slot_ranges_by_node()) {
        text.push_str(&node_line_with(state, node, &ranges));
        text.push('\n');
    }
    text
}

/// CLUSTER NODES: a bulk string in RESP2, a verbatim `txt` string in RESP3.
pub fn nodes_reply(state: &ClusterState) -> Reply {
    Reply::Verbatim("txt", Bytes::from(nodes_text(state)))
}

/// CLUSTER REPLICAS / SLAVES `<node-id>`: one bulk line per replica.
pub fn replicas_reply(state: &ClusterState, name: &[u8]) -> Result<Reply, ClusterError> {
    let node =
        state.lookup(name).ok_or_else(|| ClusterError::UnknownNode(String::from_utf8_lossy(name).into_owned()))?;
    if node.is_replica() {
        return Err(ClusterError::NotAMaster);
    }
    Ok(Reply::Array(state.replicas_of(&node.id).map(|r| bulk(node_line(state, r))).collect()))
}

/// CLUSTER MYID.
pub fn myid_reply(state: &ClusterState) -> Reply {
    bulk(state.my_id().as_str())
}

/// CLUSTER KEYSLOT `<key>`.
pub fn keyslot_reply(key: &[u8]) -> Reply {
    Reply::Integer(i64::from(key_slot(key)))
}

/// CLUSTER COUNT-FAILURE-REPORTS `<node-id>`.
pub fn count_failure_reports_reply(state: &ClusterState, name: &[u8]) -> Result<Reply, ClusterError> {
    let node =
        state.lookup(name).ok_or_else(|| ClusterError::UnknownNode(String::from_utf8_lossy(name).into_owned()))?;
    Ok(Reply::Integer(node.failure_reports as i64))
}

/// One node of a CLUSTER SLOTS row (`addNodeToNodeReply`): endpoint, port, id, then a map of
/// the other known endpoints (`ip` unless the preferred endpoint is the IP; `hostname` if any
/// and not preferred), `*0` / `%0` when empty.
fn slots_node(state: &ClusterState, node: &Node) -> Reply {
    let preferred = state.config().preferred_endpoint;
    let endpoint = match preferred {
        EndpointType::Unknown => Reply::Null,
        _ => bulk(preferred_endpoint(state, node)),
    };
    let mut extra = Vec::new();
    if preferred != EndpointType::Ip {
        extra.push((bulk_static("ip"), bulk(node.ip.clone())));
    }
    if preferred != EndpointType::Hostname {
        if let Some(hostname) = node.hostname() {
            extra.push((bulk_static("hostname"), bulk(hostname)));
        }
    }
    Reply::Array(vec![endpoint, Reply::Integer(i64::from(node.port)), bulk(node.id.as_str()), Reply::Map(extra)])
}

/// CLUSTER SLOTS: per run of consecutive slots with one owner, `[start, end, master, replicas…]`;
/// replicas that are failed or have not synced (offset 0) are left out (`isReplicaAvailable`).
/// Keep myself's [`Node::repl_offset`] current for that test, as Redis reads its own offset.
pub fn slots_reply(state: &ClusterState) -> Reply {
    let rows = state
        .slot_runs()
        .into_iter()
        .map(|(start, end, owner)| {
            let mut row =
                vec![Reply::Integer(i64::from(start)), Reply::Integer(i64::from(end)), slots_node(state, owner)];
            row.extend(
                state
                    .replicas_of(&owner.id)
                    .filter(|r| !r.is_failed() && r.repl_offset != 0)
                    .map(|r| slots_node(state, r)),
            );
            Reply::Array(row)
        })
        .collect();
    Reply::Array(rows)
}

/// A node's map in CLUSTER SHARDS (`addNodeDetailsToShardReply`).
fn shard_node(state: &ClusterState, node: &Node) -> Reply {
    let mut map = vec![(bulk_static("id"), bulk(node.id.as_str()))];
    if node.port != 0 {
        map.push((bulk_static("port"), Reply::Integer(i64::from(node.port))));
    }
    map.push((bulk_static("ip"), bulk(node.ip.clone())));
    map.push((bulk_static("endpoint"), bulk(preferred_endpoint(state, node))));
    if let Some(hostname) = node.hostname() {
        map.push((bulk_static("hostname"), bulk(hostname)));
    }
    map.push((bulk_static("role"), bulk_static(if node.is_replica() { "replica" } else { "master" })));
    map.push((bulk_static("replication-offset"), Reply::Integer(node.repl_offset)));
    let health = if node.is_failed() {
        "fail"
    } else if node.is_replica() && node.repl_offset == 0 {
        "loading"
    } else {
        "online"
    };
    map.push((bulk_static("health"), bulk_static(health)));
    Reply::Map(map)
}

/// CLUSTER SHARDS: per master (node order), a map of `slots` (flat `[start, end, …]`) and
/// `nodes` (the master, then its replicas).
pub fn shards_reply(state: &ClusterState) -> Reply {
    let shards = state
        .nodes()
        .iter()
        .zip(state.slot_ranges_by_node())
        .filter(|(n, _)| n.is_master())
        .map(|(master, ranges)| {
            let slots = ranges
                .into_iter()
                .flat_map(|(s, e)| [Reply::Integer(i64::from(s)), Reply::Integer(i64::from(e))])
                .collect();
            let mut nodes = vec![shard_node(state, master)];
            nodes.extend(state.replicas_of(&master.id).map(|r| shard_node(state, r)));
            Reply::Map(vec![(bulk_static("slots"), Reply::Array(slots)), (bulk_static("nodes"), Reply::Array(nodes))])
        })
        .collect();
    Reply::Array(shards)
}

/// Cluster bus message types, in Redis's numbering (`CLUSTERMSG_TYPE_*`), which is the order
/// CLUSTER INFO lists their counters in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Ping = 0,
    Pong = 1,
    Meet = 2,
    Fail = 3,
    Publish = 4,
    AuthRequest = 5,
    AuthAck = 6,
    Update = 7,
    MfStart = 8,
    Module = 9,
    PublishShard = 10,
}

impl MessageType {
    pub const ALL: [MessageType; 11] = [
        MessageType::Ping,
        MessageType::Pong,
        MessageType::Meet,
        MessageType::Fail,
        MessageType::Publish,
        MessageType::AuthRequest,
        MessageType::AuthAck,
        MessageType::Update,
        MessageType::MfStart,
        MessageType::Module,
        MessageType::PublishShard,
    ];

    /// The name in `cluster_stats_messages_<name>_sent` (`clusterGetMessageTypeString`).
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Ping => "ping",
            MessageType::Pong => "pong",
            MessageType::Meet => "meet",
            MessageType::Fail => "fail",
            MessageType::Publish => "publish",
            MessageType::AuthRequest => "auth-req",
            MessageType::AuthAck => "auth-ack",
            MessageType::Update => "update",
            MessageType::MfStart => "mfstart",
            MessageType::Module => "module",
            MessageType::PublishShard => "publishshard",
        }
    }

    /// The type whose name is `name`.
    pub fn from_name(name: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The message counters of CLUSTER INFO. The server owns and updates them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageStats {
    pub sent: [u64; 11],
    pub received: [u64; 11],
    /// `total_cluster_links_buffer_limit_exceeded`.
    pub links_buffer_limit_exceeded: u64,
}

/// The CLUSTER INFO text (CRLF lines). Counters that are zero are left out, as Redis does;
/// `cluster_size` is computed from the slots, where Redis shows the value of its last state
/// update (1 on a fresh node for its first two seconds).
pub fn info_text(state: &ClusterState, stats: &MessageStats) -> String {
    let (mut assigned, mut ok, mut pfail, mut fail) = (0, 0, 0, 0);
    for (start, end, owner) in state.slot_runs() {
        let count = usize::from(end - start) + 1;
        assigned += count;
        if owner.is_failed() {
            fail += count;
        } else if owner.is_timed_out() {
            pfail += count;
        } else {
            ok += count;
        }
    }
    let mut text = String::with_capacity(512);
    let health = if state.health() == ClusterHealth::Ok { "ok" } else { "fail" };
    let _ = write!(
        text,
        "cluster_state:{health}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\n\
         cluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\n\
         cluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
        state.nodes().len(),
        state.cluster_size(),
        state.current_epoch(),
        state.shown_epoch(state.myself()),
    );
    for (counts, dir) in [(&stats.sent, "sent"), (&stats.received, "received")] {
        let mut total = 0u64;
        for t in MessageType::ALL {
            let n = counts[t as usize];
            if n != 0 {
                total += n;
                let _ = write!(text, "cluster_stats_messages_{}_{dir}:{n}\r\n", t.name());
            }
        }
        let _ = write!(text, "cluster_stats_messages_{dir}:{total}\r\n");
    }
    let _ = write!(text, "total_cluster_links_buffer_limit_exceeded:{}\r\n", stats.links_buffer_limit_exceeded);
    text
}

/// CLUSTER INFO: a bulk string in RESP2, a verbatim `txt` string in RESP3.
pub fn info_reply(state: &ClusterState, stats: &MessageStats) -> Reply {
    Reply::Verbatim("txt", Bytes::from(info_text(state, stats)))
}

/// Which way a cluster bus link goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDirection {
    /// We connected to the peer.
    To,
    /// The peer connected to us.
    From,
}

/// One cluster bus link, as the server knows it (CLUSTER LINKS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub direction: LinkDirection,
    pub node: NodeId,
    /// Unix ms of the connection.
    pub create_time: i64,
    /// Handlers installed: `r`, `w`, `rw` or empty.
    pub events: String,
    pub send_buffer_allocated: i64,
    pub send_buffer_used: i64,
}

/// CLUSTER LINKS: one map per link.
pub fn links_reply(links: &[LinkInfo]) -> Reply {
    Reply::Array(
        links
            .iter()
            .map(|l| {
                Reply::Map(vec![
                    (
                        bulk_static("direction"),
                        bulk_static(if l.direction == LinkDirection::To { "to" } else { "from" }),
                    ),
                    (bulk_static("node"), bulk(l.node.as_str())),
                    (bulk_static("create-time"), Reply::Integer(l.create_time)),
                    (bulk_static("events"), bulk(l.events.clone())),
                    (bulk_static("send-buffer-allocated"), Reply::Integer(l.send_buffer_allocated)),
                    (bulk_static("send-buffer-used"), Reply::Integer(l.send_buffer_used)),
                ])
            })
            .collect(),
    )
}

/// The lines of CLUSTER HELP, Redis 7.0's (`addReplyHelp` adds the first and the last two).
pub const HELP_LINES: &[&str] = &[
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
    "HELP",
    "    Prints this help.",
];

/// CLUSTER HELP: status lines.
pub fn help_reply() -> Reply {
    Reply::Array(HELP_LINES.iter().map(|l| Reply::simple(l)).collect())
}

#[cfg(test)]
mod tests;
