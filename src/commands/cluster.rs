//! Cluster mode's commands: CLUSTER (parsed and answered by the `ferrocache-cluster` crate,
//! in Redis 7.0's order and words), ASKING, READONLY, READWRITE, RESTORE-ASKING; and the
//! redirection check the dispatcher runs before a keyed command (`getNodeByQuery`).

use super::table::{CommandSpec, Flags};
use super::Ctx;
use crate::client::Client;
use crate::server::{ClusterNode, Shared};
use crate::store::Locked;
use bytes::Bytes;
use ferrocache_cluster::replies::{info_reply, links_reply};
use ferrocache_cluster::{
    check_subcommand, parse_cluster, parse_slot, route, ClientFlags, ClusterCommand, ClusterError, ClusterRequest,
    CommandKind, LocalFacts, Query, Route,
};
use ferrocache_protocol::Reply;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("cluster", -2, cluster)
        .flags(Flags::STALE.or(Flags::WALKS_SHARDS))
        .doc("cluster", "3.0.0", "A container for cluster commands", "")
        .acl(&["slow"])
        .external_subcommands(ferrocache_cluster::command::SUBCOMMANDS),
    CommandSpec::new("asking", 1, asking)
        .flags(Flags::FAST)
        .doc("cluster", "3.0.0", "Sent by cluster clients after an -ASK redirect", "")
        .acl(&["fast", "connection"]),
    CommandSpec::new("readonly", 1, readonly)
        .flags(Flags::LOADING.or(Flags::STALE).or(Flags::FAST))
        .doc("cluster", "3.0.0", "Enables read queries for a connection to a Redis Cluster replica node", "")
        .acl(&["fast", "connection"]),
    CommandSpec::new("readwrite", 1, readwrite)
        .flags(Flags::LOADING.or(Flags::STALE).or(Flags::FAST))
        .doc("cluster", "3.0.0", "Disables read queries for a connection to a Redis Cluster replica node", "")
        .acl(&["fast", "connection"]),
    CommandSpec::new("restore-asking", -4, super::dump::restore)
        .flags(Flags::WRITE.or(Flags::DENYOOM).or(Flags::ASKING))
        .keys(1, 1, 1)
        .doc(
            "server",
            "3.0.0",
            "An internal command for migrating keys in a cluster",
            "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]",
        )
        .acl(&["keyspace", "write", "slow", "dangerous"]),
];

fn disabled() -> Reply {
    ClusterError::ClusterDisabled.to_reply()
}

fn asking(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.shared.cluster().is_none() {
        return disabled();
    }
    ctx.client.asking = true;
    Reply::OK
}

fn readonly(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.shared.cluster().is_none() {
        return disabled();
    }
    ctx.client.readonly = true;
    Reply::OK
}

fn readwrite(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.shared.cluster().is_none() {
        return disabled();
    }
    ctx.client.readonly = false;
    Reply::OK
}

/// Runs `f` over every shard: the caller's view when it already holds them all (inside EXEC,
/// where locking again would deadlock), else a fresh lock of all shards (CLUSTER locks none).
fn with_all_shards<R>(ctx: &Ctx, f: impl FnOnce(&Locked) -> R) -> R {
    if holds_all_shards(ctx) {
        f(ctx.ks)
    } else {
        f(&ctx.shared.store.lock_all())
    }
}

/// [`with_all_shards`] for a change.
fn with_all_shards_mut<R>(ctx: &mut Ctx, f: impl FnOnce(&mut Locked) -> R) -> R {
    if holds_all_shards(ctx) {
        f(ctx.ks)
    } else {
        f(&mut ctx.shared.store.lock_all())
    }
}

/// Whether the command already holds every shard (inside EXEC).
fn holds_all_shards(ctx: &Ctx) -> bool {
    ctx.ks.locked_shard_count() == ctx.shared.store.shard_count()
}

/// `CLUSTER <subcommand> …`
fn cluster(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(node) = ctx.shared.cluster() else {
        // Unknown subcommands and wrong arities are reported before "disabled", as Redis does.
        return match check_subcommand(&args[1..]) {
            Err(e) => e.to_reply(),
            Ok(_) => disabled(),
        };
    };
    let sub = args[1].to_ascii_lowercase();
    let db_keys = match &sub[..] {
        b"flushslots" | b"replicate" | b"reset" => with_all_shards(ctx, |ks| ks.keys_in_db0()) as u64,
        _ => 0,
    };
    // SETSLOT … NODE's key count, counted before the state is read: no shard is locked while
    // the state lock is held (the lock order, `store/mod.rs`).
    let node_slot = match (&sub[..], args.get(2), args.get(3)) {
        (b"setslot", Some(slot), Some(action)) if action.eq_ignore_ascii_case(b"node") => parse_slot(slot).ok(),
        _ => None,
    };
    let slot_keys = node_slot.map(|slot| (slot, with_all_shards(ctx, |ks| ks.count_keys_in_slot(slot)) as u64));
    let request = {
        let in_slot = |slot: u16| match slot_keys {
            Some((counted, keys)) if counted == slot => keys,
            // Parsing asks only for the slot of a SETSLOT … NODE, counted above; were it to
            // ask for another, "it has keys" refuses to give the slot away rather than lose any.
            _ => u64::MAX,
        };
        let allow_replica_migration = ctx.shared.config.read().cluster_allow_replica_migration;
        let facts = LocalFacts { db_keys, keys_in_slot: &in_slot, allow_replica_migration };
        parse_cluster(&args[1..], &node.state.read(), &facts)
    };
    match request {
        Err(e) => e.to_reply(),
        Ok(ClusterRequest::Reply(reply)) => reply,
        Ok(ClusterRequest::Info) => info_reply(&node.state.read(), &node.message_stats()),
        Ok(ClusterRequest::Links) => links_reply(&node.links()),
        Ok(ClusterRequest::SaveConfig) => match node.save(true) {
            Ok(()) => Reply::OK,
            Err(e) => Reply::error(format!("ERR error saving the cluster node config: {e}")),
        },
        Ok(ClusterRequest::CountKeysInSlot(slot)) => {
            Reply::Integer(with_all_shards(ctx, |ks| ks.count_keys_in_slot(slot)) as i64)
        }
        Ok(ClusterRequest::GetKeysInSlot { slot, count }) => Reply::Array(
            with_all_shards(ctx, |ks| ks.keys_in_slot(slot, count as usize)).into_iter().map(Reply::Bulk).collect(),
        ),
        // Started in the background, as Redis's manual failover: `+OK` when it starts.
        Ok(ClusterRequest::Failover { force, takeover }) => {
            let shared = ctx.shared.arc();
            tokio::spawn(async move { shared.manual_failover(force, takeover).await });
            Reply::OK
        }
        Ok(ClusterRequest::Change(cmd)) => {
            let reset_replica = matches!(cmd, ClusterCommand::Reset { .. }) && node.state.read().myself().is_replica();
            // A Raft round trip: no shard stays locked meanwhile (inside EXEC this releases
            // the transaction's shards for the wait).
            let in_exec = ctx.client.in_exec;
            match ctx.ks.unlocked_while(|| node.apply(&cmd, in_exec)) {
                Ok(applied) => {
                    // `clusterReset`: a replica turned into an empty master (`emptyData`; cluster
                    // mode has db 0 only).
                    if reset_replica {
                        with_all_shards_mut(ctx, |ks| ks.flush_db(0, false));
                    }
                    applied.to_reply()
                }
                Err(e) => e.to_reply(),
            }
        }
    }
}

/// Cluster mode's check before a command runs (`getNodeByQuery` + `clusterRedirectClient`):
/// `None` to run it here, or the redirection / refusal to reply instead.
#[inline(never)]
pub fn redirect(
    shared: &Shared,
    node: &ClusterNode,
    client: &Client,
    spec: &CommandSpec,
    args: &[Bytes],
) -> Option<Reply> {
    let (keys, kind): (Vec<&[u8]>, CommandKind) = if spec.name == "exec" {
        let queue = client.multi.as_ref().map(|m| &m.queue[..]).unwrap_or(&[]);
        let keys = queue.iter().flat_map(|(s, a)| s.keys_of(a).into_iter().map(move |i| &a[i][..])).collect();
        let queued_write = queue.iter().any(|(s, _)| s.flags.has(Flags::WRITE));
        (keys, CommandKind::Exec { queued_write })
    } else {
        let keys: Vec<&[u8]> = spec.keys_of(args).into_iter().map(|i| &args[i][..]).collect();
        if keys.is_empty() {
            return None;
        }
        let kind = if spec.name == "migrate" {
            CommandKind::Migrate
        } else if spec.flags.has(Flags::ASKING) {
            CommandKind::Asking
        } else {
            CommandKind::Regular
        };
        (keys, kind)
    };
    let flags = ClientFlags { asking: client.asking, readonly: client.readonly, multi: client.multi.is_some() };
    let write = spec.flags.has(Flags::WRITE);
    // No lock is taken while the state lock is held (the lock order, `store/mod.rs`), so the
    // keys' existence, which `route` asks about only for a slot being migrated or imported, is
    // looked up between two routings: the first finds out whether it is needed at all.
    let asked = std::cell::Cell::new(false);
    let probe = |_: &[u8]| {
        asked.set(true);
        false
    };
    // Write fencing: a master cut off from the majority, or behind the log (just woken from a
    // pause during which it was failed over), takes no write (see the control plane's fence).
    let writes = write || matches!(kind, CommandKind::Exec { queued_write: true });
    let local = || (writes && !node.control().may_write()).then(|| Reply::err("CLUSTERDOWN The cluster is down"));
    let first = route(&Query { keys: &keys, write, kind, key_exists: &probe }, &node.state.read(), flags);
    if !asked.get() {
        return match first {
            Route::Local => local(),
            other => other.to_reply(),
        };
    }
    let existing: Vec<bool> = keys.iter().map(|key| shared.store.lock_key(key).exists(0, key)).collect();
    let exists = |key: &[u8]| keys.iter().position(|k| *k == key).is_some_and(|i| existing[i]);
    let query = Query { keys: &keys, write, kind, key_exists: &exists };
    match route(&query, &node.state.read(), flags) {
        Route::Local => local(),
        other => other.to_reply(),
    }
}
