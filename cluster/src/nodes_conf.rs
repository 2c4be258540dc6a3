//! Redis's `nodes.conf` (the file `cluster-config-file` names) and the CLUSTER NODES text it
//! is made of: reading (a port of `clusterLoadConfig`) and writing (`clusterSaveConfig`).
//!
//! A nodes.conf is the CLUSTER NODES text without the nodes still in handshake, followed by
//! `vars currentEpoch <n> lastVoteEpoch <n>`. Reading it the way Redis does:
//!
//! * lines are split with Redis's `sdssplitargs`; empty lines are skipped;
//! * a node line needs at least 8 fields and a valid id; `ip:port[@cport][,hostname]` is split
//!   at the *last* `:` (IPv6) and a missing `@cport` means `port + 10000`;
//! * numbers are read leniently (`atoi` / `strtoull`: leading digits, else 0);
//! * nodes named as a primary or an open-slot peer before their own line are created blank;
//! * non-zero ping / pong times become "now", a replica's config epoch becomes 0 (it shows its
//!   primary's), the link column is ignored (everything starts disconnected);
//! * `[slot->-id]` / `[slot-<-id]` open slots belong to myself, whichever line holds them; a
//!   slot listed twice keeps its first owner; a file without a `myself` line is corrupt.
//!
//! Where Redis would crash (an unknown flag, `myself` twice, a `[` entry without `-`) or read
//! past the end of a field, these functions return an error instead. Ports above 65535, which
//! Redis would store and print, are refused as well.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;

use crate::node::{LinkState, Node, NodeFlags, NodeId};
use crate::replies::nodes_text;
use crate::slot::{slot_ranges, SLOTS};
use crate::state::ClusterState;

/// Cluster bus port offset used when a line has no `@cport` (`CLUSTER_PORT_INCR`).
pub const CLUSTER_PORT_INCR: u16 = 10000;

/// A nodes.conf or CLUSTER NODES text Redis would refuse ("corrupted cluster config file").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodesParseError {
    /// 1-based line number (0 when the text as a whole is wrong, e.g. no `myself`).
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for NodesParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "corrupted cluster config: {}", self.reason)
        } else {
            write!(f, "corrupted cluster config, line {}: {}", self.line, self.reason)
        }
    }
}

impl std::error::Error for NodesParseError {}

/// Reads a nodes.conf. `Ok(None)` for an empty file (Redis then starts as a new node and writes
/// one); `now_ms` stands for `mstime()` where Redis records the load time.
pub fn load_nodes_conf(text: &str, now_ms: u64) -> Result<Option<ClusterState>, NodesParseError> {
    if text.is_empty() {
        return Ok(None);
    }
    parse(text, Mode::Config { now_ms }).map(Some)
}

/// The nodes.conf text of a state: its CLUSTER NODES lines, handshake nodes left out, then the
/// `vars` line.
pub fn render_nodes_conf(state: &ClusterState) -> String {
    let mut text = String::new();
    for line in nodes_text(state).lines().zip(state.nodes()).filter(|(_, n)| !n.in_handshake()).map(|(l, _)| l) {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!("vars currentEpoch {} lastVoteEpoch {}\n", state.current_epoch(), state.last_vote_epoch()));
    text
}

impl ClusterState {
    /// A state from a CLUSTER NODES text, as a node that printed it sees the cluster: the same
    /// nodes in the same order, times, epochs, link states, slots and myself's open slots, so
    /// that [`crate::replies::nodes_text`] gives the text back. Parsed by nodes.conf rules (a
    /// `vars` line is accepted too) except that values are kept as printed.
    pub fn from_nodes_text(text: &str) -> Result<ClusterState, NodesParseError> {
        parse(text, Mode::NodesText)
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Config { now_ms: u64 },
    NodesText,
}

fn err(line: usize, reason: impl Into<String>) -> NodesParseError {
    NodesParseError { line, reason: reason.into() }
}

/// C's `strtoull(s, NULL, 10)` for what nodes.conf holds: leading spaces, an optional sign,
/// the leading digits (saturating); 0 when there are none.
fn c_number(s: &[u8]) -> i128 {
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut value: i128 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        value = (value * 10 + i128::from(s[i] - b'0')).min(i128::from(u64::MAX) + 1);
        i += 1;
    }
    if neg {
        -value
    } else {
        value
    }
}

/// `strtoull`: negative numbers wrap as in C, overflow saturates.
fn c_u64(s: &[u8]) -> u64 {
    let v = c_number(s);
    if v > i128::from(u64::MAX) {
        u64::MAX
    } else if v < 0 {
        (v.rem_euclid(1i128 << 64)) as u64
    } else {
        v as u64
    }
}

/// `atoi` for a port or a slot: out-of-range values are errors here.
fn c_int_in(s: &[u8], max: i128, line: usize, what: &str) -> Result<i128, NodesParseError> {
    let v = c_number(s);
    if (0..=max).contains(&v) {
        Ok(v)
    } else {
        Err(err(line, format!("{what} out of range: {}", String::from_utf8_lossy(s))))
    }
}

struct Builder {
    nodes: Vec<Node>,
    /// Line of each node's own line (`usize::MAX` while only mentioned by others).
    defined_at: Vec<usize>,
    owners: Vec<Option<usize>>,
    myself: Option<usize>,
    migrating: BTreeMap<u16, NodeId>,
    importing: BTreeMap<u16, NodeId>,
}

impl Builder {
    /// `clusterLookupNode`, else `createClusterNode` + `clusterAddNode`.
    fn node(&mut self, id: NodeId) -> usize {
        match self.nodes.iter().position(|n| n.id == id) {
            Some(i) => i,
            None => {
                self.nodes.push(Node::new(id, "", 0, 0));
                self.defined_at.push(usize::MAX);
                self.nodes.len() - 1
            }
        }
    }
}

fn node_id(field: &[u8], line: usize) -> Result<NodeId, NodesParseError> {
    NodeId::parse(field).ok_or_else(|| err(line, format!("bad node id {:?}", String::from_utf8_lossy(field))))
}

fn parse(text: &str, mode: Mode) -> Result<ClusterState, NodesParseError> {
    let mut b = Builder {
        nodes: Vec::new(),
        defined_at: Vec::new(),
        owners: vec![None; usize::from(SLOTS)],
        myself: None,
        migrating: BTreeMap::new(),
        importing: BTreeMap::new(),
    };
    let (mut current_epoch, mut last_vote_epoch) = (0u64, 0u64);

    for (lineno, line) in text.split_inclusive('\n').enumerate() {
        let lineno = lineno + 1;
        if line.starts_with('\n') || line.starts_with('\0') {
            continue;
        }
        let argv = ferrocache_protocol::split_args(&Bytes::copy_from_slice(line.as_bytes()))
            .ok_or_else(|| err(lineno, "unbalanced quotes"))?;
        let Some(first) = argv.first() else {
            return Err(err(lineno, "blank line"));
        };
        if first.eq_ignore_ascii_case(b"vars") {
            if argv.len() % 2 == 0 {
                return Err(err(lineno, "vars without a value"));
            }
            for pair in argv[1..].chunks(2) {
                if pair[0].eq_ignore_ascii_case(b"currentEpoch") {
                    current_epoch = c_u64(&pair[1]);
                } else if pair[0].eq_ignore_ascii_case(b"lastVoteEpoch") {
                    last_vote_epoch = c_u64(&pair[1]);
                }
                // Redis logs and skips unknown variables.
            }
            continue;
        }
        if argv.len() < 8 {
            return Err(err(lineno, "fewer than 8 fields"));
        }
        let index = b.node(node_id(&argv[0], lineno)?);
        b.defined_at[index] = b.defined_at[index].min(lineno);

        // ip:port[@cport][,hostname]
        let mut addr: &[u8] = &argv[1];
        let hostname = match addr.iter().position(|&c| c == b',') {
            Some(comma) => {
                let h = &addr[comma + 1..];
                addr = &addr[..comma];
                String::from_utf8_lossy(h).into_owned()
            }
            None => String::new(),
        };
        let colon = addr.iter().rposition(|&c| c == b':').ok_or_else(|| err(lineno, "address without ':'"))?;
        let ip = String::from_utf8_lossy(&addr[..colon]).into_owned();
        let ports = &addr[colon + 1..];
        let (port, cport) = match ports.iter().position(|&c| c == b'@') {
            Some(at) => (
                c_int_in(&ports[..at], 65535, lineno, "port")? as u16,
                c_int_in(&ports[at + 1..], 65535, lineno, "bus port")? as u16,
            ),
            None => {
                let port = c_int_in(ports, 65535 - i128::from(CLUSTER_PORT_INCR), lineno, "port")? as u16;
                (port, port + CLUSTER_PORT_INCR)
            }
        };

        let mut flags = b.nodes[index].flags;
        for name in argv[2].split(|&c| c == b',') {
            let flag = match name.to_ascii_lowercase().as_slice() {
                b"myself" => {
                    if b.myself.is_some() {
                        return Err(err(lineno, "two myself nodes"));
                    }
                    b.myself = Some(index);
                    NodeFlags::empty()
                }
                b"master" => NodeFlags::MASTER,
                b"slave" => NodeFlags::SLAVE,
                b"fail?" => NodeFlags::PFAIL,
                b"fail" => NodeFlags::FAIL,
                b"handshake" => NodeFlags::HANDSHAKE,
                b"noaddr" => NodeFlags::NOADDR,
                b"nofailover" => NodeFlags::NOFAILOVER,
                b"noflags" => NodeFlags::empty(),
                _ => return Err(err(lineno, format!("unknown flag {:?}", String::from_utf8_lossy(name)))),
            };
            flags.insert(flag);
        }

        let primary = if argv[3].first() != Some(&b'-') {
            let id = node_id(&argv[3], lineno)?;
            b.node(id);
            Some(id)
        } else {
            None
        };
        if primary == Some(b.nodes[index].id) {
            return Err(err(lineno, "a node cannot replicate itself"));
        }

        let (ping, pong) = (c_u64(&argv[4]), c_u64(&argv[5]));
        let epoch = c_u64(&argv[6]);
        let node = &mut b.nodes[index];
        node.ip = ip;
        node.port = port;
        node.cport = cport;
        node.hostname = hostname;
        node.flags = flags;
        if primary.is_some() {
            node.primary = primary;
        }
        node.config_epoch = if node.is_replica() && node.primary.is_some() { 0 } else { epoch };
        match mode {
            Mode::Config { now_ms } => {
                if ping != 0 {
                    node.ping_sent = now_ms;
                }
                if pong != 0 {
                    node.pong_received = now_ms;
                }
            }
            Mode::NodesText => {
                node.ping_sent = ping;
                node.pong_received = pong;
                node.link =
                    if argv[7].as_ref() == b"connected" { LinkState::Connected } else { LinkState::Disconnected };
            }
        }

        for field in &argv[8..] {
            let field: &[u8] = field;
            if field.first() == Some(&b'[') {
                let dash = field.iter().position(|&c| c == b'-').ok_or_else(|| err(lineno, "open slot without '-'"))?;
                let direction = field.get(dash + 1).copied().unwrap_or(0);
                let slot = c_int_in(&field[1..dash], i128::from(SLOTS) - 1, lineno, "slot")? as u16;
                let rest = field.get(dash + 3..).ok_or_else(|| err(lineno, "open slot without a node"))?;
                let close = rest.iter().position(|&c| c == b']').ok_or_else(|| err(lineno, "open slot without ']'"))?;
                let peer = node_id(&rest[..close], lineno)?;
                b.node(peer);
                if direction == b'>' {
                    b.migrating.insert(slot, peer);
                } else {
                    b.importing.insert(slot, peer);
                }
                continue;
            }
            let (start, stop) = match field.iter().position(|&c| c == b'-') {
                Some(dash) => (
                    c_int_in(&field[..dash], i128::from(SLOTS) - 1, lineno, "slot")?,
                    c_int_in(&field[dash + 1..], i128::from(SLOTS) - 1, lineno, "slot")?,
                ),
                None => {
                    let s = c_int_in(field, i128::from(SLOTS) - 1, lineno, "slot")?;
                    (s, s)
                }
            };
            for slot in start..=stop {
                // clusterAddSlot: a slot already owned keeps its owner.
                b.owners[slot as usize].get_or_insert(index);
            }
        }
    }

    let me = b.myself.ok_or_else(|| err(0, "no myself node"))?;
    let my_id = b.nodes[me].id;
    b.nodes[me].migrating = b.migrating;
    b.nodes[me].importing = b.importing;
    let max_epoch = b.nodes.iter().map(|n| n.config_epoch).max().unwrap_or(0);
    let current_epoch = current_epoch.max(max_epoch);
    // Keep the text's order (a node mentioned before its own line takes that line's place),
    // so that the state renders the text back.
    let mut order: Vec<usize> = (0..b.nodes.len()).collect();
    order.sort_by_key(|&i| b.defined_at[i]);
    let mut slots_of: Vec<Vec<u16>> = vec![Vec::new(); b.nodes.len()];
    for (slot, owner) in b.owners.iter().enumerate() {
        if let Some(o) = owner {
            slots_of[*o].push(slot as u16);
        }
    }
    let mut taken: Vec<Option<Node>> = b.nodes.into_iter().map(Some).collect();
    let nodes = order
        .into_iter()
        .filter_map(|i| taken[i].take().map(|n| (n, slot_ranges(std::mem::take(&mut slots_of[i])))))
        .collect();
    ClusterState::from_parts(my_id, current_epoch, last_vote_epoch, nodes).map_err(|e| err(0, e.to_string()))
}

#[cfg(test)]
mod tests;
