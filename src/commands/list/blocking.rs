//! The blocking list commands: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP.
//!
//! A command that finds nothing to pop registers a [`Waiter`] on each of its keys (FIFO per
//! key, as Redis's `blocking_keys`) while it still holds the keys' shards, so no push can
//! slip in between its look and its registration. It then returns no reply and sets
//! `client.blocked`: the connection task awaits [`wait_served`], which parks on a `Notify`
//! (no runtime worker is held) until the waiter is served, times out, or the client goes.
//!
//! A push (LPUSH/RPUSH/…X, the destination of LMOVE/RPOPLPUSH) serves the key's waiters
//! itself, in registration order, under the lock it already holds: each one's pop happens
//! there, so no other client can take the element in between (Redis's
//! `handleClientsBlockedOnKeys`), and it is propagated after the push as `LPOP`/`RPOP`/`LMOVE`.
//! One exception: a BLMOVE/BRPOPLPUSH waiter whose destination lives in a shard the pusher
//! does not hold is woken to run its command again instead (it may then find the list
//! emptied by someone else, and waits again at the back of the queue).
//! Known differences: inside EXEC waiters are served at the push, not after the transaction;
//! keys that become lists by other means (RENAME, RESTORE, MOVE, COPY) wake no one.

use super::{end_arg, mpop_args, pop_at, pop_many, push_at, End};
use crate::commands::collection::{is_other_type, write, wrongtype};
use crate::commands::{args, Ctx};
use crate::server::Shared;
use crate::store::types::List;
use crate::store::Value;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a waiter does once its key has elements.
#[derive(Debug)]
enum Op {
    /// BLPOP / BRPOP: `[key, element]`.
    Pop(End),
    /// BLMPOP: `[key, [elements]]`, up to the count.
    MPop(End, i64),
    /// BLMOVE / BRPOPLPUSH: the element, pushed onto `dst`.
    Move { dst: Bytes, from: End, to: End },
}

/// One blocked client's registration.
#[derive(Debug)]
pub struct Waiter {
    db: usize,
    /// Its distinct keys, in the command's order.
    keys: Vec<Bytes>,
    op: Op,
    /// Set once: the reply it was served, or None with `retry` (run the command again).
    outcome: Mutex<Option<Outcome>>,
    /// Served, woken or timed out: no longer in any queue.
    done: AtomicBool,
    notify: tokio::sync::Notify,
}

#[derive(Debug)]
pub enum Outcome {
    Served(Reply),
    Retry,
}

/// One key's waiters, first come first served.
type Queue = VecDeque<Arc<Waiter>>;

/// Every blocked list client, per (db, key), in arrival order.
#[derive(Default)]
pub struct ListWaiters {
    queues: Mutex<HashMap<(usize, Bytes), Queue>>,
    /// Registered waiters: pushes skip the map while there are none.
    count: AtomicUsize,
}

impl std::fmt::Debug for ListWaiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListWaiters").field("count", &self.count.load(Ordering::Relaxed)).finish()
    }
}

impl ListWaiters {
    /// Clients blocked on list keys (INFO's `blocked_clients` part).
    pub fn blocked(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn register(&self, waiter: &Arc<Waiter>) {
        let mut queues = self.queues.lock();
        for key in &waiter.keys {
            queues.entry((waiter.db, key.clone())).or_default().push_back(waiter.clone());
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The first waiter on `key`, if any.
    fn first(&self, db: usize, key: &[u8]) -> Option<Arc<Waiter>> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        // Bytes keys: the lookup needs an owned key (cheap next to a push that found waiters).
        let queues = self.queues.lock();
        queues.get(&(db, Bytes::copy_from_slice(key))).and_then(|q| q.front().cloned())
    }

    /// Takes `waiter` out of every queue; false if it already was (served or timed out).
    fn remove(&self, waiter: &Arc<Waiter>) -> bool {
        let mut queues = self.queues.lock();
        if waiter.done.swap(true, Ordering::AcqRel) {
            return false;
        }
        for key in &waiter.keys {
            let slot = (waiter.db, key.clone());
            if let Some(q) = queues.get_mut(&slot) {
                q.retain(|w| !Arc::ptr_eq(w, waiter));
                if q.is_empty() {
                    queues.remove(&slot);
                }
            }
        }
        self.count.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Ends `waiter` with `outcome` and wakes its connection.
    fn finish(&self, waiter: &Arc<Waiter>, outcome: Outcome) {
        if self.remove(waiter) {
            *waiter.outcome.lock() = Some(outcome);
            waiter.notify.notify_one();
        }
    }
}

/// Unregisters a waiter whose connection stops waiting (killed, server shutting down).
struct Registration<'a> {
    waiters: &'a ListWaiters,
    waiter: Arc<Waiter>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.waiters.remove(&self.waiter);
    }
}

/// Waits until `waiter` is served (its reply), told to retry (None), or `deadline` passes
/// (`timed_out`). Runs in the connection task; holds no lock while it waits.
pub async fn wait_served(shared: &Shared, waiter: Arc<Waiter>, deadline: Option<Instant>) -> Outcome {
    let registration = Registration { waiters: &shared.list_waiters, waiter };
    let waiter = &registration.waiter;
    loop {
        if let Some(outcome) = waiter.outcome.lock().take() {
            return outcome;
        }
        let notified = waiter.notify.notified();
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = notified => {}
            _ = timer => {
                // `replyToBlockedClientTimedOut`: a null array whatever the command (a
                // BLMOVE too, which inside MULTI answers a plain null).
                if shared.list_waiters.remove(waiter) {
                    return Outcome::Served(Reply::NullArray);
                }
                // Served just now: its outcome is set; the loop takes it.
            }
        }
    }
}

/// What a blocking command answers inside MULTI, where it may not block.
fn multi_reply(op: &Op) -> Reply {
    match op {
        Op::Pop(_) | Op::MPop(..) => Reply::NullArray,
        Op::Move { .. } => Reply::Null,
    }
}

/// Serves `key`'s waiters after a push to it, under the caller's lock on its shard; returns
/// the commands to propagate after the push, in order.
pub(super) fn serve(ctx: &mut Ctx, key: &[u8]) -> Vec<Vec<Bytes>> {
    let mut effects = Vec::new();
    // Keys that got elements: the pushed one, then the destinations of the moves served
    // (their own waiters come next, as Redis's ready keys).
    let mut ready = vec![Bytes::copy_from_slice(key)];
    while let Some(key) = ready.pop() {
        serve_key(ctx, &key, &mut effects, &mut ready);
    }
    effects
}

fn serve_key(ctx: &mut Ctx, key: &[u8], effects: &mut Vec<Vec<Bytes>>, ready: &mut Vec<Bytes>) {
    let db = ctx.db();
    let shared = ctx.shared;
    while let Some(waiter) = shared.list_waiters.first(db, key) {
        let has_items =
            matches!(ctx.ks.get_for_write(db, key).map(|e| &e.value), Some(Value::List(l)) if !l.is_empty());
        if !has_items {
            break;
        }
        let key_b = Bytes::copy_from_slice(key);
        let reply = match &waiter.op {
            Op::Pop(end) => {
                let Ok(Some(Some(item))) = write::<List, _>(ctx, key, false, |l| (pop_at(l, *end), true)) else {
                    break;
                };
                effects.push(vec![pop_name(*end), key_b.clone()]);
                Reply::Array(vec![Reply::Bulk(key_b), Reply::bulk_copy(&item)])
            }
            Op::MPop(end, count) => {
                let Ok(Some(items)) = write::<List, _>(ctx, key, false, |l| (pop_many(l, *end, *count), true)) else {
                    break;
                };
                let n = Bytes::copy_from_slice(itoa::Buffer::new().format(items.len()).as_bytes());
                effects.push(vec![pop_name(*end), key_b.clone(), n]);
                Reply::Array(vec![Reply::Bulk(key_b), Reply::Array(items)])
            }
            Op::Move { dst, from, to } => {
                let store = &shared.store;
                if store.shard_index(dst) != store.shard_index(key) {
                    // Its destination's shard is not ours to take: it runs again itself.
                    shared.list_waiters.finish(&waiter, Outcome::Retry);
                    break;
                }
                if &dst[..] != key && is_other_type::<List>(ctx, dst) {
                    // Redis leaves such a client blocked, and serves the next one.
                    shared.list_waiters.finish(&waiter, Outcome::Served(wrongtype()));
                    continue;
                }
                let Ok(Some(Some(item))) = write::<List, _>(ctx, key, false, |l| (pop_at(l, *from), true)) else {
                    break;
                };
                let _ = write::<List, _>(ctx, dst, true, |l| {
                    push_at(l, *to, &item);
                    ((), true)
                });
                if &dst[..] != key {
                    ready.push(dst.clone());
                }
                effects.push(vec![
                    Bytes::from_static(b"LMOVE"),
                    key_b,
                    dst.clone(),
                    Bytes::from_static(end_name(*from)),
                    Bytes::from_static(end_name(*to)),
                ]);
                Reply::bulk_copy(&item)
            }
        };
        shared.list_waiters.finish(&waiter, Outcome::Served(reply));
    }
}

fn pop_name(end: End) -> Bytes {
    Bytes::from_static(if end == End::Head { b"LPOP" } else { b"RPOP" })
}

fn end_name(end: End) -> &'static [u8] {
    if end == End::Head {
        b"LEFT"
    } else {
        b"RIGHT"
    }
}

/// `getTimeoutFromObjectOrReply(…, UNIT_SECONDS)`: seconds as a float, converted to whole
/// milliseconds as C's cast does (out of range becomes negative). 0 waits forever.
fn timeout_arg(arg: &[u8]) -> Result<Option<Duration>, Reply> {
    let secs = args::parse_f64(arg).ok_or_else(|| Reply::err("ERR timeout is not a float or out of range"))?;
    let ms = secs * 1000.0;
    // i64::MAX as f64 rounds up to 2^63, itself out of range.
    if !(ms > -(i64::MAX as f64) && ms < i64::MAX as f64) || (ms as i64) < 0 {
        return Err(Reply::err("ERR timeout is negative"));
    }
    Ok(match ms as i64 {
        0 => None,
        ms => Some(Duration::from_millis(ms as u64)),
    })
}

/// Blocks the client on `keys` (none of which has elements), or answers as a timeout
/// inside MULTI, where nothing may block.
fn block(ctx: &mut Ctx, args: &[Bytes], keys: &[Bytes], op: Op, timeout: Option<Duration>) -> Reply {
    if ctx.client.in_exec || ctx.client.multi.is_some() {
        return multi_reply(&op);
    }
    let mut distinct: Vec<Bytes> = Vec::with_capacity(keys.len().min(64));
    for k in keys {
        if !distinct.contains(k) {
            distinct.push(k.clone());
        }
    }
    let waiter = Arc::new(Waiter {
        db: ctx.db(),
        keys: distinct,
        op,
        outcome: Mutex::new(None),
        done: AtomicBool::new(false),
        notify: tokio::sync::Notify::new(),
    });
    ctx.shared.list_waiters.register(&waiter);
    // A deadline past what an Instant holds is as good as none.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    ctx.client.blocked = Some(crate::client::Blocked::ListKeys { waiter, deadline, args: args.to_vec() });
    ctx.propagate_nothing();
    Reply::Raw(Bytes::new())
}

/// Whether `key` holds a non-empty list; Err WRONGTYPE for another type.
fn has_items(ctx: &mut Ctx, key: &[u8]) -> Result<bool, Reply> {
    let db = ctx.db();
    match ctx.ks.get_for_write(db, key).map(|e| &e.value) {
        None => Ok(false),
        Some(Value::List(l)) => Ok(!l.is_empty()),
        Some(_) => Err(wrongtype()),
    }
}

/// `BLPOP key [key ...] timeout`
pub(super) fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop(ctx, args, End::Head)
}

/// `BRPOP key [key ...] timeout`
pub(super) fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bpop(ctx, args, End::Tail)
}

/// `blockingPopGenericCommand`: the first non-empty list is popped as [LR]POP would.
fn bpop(ctx: &mut Ctx, args: &[Bytes], end: End) -> Reply {
    let timeout = match timeout_arg(&args[args.len() - 1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let keys = &args[1..args.len() - 1];
    for key in keys {
        match has_items(ctx, key) {
            Err(e) => return e,
            Ok(false) => continue,
            Ok(true) => {}
        }
        if let Ok(Some(Some(item))) = write::<List, _>(ctx, key, false, |l| (pop_at(l, end), true)) {
            ctx.propagate_one(&[&pop_name(end), key]);
            return Reply::Array(vec![Reply::Bulk(key.clone()), Reply::bulk_copy(&item)]);
        }
    }
    block(ctx, args, keys, Op::Pop(end), timeout)
}

/// `BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout`
pub(super) fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (from, to) = match (end_arg(&args[3]), end_arg(&args[4])) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    bmove(ctx, args, from, to, &args[5])
}

/// `BRPOPLPUSH source destination timeout`
pub(super) fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    bmove(ctx, args, End::Tail, End::Head, &args[3])
}

fn bmove(ctx: &mut Ctx, args: &[Bytes], from: End, to: End, timeout: &[u8]) -> Reply {
    let timeout = match timeout_arg(timeout) {
        Ok(t) => t,
        Err(e) => return e,
    };
    match has_items(ctx, &args[1]) {
        Err(e) => e,
        Ok(true) => {
            // Propagated as the LMOVE it is (set first: serving the destination's waiters
            // replaces it with the LMOVE followed by their pops).
            ctx.propagate_one(&[b"LMOVE", &args[1], &args[2], end_name(from), end_name(to)]);
            super::move_one(ctx, &args[1], &args[2], from, to)
        }
        Ok(false) => {
            let op = Op::Move { dst: args[2].clone(), from, to };
            block(ctx, args, &args[1..2], op, timeout)
        }
    }
}

/// `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`
pub(super) fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // `lmpopGenericCommand` reads the timeout last.
    let (keys, end, count) = match mpop_args(args, 2) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let timeout = match timeout_arg(&args[1]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    match super::mpop(ctx, keys, end, count) {
        Reply::NullArray => block(ctx, args, keys, Op::MPop(end, count), timeout),
        reply => reply,
    }
}

/// Pushes' hook: serves `key`'s waiters, and propagates the request followed by their pops.
pub(crate) fn after_push(ctx: &mut Ctx, key: &[u8], request: &[Bytes]) {
    if ctx.shared.list_waiters.blocked() == 0 {
        return;
    }
    let served = serve(ctx, key);
    if !served.is_empty() && ctx.propagating() {
        let mut all = vec![request.to_vec()];
        all.extend(served);
        ctx.propagate_as(all);
    }
}
