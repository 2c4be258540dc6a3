//! A consistent copy of the keyspace for RDB saves, taken without stopping the server.
//!
//! Redis forks and lets the child write the parent's frozen memory. Ferrocache copies instead:
//! it locks one shard at a time, clones its keys (inline strings are copied, longer ones share
//! their `Arc`), and lets go. Single-key commands keep running on every other shard meanwhile.
//!
//! Shard by shard alone would not be a consistent snapshot: a RENAME from a shard not yet
//! copied to one already copied would leave the key out of both. So commands that lock more
//! than one shard (RENAME, MSET over several shards, EXEC, FLUSHALL, …) hold the *cross-shard
//! gate* for reading, and the copy holds it for writing: such a command runs either wholly
//! before the copy or wholly after it, and every command touching one shard is, for the
//! snapshot, before or after that shard's copy. The copy is an in-memory clone (a few tens of
//! milliseconds for a million keys); writing the file happens after the gate is released.

use super::bytes24::Str;
use super::value::Value;
use super::Store;

/// One key as it was when its shard was copied.
#[derive(Debug, Clone)]
pub struct SnapshotEntry {
    pub key: Str,
    pub value: Value,
    /// Absolute expiry in Unix ms, 0 for none.
    pub expire_at: u64,
    /// The key's LRU clock or LFU data (`Entry::access`).
    pub access: u32,
}

/// Every database's keys, indexed by database number.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub dbs: Vec<Vec<SnapshotEntry>>,
}

impl Snapshot {
    pub fn len(&self) -> usize {
        self.dbs.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Store {
    /// Copies the keyspace (see the module docs for why this is consistent).
    pub fn snapshot(&self) -> Snapshot {
        let _gate = self.cross_shard_gate.write();
        let mut dbs: Vec<Vec<SnapshotEntry>> = (0..self.databases).map(|_| Vec::new()).collect();
        for i in 0..self.shard_count() {
            let shard = self.shard(i);
            for (db, out) in dbs.iter_mut().enumerate() {
                let table = shard.table(db);
                out.reserve(table.len());
                let with_ttl = table.expires_len() > 0;
                out.extend(table.iter().map(|(key, entry)| SnapshotEntry {
                    key: key.clone(),
                    value: entry.value.clone(),
                    expire_at: if with_ttl { table.expire_at(key) } else { 0 },
                    access: entry.access,
                }));
            }
        }
        Snapshot { dbs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Clock;

    #[test]
    fn copies_every_database_with_ttls() {
        let store = Store::new(4, 8, Clock::manual(1_000));
        for i in 0..100 {
            let key = format!("k{i}");
            store.lock_key(key.as_bytes()).insert(i % 3, key.as_bytes(), Value::from_set(b"v"), (i as u64) * 7);
        }
        let snap = store.snapshot();
        assert_eq!(snap.dbs.len(), 4);
        assert_eq!(snap.len(), 100);
        assert!(snap.dbs[3].is_empty());
        for (db, entries) in snap.dbs.iter().enumerate() {
            for e in entries {
                let i: usize = std::str::from_utf8(&e.key[1..]).unwrap().parse().unwrap();
                assert_eq!(i % 3, db);
                assert_eq!(e.expire_at, i as u64 * 7);
                assert_eq!(e.value, Value::from_set(b"v"));
            }
        }
    }

    /// A RENAME-like command moving keys between shards while snapshots are taken: every
    /// snapshot holds each key exactly once, under one name or the other.
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
}
