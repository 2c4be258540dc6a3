//! Cluster nodes: ids, flags, link state and what the state knows about each node.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of a node id (`CLUSTER_NAMELEN`): 40 characters, a SHA1-sized hex string.
pub const NODE_ID_LEN: usize = 40;

/// A node id: 40 bytes of `[a-z0-9]` (Redis's `verifyClusterNodeId`; ids Redis generates are
/// lowercase hex). `Copy`, compared byte-wise, printed as text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; NODE_ID_LEN]);

impl NodeId {
    /// The id `name` spells, if Redis would accept it (`verifyClusterNodeId`: exactly 40 bytes,
    /// each `a`-`z` or `0`-`9`). Anything else names no node: Redis answers `Unknown node`.
    pub fn parse(name: &[u8]) -> Option<NodeId> {
        let bytes: [u8; NODE_ID_LEN] = name.try_into().ok()?;
        bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()).then_some(NodeId(bytes))
    }

    /// A fresh random id of 40 lowercase hex characters (`getRandomHexChars`). Call it outside
    /// [`crate::ClusterState::apply`] and put the id in the command, so that applying stays
    /// deterministic.
    pub fn random() -> NodeId {
        use rand::RngCore;
        let mut raw = [0u8; NODE_ID_LEN / 2];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        NodeId::from_bytes_hex(&raw)
    }

    /// The id whose text is the lowercase hex of `raw` (20 bytes → 40 characters).
    pub fn from_bytes_hex(raw: &[u8; NODE_ID_LEN / 2]) -> NodeId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = [0u8; NODE_ID_LEN];
        for (i, b) in raw.iter().enumerate() {
            id[2 * i] = HEX[usize::from(b >> 4)];
            id[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        NodeId(id)
    }

    pub fn as_bytes(&self) -> &[u8; NODE_ID_LEN] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits ever get in.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.as_str())
    }
}

impl std::str::FromStr for NodeId {
    type Err = InvalidNodeId;
    fn from_str(s: &str) -> Result<NodeId, InvalidNodeId> {
        NodeId::parse(s.as_bytes()).ok_or(InvalidNodeId)
    }
}

/// A string that is not a node id (see [`NodeId::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidNodeId;

impl fmt::Display for InvalidNodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a node id is 40 characters of [a-z0-9]")
    }
}

impl std::error::Error for InvalidNodeId {}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NodeId, D::Error> {
        let s = String::deserialize(d)?;
        NodeId::parse(s.as_bytes()).ok_or_else(|| serde::de::Error::custom(InvalidNodeId))
    }
}

/// Node flags (`CLUSTER_NODE_*`), as a small bit set. `MYSELF` is not among them: which node is
/// "myself" is a property of the [`crate::ClusterState`] looking at the nodes, so that every
/// member of the cluster can hold the same replicated node table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeFlags(u16);

impl NodeFlags {
    pub const MASTER: NodeFlags = NodeFlags(1 << 0);
    pub const SLAVE: NodeFlags = NodeFlags(1 << 1);
    /// Possibly failing: this node's own view, not agreed (`fail?`).
    pub const PFAIL: NodeFlags = NodeFlags(1 << 2);
    /// Failing: agreed by the majority of masters (`fail`).
    pub const FAIL: NodeFlags = NodeFlags(1 << 3);
    /// First contact under way; the id is still the random one given at MEET (`handshake`).
    pub const HANDSHAKE: NodeFlags = NodeFlags(1 << 4);
    /// The address is unknown (`noaddr`).
    pub const NOADDR: NodeFlags = NodeFlags(1 << 5);
    /// A replica that will not fail over (`cluster-replica-no-failover`, `nofailover`).
    pub const NOFAILOVER: NodeFlags = NodeFlags(1 << 6);
    /// A MEET is to be sent to this node (not printed).
    pub const MEET: NodeFlags = NodeFlags(1 << 7);

    pub const fn empty() -> NodeFlags {
        NodeFlags(0)
    }
    pub const fn bits(self) -> u16 {
        self.0
    }
    /// The flags of `bits`, dropping unknown bits.
    pub const fn from_bits_truncate(bits: u16) -> NodeFlags {
        NodeFlags(bits & 0xff)
    }
    pub const fn contains(self, other: NodeFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn intersects(self, other: NodeFlags) -> bool {
        self.0 & other.0 != 0
    }
    pub fn insert(&mut self, other: NodeFlags) {
        self.0 |= other.0;
    }
    pub fn remove(&mut self, other: NodeFlags) {
        self.0 &= !other.0;
    }
    pub fn set(&mut self, other: NodeFlags, on: bool) {
        if on {
            self.insert(other)
        } else {
            self.remove(other)
        }
    }
    pub const fn union(self, other: NodeFlags) -> NodeFlags {
        NodeFlags(self.0 | other.0)
    }
}

impl std::ops::BitOr for NodeFlags {
    type Output = NodeFlags;
    fn bitor(self, rhs: NodeFlags) -> NodeFlags {
        self.union(rhs)
    }
}

/// The printed flags in Redis's order (`redisNodeFlagsTable`), after `myself`.
pub(crate) const FLAG_NAMES: [(NodeFlags, &str); 7] = [
    (NodeFlags::MASTER, "master"),
    (NodeFlags::SLAVE, "slave"),
    (NodeFlags::PFAIL, "fail?"),
    (NodeFlags::FAIL, "fail"),
    (NodeFlags::HANDSHAKE, "handshake"),
    (NodeFlags::NOADDR, "noaddr"),
    (NodeFlags::NOFAILOVER, "nofailover"),
];

impl fmt::Debug for NodeFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = FLAG_NAMES.iter().filter(|(flag, _)| self.contains(*flag)).map(|(_, n)| *n).collect();
        write!(f, "NodeFlags({})", names.join(","))
    }
}

/// Whether the cluster bus link to a node is up: the `connected` / `disconnected` column of
/// CLUSTER NODES. Myself is always printed `connected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LinkState {
    Connected,
    #[default]
    Disconnected,
}

/// What the state knows about one node. Read it through [`crate::ClusterState::node`] and
/// friends; change it only through [`crate::ClusterState::apply`], which keeps the slot table
/// and the replica lists consistent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    /// The announced IP (empty until known, as on a fresh Redis node: `:7001@17001`).
    pub ip: String,
    /// Client port.
    pub port: u16,
    /// Cluster bus port.
    pub cport: u16,
    /// `cluster-announce-hostname`; empty means none.
    pub hostname: String,
    pub flags: NodeFlags,
    /// The primary this node replicates, if it is a replica whose primary is known.
    pub primary: Option<NodeId>,
    /// Unix ms of the ping in flight, 0 if none.
    pub ping_sent: u64,
    /// Unix ms of the last pong received.
    pub pong_received: u64,
    pub config_epoch: u64,
    pub link: LinkState,
    /// Replication offset as last reported (CLUSTER SHARDS; a replica at 0 is `loading` and is
    /// left out of CLUSTER SLOTS).
    pub repl_offset: i64,
    /// Failure reports about this node from other masters (COUNT-FAILURE-REPORTS).
    pub failure_reports: u64,
    /// The replica that took this master's slots while it was failed: the master it will
    /// replicate once back.
    #[serde(default)]
    pub failed_over_to: Option<NodeId>,
    /// Slots this node is migrating, to the node named (`[slot->-id]` when it is myself).
    pub migrating: BTreeMap<u16, NodeId>,
    /// Slots this node is importing, from the node named (`[slot-<-id]` when it is myself).
    pub importing: BTreeMap<u16, NodeId>,
}

impl Node {
    /// A node with nothing known but its id and address: no flags, epoch 0, disconnected.
    pub fn new(id: NodeId, ip: impl Into<String>, port: u16, cport: u16) -> Node {
        Node {
            id,
            ip: ip.into(),
            port,
            cport,
            hostname: String::new(),
            flags: NodeFlags::empty(),
            primary: None,
            ping_sent: 0,
            pong_received: 0,
            config_epoch: 0,
            link: LinkState::Disconnected,
            repl_offset: 0,
            failure_reports: 0,
            failed_over_to: None,
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
        }
    }

    /// `nodeIsMaster`.
    pub fn is_master(&self) -> bool {
        self.flags.contains(NodeFlags::MASTER)
    }
    /// `nodeIsSlave`.
    pub fn is_replica(&self) -> bool {
        self.flags.contains(NodeFlags::SLAVE)
    }
    /// `nodeFailed`: flagged FAIL.
    pub fn is_failed(&self) -> bool {
        self.flags.contains(NodeFlags::FAIL)
    }
    /// `nodeTimedOut`: flagged PFAIL.
    pub fn is_timed_out(&self) -> bool {
        self.flags.contains(NodeFlags::PFAIL)
    }
    pub fn in_handshake(&self) -> bool {
        self.flags.contains(NodeFlags::HANDSHAKE)
    }
    pub fn hostname(&self) -> Option<&str> {
        (!self.hostname.is_empty()).then_some(self.hostname.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        let text = "b5ec036ae9e83565236b4a3aa177998ea8c590ed";
        let id = NodeId::parse(text.as_bytes()).unwrap();
        assert_eq!(id.to_string(), text);
        assert_eq!(text.parse::<NodeId>(), Ok(id));
        // Redis accepts any [a-z0-9]{40}, not only hex.
        assert!(NodeId::parse(&[b'z'; 40]).is_some());
        assert!(NodeId::parse(&[b'A'; 40]).is_none());
        assert!(NodeId::parse(&[b'a'; 39]).is_none());
        assert!(NodeId::parse(&[b'a'; 41]).is_none());
        assert!(NodeId::parse(b"").is_none());
        let r = NodeId::random();
        assert!(r.as_bytes().iter().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(r, NodeId::random());
        assert_eq!(NodeId::from_bytes_hex(&[0xab; 20]).as_str(), "ab".repeat(20));
    }

    #[test]
    fn id_serde() {
        let id = NodeId::parse(&[b'1'; 40]).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", "1".repeat(40)));
        assert_eq!(serde_json::from_str::<NodeId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<NodeId>("\"nope\"").is_err());
    }

    #[test]
    fn flags() {
        let mut f = NodeFlags::MASTER | NodeFlags::PFAIL;
        assert!(f.contains(NodeFlags::MASTER));
        assert!(!f.contains(NodeFlags::MASTER | NodeFlags::FAIL));
        assert!(f.intersects(NodeFlags::MASTER | NodeFlags::FAIL));
        f.remove(NodeFlags::PFAIL);
        f.set(NodeFlags::FAIL, true);
        assert_eq!(f, NodeFlags::MASTER | NodeFlags::FAIL);
        assert_eq!(format!("{f:?}"), "NodeFlags(master,fail)");
        assert_eq!(NodeFlags::from_bits_truncate(0xffff).bits(), 0xff);
    }
}
