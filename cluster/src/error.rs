//! Every error a cluster operation can refuse with, rendering to Redis 7.0's exact text.
//!
//! The texts are those of `cluster.c` (`clusterCommand`, `getSlotOrReply`,
//! `checkSlotAssignmentsOrReply`, …). [`ClusterError::reply_text`] gives the whole error line
//! without the leading `-` (so `ERR Slot 1 is already busy`), ready for
//! `ferrocache_protocol::Reply::Error`; `Display` gives the same text.

use std::fmt;

use ferrocache_protocol::Reply;
use serde::{Deserialize, Serialize};

/// A refused cluster operation. Variants holding a `String` node name keep the argument as
/// the client typed it, because Redis echoes it back verbatim (`ERR Unknown node foo`).
/// `Serialize + Deserialize` so that a refusal travels back over the cluster bus to the node
/// that forwarded the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterError {
    /// `ERR This instance has cluster support disabled`
    ClusterDisabled,
    /// `ERR Invalid or out of range slot`
    InvalidSlot,
    /// `ERR Invalid slot` (COUNTKEYSINSLOT)
    InvalidSlotNumber,
    /// `ERR Invalid slot or number of keys` (GETKEYSINSLOT)
    InvalidSlotOrCount,
    /// `ERR Slot <n> is already busy`
    SlotBusy(u16),
    /// `ERR Slot <n> is already unassigned`
    SlotUnassigned(u16),
    /// `ERR Slot <n> specified multiple times`
    SlotRepeated(u16),
    /// `ERR start slot number <a> is greater than end slot number <b>`
    SlotRangeReversed(u16, u16),
    /// `ERR Unknown node <name>`
    UnknownNode(String),
    /// `ERR I don't know about node <name>` (SETSLOT MIGRATING / IMPORTING)
    NodeNotKnown(String),
    /// `ERR Please use SETSLOT only with masters.`
    SetSlotOnReplica,
    /// `ERR I'm not the owner of hash slot <n>`
    NotSlotOwner(u16),
    /// `ERR I'm already the owner of hash slot <n>`
    AlreadySlotOwner(u16),
    /// `ERR Target node is not a master`
    TargetNotMaster,
    /// `ERR Can't assign hashslot <n> to a different node while I still hold keys for this hash slot.`
    SlotHasKeys(u16),
    /// `ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP`
    InvalidSetSlotAction,
    /// `ERR DB must be empty to perform CLUSTER FLUSHSLOTS.`
    FlushSlotsNotEmpty,
    /// `ERR I tried hard but I can't forget myself...`
    ForgetMyself,
    /// `ERR Can't forget my master!`
    ForgetMyMaster,
    /// `ERR Can't replicate myself`
    ReplicateMyself,
    /// `ERR I can only replicate a master, not a replica.`
    ReplicateReplica,
    /// `ERR To set a master the node must be empty and without assigned slots.`
    ReplicateNotEmpty,
    /// `ERR The specified node is not a master` (CLUSTER REPLICAS / SLAVES)
    NotAMaster,
    /// `ERR You should send CLUSTER FAILOVER to a replica`
    FailoverOnMaster,
    /// `ERR I'm a replica but my master is unknown to me`
    FailoverMasterUnknown,
    /// `ERR Master is down or failed, please use CLUSTER FAILOVER FORCE`
    FailoverMasterDown,
    /// `ERR Invalid config epoch specified: <n>`
    InvalidConfigEpoch(i64),
    /// `ERR The user can assign a config epoch only when the node does not know any other node.`
    ConfigEpochOtherNodes,
    /// `ERR Node config epoch is already non-zero`
    ConfigEpochNonZero,
    /// `ERR CLUSTER RESET can't be called with master nodes containing keys`
    ResetMasterWithKeys,
    /// `ERR Invalid TCP base port specified: <arg>`
    InvalidBasePort(String),
    /// `ERR Invalid TCP bus port specified: <arg>`
    InvalidBusPort(String),
    /// `ERR Invalid node address specified: <ip>:<port>`
    InvalidNodeAddress(String, String),
    /// `ERR syntax error`
    Syntax,
    /// `ERR value is not an integer or out of range`
    NotAnInteger,
    /// `ERR unknown subcommand '<name>'. Try CLUSTER HELP.` (the command table's reply for an
    /// unknown CLUSTER subcommand).
    UnknownSubcommand(String),
    /// `ERR unknown subcommand or wrong number of arguments for '<name>'. Try CLUSTER HELP.`
    /// (`addReplySubcommandSyntaxError`, for a known subcommand `clusterCommand` itself refuses).
    SubcommandSyntax(String),
    /// `ERR wrong number of arguments for '<name>' command`, the name as the command table
    /// spells it: `cluster|nodes`, or `cluster` alone.
    WrongArity(String),
    /// CLUSTER MEET between two nodes that are members of two different clusters: a cluster
    /// only takes in nodes that belong to no cluster yet. `ERR <text>` (not a Redis reply: Redis
    /// would merge the two through gossip).
    DifferentClusters(String),
    /// The control plane could not do it: the peer is unreachable, no majority answered before
    /// the timeout, the node is shutting down. `ERR <text>` (not a Redis reply).
    ControlPlane(String),
    /// An operation named a node the state does not hold (a `ClusterCommand` built by the
    /// server with a bad id, a corrupt snapshot). Not a Redis reply: `ERR <text>`.
    Invalid(String),
}

impl ClusterError {
    /// The error line without its leading `-`, e.g. `ERR Slot 1 is already busy`.
    pub fn reply_text(&self) -> String {
        self.to_string()
    }

    /// The error as a reply value.
    pub fn to_reply(&self) -> Reply {
        Reply::error(self.reply_text())
    }
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ClusterError::*;
        f.write_str("ERR ")?;
        match self {
            ClusterDisabled => f.write_str("This instance has cluster support disabled"),
            InvalidSlot => f.write_str("Invalid or out of range slot"),
            InvalidSlotNumber => f.write_str("Invalid slot"),
            InvalidSlotOrCount => f.write_str("Invalid slot or number of keys"),
            SlotBusy(s) => write!(f, "Slot {s} is already busy"),
            SlotUnassigned(s) => write!(f, "Slot {s} is already unassigned"),
            SlotRepeated(s) => write!(f, "Slot {s} specified multiple times"),
            SlotRangeReversed(a, b) => write!(f, "start slot number {a} is greater than end slot number {b}"),
            UnknownNode(n) => write!(f, "Unknown node {n}"),
            NodeNotKnown(n) => write!(f, "I don't know about node {n}"),
            SetSlotOnReplica => f.write_str("Please use SETSLOT only with masters."),
            NotSlotOwner(s) => write!(f, "I'm not the owner of hash slot {s}"),
            AlreadySlotOwner(s) => write!(f, "I'm already the owner of hash slot {s}"),
            TargetNotMaster => f.write_str("Target node is not a master"),
            SlotHasKeys(s) => {
                write!(f, "Can't assign hashslot {s} to a different node while I still hold keys for this hash slot.")
            }
            InvalidSetSlotAction => {
                f.write_str("Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")
            }
            FlushSlotsNotEmpty => f.write_str("DB must be empty to perform CLUSTER FLUSHSLOTS."),
            ForgetMyself => f.write_str("I tried hard but I can't forget myself..."),
            ForgetMyMaster => f.write_str("Can't forget my master!"),
            ReplicateMyself => f.write_str("Can't replicate myself"),
            ReplicateReplica => f.write_str("I can only replicate a master, not a replica."),
            ReplicateNotEmpty => f.write_str("To set a master the node must be empty and without assigned slots."),
            NotAMaster => f.write_str("The specified node is not a master"),
            FailoverOnMaster => f.write_str("You should send CLUSTER FAILOVER to a replica"),
            FailoverMasterUnknown => f.write_str("I'm a replica but my master is unknown to me"),
            FailoverMasterDown => f.write_str("Master is down or failed, please use CLUSTER FAILOVER FORCE"),
            InvalidConfigEpoch(e) => write!(f, "Invalid config epoch specified: {e}"),
            ConfigEpochOtherNodes => {
                f.write_str("The user can assign a config epoch only when the node does not know any other node.")
            }
            ConfigEpochNonZero => f.write_str("Node config epoch is already non-zero"),
            ResetMasterWithKeys => f.write_str("CLUSTER RESET can't be called with master nodes containing keys"),
            InvalidBasePort(p) => write!(f, "Invalid TCP base port specified: {p}"),
            InvalidBusPort(p) => write!(f, "Invalid TCP bus port specified: {p}"),
            InvalidNodeAddress(ip, port) => write!(f, "Invalid node address specified: {ip}:{port}"),
            Syntax => f.write_str("syntax error"),
            NotAnInteger => f.write_str("value is not an integer or out of range"),
            UnknownSubcommand(s) => write!(f, "unknown subcommand '{}'. Try CLUSTER HELP.", truncate(s)),
            SubcommandSyntax(s) => {
                write!(f, "unknown subcommand or wrong number of arguments for '{}'. Try CLUSTER HELP.", truncate(s))
            }
            WrongArity(s) => write!(f, "wrong number of arguments for '{s}' command"),
            DifferentClusters(s) | ControlPlane(s) | Invalid(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ClusterError {}

/// Redis prints subcommand names with `%.128s`.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(128) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(ClusterError::SlotBusy(1).reply_text(), "ERR Slot 1 is already busy");
        assert_eq!(ClusterError::InvalidSlot.reply_text(), "ERR Invalid or out of range slot");
        assert_eq!(ClusterError::UnknownNode("abc".into()).reply_text(), "ERR Unknown node abc");
        assert_eq!(
            ClusterError::UnknownSubcommand("FOO".into()).reply_text(),
            "ERR unknown subcommand 'FOO'. Try CLUSTER HELP."
        );
        assert_eq!(
            ClusterError::WrongArity("cluster|nodes".into()).reply_text(),
            "ERR wrong number of arguments for 'cluster|nodes' command"
        );
        assert_eq!(
            ClusterError::UnknownSubcommand("x".repeat(200)).reply_text().len(),
            "ERR unknown subcommand ''. Try CLUSTER HELP.".len() + 128
        );
        assert!(ClusterError::Syntax.to_reply().is_error());
    }
}
