//! Clients blocked on keys: the one registry behind BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP
//! (`list/blocking.rs`) and BZPOPMIN BZPOPMAX BZMPOP (`zset/blocking.rs`), Redis's
//! `blocking_keys` + `ready_keys`.
//!
//! A command that finds nothing to take registers a [`Waiter`] on each of its keys (FIFO per
//! (db, key), whatever type it waits for) while it still holds the keys' shards, so nothing
//! can slip in between its look and its registration. It returns no reply and sets
//! `client.blocked`; the connection task awaits [`wait_served`], parked on a `Notify` (no
//! runtime worker held) until the waiter is served, times out, is unblocked (CLIENT UNBLOCK)
//! or its client goes.
//!
//! Serving, as Redis's `signalKeyAsReady` / `handleClientsBlockedOnKeys`: whenever a list or
//! sorted set is stored at a key (`Locked::insert` — a push or ZADD creating it, RENAME,
//! RESTORE, MOVE, COPY, SORT … STORE, ZUNIONSTORE, …) while any client is blocked, the key is
//! noted ready in the command's locked view (SWAPDB notes every waited key of both
//! databases). After the command — after the whole transaction
//! for EXEC — the dispatcher calls [`serve_ready`], still holding the shards: each ready
//! key's waiters are served in arrival order (those waiting for another type are skipped),
//! each one's pop made there so no other client can take the element in between, and
//! propagated after the command that made the key ready. A move's destination that became a
//! list is ready in turn. One exception: a BLMOVE/BRPOPLPUSH waiter whose destination lives
//! in a shard the view does not hold is woken to run its command again (it may then find the
//! list emptied by someone else, and wait again at the back of the queue).

use super::{args, Ctx};
use crate::client::Client;
use crate::server::Shared;
use crate::store::Locked;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a waiter takes once its key holds something for it.
#[derive(Debug)]
pub(crate) enum Op {
    List(super::list::WaitOp),
    ZSet(super::zset::WaitOp),
}

impl Op {
    /// What the command answers inside MULTI, where it may not block (its time running out
    /// answers a null array whatever the command: `replyToBlockedClientTimedOut`).
    fn multi_reply(&self) -> Reply {
        match self {
            Op::List(op) => op.multi_reply(),
            Op::ZSet(_) => Reply::NullArray,
        }
    }
}

/// What serving one waiter at a ready key came to.
pub(crate) enum Step {
    /// Served: its reply, and the command to propagate for what it took.
    Served(Reply, Vec<Bytes>),
    /// Ended without taking anything (a move whose destination has the wrong type).
    Failed(Reply),
    /// Woken to run its command again (a move across shards).
    Retry,
    /// The key holds nothing for it (another type, or emptied): it keeps waiting.
    Skip,
}

/// One blocked client's registration.
#[derive(Debug)]
pub struct Waiter {
    client: u64,
    db: usize,
    /// Its distinct keys, in the command's order.
    keys: Vec<Bytes>,
    op: Op,
    /// Set once: the reply it was served, or None with `retry` (run the command again).
    outcome: Mutex<Option<Outcome>>,
    /// Where it stands: [`WAITING`], [`CLAIMED`], [`ABANDONED`] or [`DONE`].
    state: AtomicU8,
    notify: tokio::sync::Notify,
}

#[derive(Debug)]
pub enum Outcome {
    Served(Reply),
    Retry,
}

/// Every blocked client, per (db, key) in arrival order, and per client id.
#[derive(Default)]
pub struct KeyWaiters {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    queues: HashMap<(usize, Bytes), VecDeque<Arc<Waiter>>>,
    by_client: HashMap<u64, Arc<Waiter>>,
}

impl std::fmt::Debug for KeyWaiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWaiters").field("clients", &self.inner.lock().by_client.len()).finish()
    }
}

/// Clients blocked on keys or in WAIT (INFO's `blocked_clients`).
pub fn blocked(shared: &Shared) -> usize {
    shared.store.key_waiters.load(Ordering::Relaxed) + shared.stats.blocked_in_wait.load(Ordering::Relaxed) as usize
}

fn register(shared: &Shared, waiter: &Arc<Waiter>) {
    let mut inner = shared.key_waiters.inner.lock();
    for key in &waiter.keys {
        inner.queues.entry((waiter.db, key.clone())).or_default().push_back(waiter.clone());
    }
    inner.by_client.insert(waiter.client, waiter.clone());
    shared.store.key_waiters.fetch_add(1, Ordering::Relaxed);
}

/// `key`'s waiters now, in arrival order.
fn queue(shared: &Shared, db: usize, key: &Bytes) -> Vec<Arc<Waiter>> {
    let inner = shared.key_waiters.inner.lock();
    // (usize, Bytes) keys: the lookup needs an owned key; Bytes clones are cheap.
    inner.queues.get(&(db, key.clone())).map(|q| q.iter().cloned().collect()).unwrap_or_default()
}

/// The keys of `db` clients are blocked on (SWAPDB makes them ready if they now hold
/// something: Redis's `scanDatabaseForReadyKeys`).
pub fn waited_keys(shared: &Shared, db: usize) -> Vec<Bytes> {
    if blocked(shared) == 0 {
        return Vec::new();
    }
    let inner = shared.key_waiters.inner.lock();
    inner.queues.keys().filter(|(d, _)| *d == db).map(|(_, k)| k.clone()).collect()
}

// A waiter's states. A server claims a waiting one before it pops anything for it, so that
// neither its timeout nor its client's hanging up can end it between the pop and the reply
// (the element would be lost); a claim ends in DONE (served, told to retry) or goes back to
// WAITING (nothing for it after all), unless the client hung up meanwhile (ABANDONED), when
// it is removed instead.
/// In its keys' queues, waiting.
const WAITING: u8 = 0;
/// Being served by a command holding its key's shard.
const CLAIMED: u8 = 1;
/// Claimed, and its connection gave up the wait meanwhile (killed, hung up, shutdown).
const ABANDONED: u8 = 2;
/// Out of every queue: served, told to retry, timed out or unblocked.
const DONE: u8 = 3;

/// Takes a waiting `waiter` out of every queue (a timeout, CLIENT UNBLOCK, a connection that
/// ends); false if it is not waiting (done, or being served).
fn remove(shared: &Shared, waiter: &Arc<Waiter>) -> bool {
    let mut inner = shared.key_waiters.inner.lock();
    if waiter.state.compare_exchange(WAITING, DONE, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return false;
    }
    unregister(shared, &mut inner, waiter);
    true
}

/// Its connection no longer waits: removed now if waiting, or when its claim ends.
fn abandon(shared: &Shared, waiter: &Arc<Waiter>) {
    if !remove(shared, waiter) {
        let _ = waiter.state.compare_exchange(CLAIMED, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Takes `waiter` out of every queue and the count (its `done` already set by the caller).
fn unregister(shared: &Shared, inner: &mut Inner, waiter: &Arc<Waiter>) {
    for key in &waiter.keys {
        let slot = (waiter.db, key.clone());
        if let Some(q) = inner.queues.get_mut(&slot) {
            q.retain(|w| !Arc::ptr_eq(w, waiter));
            if q.is_empty() {
                inner.queues.remove(&slot);
            }
        }
    }
    if inner.by_client.get(&waiter.client).is_some_and(|w| Arc::ptr_eq(w, waiter)) {
        inner.by_client.remove(&waiter.client);
    }
    shared.store.key_waiters.fetch_sub(1, Ordering::Relaxed);
}

/// Takes a waiting `waiter` for serving, before anything is popped for it (see the states
/// above); false if it is not waiting. End the claim with [`release`] or [`finish_claimed`].
fn claim(waiter: &Waiter) -> bool {
    waiter.state.compare_exchange(WAITING, CLAIMED, Ordering::AcqRel, Ordering::Acquire).is_ok()
}

/// Ends a claim that served nothing: the waiter waits on, or, abandoned meanwhile, goes.
fn release(shared: &Shared, waiter: &Arc<Waiter>) {
    if waiter.state.compare_exchange(CLAIMED, WAITING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        waiter.state.store(DONE, Ordering::Release);
        unregister(shared, &mut shared.key_waiters.inner.lock(), waiter);
    }
}

/// Ends a claimed waiter with `outcome` and wakes its connection (if it still listens).
fn finish_claimed(shared: &Shared, waiter: &Arc<Waiter>, outcome: Outcome) {
    waiter.state.store(DONE, Ordering::Release);
    unregister(shared, &mut shared.key_waiters.inner.lock(), waiter);
    deliver(waiter, outcome);
}

/// Hands an ended waiter its outcome and wakes its connection.
fn deliver(waiter: &Waiter, outcome: Outcome) {
    *waiter.outcome.lock() = Some(outcome);
    waiter.notify.notify_one();
}

/// Ends `waiter` with `outcome` and wakes its connection; false if it had already ended.
fn finish(shared: &Shared, waiter: &Arc<Waiter>, outcome: Outcome) -> bool {
    if !remove(shared, waiter) {
        return false;
    }
    deliver(waiter, outcome);
    true
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: ends client `id`'s wait on keys with a null array
/// or Redis's `-UNBLOCKED` error; false if it is not blocked on keys.
pub fn unblock(shared: &Shared, id: u64, error: bool) -> bool {
    let Some(waiter) = shared.key_waiters.inner.lock().by_client.get(&id).cloned() else {
        return false;
    };
    // `replyToBlockedClientTimedOut`, as a timeout: a null array for every list and
    // sorted-set wait, a BLMOVE's included.
    let reply = if error { Reply::err("UNBLOCKED client unblocked via CLIENT UNBLOCK") } else { Reply::NullArray };
    finish(shared, &waiter, Outcome::Served(reply))
}

/// Unregisters a waiter whose connection stops waiting (killed, server shutting down).
struct Registration<'a> {
    shared: &'a Shared,
    waiter: Arc<Waiter>,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        abandon(self.shared, &self.waiter);
    }
}

/// Waits until `waiter` is served (its reply), told to retry, or `deadline` passes (a null
/// array). Runs in the connection task; holds no lock while it waits.
pub async fn wait_served(shared: &Shared, waiter: Arc<Waiter>, deadline: Option<Instant>) -> Outcome {
    let registration = Registration { shared, waiter };
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
                if remove(shared, waiter) {
                    return Outcome::Served(Reply::NullArray);
                }
                // Being served (claimed) or just served: the outcome is set, or the claim
                // is given back and the timer, already due, fires again. Let the server's
                // thread finish meanwhile.
                tokio::task::yield_now().await;
            }
        }
    }
}

/// `getTimeoutFromObjectOrReply(…, UNIT_SECONDS)`: seconds as a float, converted to whole
/// milliseconds as C's cast does (out of range becomes negative). 0 waits forever.
pub fn timeout_arg(arg: &[u8]) -> Result<Option<Duration>, Reply> {
    let secs = args::long_double(arg).ok_or_else(|| Reply::err("ERR timeout is not a float or out of range"))?;
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

/// Blocks the client on `keys` (none of which holds anything for it), or answers as a
/// timeout inside MULTI, where nothing may block (`CLIENT_DENY_BLOCKING`).
pub(crate) fn block(ctx: &mut Ctx, args: &[Bytes], keys: &[Bytes], op: Op, timeout: Option<Duration>) -> Reply {
    if ctx.client.in_exec || ctx.client.multi.is_some() {
        return op.multi_reply();
    }
    let mut distinct: Vec<Bytes> = Vec::with_capacity(keys.len().min(64));
    for k in keys {
        if !distinct.contains(k) {
            distinct.push(k.clone());
        }
    }
    let waiter = Arc::new(Waiter {
        client: ctx.client.id,
        db: ctx.db(),
        keys: distinct,
        op,
        outcome: Mutex::new(None),
        state: AtomicU8::new(WAITING),
        notify: tokio::sync::Notify::new(),
    });
    register(ctx.shared, &waiter);
    // A deadline past what an Instant holds is as good as none.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    ctx.client.blocked = Some(crate::client::Blocked::Keys { waiter, deadline, args: args.to_vec() });
    ctx.propagate_nothing();
    Reply::Raw(Bytes::new())
}

/// Serves the waiters of the keys `ks` noted ready (`handleClientsBlockedOnKeys`): called by
/// the dispatcher after a command (after EXEC's whole queue), shards still held. What the
/// waiters take is propagated after the command, in order.
#[cold]
pub fn serve_ready(shared: &Shared, client: &mut Client, ks: &mut Locked) {
    let selected = client.db;
    let mut ctx = Ctx { shared, client, ks, propagation: super::Propagation::AsRequest };
    // Serving a move may make its destination ready: taken in further rounds.
    loop {
        let ready = ctx.ks.take_ready_keys();
        if ready.is_empty() {
            break;
        }
        for (db, key) in ready {
            ctx.client.db = db;
            serve_key(&mut ctx, db, &key);
        }
    }
    ctx.client.db = selected;
}

/// Serves `key`'s waiters as they were when it became ready, oldest first.
fn serve_key(ctx: &mut Ctx, db: usize, key: &Bytes) {
    let shared = ctx.shared;
    for waiter in queue(shared, db, key) {
        if !claim(&waiter) {
            continue;
        }
        let step = match &waiter.op {
            Op::List(op) => super::list::serve_waiter(ctx, key, op),
            Op::ZSet(op) => super::zset::serve_waiter(ctx, key, op),
        };
        match step {
            Step::Skip => release(shared, &waiter),
            Step::Retry => finish_claimed(shared, &waiter, Outcome::Retry),
            Step::Failed(reply) => finish_claimed(shared, &waiter, Outcome::Served(reply)),
            Step::Served(reply, effect) => {
                finish_claimed(shared, &waiter, Outcome::Served(reply));
                if shared.store.effects.enabled() {
                    let parts: Vec<&[u8]> = effect.iter().map(|a| &a[..]).collect();
                    shared.store.effects.emit(db, &parts);
                    ctx.client.aof_upto = shared.aof.appended();
                    ctx.client.repl_woff = shared.repl.offset();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{abandon, blocked, claim, finish_claimed, release, remove, wait_served, Outcome};
    use crate::client::{Blocked, Client, ClientInfo};
    use crate::commands::testing::{bulk, Harness};
    use ferrocache_protocol::Reply;
    use std::sync::Arc;

    /// Another client of the harness's server (selecting `db`), blocked by `args`.
    fn block_other(h: &Harness, id: u64, db: usize, args: &[&str]) -> (Client, Blocked) {
        let addr = "127.0.0.1:40001".parse().unwrap();
        let mut other = Client::new(Arc::new(ClientInfo::new(id, addr, addr)), true);
        other.db = db;
        let mut request = args.iter().map(|a| bytes::Bytes::copy_from_slice(a.as_bytes())).collect();
        let reply = crate::commands::execute(&h.shared, &mut other, &mut request);
        assert_eq!(reply, Reply::Raw(bytes::Bytes::new()), "{args:?} did not block");
        let blocked = other.blocked.take().expect("blocked");
        (other, blocked)
    }

    /// What a blocked client was answered, once its wait ends (at once if it was served).
    fn outcome(h: &Harness, blocked: Blocked) -> Option<Reply> {
        let Blocked::Keys { waiter, deadline, .. } = blocked else { panic!("not a wait on keys") };
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        match rt.block_on(wait_served(&h.shared, waiter, deadline)) {
            Outcome::Served(reply) => Some(reply),
            Outcome::Retry => None,
        }
    }

    fn array(items: Vec<Reply>) -> Reply {
        Reply::Array(items)
    }

    #[test]
    fn zset_waiters_pop_in_order_and_propagate_as_redis_7_0() {
        let mut h = Harness::new();
        let (_a, min) = block_other(&h, 2, 0, &["bzpopmin", "z", "0"]);
        let (_b, mpop) = block_other(&h, 3, 0, &["bzmpop", "0", "1", "z", "max", "count", "5"]);
        let (_c, last) = block_other(&h, 4, 0, &["bzpopmax", "z", "0"]);
        assert_eq!(blocked(&h.shared), 3);
        let log = h.capture_effects();
        h.run(&["zadd", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(outcome(&h, min), Some(array(vec![bulk("z"), bulk("a"), Reply::Double(1.0)])));
        let pair = |m: &str, s: f64| array(vec![bulk(m), Reply::Double(s)]);
        assert_eq!(outcome(&h, mpop), Some(array(vec![bulk("z"), array(vec![pair("c", 3.0), pair("b", 2.0)])])));
        // What Redis 7.0 writes to its AOF for the same (checked with appendonly yes).
        assert_eq!(log.take(), vec!["0> zadd z 1 a 2 b 3 c", "0> ZPOPMIN z", "0> ZPOPMAX z 2"]);
        assert_eq!(blocked(&h.shared), 1);
        h.run(&["zincrby", "z", "1", "x"]);
        assert_eq!(outcome(&h, last), Some(array(vec![bulk("z"), bulk("x"), Reply::Double(1.0)])));
        assert_eq!(blocked(&h.shared), 0);
    }

    #[test]
    fn waiters_are_served_after_exec_and_their_pops_follow_it() {
        let mut h = Harness::new();
        let (_a, waiting) = block_other(&h, 2, 0, &["blpop", "l", "0"]);
        let log = h.capture_effects();
        h.run(&["multi"]);
        h.run(&["rpush", "l", "x", "y"]);
        h.run(&["llen", "l"]);
        assert_eq!(h.run(&["exec"]), array(vec![Reply::Integer(2), Reply::Integer(2)]));
        assert_eq!(outcome(&h, waiting), Some(array(vec![bulk("l"), bulk("x")])));
        assert_eq!(log.take(), vec!["0> MULTI", "0> rpush l x y", "0> EXEC", "0> LPOP l"]);
    }

    #[test]
    fn a_key_moved_into_the_waiters_database_serves_it_there() {
        let mut h = Harness::new();
        let (_a, waiting) = block_other(&h, 2, 3, &["brpop", "k", "0"]);
        h.run(&["rpush", "k", "a", "b"]);
        assert_eq!(blocked(&h.shared), 1, "a list in another database serves no one");
        let log = h.capture_effects();
        assert_eq!(h.run(&["move", "k", "3"]), Reply::Integer(1));
        assert_eq!(outcome(&h, waiting), Some(array(vec![bulk("k"), bulk("b")])));
        assert_eq!(log.take(), vec!["0> move k 3", "3> RPOP k"]);
        assert_eq!(h.client.db, 0, "the mover's database is left as it was");
    }

    #[test]
    fn client_unblock_ends_a_wait_once() {
        let mut h = Harness::new();
        let (_a, waiting) = block_other(&h, 7, 0, &["blmove", "s", "d", "left", "left", "0"]);
        assert_eq!(h.run(&["client", "unblock", "7", "error"]), Reply::Integer(1));
        assert_eq!(h.run(&["client", "unblock", "7"]), Reply::Integer(0));
        assert_eq!(outcome(&h, waiting), Some(Reply::err("UNBLOCKED client unblocked via CLIENT UNBLOCK")));
        assert_eq!(blocked(&h.shared), 0);
        h.run(&["rpush", "s", "x"]);
        assert_eq!(h.run(&["llen", "s"]), Reply::Integer(1), "an unblocked client takes nothing");
    }

    /// The interleavings a server thread and the waiter's own task can meet in: a claimed
    /// waiter cannot time out (its element would be popped and lost: seen once in the
    /// producers/consumers stress test), and one abandoned while claimed goes when the claim
    /// ends.
    #[test]
    fn a_claimed_waiter_neither_times_out_nor_outlives_its_connection() {
        let h = Harness::new();
        let (_a, waiting) = block_other(&h, 7, 0, &["blpop", "k", "10"]);
        let Blocked::Keys { waiter, .. } = &waiting else { panic!("blocked on keys") };
        assert!(claim(waiter));
        assert!(!claim(waiter), "one server at a time");
        assert!(!remove(&h.shared, waiter), "the timer cannot end a claimed waiter");
        finish_claimed(&h.shared, waiter, Outcome::Served(bulk("x")));
        assert_eq!(blocked(&h.shared), 0);
        assert_eq!(outcome(&h, waiting), Some(bulk("x")));

        let (_b, waiting) = block_other(&h, 8, 0, &["blpop", "k", "10"]);
        let Blocked::Keys { waiter, .. } = &waiting else { panic!("blocked on keys") };
        assert!(claim(waiter));
        release(&h.shared, waiter);
        assert_eq!(blocked(&h.shared), 1, "released: it waits on");
        assert!(claim(waiter));
        abandon(&h.shared, waiter);
        assert_eq!(blocked(&h.shared), 1, "still claimed");
        release(&h.shared, waiter);
        assert_eq!(blocked(&h.shared), 0, "abandoned while claimed: gone when the claim ends");
        assert!(!claim(waiter));
    }
}
