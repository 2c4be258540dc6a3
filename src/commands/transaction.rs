//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queued commands are checked (lookup, arity, auth, OOM) when queued, as Redis does; EXEC
//! then locks the shards of every queued and watched key once (all shards if a queued
//! command needs the whole keyspace; see `dispatch::lock_for_exec`) and runs the queue back to
//! back, so no other client's command on those keys can interleave — the same atomicity
//! single-threaded Redis gives. The exception: a queued command that waits on the network
//! (MIGRATE, a CLUSTER change committed through Raft) releases the shards while it waits
//! (`Locked::unlocked_while`), so other clients may run at that point of the transaction.

use super::dispatch::call;
use super::table::{CommandSpec, Flags};
use super::{errors, Ctx};
use crate::client::MultiState;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::sync::atomic::Ordering;

const TX: Flags = Flags::NOSCRIPT.or(Flags::LOADING).or(Flags::STALE).or(Flags::FAST).or(Flags::ALLOW_BUSY);

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, multi)
        .flags(TX)
        .doc("transactions", "1.2.0", "Starts a transaction.", "")
        .acl(&["fast", "transaction"]),
    CommandSpec::new("exec", 1, exec)
        .flags(Flags::NOSCRIPT.or(Flags::LOADING).or(Flags::STALE).or(Flags::SKIP_SLOWLOG))
        .doc("transactions", "1.2.0", "Executes all commands in a transaction.", "")
        .acl(&["slow", "transaction"]),
    CommandSpec::new("discard", 1, discard)
        .flags(TX)
        .doc("transactions", "2.0.0", "Discards a transaction.", "")
        .acl(&["fast", "transaction"]),
    CommandSpec::new("watch", -2, watch)
        .flags(TX)
        .keys(1, -1, 1)
        .doc(
            "transactions",
            "2.2.0",
            "Monitors changes to keys to determine the execution of a transaction.",
            "key [key ...]",
        )
        .acl(&["fast", "transaction"]),
    CommandSpec::new("unwatch", 1, unwatch)
        .flags(TX)
        .doc("transactions", "2.2.0", "Forgets about watched keys of a transaction.", "")
        .acl(&["fast", "transaction"]),
];

fn multi(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::err(errors::MULTI_NESTED);
    }
    ctx.client.multi = Some(MultiState::default());
    Reply::OK
}

fn discard(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.client.multi.take().is_none() {
        return Reply::err(errors::DISCARD_WITHOUT_MULTI);
    }
    ctx.client.unwatch_all();
    Reply::OK
}

/// `EXEC`: nil if a WATCHed key changed, EXECABORT if queueing failed, else every reply.
fn exec(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let Some(state) = ctx.client.multi.take() else {
        return Reply::err(errors::EXEC_WITHOUT_MULTI);
    };
    if state.aborted {
        ctx.client.unwatch_all();
        return Reply::err(errors::EXEC_ABORT);
    }
    // A watched key that expired since WATCH counts as modified (`isWatchedKeyExpired`):
    // looking it up now deletes it, which raises the flag.
    let watched = std::mem::take(&mut ctx.client.watched);
    for (db, key) in &watched {
        ctx.ks.peek(*db, key);
    }
    let dirty = ctx.client.watch_flag.load(Ordering::Acquire);
    ctx.client.unwatch_all();
    if dirty {
        return Reply::NullArray;
    }
    let mut replies = Vec::with_capacity(state.queue.len());
    ctx.client.in_exec = true;
    for (spec, args) in state.queue {
        ctx.ks.refresh_now();
        replies.push(call(ctx.shared, ctx.client, ctx.ks, spec, &args));
    }
    ctx.client.in_exec = false;
    super::dispatch::end_exec_propagation(ctx.shared, ctx.client);
    // The queued commands propagated themselves; EXEC adds nothing of its own.
    ctx.propagation = super::Propagation::Rewritten(Vec::new());
    Reply::Array(replies)
}

/// `WATCH key [key …]`
fn watch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::err(errors::WATCH_IN_MULTI);
    }
    let db = ctx.db();
    for key in &args[1..] {
        if ctx.client.watched.iter().any(|(d, k)| *d == db && k == key) {
            continue;
        }
        // Expire a stale key now, so its later collection does not look like a change.
        ctx.ks.peek(db, key);
        ctx.ks.watch(db, key, &ctx.client.watch_flag);
        ctx.client.watched.push((db, key.clone()));
    }
    Reply::OK
}

fn unwatch(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.client.unwatch_all();
    Reply::OK
}
