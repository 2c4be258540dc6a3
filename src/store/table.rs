//! One database's keys within one shard.

use super::bytes24::Str;
use super::dense::DenseMap;
use super::value::Entry;
use hashbrown::{HashMap, HashSet};

/// Keys of one database that hash to one shard.
///
/// [`DenseMap`] gives O(1) access to the i-th entry, which is what Redis-style sampling
/// (eviction, active expiry, RANDOMKEY) needs, and a dense order SCAN can walk with a cursor.
/// Keys with a TTL also have their absolute expiry (Unix ms) in `expires`, which the expiry
/// cycle and the volatile eviction policies sample directly.
#[derive(Debug, Default)]
pub struct Table {
    pub(super) map: DenseMap<Entry>,
    pub(super) expires: DenseMap<u64>,
    /// Keys by hash slot, kept only in cluster mode (db 0).
    slots: Option<Box<SlotKeys>>,
    /// This table's part of the store's logical size ([`super::entry_size`] summed), so a
    /// flush can settle the account without walking the keys under the lock.
    pub(super) logical: i64,
}

/// Keys by cluster hash slot, so COUNTKEYSINSLOT and GETKEYSINSLOT read a slot's keys
/// without scanning the keyspace (Redis keeps a per-slot list for the same reason). Costs a
/// second set entry per key, and only when cluster mode turns it on.
#[derive(Debug)]
pub struct SlotKeys {
    slot_of: fn(&[u8]) -> u16,
    by_slot: HashMap<u16, HashSet<Str>>,
}

impl SlotKeys {
    fn add(&mut self, key: &Str) {
        self.by_slot.entry((self.slot_of)(key)).or_default().insert(key.clone());
    }

    fn remove(&mut self, key: &[u8]) {
        let slot = (self.slot_of)(key);
        if let Some(keys) = self.by_slot.get_mut(&slot) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_slot.remove(&slot);
            }
        }
    }
}

impl Table {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes of structure per key kind, as MEMORY STATS' `overhead.hashtable.main`,
    /// `.expires` and `.slot-to-keys`: the tables themselves, not the keys and values.
    pub fn overhead(&self) -> (usize, usize, usize) {
        // The per-slot sets are estimated from the key count (a key handle and a control
        // byte per key, at hashbrown's 7/8 load) rather than walked: INFO reads this too.
        let per_key = (std::mem::size_of::<Str>() + 1) * 8 / 7;
        let slots = self.slots.as_ref().map_or(0, |s| s.by_slot.allocation_size() + self.map.len() * per_key);
        (self.map.allocated_bytes(), self.expires.allocated_bytes(), slots)
    }

    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    pub fn get_index(&self, i: usize) -> Option<(&Str, &Entry)> {
        self.map.get_index(i)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Str, &Entry)> {
        self.map.iter()
    }

    /// Absolute expiry of `key` in Unix ms, 0 if it has none (or does not exist).
    pub fn expire_at(&self, key: &[u8]) -> u64 {
        self.expire_at_hashed(super::dense::hash(key), key)
    }

    /// [`expire_at`](Self::expire_at) with the key's hash already computed.
    pub(super) fn expire_at_hashed(&self, hash: u64, key: &[u8]) -> u64 {
        // Most tables have no TTLs at all: skip the second lookup then, as Redis does.
        if self.expires.is_empty() {
            return 0;
        }
        self.expires.get_index_of_hashed(hash, key).map_or(0, |i| self.expires[i])
    }

    /// Has `key`'s TTL passed at `now_ms`?
    pub fn is_expired(&self, key: &[u8], now_ms: u64) -> bool {
        let at = self.expire_at(key);
        at != 0 && at <= now_ms
    }

    /// Expiry times of up to `n` keys that have a TTL (INFO's avg_ttl estimate).
    pub fn volatile_sample(&self, n: usize) -> impl Iterator<Item = u64> + '_ {
        self.expires.iter().take(n).map(|(_, at)| *at)
    }

    /// Stores `entry` with expiry `expire_at` (0: none), replacing any previous value and TTL.
    /// `hash` is the key's [`hash`](super::dense::hash).
    pub(super) fn insert(&mut self, hash: u64, key: Str, entry: Entry, expire_at: u64) -> Option<Entry> {
        if expire_at != 0 {
            self.expires.insert_hashed(hash, key.clone(), expire_at);
        } else if !self.expires.is_empty() {
            self.expires.swap_remove(&key);
        }
        match &mut self.slots {
            Some(slots) => {
                let old = self.map.insert_hashed(hash, key.clone(), entry);
                if old.is_none() {
                    slots.add(&key);
                }
                old
            }
            None => self.map.insert_hashed(hash, key, entry),
        }
    }

    /// Removes `key`; returns its entry and expiry (0: none).
    pub(super) fn remove(&mut self, key: &[u8]) -> Option<(Entry, u64)> {
        let (_, old) = self.map.swap_remove(key)?;
        let at = if self.expires.is_empty() { 0 } else { self.expires.swap_remove(key).map_or(0, |(_, at)| at) };
        if let Some(slots) = &mut self.slots {
            slots.remove(key);
        }
        Some((old, at))
    }

    /// Sets (`at` > 0) or clears (0) the expiry of an existing key; false if it is missing.
    pub(super) fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        let Some((_, k, _)) = self.map.get_full_mut(key) else { return false };
        if at != 0 {
            let k = k.clone();
            self.expires.insert(k, at);
        } else if !self.expires.is_empty() {
            self.expires.swap_remove(key);
        }
        true
    }

    /// Empties the table in O(1) and returns what it held, to be dropped (freed) after the
    /// shard's lock is released: freeing a million keys takes longer than anyone should wait
    /// for a lock. The slot index, if kept, stays on (and empty).
    pub(super) fn take_contents(&mut self) -> Table {
        let slots = self.slots.as_ref().map(|s| Box::new(SlotKeys { slot_of: s.slot_of, by_slot: HashMap::new() }));
        std::mem::replace(self, Table { slots, ..Table::default() })
    }

    /// The key → slot function, when keys are kept by slot.
    pub(super) fn slot_fn(&self) -> Option<fn(&[u8]) -> u16> {
        self.slots.as_ref().map(|s| s.slot_of)
    }

    /// Starts keeping keys by slot (`slot_of` maps a key to its slot), indexing those present.
    pub(super) fn index_slots(&mut self, slot_of: fn(&[u8]) -> u16) {
        let mut slots = SlotKeys { slot_of, by_slot: HashMap::new() };
        for (key, _) in self.map.iter() {
            slots.add(key);
        }
        self.slots = Some(Box::new(slots));
    }

    /// Keys of `slot` in this table (empty if slots are not indexed).
    pub fn keys_in_slot(&self, slot: u16) -> impl Iterator<Item = &Str> {
        self.slots.as_ref().and_then(|s| s.by_slot.get(&slot)).into_iter().flatten()
    }

    pub fn count_in_slot(&self, slot: u16) -> usize {
        self.slots.as_ref().and_then(|s| s.by_slot.get(&slot)).map_or(0, |k| k.len())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Clock, Store, Value};

    /// A stand-in slot function: the key's first byte.
    fn first_byte(key: &[u8]) -> u16 {
        key.first().copied().unwrap_or(0) as u16
    }

    fn keys(store: &Store, slot: u16) -> Vec<String> {
        let ks = store.lock_all();
        let mut k: Vec<String> =
            ks.keys_in_slot(slot, usize::MAX).iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect();
        k.sort();
        k
    }

    #[test]
    fn slot_index_follows_inserts_removals_expiry_and_flush() {
        let store = Store::new(16, 8, Clock::manual(1_000));
        store.lock_key(b"apre").insert(0, b"apre", Value::Int(1), 0);
        store.index_slots(first_byte);
        for k in ["a1", "a2", "b1", "a3"] {
            store.lock_key(k.as_bytes()).insert(0, k.as_bytes(), Value::Int(1), 0);
        }
        // Overwriting is not a second key; other databases are not indexed.
        store.lock_key(b"a1").insert(0, b"a1", Value::Int(2), 0);
        store.lock_key(b"a9").insert(3, b"a9", Value::Int(1), 0);
        assert_eq!(keys(&store, b'a' as u16), ["a1", "a2", "a3", "apre"]);
        assert_eq!(store.lock_all().count_keys_in_slot(b'b' as u16), 1);
        assert_eq!(store.lock_all().keys_in_slot(b'a' as u16, 2).len(), 2);

        store.lock_key(b"a2").remove(0, b"a2");
        store.lock_key(b"a3").insert(0, b"a3", Value::Int(1), 1_500);
        store.clock.advance(1_000);
        // A lazy expiry removes the key from its slot too.
        assert!(store.lock_key(b"a3").get(0, b"a3").is_none());
        assert_eq!(keys(&store, b'a' as u16), ["a1", "apre"]);

        store.lock_all().flush_db(0, false);
        assert_eq!(store.lock_all().count_keys_in_slot(b'a' as u16), 0);
        store.lock_key(b"b2").insert(0, b"b2", Value::Int(1), 0);
        assert_eq!(keys(&store, b'b' as u16), ["b2"]);
    }
}
