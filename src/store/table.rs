//! One database's keys within one shard.

use super::bytes24::Str;
use super::dense::DenseMap;
use super::value::Entry;

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
}

impl Table {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
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
        self.map.insert_hashed(hash, key, entry)
    }

    /// Removes `key`; returns its entry and expiry (0: none).
    pub(super) fn remove(&mut self, key: &[u8]) -> Option<(Entry, u64)> {
        let (_, old) = self.map.swap_remove(key)?;
        let at = if self.expires.is_empty() { 0 } else { self.expires.swap_remove(key).map_or(0, |(_, at)| at) };
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

    pub(super) fn clear(&mut self) {
        self.map = DenseMap::default();
        self.expires = DenseMap::default();
    }
}
