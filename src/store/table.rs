//! One database's keys within one shard.

use super::bytes24::Str;
use super::dense::{DenseMap, DenseSet};
use super::value::Entry;

/// Keys of one database that hash to one shard.
///
/// [`DenseMap`] gives O(1) access to the i-th entry, which is what Redis-style sampling
/// (eviction, active expiry, RANDOMKEY) needs, and a dense order SCAN can walk with a cursor.
/// Keys with a TTL are also kept in `expires` so the expiry cycle samples only them.
#[derive(Debug, Default)]
pub struct Table {
    pub(super) map: DenseMap<Entry>,
    pub(super) expires: DenseSet,
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

    /// Expiry times of up to `n` keys that have a TTL (INFO's avg_ttl estimate).
    pub fn volatile_sample(&self, n: usize) -> impl Iterator<Item = u64> + '_ {
        self.expires.iter().take(n).filter_map(|k| self.map.get(k).map(|e| e.expire_at))
    }

    pub(super) fn insert(&mut self, key: Str, entry: Entry) -> Option<Entry> {
        if entry.expire_at != 0 {
            self.expires.insert(key.clone());
        }
        let new_has_ttl = entry.expire_at != 0;
        let old = self.map.insert(key.clone(), entry);
        if let Some(old) = &old {
            if old.expire_at != 0 && !new_has_ttl {
                self.expires.swap_remove(&key);
            }
        }
        old
    }

    pub(super) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (_, old) = self.map.swap_remove(key)?;
        if old.expire_at != 0 {
            self.expires.swap_remove(key);
        }
        Some(old)
    }

    pub(super) fn set_expire(&mut self, key: &[u8], at: u64) -> bool {
        let Some((_, k, e)) = self.map.get_full_mut(key) else { return false };
        if e.expire_at == 0 && at != 0 {
            self.expires.insert(k.clone());
        } else if e.expire_at != 0 && at == 0 {
            self.expires.swap_remove(key);
        }
        e.expire_at = at;
        true
    }

    pub(super) fn clear(&mut self) {
        self.map = DenseMap::default();
        self.expires = DenseSet::default();
    }
}
