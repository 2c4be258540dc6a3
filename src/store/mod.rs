//! The sharded keyspace.
//!
//! Keys are spread over a power-of-two number of shards by a seeded hash; each shard sits
//! behind its own `parking_lot::Mutex` and holds every database's keys for that hash range
//! (so `MOVE` and `SWAPDB` never cross a shard boundary for one key).
//!
//! Command handlers never lock anything themselves. The dispatcher works out from the
//! command table which shards a command touches, locks them in ascending order (so
//! multi-key commands cannot deadlock) and hands the handler a [`Locked`] view. `EXEC` locks
//! the shards of its queued and watched keys; whole-keyspace commands that take O(shards)
//! under the locks (SCAN, FLUSHALL, SWAPDB, …) lock every shard, which makes them atomic
//! across shards just as they are in single-threaded Redis; KEYS and SCAN walk one shard at a
//! time ([`Locked::for_each_table`], [`Locked::with_shard`]) so they never stop the keyspace.
//!
//! # Lock order
//!
//! Every lock in the server, outermost first. A thread holding one may take only those below
//! it, never one above; nothing is held across network I/O or a Raft round trip, and file I/O
//! happens under the AOF's own locks only.
//!
//! 1. `Shared::config`: CONFIG SET holds an upgradable read from its read to its last effect
//!    (so concurrent CONFIG SETs cannot lose one's change); everyone else takes short reads,
//!    which may come under any lock below (they never wait for a writer for long: the one
//!    writer holds write access only to swap the struct in).
//! 2. The AOF file lock (`Aof::incr`): flushes and fsyncs (offloaded), and the rewrite's cut,
//!    which takes it before the shards ([`Store::cut_holding`]).
//! 3. Shards, in ascending index order, taken only through [`Store`]'s `lock_*` methods, the
//!    background cycles (one shard at a time) and the snapshot cut. [`Locked::unlocked_while`]
//!    drops them for a wait (MIGRATE's target, a Raft commit) and takes them again in order.
//! 4. Leaves, under which nothing else is taken: the AOF's `pending` buffer (effects are
//!    emitted with the key's shard held), the cluster state (`ClusterNode::state`: routing
//!    reads it, and looks keys up only after letting go, see `commands::cluster::redirect`),
//!    MIGRATE's socket cache, the MONITOR hub's list and then a monitor's queue, the client
//!    registry, the key-waiter registry (`commands::blocking`: registration and serving run
//!    under the keys' shards), a waiter's outcome, the snapshot gate, and replication's (`replication/mod.rs`): the backlog
//!    (effects and a replica's relay append to it under the shards), the ids, the replica
//!    list, the link. The effect sink's switch (`Effects::sink`, read while emitting) comes
//!    just before the AOF's `pending` and the backlog.
//!
//! Tests run with parking_lot's deadlock detector on (`tests/lock_order.rs`).

mod access;
mod bytes24;
mod clock;
mod dense;
mod effects;
mod eviction;
mod expiry;
mod lazyfree;
mod snapshot;
mod table;
pub mod types;
mod value;

pub use access::{access_from_freq, access_from_idle, idle_ms, lfu_counter, AccessPolicy, LfuParams};
pub use bytes24::Str;
pub use clock::{calibrate_timer, monotonic_ns, system_now_ms, system_now_us, ticks_to_ns, timer_ticks, Clock};
pub use dense::hash as key_hash;
pub use effects::{EffectSink, Effects};
pub use eviction::{EvictError, EvictionPolicy};
pub use snapshot::{Snapshot, SnapshotCut, SnapshotEntry};
pub use table::Table;
pub use value::{parse_i64_strict, Entry, Value, EMBSTR_MAX};

use bytes::Bytes;
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

/// Fixed cost charged per key on top of its bytes in the logical memory account; roughly
/// what the map slot, the key's and value's headers and the allocator's rounding cost.
pub const ENTRY_OVERHEAD: usize = 64;

/// Counters the keyspace keeps for INFO.
#[derive(Debug, Default)]
pub struct KeyspaceStats {
    pub expired_keys: AtomicU64,
    pub evicted_keys: AtomicU64,
    /// Writes since the last save (`rdb_changes_since_last_save`).
    pub dirty: AtomicU64,
    pub expire_cycle_cpu_ms: AtomicU64,
    /// Expiry cycles that stopped at their time budget (`expired_time_cap_reached_count`).
    pub expired_time_cap_reached: AtomicU64,
    /// The share of sampled keys found expired, a moving average over cycles, as f64 bits
    /// (`expired_stale_perc`).
    pub expired_stale_perc: AtomicU64,
}

/// A flag a client raises on itself when a key it WATCHes is modified.
pub type WatchFlag = Arc<AtomicBool>;

/// A shard with its read counters. The counters sit first, on the cache line of the lock
/// word, which the thread counting has just taken exclusively: a global counter instead
/// would bounce between cores on every GET.
#[repr(C)]
struct ShardSlot {
    keyspace_hits: AtomicU64,
    keyspace_misses: AtomicU64,
    /// Where db 0's index lives (`IndexAddr`, as two words), readable without the lock for
    /// prefetching; refreshed by inserts. A torn or stale pair only wastes a prefetch.
    db0_index: [AtomicUsize; 2],
    lock: Mutex<Shard>,
}

impl ShardSlot {
    /// Records where db 0's index lives, writing only when it moved (the slot's line is
    /// shared by every core).
    #[inline]
    fn publish_db0_index(&self, addr: dense::IndexAddr) {
        if self.db0_index[0].load(Ordering::Relaxed) != addr.ctrl {
            self.db0_index[0].store(addr.ctrl, Ordering::Relaxed);
        }
        if self.db0_index[1].load(Ordering::Relaxed) != addr.mask {
            self.db0_index[1].store(addr.mask, Ordering::Relaxed);
        }
    }
}

/// Adds one to a counter of a shard the caller holds locked. Every writer holds that lock,
/// so a plain load and store cannot lose an increment and costs no atomic read-modify-write;
/// only a concurrent CONFIG RESETSTAT may be overwritten, as it may be in any order anyway.
fn count(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// One shard: every database's keys in this hash range, plus who watches them.
#[derive(Debug)]
pub struct Shard {
    dbs: Box<[Table]>,
    /// Clients WATCHing keys of this shard, by (db, key).
    watched: HashMap<(usize, Bytes), Vec<WatchFlag>>,
    /// A snapshot cut this shard is still owed a copy for: whoever locks the shard next
    /// copies it first (see `snapshot.rs`).
    owed_copy: Option<std::sync::Arc<snapshot::PendingSnapshot>>,
}

impl Shard {
    fn new(databases: usize) -> Shard {
        Shard { dbs: (0..databases).map(|_| Table::default()).collect(), watched: HashMap::new(), owed_copy: None }
    }

    pub fn table(&self, db: usize) -> &Table {
        &self.dbs[db]
    }

    fn touch_watched(&mut self, db: usize, key: &[u8]) {
        if self.watched.is_empty() {
            return;
        }
        // Only the (db, key) pair matters; the allocation is on the rare watched path.
        if let Some(flags) = self.watched.get(&(db, Bytes::copy_from_slice(key))) {
            for f in flags {
                f.store(true, Ordering::Release);
            }
        }
    }

    /// Marks every watcher of `db` whose key exists in it (FLUSHDB, SWAPDB semantics).
    fn touch_watched_db(&mut self, db: usize, also_if_in: Option<usize>) {
        for ((wdb, key), flags) in &self.watched {
            if *wdb != db {
                continue;
            }
            let exists = self.dbs[db].map.contains_key(&key[..])
                || also_if_in.is_some_and(|other| self.dbs[other].map.contains_key(&key[..]));
            if exists {
                for f in flags {
                    f.store(true, Ordering::Release);
                }
            }
        }
    }
}

/// Logical size of one entry for the memory account.
pub fn entry_size(key: &[u8], entry: &Entry) -> i64 {
    (key.len() + entry.value.heap_size() + ENTRY_OVERHEAD) as i64
}

/// The whole keyspace: all shards, all databases.
pub struct Store {
    shards: Box<[CachePadded<ShardSlot>]>,
    mask: usize,
    databases: usize,
    pub clock: Clock,
    pub stats: KeyspaceStats,
    /// Sum of the shards' logical sizes.
    used: AtomicI64,
    policy: AtomicU8,
    lfu: LfuParams,
    /// Wall-clock ms as of the last cron tick: what LRU/LFU access data is stamped with, as
    /// Redis stamps objects with its cron-cached `server.lruclock` (1 s resolution anyway).
    coarse_ms: AtomicU64,
    /// One snapshot at a time (see `snapshot.rs`).
    snapshot_gate: Arc<snapshot::SnapshotGate>,
    /// Where write effects go, when anything consumes them (the AOF, replicas).
    pub effects: Effects,
    /// A replica's keyspace: keys whose TTL has passed are hidden from readers but not
    /// deleted, neither on access nor by the active cycle; the primary's DEL deletes them.
    replica_mode: AtomicBool,
    /// Bytes held by snapshots' copies (see `snapshot.rs`).
    snapshot_bytes: Arc<AtomicI64>,
    /// Keys of flushed tables and big values being freed on a thread of their own, and freed so far.
    pub lazyfree: Arc<LazyfreeStats>,
    /// Where deleted and overwritten big values are freed (see `lazyfree.rs`).
    freer: lazyfree::LazyFreer,
    /// Clients blocked on keys (BLPOP, BZPOPMIN, …; `commands::blocking` keeps the count).
    /// While it is 0, inserting a list or sorted set notes nothing: the hot path pays one
    /// relaxed load per insert.
    pub key_waiters: AtomicUsize,
}

/// INFO's `lazyfree_pending_objects` and `lazyfreed_objects`, counted in keys as Redis counts
/// a lazily freed database.
#[derive(Debug, Default)]
pub struct LazyfreeStats {
    pub pending: AtomicU64,
    pub freed: AtomicU64,
}

impl Store {
    /// A store of `databases` databases over `shards` shards (rounded up to a power of two).
    pub fn new(databases: usize, shards: usize, clock: Clock) -> Store {
        let n = shards.max(1).next_power_of_two();
        Store {
            shards: (0..n)
                .map(|_| {
                    CachePadded::new(ShardSlot {
                        keyspace_hits: AtomicU64::new(0),
                        keyspace_misses: AtomicU64::new(0),
                        db0_index: [AtomicUsize::new(0), AtomicUsize::new(0)],
                        lock: Mutex::new(Shard::new(databases)),
                    })
                })
                .collect(),
            mask: n - 1,
            databases,
            stats: KeyspaceStats::default(),
            used: AtomicI64::new(0),
            policy: AtomicU8::new(EvictionPolicy::NoEviction as u8),
            lfu: LfuParams::default(),
            coarse_ms: AtomicU64::new(clock.now_ms()),
            snapshot_gate: Arc::default(),
            effects: Effects::default(),
            replica_mode: AtomicBool::new(false),
            snapshot_bytes: Arc::default(),
            lazyfree: Arc::default(),
            freer: lazyfree::LazyFreer::default(),
            key_waiters: AtomicUsize::new(0),
            clock,
        }
    }

    /// Bytes the copies of live snapshots hold: memory a fork would have kept outside
    /// `used_memory`, left out of eviction decisions.
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes.load(Ordering::Relaxed).max(0) as u64
    }

    /// Whether this is a replica's keyspace (see the field).
    #[inline]
    pub fn replica_mode(&self) -> bool {
        self.replica_mode.load(Ordering::Relaxed)
    }

    pub fn set_replica_mode(&self, on: bool) {
        self.replica_mode.store(on, Ordering::Relaxed);
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn shard_index(&self, key: &[u8]) -> usize {
        self.shard_of_hash(dense::hash(key))
    }

    /// The shard for a key's [`dense::hash`]. Bits 32 and up: the tables inside a shard
    /// index their buckets by the low bits and tag them with the top 7, so neither is
    /// constant within a shard.
    fn shard_of_hash(&self, hash: u64) -> usize {
        ((hash >> 32) as usize) & self.mask
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The time access data (LRU clock, LFU decay) is measured with: refreshed by the cron
    /// for the system clock, exact for a manual (test) clock.
    pub fn coarse_now_ms(&self) -> u64 {
        match self.clock {
            Clock::System => self.coarse_ms.load(Ordering::Relaxed),
            Clock::Manual(_) => self.clock.now_ms(),
        }
    }

    /// Called by the server cron every tick.
    pub fn refresh_coarse_clock(&self) {
        self.coarse_ms.store(self.clock.now_ms(), Ordering::Relaxed);
    }

    /// `keyspace_hits` and `keyspace_misses` of INFO: summed over the shards.
    pub fn keyspace_hits_misses(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(h, m), s| {
            (h + s.keyspace_hits.load(Ordering::Relaxed), m + s.keyspace_misses.load(Ordering::Relaxed))
        })
    }

    /// CONFIG RESETSTAT's part for the read counters.
    pub fn reset_keyspace_hits_misses(&self) {
        for s in self.shards.iter() {
            s.keyspace_hits.store(0, Ordering::Relaxed);
            s.keyspace_misses.store(0, Ordering::Relaxed);
        }
    }

    /// Logical bytes held by all keys.
    pub fn logical_used(&self) -> i64 {
        self.used.load(Ordering::Relaxed)
    }

    pub fn eviction_policy(&self) -> EvictionPolicy {
        EvictionPolicy::from_u8(self.policy.load(Ordering::Relaxed))
    }

    pub fn set_eviction_policy(&self, p: EvictionPolicy) {
        self.policy.store(p as u8, Ordering::Relaxed);
    }

    pub fn lfu_params(&self) -> &LfuParams {
        &self.lfu
    }

    fn access_policy(&self) -> AccessPolicy {
        if self.eviction_policy().is_lfu() {
            AccessPolicy::Lfu
        } else {
            AccessPolicy::Lru
        }
    }

    /// Starts fetching the memory a lookup in `db` of the key with [`key_hash`] `hash` will
    /// read, without locking anything: the connection calls it for a pipelined request while
    /// it executes an earlier one, so their cache misses overlap. Only db 0 (the one clients
    /// use, and the only one in cluster mode) keeps its index address outside the lock.
    #[inline]
    pub fn prefetch(&self, db: usize, hash: u64) {
        if db != 0 {
            return;
        }
        let slot = &self.shards[self.shard_of_hash(hash)];
        let addr = dense::IndexAddr {
            ctrl: slot.db0_index[0].load(Ordering::Relaxed),
            mask: slot.db0_index[1].load(Ordering::Relaxed),
        };
        addr.prefetch(hash);
    }

    /// Prefetches the entry a lookup in `db` of the key hashed `hash` will read, once
    /// [`prefetch`](Self::prefetch) has brought its index lines in. Called for the request after next.
    #[inline]
    pub fn prefetch_entry(&self, db: usize, hash: u64) {
        self.peek_db0(db, hash, |map| map.prefetch_entry(hash));
    }

    /// Prefetches the heap block of the value a lookup in `db` of the key hashed `hash` will
    /// find (a long string's shared buffer, whose reference count an overwrite or a GET
    /// touches), once [`prefetch_entry`](Self::prefetch_entry) has brought the entry in.
    #[inline]
    pub fn prefetch_value(&self, db: usize, hash: u64) {
        self.peek_db0(db, hash, |map| {
            if let Some((_, Entry { value: Value::Str(Str::Shared(buf)), .. })) = map.likely_entry(hash) {
                // The reference counts sit just before the bytes.
                dense::prefetch((buf.as_ptr() as usize).wrapping_sub(16));
            }
        });
    }

    /// Runs a prefetch on database 0's keys in the shard of `hash`, under the shard's lock if it
    /// is free (never waiting; a read-only peek owes no snapshot copy). Other databases publish
    /// no index address, so their requests are not prefetched.
    #[inline]
    fn peek_db0(&self, db: usize, hash: u64, prefetch: impl FnOnce(&dense::DenseMap<Entry>)) {
        if db != 0 {
            return;
        }
        if let Some(shard) = self.shards[self.shard_of_hash(hash)].lock.try_lock() {
            prefetch(&shard.dbs[0].map);
        }
    }

    /// Locks the shards that hold `keys` (ascending order, each once).
    pub fn lock_keys<'s, K: AsRef<[u8]>>(&'s self, keys: impl IntoIterator<Item = K>) -> Locked<'s> {
        let mut idx: SmallVec<[usize; 4]> = keys.into_iter().map(|k| self.shard_index(k.as_ref())).collect();
        idx.sort_unstable();
        idx.dedup();
        // Every shard (a big EXEC): positions then equal indices, the fast `locate`.
        let all = idx.len() == self.shards.len();
        self.lock_indices(&idx, all)
    }

    /// Locks the one shard holding `key`.
    pub fn lock_key(&self, key: &[u8]) -> Locked<'_> {
        let i = self.shard_index(key);
        let mut guards = SmallVec::new();
        // Pushed, not collected: the general path costs ~60 instructions more per command.
        guards.push((i, self.acquire(i)));
        self.locked(guards, false)
    }

    /// Locks every shard: for EXEC and whole-keyspace commands.
    pub fn lock_all(&self) -> Locked<'_> {
        let idx: SmallVec<[usize; 4]> = (0..self.shards.len()).collect();
        self.lock_indices(&idx, true)
    }

    /// A view that holds no shard: for keyless commands.
    pub fn lock_none(&self) -> Locked<'_> {
        self.lock_indices(&[], false)
    }

    fn lock_indices(&self, idx: &[usize], all: bool) -> Locked<'_> {
        self.locked(idx.iter().map(|&i| (i, self.acquire(i))).collect(), all)
    }

    fn locked<'s>(&'s self, guards: SmallVec<[(usize, MutexGuard<'s, Shard>); 2]>, all: bool) -> Locked<'s> {
        Locked {
            store: self,
            guards,
            all,
            changes: 0,
            now: Cell::new(None),
            access: self.access_policy(),
            deferred: None,
            keep_expired: false,
        }
    }

    /// Keeps db 0's keys by cluster hash slot from now on (cluster mode), so slot queries
    /// need no scan; `slot_of` is the key → slot function.
    pub fn index_slots(&self, slot_of: fn(&[u8]) -> u16) {
        for i in 0..self.shard_count() {
            self.acquire(i).dbs[0].index_slots(slot_of);
        }
    }

    /// Locks one shard by index (background cycles: active expiry, eviction sampling).
    pub(crate) fn shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        self.acquire(i)
    }

    /// Every shard lock is taken here: a shard still owed to a snapshot is copied before
    /// anyone can change it.
    #[inline]
    fn acquire(&self, i: usize) -> MutexGuard<'_, Shard> {
        let mut guard = self.shards[i].lock.lock();
        if guard.owed_copy.is_some() {
            self.pay_copy(i, &mut guard);
        }
        guard
    }

    /// Frees a value that left the keyspace, in the background if it is big (`lazyfree.rs`).
    pub fn free(&self, value: Value) {
        self.freer.free(value, &self.lazyfree);
    }

    /// Adds `delta` bytes to the logical size (see [`ENTRY_OVERHEAD`]) of `table` and the store.
    fn account(&self, table: &mut Table, delta: i64) {
        table.logical += delta;
        self.used.fetch_add(delta, Ordering::Relaxed);
    }

    /// Deletes a key whose TTL has passed, as lazy and active expiry both do: the watchers
    /// see a change, the memory account and `expired_keys` follow. False if it was not there.
    fn remove_expired(&self, shard: &mut Shard, db: usize, key: &[u8]) -> bool {
        if self.replica_mode() {
            // Hidden, not deleted: the primary's DEL will come.
            return shard.dbs[db].expire_at(key) != 0;
        }
        let Some((old, _)) = shard.dbs[db].remove(key) else { return false };
        shard.touch_watched(db, key);
        self.account(&mut shard.dbs[db], -entry_size(key, &old));
        self.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
        self.effects.emit(db, &[b"DEL", key]);
        self.free(old.value);
        true
    }
}

/// Keys whose lookups a multi-key command overlaps at a time ([`Locked::prefetch_keys`]):
/// enough to hide memory latency, few enough that their lines stay cached until used.
pub const PREFETCH_CHUNK: usize = 16;

/// The shards one command holds, and the keyspace operations handlers use.
///
/// Every key a handler touches must belong to a locked shard; asking for another is a bug in
/// the command table's key positions and panics in debug builds.
pub struct Locked<'s> {
    store: &'s Store,
    guards: SmallVec<[(usize, MutexGuard<'s, Shard>); 2]>,
    all: bool,
    /// Changes made through this view (the store's `dirty` counts everyone's): what tells
    /// the dispatcher a command wrote something to propagate.
    changes: u64,
    /// Read from the clock on first use only: a GET on a table without TTLs never needs it,
    /// and reading the system clock costs ~50 ns.
    now: Cell<Option<u64>>,
    access: AccessPolicy,
    /// Work for after the locks are released (see [`Locked::after_unlock`]); boxed so the
    /// common command pays one pointer and one branch for it.
    deferred: Option<Box<Deferred<'s>>>,
    /// Keys whose TTL has passed count as present: the primary's commands on a replica
    /// (Redis's `expireIfNeeded` for the master client), which decide expiry themselves.
    keep_expired: bool,
}

/// What a command leaves to be done once its shards are unlocked, before it replies.
#[derive(Default)]
struct Deferred<'s> {
    /// Flushed tables, freed after the unlock (FLUSHALL / FLUSHDB without ASYNC, whose reply
    /// Redis sends once the memory is free) ...
    garbage: Vec<Table>,
    /// ... or on a thread of their own (ASYNC), the reply not waiting for it.
    lazy_garbage: Vec<Table>,
    jobs: Vec<Box<dyn FnOnce() + 's>>,
    /// Keys (db, key) that became a list or sorted set while clients were blocked on keys
    /// (Redis's `signalKeyAsReady` from `dbAdd`), in order, each once: the dispatcher serves
    /// their waiters after the command (after the whole EXEC), shards still held.
    ready: Vec<(usize, Bytes)>,
}

/// Flushed tables on their way to a lazyfree thread.
struct LazyFree {
    tables: Vec<Table>,
    keys: u64,
    stats: Arc<LazyfreeStats>,
}

impl Drop for LazyFree {
    fn drop(&mut self) {
        drop(std::mem::take(&mut self.tables));
        self.stats.pending.fetch_sub(self.keys, Ordering::Relaxed);
        self.stats.freed.fetch_add(self.keys, Ordering::Relaxed);
    }
}

impl Drop for Locked<'_> {
    /// Unlocks first, then runs the deferred work where it cannot stop other clients being
    /// served ([`crate::blocking::offload`]).
    fn drop(&mut self) {
        let Some(deferred) = self.deferred.take() else { return };
        self.guards.clear();
        let Deferred { garbage, lazy_garbage, jobs, ready: _ } = *deferred;
        if garbage.is_empty() && lazy_garbage.is_empty() && jobs.is_empty() {
            return;
        }
        if !lazy_garbage.is_empty() {
            let keys: u64 = lazy_garbage.iter().map(|t| t.len() as u64).sum();
            let stats = self.store.lazyfree.clone();
            stats.pending.fetch_add(keys, Ordering::Relaxed);
            // Settles the counts when the tables are gone, whichever thread drops them.
            let freeing = LazyFree { tables: lazy_garbage, keys, stats };
            let spawned = std::thread::Builder::new().name("lazyfree".into()).spawn(move || drop(freeing));
            if let Err(e) = spawned {
                tracing::warn!("Can't start a thread to free a flushed database ({e}); freeing it here");
            }
        }
        crate::blocking::offload(move || {
            drop(garbage);
            for job in jobs {
                job();
            }
        });
    }
}

impl<'s> Locked<'s> {
    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// Treats keys whose TTL has passed as present (see the field).
    pub fn keep_expired_keys(&mut self) {
        self.keep_expired = true;
    }

    /// Whether a key expiring at `at` (0: never) has expired for this view.
    #[inline]
    fn has_expired(&self, at: u64) -> bool {
        at != 0 && !self.keep_expired && at <= self.now()
    }

    /// Changes made through this view so far.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The time this command runs at: fixed for the whole command (and the whole EXEC), as
    /// Redis caches `server.mstime`, so a key cannot expire half-way through.
    pub fn now(&self) -> u64 {
        match self.now.get() {
            Some(now) => now,
            None => {
                let now = self.store.clock.now_ms();
                self.now.set(Some(now));
                now
            }
        }
    }

    /// Re-reads the clock (between the commands of an EXEC).
    pub fn refresh_now(&mut self) {
        self.now.set(None);
        self.access = self.store.access_policy();
    }

    /// The position in `guards` of the shard holding `key`, and the key's hash (computed
    /// once here and reused for the table lookups).
    #[inline]
    fn locate(&self, key: &[u8]) -> (usize, u64) {
        let hash = dense::hash(key);
        let i = self.store.shard_of_hash(hash);
        if self.all {
            return (i, hash);
        }
        match self.guards.iter().position(|(g, _)| *g == i) {
            Some(p) => (p, hash),
            None => panic!("key {:?} is not in a locked shard: command table key positions are wrong", key),
        }
    }

    /// Prefetches what looking up each of `keys` in `db` reads: every key's index lines, then
    /// every key's entry. Multi-key commands (MGET, MSET, DEL, EXISTS, TOUCH) call it per
    /// [`PREFETCH_CHUNK`] keys (more are not looked at), so their cache misses overlap instead
    /// of each key waiting out its own. Only a hint: it changes nothing.
    pub fn prefetch_keys<'k>(&self, db: usize, keys: impl Iterator<Item = &'k Bytes>) {
        // Each key is hashed and its shard found once, for both passes.
        let mut located = [(0, 0); PREFETCH_CHUNK];
        let mut n = 0;
        for key in keys.take(PREFETCH_CHUNK) {
            located[n] = self.locate(key);
            n += 1;
        }
        // One key has nothing to overlap with (DEL k, EXISTS k): the lookup itself is as soon.
        if n < 2 {
            return;
        }
        let map_of = |p: usize| &self.guards[p].1.dbs[db].map;
        for &(p, hash) in &located[..n] {
            map_of(p).index_addr().prefetch(hash);
        }
        for &(p, hash) in &located[..n] {
            map_of(p).prefetch_entry(hash);
        }
    }

    fn shard_mut(&mut self, key: &[u8]) -> &mut Shard {
        let (p, _) = self.locate(key);
        &mut self.guards[p].1
    }

    /// Deletes `key` if its TTL has passed; true if it did.
    fn expire_if_needed(&mut self, db: usize, key: &[u8]) -> bool {
        let store = self.store;
        let (p, hash) = self.locate(key);
        let at = self.guards[p].1.dbs[db].expire_at_hashed(hash, key);
        if !self.has_expired(at) {
            return false;
        }
        store.remove_expired(&mut self.guards[p].1, db, key);
        true
    }

    /// Looks a key up for reading: expires it lazily, updates its LRU/LFU data and counts a
    /// keyspace hit or miss (`lookupKeyRead`).
    pub fn get(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let store = self.store;
        let (p, hash) = self.locate(key);
        let slot = &store.shards[self.guards[p].0];
        let found = self.lookup_at(p, hash, db, key, true);
        count(if found.is_some() { &slot.keyspace_hits } else { &slot.keyspace_misses });
        found
    }

    /// A lookup that does not touch the key's access data but counts a keyspace hit or miss
    /// (`lookupKeyReadWithFlags(LOOKUP_NOTOUCH)`: EXISTS, TYPE, TTL, OBJECT).
    pub fn peek_counted(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        let store = self.store;
        let (p, hash) = self.locate(key);
        let slot = &store.shards[self.guards[p].0];
        let found = self.lookup_at(p, hash, db, key, false);
        count(if found.is_some() { &slot.keyspace_hits } else { &slot.keyspace_misses });
        found.map(|e| &*e)
    }

    /// Looks a key up before writing it: like [`get`](Self::get) but counts no hit or miss
    /// (`lookupKeyWrite`).
    pub fn get_for_write(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        self.lookup(db, key, true)
    }

    /// Looks a key up without touching its access data (TYPE, OBJECT, TTL-like inspection).
    pub fn peek(&mut self, db: usize, key: &[u8]) -> Option<&Entry> {
        self.lookup(db, key, false).map(|e| &*e)
    }

    /// Finds the entry, deleting it instead if its TTL has passed, else touching it. One
    /// lookup in the keys, plus one in the expiry times only if the table has any.
    fn lookup(&mut self, db: usize, key: &[u8], touch: bool) -> Option<&mut Entry> {
        let (p, hash) = self.locate(key);
        self.lookup_at(p, hash, db, key, touch)
    }

    /// [`lookup`](Self::lookup) with the key already [located](Self::locate).
    fn lookup_at(&mut self, p: usize, hash: u64, db: usize, key: &[u8], touch: bool) -> Option<&mut Entry> {
        let idx = self.lookup_index_at(p, hash, db, key, touch)?;
        Some(&mut self.guards[p].1.dbs[db].map[idx])
    }

    /// [`lookup_at`](Self::lookup_at), giving the entry's index in its table.
    fn lookup_index_at(&mut self, p: usize, hash: u64, db: usize, key: &[u8], touch: bool) -> Option<usize> {
        let (access, store) = (self.access, self.store);
        // The expiry first (free when the table has no TTLs), so the clock is read only for
        // keys that have one.
        let at = self.guards[p].1.dbs[db].expire_at_hashed(hash, key);
        let expired = self.has_expired(at);
        let shard = &mut *self.guards[p].1;
        if expired {
            store.remove_expired(shard, db, key);
            return None;
        }
        let idx = shard.dbs[db].map.get_index_of_hashed(hash, key)?;
        if touch {
            access.touch(&mut shard.dbs[db].map[idx], store.coarse_now_ms(), &store.lfu);
        }
        Some(idx)
    }

    /// The absolute expiry (Unix ms) of a live key: `Some(0)` without a TTL, `None` if the
    /// key does not exist (or has just expired). Does not touch the key's access data.
    pub fn expire_at(&mut self, db: usize, key: &[u8]) -> Option<u64> {
        self.peek(db, key)?;
        Some(self.shard_mut(key).dbs[db].expire_at(key))
    }

    pub fn exists(&mut self, db: usize, key: &[u8]) -> bool {
        self.peek(db, key).is_some()
    }

    /// Stores `value` under `key` with absolute expiry `expire_at` (0: none), replacing
    /// whatever was there, TTL included.
    ///
    /// A key whose TTL has passed is expired first (counted in `expired_keys`, its DEL
    /// propagated), as `lookupKeyWrite` does before Redis's `setKey`; the same lookup serves both.
    pub fn insert(&mut self, db: usize, key: &[u8], value: Value, expire_at: u64) {
        if self.store.key_waiters.load(Ordering::Relaxed) != 0 && matches!(value, Value::List(_) | Value::ZSet(_)) {
            self.signal_ready(db, key);
        }
        let entry = Entry { value, access: self.access.initial(self.store.coarse_now_ms(), &self.store.lfu) };
        let store = self.store;
        let (p, hash) = self.locate(key);
        let stale = {
            let at = self.guards[p].1.dbs[db].expire_at_hashed(hash, key);
            self.has_expired(at)
        };
        let (shard_index, shard) = &mut self.guards[p];
        let (shard_index, shard) = (*shard_index, &mut **shard);
        let mut delta = entry_size(key, &entry);
        let table = &mut shard.dbs[db];
        // Reuse the stored key when overwriting, else copy the key out of the read buffer so
        // the map never pins a connection's buffer.
        let old = match table.map.get_index_of_hashed(hash, key) {
            Some(i) => {
                if stale {
                    store.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
                    store.effects.emit(db, &[b"DEL", key]);
                }
                let old = std::mem::replace(&mut table.map[i], entry);
                if expire_at != 0 || !table.expires.is_empty() {
                    table.set_expire(key, expire_at);
                }
                Some(old)
            }
            None => {
                let old = table.insert(hash, Str::new(key), entry, expire_at);
                if db == 0 {
                    store.shards[shard_index].publish_db0_index(table.map.index_addr());
                }
                old
            }
        };
        if let Some(old) = old {
            delta -= entry_size(key, &old);
            store.free(old.value);
        }
        shard.touch_watched(db, key);
        store.account(&mut shard.dbs[db], delta);
        store.stats.dirty.fetch_add(1, Ordering::Relaxed);
        self.changes += 1;
    }

    /// Notes `key` as ready for the clients blocked on it (see `Deferred::ready`). A key is
    /// noted once while the list is short; past that (SWAPDB noting every waited key) the
    /// check is skipped: serving a key twice finds nothing more the second time.
    #[cold]
    pub fn signal_ready(&mut self, db: usize, key: &[u8]) {
        let ready = &mut self.deferred.get_or_insert_with(Default::default).ready;
        if ready.len() >= 64 || !ready.iter().any(|(d, k)| *d == db && k == key) {
            ready.push((db, Bytes::copy_from_slice(key)));
        }
    }

    /// Whether keys were noted ready and not yet taken.
    #[inline]
    pub fn has_ready_keys(&self) -> bool {
        self.deferred.as_ref().is_some_and(|d| !d.ready.is_empty())
    }

    /// The keys noted ready so far, oldest first; forgets them.
    pub fn take_ready_keys(&mut self) -> Vec<(usize, Bytes)> {
        self.deferred.as_mut().map(|d| std::mem::take(&mut d.ready)).unwrap_or_default()
    }

    /// Whether this view holds the shard of `key`.
    pub fn holds(&self, key: &[u8]) -> bool {
        let i = self.store.shard_index(key);
        self.all || self.guards.iter().any(|(g, _)| *g == i)
    }

    /// Sets a key's LRU/LFU data (RDB loading, RESTORE IDLETIME/FREQ). False if it is missing.
    pub fn set_access(&mut self, db: usize, key: &[u8], access: u32) -> bool {
        let shard = self.shard_mut(key);
        match shard.dbs[db].map.get_mut(key) {
            Some(entry) => {
                entry.access = access;
                true
            }
            None => false,
        }
    }

    /// Replaces the value of an existing key, keeping its TTL (INCR, APPEND, SET KEEPTTL, …).
    /// Returns false if the key does not exist.
    pub fn update<R>(&mut self, db: usize, key: &[u8], f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        self.modify(db, key, |e| (f(e), true))
    }

    /// Edits an existing key's value in place, keeping its TTL; `f` says whether it changed
    /// anything. Memory is accounted either way; only a change touches WATCHers, counts as
    /// dirty and gets the command propagated (`signalModifiedKey` + `server.dirty` in Redis,
    /// which a collection command calls only when it changed the collection). Returns `None`
    /// if the key does not exist.
    pub fn modify<R>(&mut self, db: usize, key: &[u8], f: impl FnOnce(&mut Entry) -> (R, bool)) -> Option<R> {
        let (p, hash) = self.locate(key);
        let idx = self.guards[p].1.dbs[db].map.get_index_of_hashed(hash, key)?;
        Some(self.modify_at(p, db, key, idx, f))
    }

    /// [`get_for_write`](Self::get_for_write) then [`modify`](Self::modify) of what it found,
    /// with one lookup: a collection write's path (`None`, and `f` not called, if `key` is
    /// missing).
    pub fn modify_for_write<R>(&mut self, db: usize, key: &[u8], f: impl FnOnce(&mut Entry) -> (R, bool)) -> Option<R> {
        let (p, hash) = self.locate(key);
        let idx = self.lookup_index_at(p, hash, db, key, true)?;
        Some(self.modify_at(p, db, key, idx, f))
    }

    /// [`modify`](Self::modify) of entry `idx` of `key`'s table, in locked shard `p`.
    fn modify_at<R>(
        &mut self,
        p: usize,
        db: usize,
        key: &[u8],
        idx: usize,
        f: impl FnOnce(&mut Entry) -> (R, bool),
    ) -> R {
        let store = self.store;
        let shard = &mut *self.guards[p].1;
        let entry = &mut shard.dbs[db].map[idx];
        let before = entry_size(key, entry);
        let (r, changed) = f(entry);
        let delta = entry_size(key, entry) - before;
        store.account(&mut shard.dbs[db], delta);
        if changed {
            shard.touch_watched(db, key);
            store.stats.dirty.fetch_add(1, Ordering::Relaxed);
            self.changes += 1;
        }
        r
    }

    /// Deletes `key` (DEL, UNLINK); true if it existed. A big value is freed in the background.
    pub fn delete(&mut self, db: usize, key: &[u8]) -> bool {
        match self.remove(db, key) {
            Some(old) => {
                self.store.free(old.value);
                true
            }
            None => false,
        }
    }

    /// Deletes `key`; returns its entry if it existed (and had not expired).
    pub fn remove(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        self.remove_with_expiry(db, key).map(|(e, _)| e)
    }

    /// Deletes `key`; returns its entry and absolute expiry (0: none) — RENAME and MOVE carry
    /// both to the new name.
    pub fn remove_with_expiry(&mut self, db: usize, key: &[u8]) -> Option<(Entry, u64)> {
        if self.expire_if_needed(db, key) {
            return None;
        }
        let store = self.store;
        let shard = self.shard_mut(key);
        let (old, at) = shard.dbs[db].remove(key)?;
        shard.touch_watched(db, key);
        store.account(&mut shard.dbs[db], -entry_size(key, &old));
        store.stats.dirty.fetch_add(1, Ordering::Relaxed);
        self.changes += 1;
        Some((old, at))
    }

    /// Sets (or with 0 clears) the absolute expiry of an existing key. False if missing.
    pub fn set_expire(&mut self, db: usize, key: &[u8], at: u64) -> bool {
        let store = self.store;
        let shard = self.shard_mut(key);
        if !shard.dbs[db].set_expire(key, at) {
            return false;
        }
        shard.touch_watched(db, key);
        store.stats.dirty.fetch_add(1, Ordering::Relaxed);
        self.changes += 1;
        true
    }

    /// Registers `flag` to be raised when `key` in `db` changes (WATCH). Flags whose client has
    /// since unwatched (only the registry still holds them) are pruned here.
    pub fn watch(&mut self, db: usize, key: &[u8], flag: &WatchFlag) {
        let shard = self.shard_mut(key);
        let flags = shard.watched.entry((db, Bytes::copy_from_slice(key))).or_default();
        flags.retain(|f| Arc::strong_count(f) > 1);
        flags.push(flag.clone());
    }

    /// Withdraws `flag`'s registration on `key` (a watcher done before its client's UNWATCH:
    /// MIGRATE's check that nobody wrote a key during its transfer).
    pub fn unwatch(&mut self, db: usize, key: &[u8], flag: &WatchFlag) {
        let shard = self.shard_mut(key);
        let id = (db, Bytes::copy_from_slice(key));
        if let Some(flags) = shard.watched.get_mut(&id) {
            flags.retain(|f| !Arc::ptr_eq(f, flag));
            if flags.is_empty() {
                shard.watched.remove(&id);
            }
        }
    }

    /// Number of keys in `db` (expired-but-not-yet-collected keys included, as Redis's DBSIZE).
    pub fn dbsize(&mut self, db: usize) -> usize {
        debug_assert!(self.all);
        self.guards.iter().map(|(_, g)| g.dbs[db].len()).sum()
    }

    /// Keys of db 0 across the locked shards (cluster mode's `dictSize(db[0])`).
    pub fn keys_in_db0(&self) -> usize {
        self.guards.iter().map(|(_, g)| g.dbs[0].len()).sum()
    }

    /// Keys of db 0 in hash slot `slot` (cluster mode), across the locked shards.
    pub fn count_keys_in_slot(&self, slot: u16) -> usize {
        self.guards.iter().map(|(_, g)| g.dbs[0].count_in_slot(slot)).sum()
    }

    /// Up to `count` keys of db 0 in hash slot `slot` (cluster mode), across the locked shards.
    pub fn keys_in_slot(&self, slot: u16, count: usize) -> Vec<Bytes> {
        self.guards
            .iter()
            .flat_map(|(_, g)| g.dbs[0].keys_in_slot(slot))
            .take(count)
            .map(|k| Bytes::copy_from_slice(k))
            .collect()
    }

    /// Keys with a TTL in `db`.
    pub fn expires_count(&mut self, db: usize) -> usize {
        self.guards.iter().map(|(_, g)| g.dbs[db].expires_len()).sum()
    }

    /// The table of `db` in the i-th locked shard (whole-keyspace walks: KEYS, SCAN, RANDOMKEY).
    pub fn table(&self, shard_pos: usize, db: usize) -> &Table {
        &self.guards[shard_pos].1.dbs[db]
    }

    pub fn locked_shard_count(&self) -> usize {
        self.guards.len()
    }

    /// Removes every key of `db`; returns how many there were. O(shards) under the locks: the
    /// tables are swapped for empty ones and freed after the unlock (`lazy`: on a thread of
    /// their own, the command not waiting), so a flush holds no shard for long.
    pub fn flush_db(&mut self, db: usize, lazy: bool) -> usize {
        debug_assert!(self.all);
        let store = self.store;
        let mut removed = 0;
        let mut taken = Vec::with_capacity(self.guards.len());
        for (_, shard) in self.guards.iter_mut() {
            let shard = &mut **shard;
            shard.touch_watched_db(db, None);
            removed += shard.dbs[db].len();
            let old = shard.dbs[db].take_contents();
            store.used.fetch_sub(old.logical, Ordering::Relaxed);
            taken.push(old);
        }
        let deferred = self.deferred.get_or_insert_with(Default::default);
        if lazy { &mut deferred.lazy_garbage } else { &mut deferred.garbage }.extend(taken);
        store.stats.dirty.fetch_add(removed as u64, Ordering::Relaxed);
        self.changes += removed as u64;
        removed
    }

    /// Runs `job` once this view's shards are unlocked, before the command replies, via
    /// [`crate::blocking::offload`] (FLUSHALL's purge and empty save). Inside EXEC that is after
    /// the whole transaction.
    pub fn after_unlock(&mut self, job: impl FnOnce() + 's) {
        self.deferred.get_or_insert_with(Default::default).jobs.push(Box::new(job));
    }

    /// Runs `wait` with this view's shards unlocked, and locks them again (ascending, as
    /// always) before returning: for commands that wait on the network (MIGRATE's target, a
    /// Raft commit), which must hold no lock meanwhile. Other clients may change the keys in
    /// between (inside EXEC, this is where another client's command can interleave); callers
    /// that care WATCH their keys around it. `wait` runs offloaded.
    pub fn unlocked_while<R>(&mut self, wait: impl FnOnce() -> R) -> R {
        let held: SmallVec<[usize; 4]> = self.guards.iter().map(|(i, _)| *i).collect();
        self.guards.clear();
        let result = crate::blocking::offload(wait);
        self.guards = held.iter().map(|&i| (i, self.store.acquire(i))).collect();
        self.refresh_now();
        result
    }

    /// Runs `f` on a view holding shard `i`, with that shard's position in the view (for
    /// [`table`](Self::table)): this view itself when it holds every shard (inside EXEC), else
    /// a view of that one shard, taken and released around `f` (SCAN's shard-at-a-time walk).
    pub fn with_shard<R>(&mut self, i: usize, f: impl FnOnce(&mut Locked<'s>, usize) -> R) -> R {
        if self.all {
            return f(self, i);
        }
        assert!(self.guards.is_empty(), "a shard walk with some shards held would take locks out of order");
        let mut one = self.store.lock_indices(&[i], false);
        let result = f(&mut one, 0);
        self.changes += one.changes;
        result
    }

    /// Calls `visit` with each shard's table of `db`, in shard order, through
    /// [`with_shard`](Self::with_shard): for whole-keyspace reads that may take long (KEYS),
    /// which then hold one shard at a time, so other clients wait at most one shard's walk.
    /// Such a walk is not a consistent cut: a key written meanwhile may or may not be seen
    /// (Redis, single-threaded, sees none of them).
    pub fn for_each_table(&mut self, db: usize, mut visit: impl FnMut(&Table)) {
        for i in 0..self.store.shard_count() {
            self.with_shard(i, |ks, pos| visit(ks.table(pos, db)));
        }
    }

    /// Exchanges databases `a` and `b` (SWAPDB).
    /// Replaces every database's contents with `other`'s (a store of the same shape, which
    /// is left empty): a replica's `repl-diskless-load swapdb`, which loads aside while the
    /// old data is served and swaps it in at once. The old tables are freed after the unlock,
    /// on a thread of their own.
    pub fn replace_all_from(&mut self, other: &Store) {
        debug_assert!(self.all);
        assert_eq!(other.shard_count(), self.store.shard_count(), "stores of the same shape");
        let store = self.store;
        let mut old_tables = Vec::new();
        for (i, shard) in self.guards.iter_mut() {
            let mut loaded = other.acquire(*i);
            for db in 0..store.databases.min(other.databases) {
                shard.touch_watched_db(db, None);
                let mut new = loaded.dbs[db].take_contents();
                other.used.fetch_sub(new.logical, Ordering::Relaxed);
                if let Some(slot_of) = shard.dbs[db].slot_fn() {
                    new.index_slots(slot_of);
                }
                let old = std::mem::replace(&mut shard.dbs[db], new);
                store.used.fetch_add(shard.dbs[db].logical - old.logical, Ordering::Relaxed);
                if db == 0 {
                    store.shards[*i].publish_db0_index(shard.dbs[0].map.index_addr());
                }
                old_tables.push(old);
            }
        }
        self.deferred.get_or_insert_with(Default::default).lazy_garbage.extend(old_tables);
        store.stats.dirty.fetch_add(1, Ordering::Relaxed);
        self.changes += 1;
    }

    pub fn swap_db(&mut self, a: usize, b: usize) {
        debug_assert!(self.all);
        for (_, shard) in self.guards.iter_mut() {
            shard.touch_watched_db(a, Some(b));
            shard.touch_watched_db(b, Some(a));
            shard.dbs.swap(a, b);
        }
        self.store.stats.dirty.fetch_add(1, Ordering::Relaxed);
        self.changes += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_keys(n: usize) -> Store {
        let store = Store::new(2, 8, Clock::manual(1_000));
        for i in 0..n {
            let key = format!("key:{i}");
            store.lock_key(key.as_bytes()).insert(i % 2, key.as_bytes(), Value::Str(Str::new(b"some value")), 0);
        }
        store
    }

    /// Whether every shard can be locked right now (by anyone else).
    fn all_unlocked(store: &Store) -> bool {
        store.shards.iter().all(|s| s.lock.try_lock().is_some())
    }

    /// Lists and sorted sets stored while clients are blocked on keys are noted ready, once
    /// each; with nobody blocked nothing is noted, and other types never are.
    #[test]
    fn inserts_note_ready_keys_only_while_someone_waits() {
        use super::types::{Collection, List, ZSet};
        let store = store_with_keys(0);
        let list = || {
            let mut l = List::default();
            l.push_back(b"x");
            l.into_value()
        };
        let mut ks = store.lock_all();
        ks.insert(0, b"a", list(), 0);
        assert!(!ks.has_ready_keys());
        store.key_waiters.store(1, Ordering::Relaxed);
        ks.insert(0, b"s", Value::Int(1), 0);
        assert!(!ks.has_ready_keys());
        ks.insert(0, b"a", list(), 0);
        ks.insert(1, b"a", list(), 0);
        let mut z = ZSet::default();
        z.insert(b"m", 1.0);
        ks.insert(0, b"z", z.into_value(), 0);
        ks.insert(0, b"a", list(), 0);
        let ready = ks.take_ready_keys();
        assert_eq!(
            ready,
            vec![(0, Bytes::from_static(b"a")), (1, Bytes::from_static(b"a")), (0, Bytes::from_static(b"z"))]
        );
        assert!(!ks.has_ready_keys());
    }

    #[test]
    fn a_flush_settles_the_account_at_once_and_frees_after_the_unlock() {
        let store = store_with_keys(1_000);
        let before = store.logical_used();
        let db1: i64 = (0..store.shard_count()).map(|i| store.shard(i).dbs[1].logical).sum();
        assert!(db1 > 0 && db1 < before);
        let freed_unlocked = Cell::new(None);
        {
            let mut ks = store.lock_all();
            assert_eq!(ks.flush_db(0, false), 500);
            // The account is settled under the lock, without walking the keys.
            assert_eq!(store.logical_used(), db1);
            assert_eq!(ks.dbsize(0), 0);
            assert_eq!(ks.dbsize(1), 500);
            ks.after_unlock(|| freed_unlocked.set(Some(all_unlocked(&store))));
        }
        assert_eq!(freed_unlocked.get(), Some(true), "the deferred work ran with every shard unlocked");
        // A lazy flush is the same to the keyspace.
        store.lock_all().flush_db(1, true);
        assert_eq!(store.logical_used(), 0);
        assert_eq!(store.lock_all().dbsize(1), 0);
    }

    #[test]
    fn unlocked_while_releases_and_retakes_the_view_s_shards() {
        let store = store_with_keys(10);
        let mut ks = store.lock_keys([&b"key:1"[..], b"key:2", b"key:3"]);
        assert!(!all_unlocked(&store));
        assert!(ks.unlocked_while(|| all_unlocked(&store)));
        // Held again, and usable.
        assert!(!all_unlocked(&store));
        assert!(ks.get(1, b"key:1").is_some());
        ks.insert(0, b"key:2", Value::Int(7), 0);
        drop(ks);
        assert!(all_unlocked(&store));
    }

    #[test]
    fn a_walk_locks_one_shard_at_a_time() {
        let store = store_with_keys(200);
        let mut ks = store.lock_none();
        let (mut seen, mut others_free) = (0, 0);
        ks.for_each_table(0, |table| {
            seen += table.len();
            // The shard being walked is the only one held.
            others_free += store.shards.iter().filter(|s| s.lock.try_lock().is_some()).count();
        });
        assert_eq!(seen, 100);
        assert_eq!(others_free, store.shard_count() * (store.shard_count() - 1));
    }
}
