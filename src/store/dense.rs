//! `DenseMap`: an insertion-dense hash map keyed by [`Str`], built for per-key memory.
//!
//! Entries live in one `Vec` (so the i-th entry is O(1): what sampled eviction, active expiry,
//! RANDOMKEY and SCAN need), and a `hashbrown::HashTable<u32>` maps hashes to positions.
//! Compared with `IndexMap` this stores no hash per entry, uses 4-byte positions instead of
//! 8-byte ones, and never grows the entry vector ahead of the index table's capacity; for a
//! million 16-byte keys that is ~60 bytes per key less.
//!
//! Removal is `swap_remove`: the last entry moves into the hole, which SCAN's descending
//! cursor relies on (see keyspace SCAN).

use super::bytes24::Str;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// One process-wide, randomly seeded hasher: a per-table hasher would cost bytes in each of
/// the (shards × databases) tables and buy nothing. foldhash (hashbrown's own default) takes
/// about half the instructions of ahash's portable fallback on a 16-byte key.
#[inline]
fn hasher() -> &'static foldhash::fast::RandomState {
    static HASHER: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    HASHER.get_or_init(foldhash::fast::RandomState::default)
}

/// The hash every table and the shard choice use: a key is hashed once per command step.
#[inline]
pub fn hash(key: &[u8]) -> u64 {
    hasher().hash_one(key)
}

pub struct DenseMap<V> {
    entries: Vec<(Str, V)>,
    index: HashTable<u32>,
}

impl<V> Default for DenseMap<V> {
    fn default() -> Self {
        DenseMap { entries: Vec::new(), index: HashTable::new() }
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for DenseMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.entries.iter().map(|(k, v)| (k, v))).finish()
    }
}

impl<V> DenseMap<V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.get_index_of_hashed(hash(key), key)
    }

    /// [`get_index_of`](Self::get_index_of) with the key's [`hash`] already computed.
    pub fn get_index_of_hashed(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index.find(hash, |&i| *entries[i as usize].0 == *key).map(|&i| i as usize)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get_index_of(key).is_some()
    }

    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.get_index_of(key).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.get_index_of(key).map(|i| &mut self.entries[i].1)
    }

    /// Position, key and value of `key`.
    pub fn get_full_mut(&mut self, key: &[u8]) -> Option<(usize, &Str, &mut V)> {
        let i = self.get_index_of(key)?;
        let (k, v) = &mut self.entries[i];
        Some((i, &*k, v))
    }

    pub fn get_index(&self, i: usize) -> Option<(&Str, &V)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Str, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: Str, value: V) -> Option<V> {
        self.insert_hashed(hash(&key), key, value)
    }

    /// [`insert`](Self::insert) with the key's [`hash`] already computed.
    pub fn insert_hashed(&mut self, hash_of_key: u64, key: Str, value: V) -> Option<V> {
        if let Some(i) = self.get_index_of_hashed(hash_of_key, &key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        let pos = u32::try_from(self.entries.len()).expect("a table holds fewer than 2^32 keys");
        let entries = &self.entries;
        self.index.insert_unique(hash_of_key, pos, |&i| hash(&entries[i as usize].0));
        self.entries.push((key, value));
        None
    }

    pub fn swap_remove(&mut self, key: &[u8]) -> Option<(Str, V)> {
        let i = self.get_index_of(key)?;
        self.swap_remove_index(i)
    }

    /// Removes the i-th entry; the last entry takes its place.
    pub fn swap_remove_index(&mut self, i: usize) -> Option<(Str, V)> {
        if i >= self.entries.len() {
            return None;
        }
        let last = self.entries.len() - 1;
        let h = hash(&self.entries[i].0);
        match self.index.find_entry(h, |&p| p as usize == i) {
            Ok(slot) => {
                slot.remove();
            }
            Err(_) => unreachable!("every entry has an index slot"),
        }
        if i != last {
            // Point the moved entry's slot at its new position.
            let h = hash(&self.entries[last].0);
            let slot = self.index.find_mut(h, |&p| p as usize == last).expect("every entry has an index slot");
            *slot = i as u32;
        }
        let removed = self.entries.swap_remove(i);
        if self.entries.capacity() > 64 && self.entries.len() < self.entries.capacity() / 4 {
            // Give memory back after mass deletion, as Redis shrinks its dicts.
            self.entries.shrink_to(self.entries.len() * 2);
            let entries = &self.entries;
            self.index.shrink_to(entries.len(), |&p| hash(&entries[p as usize].0));
        }
        Some(removed)
    }
}

impl<V> std::ops::Index<usize> for DenseMap<V> {
    type Output = V;
    fn index(&self, i: usize) -> &V {
        &self.entries[i].1
    }
}

impl<V> std::ops::IndexMut<usize> for DenseMap<V> {
    fn index_mut(&mut self, i: usize) -> &mut V {
        &mut self.entries[i].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn key(i: u32) -> Str {
        Str::new(format!("key:{i:012}").as_bytes())
    }

    /// Random inserts, overwrites and removals agree with a std HashMap, and every position
    /// stays reachable through the index.
    #[test]
    fn behaves_like_a_hash_map() {
        let mut dense = DenseMap::default();
        let mut model = HashMap::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for step in 0..50_000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let k = (seed % 3000) as u32;
            match seed % 5 {
                0..=2 => assert_eq!(dense.insert(key(k), step), model.insert(k, step)),
                3 => assert_eq!(dense.swap_remove(&key(k)).map(|(_, v)| v), model.remove(&k)),
                _ => {
                    if !dense.is_empty() {
                        let i = (seed as usize / 7) % dense.len();
                        let (k, v) = dense.swap_remove_index(i).unwrap();
                        let n: u32 = std::str::from_utf8(&k[4..]).unwrap().parse().unwrap();
                        assert_eq!(model.remove(&n), Some(v));
                    }
                }
            }
            assert_eq!(dense.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(dense.get(&key(*k)), Some(v));
        }
        for i in 0..dense.len() {
            let (k, _) = dense.get_index(i).unwrap();
            assert_eq!(dense.get_index_of(k), Some(i));
        }
    }

    #[test]
    fn shrinks_after_mass_deletion() {
        let mut dense = DenseMap::default();
        for i in 0..10_000 {
            dense.insert(key(i), i);
        }
        for i in 0..9_990 {
            dense.swap_remove(&key(i));
        }
        assert_eq!(dense.len(), 10);
        assert!(dense.entries.capacity() < 1000, "capacity {}", dense.entries.capacity());
        for i in 9_990..10_000 {
            assert_eq!(dense.get(&key(i)), Some(&i));
        }
    }
}
