//! The CLUSTER command's arguments → what to do: [`parse_cluster`], Redis 7.0's command-table
//! checks (subcommand lookup, arity) followed by `clusterCommand`'s own parsing, in Redis's
//! order, so that every refusal is the one Redis gives.
//!
//! The result is a [`ClusterRequest`]: a reply ready to send, a [`ClusterCommand`] to apply (or
//! propose to the replicated log, then apply), or something only the server can answer (key
//! counts, message counters, bus links, saving the config file, running a failover).

use ferrocache_protocol::Reply;

use crate::error::ClusterError;
use crate::node::NodeId;
use crate::replies;
use crate::slot::{parse_i64, parse_slot, SLOTS};
use crate::state::{ClusterCommand, ClusterState, SetSlotAction};

/// Cluster bus port a MEET without one assumes: `port + 10000` (`CLUSTER_PORT_INCR`).
const PORT_INCR: i64 = 10000;

/// What the acting node knows that the state does not: read by the changes whose checks or
/// effects depend on the node's keyspace or settings.
pub struct LocalFacts<'a> {
    /// Keys in db 0 (`dictSize(server.db[0].dict)`): FLUSHSLOTS, REPLICATE, RESET.
    pub db_keys: u64,
    /// Keys in a slot (`countKeysInSlot`): SETSLOT … NODE.
    pub keys_in_slot: &'a dyn Fn(u16) -> u64,
    /// `cluster-allow-replica-migration`: SETSLOT … NODE.
    pub allow_replica_migration: bool,
}

/// What a CLUSTER command asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterRequest {
    /// Send this reply (HELP, NODES, SLOTS, SHARDS, MYID, KEYSLOT, REPLICAS / SLAVES,
    /// COUNT-FAILURE-REPORTS).
    Reply(Reply),
    /// CLUSTER INFO: [`replies::info_reply`] with the server's message counters.
    Info,
    /// CLUSTER LINKS: [`replies::links_reply`] with the server's bus links.
    Links,
    /// CLUSTER SAVECONFIG: write [`crate::render_nodes_conf`] to the `cluster-config-file`
    /// (fsynced); `+OK`, or `ERR error saving the cluster node config: <strerror>`.
    SaveConfig,
    /// CLUSTER COUNTKEYSINSLOT: the number of keys in the slot, as an integer.
    CountKeysInSlot(u16),
    /// CLUSTER GETKEYSINSLOT: up to `count` key names of the slot, as an array of bulks.
    GetKeysInSlot { slot: u16, count: u64 },
    /// A change: apply it (through the replicated log unless [`ClusterCommand::is_local`]) and
    /// reply with [`crate::Applied::to_reply`] or the error.
    Change(ClusterCommand),
    /// CLUSTER FAILOVER with its preconditions met: the server runs a manual failover (default:
    /// with the master's agreement; FORCE: without it), which ends by applying
    /// [`ClusterCommand::Failover`]; TAKEOVER applies `Failover { takeover: true }` at once.
    /// Reply `+OK` when it starts.
    Failover { force: bool, takeover: bool },
}

/// The CLUSTER subcommands and their arities in Redis 7.0's command table (the whole command
/// counted: `CLUSTER NODES` is 2; negative means "at least").
pub const SUBCOMMANDS: &[(&str, i32)] = &[
    ("addslots", -3),
    ("addslotsrange", -4),
    ("bumpepoch", 2),
    ("count-failure-reports", 3),
    ("countkeysinslot", 3),
    ("delslots", -3),
    ("delslotsrange", -4),
    ("failover", -2),
    ("flushslots", 2),
    ("forget", 3),
    ("getkeysinslot", 4),
    ("help", 2),
    ("info", 2),
    ("keyslot", 3),
    ("links", 2),
    ("meet", -4),
    ("myid", 2),
    ("nodes", 2),
    ("replicas", 3),
    ("replicate", 3),
    ("reset", -2),
    ("saveconfig", 2),
    ("set-config-epoch", 3),
    ("setslot", -4),
    ("shards", 2),
    ("slaves", 3),
    ("slots", 2),
];

/// The wall clock in unix ms, for the commands that carry the time they were sent at.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// An argument as Redis's `%s` prints it in an error: up to its first NUL byte.
fn c_text(arg: &[u8]) -> String {
    text(arg.split(|&b| b == 0).next().unwrap_or_default())
}

/// The command table's checks for `CLUSTER <args…>` (`args` without `CLUSTER`): the subcommand
/// must exist (case-insensitive) and the argument count fit its arity. Returns the subcommand's
/// lower-case name. These come before anything else, also when cluster mode is off (then
/// reply [`ClusterError::ClusterDisabled`] after them).
pub fn check_subcommand<K: AsRef<[u8]>>(args: &[K]) -> Result<&'static str, ClusterError> {
    let Some(sub) = args.first() else {
        return Err(ClusterError::WrongArity("cluster".to_string()));
    };
    let sub = sub.as_ref();
    let (name, arity) = SUBCOMMANDS
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(sub))
        .ok_or_else(|| ClusterError::UnknownSubcommand(c_text(sub)))?;
    let argc = args.len() as i64 + 1;
    let arity = i64::from(*arity);
    if (arity > 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return Err(ClusterError::WrongArity(format!("cluster|{name}")));
    }
    Ok(name)
}

/// Parses `CLUSTER <args…>` (`args` without `CLUSTER`) sent to the node `state` views as
/// myself. Refusals are Redis's, in Redis's order; a [`ClusterRequest::Change`] may still be
/// refused by [`ClusterState::apply`] (busy slots, unknown nodes, …), as Redis would.
pub fn parse_cluster<K: AsRef<[u8]>>(
    args: &[K],
    state: &ClusterState,
    facts: &LocalFacts<'_>,
) -> Result<ClusterRequest, ClusterError> {
    use ClusterRequest as R;
    let name = check_subcommand(args)?;
    let arg = |i: usize| args[i].as_ref();
    let argc = args.len() + 1;
    let me = state.my_id();
    let change = |command| Ok(R::Change(command));
    match name {
        "help" => Ok(R::Reply(replies::help_reply())),
        "info" => Ok(R::Info),
        "links" => Ok(R::Links),
        "saveconfig" => Ok(R::SaveConfig),
        "nodes" => Ok(R::Reply(replies::nodes_reply(state))),
        "slots" => Ok(R::Reply(replies::slots_reply(state))),
        "shards" => Ok(R::Reply(replies::shards_reply(state))),
        "myid" => Ok(R::Reply(replies::myid_reply(state))),
        "keyslot" => Ok(R::Reply(replies::keyslot_reply(arg(1)))),
        "replicas" | "slaves" => replies::replicas_reply(state, arg(1)).map(R::Reply),
        "count-failure-reports" => replies::count_failure_reports_reply(state, arg(1)).map(R::Reply),
        "countkeysinslot" => {
            let slot = parse_i64(arg(1)).ok_or(ClusterError::NotAnInteger)?;
            if !(0..i64::from(SLOTS)).contains(&slot) {
                return Err(ClusterError::InvalidSlotNumber);
            }
            Ok(R::CountKeysInSlot(slot as u16))
        }
        "getkeysinslot" => {
            let slot = parse_i64(arg(1)).ok_or(ClusterError::NotAnInteger)?;
            let count = parse_i64(arg(2)).ok_or(ClusterError::NotAnInteger)?;
            if !(0..i64::from(SLOTS)).contains(&slot) || count < 0 {
                return Err(ClusterError::InvalidSlotOrCount);
            }
            Ok(R::GetKeysInSlot { slot: slot as u16, count: count as u64 })
        }
        "addslots" | "delslots" => {
            // Every argument must parse before any is checked against the table.
            let slots = args[1..].iter().map(|a| parse_slot(a.as_ref())).collect::<Result<Vec<u16>, _>>()?;
            let ranges = slots.into_iter().map(|s| (s, s)).collect();
            change(if name == "addslots" {
                ClusterCommand::AddSlots { node: me, ranges }
            } else {
                ClusterCommand::DelSlots { node: me, ranges }
            })
        }
        "addslotsrange" | "delslotsrange" => {
            if argc % 2 == 1 {
                return Err(ClusterError::WrongArity(format!("cluster|{name}")));
            }
            let del = name == "delslotsrange";
            // Redis parses and checks pair by pair: a bad number after a refused pair is not
            // what it reports.
            let mut ranges = Vec::new();
            for pair in args[1..].chunks(2) {
                match (parse_slot(pair[0].as_ref()), parse_slot(pair[1].as_ref())) {
                    (Ok(start), Ok(end)) => ranges.push((start, end)),
                    _ => {
                        return Err(state
                            .check_slot_assignments(del, &ranges)
                            .err()
                            .unwrap_or(ClusterError::InvalidSlot))
                    }
                }
            }
            change(if del {
                ClusterCommand::DelSlots { node: me, ranges }
            } else {
                ClusterCommand::AddSlots { node: me, ranges }
            })
        }
        "flushslots" => change(ClusterCommand::FlushSlots { node: me, db_keys: facts.db_keys }),
        "bumpepoch" => change(ClusterCommand::BumpEpoch { node: me }),
        "setslot" => {
            if state.myself().is_replica() {
                return Err(ClusterError::SetSlotOnReplica);
            }
            let slot = parse_slot(arg(1))?;
            let action = arg(2);
            let action = if action.eq_ignore_ascii_case(b"migrating") && argc == 5 {
                SetSlotAction::Migrating(text(arg(3)))
            } else if action.eq_ignore_ascii_case(b"importing") && argc == 5 {
                SetSlotAction::Importing(text(arg(3)))
            } else if action.eq_ignore_ascii_case(b"stable") && argc == 4 {
                SetSlotAction::Stable
            } else if action.eq_ignore_ascii_case(b"node") && argc == 5 {
                // Myself's open slots are node-local: the facts the replicated apply needs.
                let target = state.lookup(arg(3)).map(|n| n.id);
                SetSlotAction::Node {
                    target: text(arg(3)),
                    keys_in_slot: (facts.keys_in_slot)(slot),
                    allow_replica_migration: facts.allow_replica_migration,
                    closing_import: target == Some(me) && state.importing_from(slot).is_some(),
                    migrating_to_target: target.is_some() && state.migrating_to(slot) == target.as_ref(),
                }
            } else {
                return Err(ClusterError::InvalidSetSlotAction);
            };
            change(ClusterCommand::SetSlot { node: me, slot, action })
        }
        "set-config-epoch" => {
            let epoch = parse_i64(arg(1)).ok_or(ClusterError::NotAnInteger)?;
            change(ClusterCommand::SetConfigEpoch { node: me, epoch })
        }
        "meet" => {
            if argc != 4 && argc != 5 {
                return Err(ClusterError::SubcommandSyntax(text(arg(0))));
            }
            let port = parse_i64(arg(2)).ok_or_else(|| ClusterError::InvalidBasePort(text(arg(2))))?;
            let cport = if argc == 5 {
                parse_i64(arg(3)).ok_or_else(|| ClusterError::InvalidBusPort(text(arg(3))))?
            } else {
                port.saturating_add(PORT_INCR)
            };
            change(ClusterCommand::Meet { id: NodeId::random(), ip: text(arg(1)), port, cport })
        }
        // The time is stamped here, like MEET's random id, so that applying stays deterministic.
        "forget" => change(ClusterCommand::Forget { node: me, target: text(arg(1)), now_ms: unix_ms() }),
        "replicate" => change(ClusterCommand::Replicate { node: me, target: text(arg(1)), db_keys: facts.db_keys }),
        "reset" => {
            if argc > 3 {
                return Err(ClusterError::SubcommandSyntax(text(arg(0))));
            }
            let hard = match args.get(1).map(|a| a.as_ref()) {
                None => false,
                Some(a) if a.eq_ignore_ascii_case(b"hard") => true,
                Some(a) if a.eq_ignore_ascii_case(b"soft") => false,
                Some(_) => return Err(ClusterError::Syntax),
            };
            let new_id = if hard { NodeId::random() } else { me };
            change(ClusterCommand::Reset { node: me, hard, new_id, db_keys: facts.db_keys })
        }
        "failover" => {
            if argc > 3 {
                return Err(ClusterError::SubcommandSyntax(text(arg(0))));
            }
            let (force, takeover) = match args.get(1).map(|a| a.as_ref()) {
                None => (false, false),
                Some(a) if a.eq_ignore_ascii_case(b"force") => (true, false),
                Some(a) if a.eq_ignore_ascii_case(b"takeover") => (true, true),
                Some(_) => return Err(ClusterError::Syntax),
            };
            state.check_failover(&me, force)?;
            Ok(R::Failover { force, takeover })
        }
        // `check_subcommand` only returns names of the table above.
        _ => Err(ClusterError::UnknownSubcommand(name.to_string())),
    }
}

#[cfg(test)]
mod tests;
