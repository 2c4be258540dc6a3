//! A point-in-time copy of the keyspace for RDB saves and AOF rewrites, taken without
//! stopping the server for the copy.
//!
//! Redis forks and lets the child write the parent's frozen memory. Ferrocache cuts instead:
//! it locks every shard for an instant (the *cut*: commands in flight finish first, none
//! starts), marks each shard as owed a copy, runs the caller's `at_cut` (an AOF rewrite
//! switches files there, so the copy and the new file meet exactly), and lets go. Then it
//! copies the shards one by one, while whoever locks a shard that is still owed copies it
//! first, before changing anything. So the copy is the keyspace exactly as of the cut,
//! whatever runs meanwhile, and a writer waits at most for one shard's copy (a 64th of the
//! keyspace), never for the whole.
//!
//! Copies share long strings and collections (`Arc`; a collection written meanwhile is copied
//! then, by its writer, see `Value`) and copy short strings inline, so a shard's copy costs
//! its key count, not its elements; the writing to disk happens after, from the copy, with no
//! lock held.

use super::bytes24::Str;
use super::value::Value;
use super::{Shard, Store};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// One key as it was at the cut.
#[derive(Debug, Clone)]
pub struct SnapshotEntry {
    pub key: Str,
    pub value: Value,
    /// Absolute expiry in Unix ms, 0 for none.
    pub expire_at: u64,
    /// The key's LRU clock or LFU data (`Entry::access`).
    pub access: u32,
}

/// Every database's keys as the shards' copies left them (shard → database → entries): they
/// are read in place, never gathered into one vector per database, which would copy every
/// entry a second time (and, growing, hold up to twice that) while the first copy is alive.
#[derive(Debug, Default)]
pub struct Snapshot {
    shards: Vec<Vec<Vec<SnapshotEntry>>>,
    databases: usize,
    /// Keeps the copies counted as snapshot memory while they live.
    _memory: Option<Arc<SnapshotMemory>>,
}

impl Snapshot {
    pub fn len(&self) -> usize {
        (0..self.databases).map(|db| self.db_len(db)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many databases the snapshot covers (empty ones included).
    pub fn databases(&self) -> usize {
        self.databases
    }

    /// The keys of database `db`, shard after shard.
    pub fn db(&self, db: usize) -> impl Iterator<Item = &SnapshotEntry> {
        self.shards.iter().filter_map(move |s| s.get(db)).flatten()
    }

    pub fn db_len(&self, db: usize) -> usize {
        self.shards.iter().filter_map(|s| s.get(db)).map(Vec::len).sum()
    }
}

/// The copies of a snapshot in progress, one slot per shard, filled by whoever copies it.
#[derive(Debug)]
pub struct PendingSnapshot {
    /// Per shard: per database, its entries.
    copies: Vec<Mutex<Option<Vec<Vec<SnapshotEntry>>>>>,
    memory: Arc<SnapshotMemory>,
}

/// What a snapshot's copies hold, counted in the store's [`Store::snapshot_bytes`] until the
/// last of the pending snapshot and the snapshot made from it is gone. Redis's fork copies
/// pages outside `used_memory`; ours are allocations, so eviction leaves them out (see
/// `commands::dispatch::check_memory`), or a full sync or BGSAVE near `maxmemory` would evict.
#[derive(Debug)]
struct SnapshotMemory {
    counter: Arc<AtomicI64>,
    bytes: AtomicI64,
}

impl SnapshotMemory {
    fn add(&self, bytes: i64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.counter.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Drop for SnapshotMemory {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.bytes.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// The heap a shard's copy takes: its entries (long values are shared, not copied).
fn copy_bytes(copy: &[Vec<SnapshotEntry>]) -> i64 {
    copy.iter().map(|entries| entries.capacity() * std::mem::size_of::<SnapshotEntry>()).sum::<usize>() as i64
}

fn copy_shard(shard: &Shard) -> Vec<Vec<SnapshotEntry>> {
    shard
        .dbs
        .iter()
        .map(|table| {
            let with_ttl = table.expires_len() > 0;
            table
                .iter()
                .map(|(key, entry)| SnapshotEntry {
                    key: key.clone(),
                    value: entry.value.clone(),
                    expire_at: if with_ttl { table.expire_at(key) } else { 0 },
                    access: entry.access,
                })
                .collect()
        })
        .collect()
}

/// A snapshot whose cut is taken and whose copy is still owed: [`SnapshotCut::finish`] copies
/// what nobody has copied yet. Taking the cut where the command runs (BGSAVE, BGREWRITEAOF)
/// and finishing on a background thread makes the snapshot exactly the data as of the reply,
/// as Redis's fork does. One snapshot at a time: a second cut waits for the first to finish.
pub struct SnapshotCut {
    pending: Arc<PendingSnapshot>,
    gate: Arc<SnapshotGate>,
}

/// One snapshot at a time, across threads (a cut is finished on another thread than the one
/// that took it).
#[derive(Debug, Default)]
pub struct SnapshotGate {
    busy: Mutex<bool>,
    done: parking_lot::Condvar,
}

impl Store {
    /// Copies the keyspace as of now (see the module docs).
    pub fn snapshot(&self) -> Snapshot {
        self.cut(|| {}).finish(self)
    }

    /// Takes the cut: locks every shard for an instant, marks each as owed a copy, runs
    /// `at_cut` meanwhile, and lets go. Cheap: the copy happens in [`SnapshotCut::finish`].
    pub fn cut(&self, at_cut: impl FnOnce()) -> SnapshotCut {
        self.cut_holding(|| (), at_cut).0
    }

    /// [`cut`](Self::cut) for a caller that needs another lock across the cut (the AOF
    /// rewrite's file lock, ordered before the shards): `lock` takes it once this snapshot's
    /// turn has come (not while waiting for the previous snapshot), and it is returned still
    /// held.
    pub fn cut_holding<G>(&self, lock: impl FnOnce() -> G, at_cut: impl FnOnce()) -> (SnapshotCut, G) {
        {
            let mut busy = self.snapshot_gate.busy.lock();
            while *busy {
                self.snapshot_gate.done.wait(&mut busy);
            }
            *busy = true;
        }
        let held = lock();
        let memory = Arc::new(SnapshotMemory { counter: self.snapshot_bytes.clone(), bytes: AtomicI64::new(0) });
        let pending =
            Arc::new(PendingSnapshot { copies: (0..self.shard_count()).map(|_| Mutex::new(None)).collect(), memory });
        // Ascending order, as every multi-shard lock is taken: no deadlock.
        let mut all: Vec<_> = (0..self.shard_count()).map(|i| self.acquire(i)).collect();
        for shard in &mut all {
            shard.owed_copy = Some(pending.clone());
        }
        at_cut();
        drop(all);
        (SnapshotCut { pending, gate: self.snapshot_gate.clone() }, held)
    }
}

impl SnapshotCut {
    /// Copies every shard of `store` (the one cut) still owed (locking a shard pays what it
    /// owes; commands meanwhile may have paid some) and assembles the snapshot.
    pub fn finish(self, store: &Store) -> Snapshot {
        for i in 0..store.shard_count() {
            drop(store.acquire(i));
        }
        let shards =
            self.pending.copies.iter().map(|slot| slot.lock().take().expect("every shard was copied")).collect();
        Snapshot { shards, databases: store.databases, _memory: Some(self.pending.memory.clone()) }
    }
}

impl Drop for SnapshotCut {
    fn drop(&mut self) {
        // (Dropped unfinished, a shard still marked copies itself into this abandoned
        // snapshot when next locked: wasted, harmless.)
        *self.gate.busy.lock() = false;
        self.gate.done.notify_one();
    }
}

impl Store {
    /// Copies shard `i` (locked by the caller) into the snapshot it owes one to.
    #[cold]
    #[inline(never)]
    pub(super) fn pay_copy(&self, i: usize, shard: &mut Shard) {
        if let Some(pending) = shard.owed_copy.take() {
            let copy = copy_shard(shard);
            pending.memory.add(copy_bytes(&copy));
            *pending.copies[i].lock() = Some(copy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Clock;

    #[test]
    fn the_copies_count_as_snapshot_memory_while_they_live() {
        let store = Store::new(1, 4, Clock::manual(1_000));
        for i in 0..1000 {
            let key = format!("k{i}");
            store.lock_key(key.as_bytes()).insert(0, key.as_bytes(), Value::from_set(b"v"), 0);
        }
        assert_eq!(store.snapshot_bytes(), 0);
        let snap = store.snapshot();
        let expected = 1000 * std::mem::size_of::<SnapshotEntry>() as u64;
        assert!(store.snapshot_bytes() >= expected, "{} < {expected}", store.snapshot_bytes());
        drop(snap);
        assert_eq!(store.snapshot_bytes(), 0);
        // A cut dropped before its copy is finished lets go of what was copied.
        let cut = store.cut(|| {});
        drop(store.lock_key(b"k1"));
        assert!(store.snapshot_bytes() > 0);
        drop(cut);
        for i in 0..store.shard_count() {
            drop(store.shard(i));
        }
        assert_eq!(store.snapshot_bytes(), 0);
    }

    #[test]
    fn collections_are_shared_with_the_snapshot_until_written() {
        use crate::store::types::{Collection, Hash, List};
        let store = Store::new(1, 4, Clock::manual(1_000));
        let (mut list, mut hash) = (List::new(), Hash::new());
        for i in 0..10_000 {
            list.push_back(format!("e{i}").as_bytes());
            hash.insert(format!("f{i}").as_bytes(), b"v");
        }
        store.lock_key(b"l").insert(0, b"l", list.into_value(), 0);
        store.lock_key(b"h").insert(0, b"h", hash.into_value(), 0);
        let snap = store.snapshot();
        let at_cut = |key: &[u8]| snap.db(0).find(|e| &e.key[..] == key).unwrap().value.clone();
        let (Value::List(cut_list), cut_hash) = (at_cut(b"l"), at_cut(b"h")) else { panic!("not a list") };
        {
            let mut ks = store.lock_key(b"l");
            let live = &mut ks.get(0, b"l").unwrap().value;
            // The snapshot took a reference, not a copy.
            assert!(matches!(live, Value::List(l) if Arc::ptr_eq(l, &cut_list)));
            // A write copies the live list; the snapshot keeps the list as of the cut.
            List::of_mut(live).unwrap().push_back(b"after");
            assert!(matches!(live, Value::List(l) if !Arc::ptr_eq(l, &cut_list) && l.len() == 10_001));
        }
        assert_eq!(cut_list.len(), 10_000);
        {
            let mut ks = store.lock_key(b"h");
            let live = &mut ks.get(0, b"h").unwrap().value;
            Hash::of_mut(live).unwrap().insert(b"f0", b"changed");
            assert_eq!(Hash::of(live).unwrap().get(b"f0").as_deref(), Some(&b"changed"[..]));
        }
        assert_eq!(Hash::of(&cut_hash).unwrap().get(b"f0").as_deref(), Some(&b"v"[..]));
        assert_eq!(Hash::of(&cut_hash).unwrap().len(), 10_000);
    }

    #[test]
    fn copies_every_database_with_ttls() {
        let store = Store::new(4, 8, Clock::manual(1_000));
        for i in 0..100 {
            let key = format!("k{i}");
            store.lock_key(key.as_bytes()).insert(i % 3, key.as_bytes(), Value::from_set(b"v"), (i as u64) * 7);
        }
        let snap = store.snapshot();
        assert_eq!(snap.databases(), 4);
        assert_eq!(snap.len(), 100);
        assert_eq!(snap.db_len(3), 0);
        for db in 0..snap.databases() {
            for e in snap.db(db) {
                let i: usize = std::str::from_utf8(&e.key[1..]).unwrap().parse().unwrap();
                assert_eq!(i % 3, db);
                assert_eq!(e.expire_at, i as u64 * 7);
                assert_eq!(e.value, Value::from_set(b"v"));
            }
        }
    }

    /// A RENAME-like command moving keys between shards while snapshots are taken: every
    /// snapshot holds each key exactly once, under one name or the other.
    ///
    /// (Copying shard by shard without the cut fails this about half the time.)
    #[test]
    fn cross_shard_moves_are_never_half_seen() {
        let store = Store::new(1, 16, Clock::manual(1_000));
        let names: Vec<String> = (0..64).map(|i| format!("key-{i}")).collect();
        for n in &names {
            let key = format!("{n}-a");
            store.lock_key(key.as_bytes()).insert(0, key.as_bytes(), Value::Int(1), 0);
        }
        let stop = std::sync::atomic::AtomicBool::new(false);
        let passes = std::sync::atomic::AtomicUsize::new(0);
        let sizes = std::thread::scope(|s| {
            let (stop, passes) = (&stop, &passes);
            let store = &store;
            let names = &names;
            s.spawn(move || {
                let mut flip = false;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for n in names {
                        let (from, to) = if flip { ("b", "a") } else { ("a", "b") };
                        let (from, to) = (format!("{n}-{from}"), format!("{n}-{to}"));
                        let mut ks = store.lock_keys([from.as_bytes(), to.as_bytes()]);
                        if let Some(e) = ks.remove(0, from.as_bytes()) {
                            ks.insert(0, to.as_bytes(), e.value, 0);
                        }
                    }
                    flip = !flip;
                    passes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
            // Snapshot until the mover has made many passes, so the two surely overlap; assert
            // only after it has stopped, as a panic here would leave it spinning.
            let mut sizes = Vec::new();
            while passes.load(std::sync::atomic::Ordering::Relaxed) < 200 {
                sizes.push(store.snapshot().len());
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            sizes
        });
        let bad: Vec<usize> = sizes.iter().copied().filter(|&n| n != names.len()).collect();
        assert!(bad.is_empty(), "{} of {} snapshots lost or doubled a key mid-move", bad.len(), sizes.len());
    }

    /// Writes numbered 0, 1, 2, … go to 64 keys in turn while snapshots are taken; `at_cut`
    /// reads how many had been made. The snapshot must hold exactly the state after that many
    /// writes: nothing later, nothing missing.
    #[test]
    fn the_copy_is_exactly_the_keyspace_at_the_cut() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        const KEYS: u64 = 64;
        let store = Store::new(1, 16, Clock::manual(1_000));
        let (stop, writes) = (AtomicBool::new(false), AtomicU64::new(0));
        let cuts = std::thread::scope(|s| {
            s.spawn(|| {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("k{}", n % KEYS);
                    let mut ks = store.lock_key(key.as_bytes());
                    ks.insert(0, key.as_bytes(), Value::Int(n as i64), 0);
                    // Counted while the shard is held, so a cut sees a write wholly or not at all.
                    writes.store(n + 1, Ordering::Relaxed);
                    n += 1;
                }
            });
            let mut cuts = Vec::new();
            while cuts.len() < 200 {
                // Back-to-back cuts would starve the writer (locks are not fair): let it run.
                let target = writes.load(Ordering::Relaxed) + 37;
                while writes.load(Ordering::Relaxed) < target {
                    std::thread::yield_now();
                }
                let mut at = 0;
                let snap = store.cut(|| at = writes.load(Ordering::Relaxed)).finish(&store);
                cuts.push((at, snap));
            }
            stop.store(true, Ordering::Relaxed);
            cuts
        });
        let mut wrong = 0;
        for &(at, ref snap) in &cuts {
            let mut expected: Vec<(String, i64)> = (0..at.min(KEYS))
                .map(|j| {
                    let last = (at - 1 - j) / KEYS * KEYS + j; // the last write to key j below `at`
                    (format!("k{j}"), last as i64)
                })
                .collect();
            let mut got: Vec<(String, i64)> = snap
                .db(0)
                .map(|e| match e.value {
                    Value::Int(n) => (String::from_utf8(e.key.to_vec()).unwrap(), n),
                    _ => panic!("not an int"),
                })
                .collect();
            expected.sort();
            got.sort();
            wrong += usize::from(got != expected);
        }
        assert_eq!(wrong, 0, "{wrong} of {} snapshots were not the keyspace at their cut", cuts.len());
        let last = cuts.iter().map(|c| c.0).max();
        assert!(last > Some(KEYS), "the writer never got going: {last:?} {}", cuts.len());
    }
}
