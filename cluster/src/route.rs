//! Where a command must run: [`route`], a pure port of Redis 7.0's `getNodeByQuery`, and the
//! redirection errors of `clusterRedirectClient`.
//!
//! The dispatcher calls [`route`] after the arity and auth checks and before the OOM check, for
//! every command that has keys (or movable keys) and for EXEC, except on the connection of the
//! primary this node replicates (`processCommand`'s conditions). On anything but
//! [`Route::Local`] it replies [`Route::to_reply`] without running the command; inside MULTI it
//! also flags the transaction (EXEC then fails with `EXECABORT`), and a refused EXEC discards the
//! transaction. The ASKING flag is one-shot: the connection clears it after every command except
//! ASKING itself, and not while queueing inside MULTI (`resetClient`).

use ferrocache_protocol::Reply;

use crate::node::{Node, NodeId};
use crate::slot::key_slot;
use crate::state::{ClusterHealth, ClusterState, EndpointType};

/// The connection flags routing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientFlags {
    /// ASKING was sent (`CLIENT_ASKING`).
    pub asking: bool,
    /// READONLY is on (`CLIENT_READONLY`): a replica serves reads of its primary's slots.
    pub readonly: bool,
    /// The connection is inside MULTI (`CLIENT_MULTI`).
    pub multi: bool,
}

/// What kind of command is being routed, where Redis's `getNodeByQuery` treats it specially.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommandKind {
    /// Any other command.
    #[default]
    Regular,
    /// EXEC. The query's keys are those of every queued command, in order. `queued_write`:
    /// some queued command writes (`mstate.cmd_flags & CMD_WRITE`). Outside MULTI, EXEC is
    /// always local (it just fails).
    Exec { queued_write: bool },
    /// MIGRATE: runs locally whenever its slot is migrating or importing here.
    Migrate,
    /// A command flagged `asking` in the command table (RESTORE-ASKING): as if ASKING was sent.
    Asking,
    /// SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH: the "keys" are shard channels, never looked up.
    ShardPubSub,
}

/// A command, as routing sees it.
///
/// `K` is whatever the dispatcher holds its key arguments as (`&[u8]`, `Bytes`, `Vec<u8>`):
/// routing only reads them.
pub struct Query<'a, K: AsRef<[u8]> = &'a [u8]> {
    /// The command's keys, in the order of its key specs (for EXEC, of every queued command).
    /// The same key may repeat.
    pub keys: &'a [K],
    /// The command has the `write` flag (EXEC itself does not: see [`CommandKind::Exec`]).
    pub write: bool,
    pub kind: CommandKind,
    /// Whether a key exists in this node's db 0, without touching it (Redis's
    /// `lookupKeyReadWithFlags(NOTOUCH|NOSTATS|NONOTIFY)`, so an expired key counts as missing).
    /// Called only while the slot is migrating or importing here, once per key argument.
    pub key_exists: &'a dyn Fn(&[u8]) -> bool,
}

/// Why a command is refused with CLUSTERDOWN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownReason {
    /// The slot has no owner: `CLUSTERDOWN Hash slot not served`.
    Unbound,
    /// The cluster is down: `CLUSTERDOWN The cluster is down`.
    State,
    /// The cluster is down and `cluster-allow-reads-when-down` lets only reads through:
    /// `CLUSTERDOWN The cluster is down and only accepts read commands`.
    ReadOnlyState,
}

/// The decision of [`route`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Run it here.
    Local,
    /// `-MOVED <slot> <endpoint>:<port>`: the slot lives on that node.
    Moved { slot: u16, node: NodeId, endpoint: String, port: u16 },
    /// `-ASK <slot> <endpoint>:<port>`: the slot is migrating there and the keys are not here.
    Ask { slot: u16, node: NodeId, endpoint: String, port: u16 },
    /// `-CROSSSLOT Keys in request don't hash to the same slot`.
    CrossSlot,
    /// `-TRYAGAIN Multiple keys request during rehashing of slot`.
    TryAgain,
    /// `-CLUSTERDOWN …`.
    Down(DownReason),
}

impl Route {
    pub fn is_local(&self) -> bool {
        matches!(self, Route::Local)
    }

    /// The error line without the leading `-` (`MOVED 3999 127.0.0.1:6381`), or `None` for
    /// [`Route::Local`].
    pub fn error_text(&self) -> Option<String> {
        Some(match self {
            Route::Local => return None,
            Route::Moved { slot, endpoint, port, .. } => format!("MOVED {slot} {endpoint}:{port}"),
            Route::Ask { slot, endpoint, port, .. } => format!("ASK {slot} {endpoint}:{port}"),
            Route::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".to_string(),
            Route::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".to_string(),
            Route::Down(DownReason::Unbound) => "CLUSTERDOWN Hash slot not served".to_string(),
            Route::Down(DownReason::State) => "CLUSTERDOWN The cluster is down".to_string(),
            Route::Down(DownReason::ReadOnlyState) => {
                "CLUSTERDOWN The cluster is down and only accepts read commands".to_string()
            }
        })
    }

    /// The error reply, or `None` for [`Route::Local`].
    pub fn to_reply(&self) -> Option<Reply> {
        self.error_text().map(Reply::error)
    }
}

/// The endpoint Redis names a node by in redirections (`getPreferredEndpoint`).
pub fn preferred_endpoint(state: &ClusterState, node: &Node) -> String {
    match state.config().preferred_endpoint {
        EndpointType::Ip => node.ip.clone(),
        EndpointType::Hostname => node.hostname().unwrap_or("?").to_string(),
        EndpointType::Unknown => String::new(),
    }
}

fn redirect(state: &ClusterState, slot: u16, node: &Node, ask: bool) -> Route {
    let (node_id, endpoint, port) = (node.id, preferred_endpoint(state, node), node.port);
    if ask {
        Route::Ask { slot, node: node_id, endpoint, port }
    } else {
        Route::Moved { slot, node: node_id, endpoint, port }
    }
}

/// Decides where `query` runs, as `getNodeByQuery` + `clusterRedirectClient` do, branch for
/// branch:
///
/// 1. EXEC outside MULTI, and commands without keys: [`Route::Local`].
/// 2. The first key's slot has no owner: `Down(Unbound)`. A key of another slot: `CrossSlot`
///    (the same key repeated is fine; another key of the same slot makes it multi-key).
/// 3. The cluster is down (a [`ClusterHealth::Fail`] state): `Down(State)`, unless
///    `cluster-allow-reads-when-down` and the command does not write (`Down(ReadOnlyState)` if
///    it does); shard pub/sub follows `cluster-allow-pubsubshard-when-down` instead.
/// 4. MIGRATE with its slot open here: `Local`.
/// 5. Slot migrating from here and some key missing: `TryAgain` if others exist, else `Ask`
///    to the migration target.
/// 6. Slot importing here, with ASKING (or RESTORE-ASKING): `Local`, or `TryAgain` for a
///    multi-key request with a key missing.
/// 7. A READONLY client (or shard pub/sub) reading on a replica of the slot's owner: `Local`.
/// 8. Otherwise `Local` if this node owns the slot, else `Moved` to the owner.
pub fn route<K: AsRef<[u8]>>(query: &Query<'_, K>, state: &ClusterState, flags: ClientFlags) -> Route {
    if matches!(query.kind, CommandKind::Exec { .. }) && !flags.multi {
        return Route::Local;
    }
    let shard_pubsub = query.kind == CommandKind::ShardPubSub;
    let me = state.my_index();
    let myself = state.myself();

    let mut first: Option<&[u8]> = None;
    let mut slot = 0u16;
    let mut owner = 0usize;
    let (mut migrating, mut importing, mut multiple_keys) = (false, false, false);
    let (mut missing, mut existing) = (0usize, 0usize);
    for key in query.keys {
        let key = key.as_ref();
        let this_slot = key_slot(key);
        match first {
            None => {
                first = Some(key);
                slot = this_slot;
                owner = match state.owner_index(slot) {
                    Some(o) => o,
                    None => return Route::Down(DownReason::Unbound),
                };
                if owner == me && myself.migrating.contains_key(&slot) {
                    migrating = true;
                } else if myself.importing.contains_key(&slot) {
                    importing = true;
                }
            }
            Some(first_key) if first_key != key => {
                if this_slot != slot {
                    return Route::CrossSlot;
                }
                multiple_keys = true;
            }
            Some(_) => {}
        }
        if (migrating || importing) && !shard_pubsub {
            if (query.key_exists)(key) {
                existing += 1;
            } else {
                missing += 1;
            }
        }
    }
    if first.is_none() {
        return Route::Local;
    }

    if state.health() != ClusterHealth::Ok {
        let config = state.config();
        if shard_pubsub {
            if !config.allow_pubsubshard_when_down {
                return Route::Down(DownReason::State);
            }
        } else if !config.allow_reads_when_down {
            return Route::Down(DownReason::State);
        } else if query.write {
            // Redis tests the flags of the command itself here, so an EXEC (not a write
            // command) of queued writes gets through: copied on purpose.
            return Route::Down(DownReason::ReadOnlyState);
        }
    }

    if (migrating || importing) && query.kind == CommandKind::Migrate {
        return Route::Local;
    }

    if migrating && missing > 0 {
        if existing > 0 {
            return Route::TryAgain;
        }
        return match myself.migrating.get(&slot).and_then(|target| state.node(target)) {
            Some(target) => redirect(state, slot, target, true),
            // The state's invariants keep open-slot targets known.
            None => Route::TryAgain,
        };
    }

    if importing && (flags.asking || query.kind == CommandKind::Asking) {
        return if multiple_keys && missing > 0 { Route::TryAgain } else { Route::Local };
    }

    let owner_node = state.node_at(owner);
    let is_write = query.write || matches!(query.kind, CommandKind::Exec { queued_write: true });
    if (flags.readonly || shard_pubsub) && !is_write && myself.is_replica() && myself.primary == Some(owner_node.id) {
        return Route::Local;
    }

    if owner == me {
        Route::Local
    } else {
        redirect(state, slot, owner_node, false)
    }
}

/// For a client blocked on `key` (BLPOP and friends), the error to unblock it with after the
/// topology changed, or `None` to keep it blocked (`clusterRedirectBlockedClientIfNeeded`).
/// `readonly` is the client's READONLY flag, `write` whether the blocking command writes.
pub fn route_blocked(key: &[u8], state: &ClusterState, readonly: bool, write: bool) -> Option<Route> {
    if state.health() == ClusterHealth::Fail {
        return Some(Route::Down(DownReason::State));
    }
    let slot = key_slot(key);
    let myself = state.myself();
    let owner = state.slot_owner(slot);
    if readonly && !write && myself.is_replica() && owner.is_some_and(|o| myself.primary == Some(o.id)) {
        return None;
    }
    let mine = owner.is_some_and(|o| o.id == myself.id);
    if !mine && !myself.importing.contains_key(&slot) {
        return Some(match owner {
            None => Route::Down(DownReason::Unbound),
            Some(o) => redirect(state, slot, o, false),
        });
    }
    None
}

#[cfg(test)]
mod tests;
