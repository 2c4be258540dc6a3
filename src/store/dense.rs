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
    /// Where `index` lives, kept current across its reallocations (see [`IndexAddr`]).
    addr: IndexAddr,
}

/// A copy in the same order with the same index, made without rehashing a key: what a write
/// to a collection still shared with a snapshot pays (see `Value`).
impl<V: Clone> Clone for DenseMap<V> {
    fn clone(&self) -> Self {
        // With the original's room: the copy is made for a write, which may insert next.
        let mut entries = Vec::with_capacity(self.entries.capacity());
        entries.extend(self.entries.iter().cloned());
        let mut copy = DenseMap { entries, index: self.index.clone(), addr: IndexAddr::default() };
        copy.refresh_addr();
        copy
    }
}

impl<V> Default for DenseMap<V> {
    fn default() -> Self {
        DenseMap { entries: Vec::new(), index: HashTable::new(), addr: IndexAddr::default() }
    }
}

/// Where a table's index lives: enough to prefetch the cache lines a lookup of a given hash
/// will read (its control group and the position slots beside it) before the shard is even
/// locked, so that pipelined requests' memory misses overlap instead of queueing up.
///
/// It follows hashbrown's layout (control bytes start where the buckets end, bucket `i` at
/// `ctrl - (i + 1)`), found out from a full bucket's address. It is only ever used for
/// prefetch hints, which cannot fault: if the layout changed or the table moved since, a
/// prefetch is wasted, nothing else.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct IndexAddr {
    pub ctrl: usize,
    pub mask: usize,
}

impl IndexAddr {
    /// Prefetches what looking up `hash` reads first: the 16 control bytes at the probe start
    /// and the 64 bytes of position slots they describe.
    #[inline]
    pub fn prefetch(self, hash: u64) {
        if self.ctrl == 0 {
            return;
        }
        let pos = hash as usize & self.mask;
        let slots = self.ctrl.wrapping_sub(4 * (pos + 16));
        prefetch(self.ctrl.wrapping_add(pos));
        prefetch(slots);
        prefetch(slots.wrapping_add(60));
    }
}

#[inline(always)]
pub(super) fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
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

    /// Bytes the map's own structure holds: the entry vector (keys' and values' inline
    /// headers included, their heap parts not) and the index (MEMORY STATS' hash table
    /// overhead).
    pub fn allocated_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(Str, V)>() + self.index.allocation_size()
    }

    /// Where the index lives now (see [`IndexAddr`]).
    pub fn index_addr(&self) -> IndexAddr {
        self.addr
    }

    /// Re-reads the index's address if it may have moved (its bucket count changed).
    fn refresh_addr(&mut self) {
        let mask = self.index.num_buckets().saturating_sub(1);
        if mask == self.addr.mask && self.addr.ctrl != 0 {
            return;
        }
        let full = self.index.iter_buckets().next();
        let ctrl = full.and_then(|i| self.index.get_bucket(i).map(|slot| slot as *const u32 as usize + 4 * (i + 1)));
        self.addr = IndexAddr { ctrl: ctrl.unwrap_or(0), mask };
    }

    /// Prefetches the entry a lookup of `hash` will most likely compare: the first position
    /// whose tag matches (reading the index, which should be cached by now; see
    /// [`IndexAddr::prefetch`]), without touching any entry.
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) {
        if let Some(entry) = self.likely_entry(hash) {
            let at = entry as *const (Str, V) as usize;
            prefetch(at);
            prefetch(at + std::mem::size_of::<(Str, V)>() - 1);
        }
    }

    /// The entry a lookup of `hash` will most likely find (the first whose tag matches), for
    /// prefetching what it points to once [`prefetch_entry`](Self::prefetch_entry) brought it in.
    #[inline]
    pub fn likely_entry(&self, hash: u64) -> Option<&(Str, V)> {
        self.index.find(hash, |_| true).and_then(|&pos| self.entries.get(pos as usize))
    }

    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.get_index_of_hashed(hash(key), key)
    }

    /// [`get_index_of`](Self::get_index_of) with the key's [`hash`] already computed.
    pub fn get_index_of_hashed(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        // The control group and the position slots sit apart; fetch both at once so their
        // misses overlap instead of the slot's waiting for the control bytes' match.
        self.addr.prefetch(hash);
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
        self.refresh_addr();
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
            self.refresh_addr();
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

    /// A clone has the same entries in the same order, finds every key through its own
    /// index, and changes apart from the original.
    #[test]
    fn a_clone_is_equal_and_independent() {
        let mut original = DenseMap::default();
        for i in 0..5000 {
            original.insert(key(i), i);
        }
        for i in (0..5000).step_by(3) {
            original.swap_remove(&key(i));
        }
        let mut copy = original.clone();
        assert!(copy.iter().eq(original.iter()));
        for (k, v) in original.iter() {
            assert_eq!(copy.get(k), Some(v));
        }
        assert_eq!(copy.index_addr().mask + 1, copy.index.num_buckets());
        copy.insert(key(0), 7);
        copy.swap_remove(&key(1));
        assert_eq!((original.get(&key(0)), original.get(&key(1))), (None, Some(&1)));
        assert_eq!((copy.get(&key(0)), copy.get(&key(1))), (Some(&7), None));
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

    /// The derived address puts every key's position slot where hashbrown keeps it, through
    /// growth and shrinking: otherwise the prefetches would fetch the wrong lines.
    #[test]
    fn index_addr_follows_the_table_layout() {
        let mut dense = DenseMap::default();
        let check = |dense: &DenseMap<u32>, n: u32| {
            let addr = dense.index_addr();
            assert_eq!(addr.mask + 1, dense.index.num_buckets());
            for i in 0..n {
                let k = key(i);
                let h = hash(&k);
                let Some(b) = dense.index.find_bucket_index(h, |&p| *dense.entries[p as usize].0 == *k) else {
                    continue;
                };
                let slot = dense.index.get_bucket(b).unwrap() as *const u32 as usize;
                assert_eq!(slot, addr.ctrl - 4 * (b + 1), "key {i}");
            }
        };
        for i in 0..5000 {
            dense.insert(key(i), i);
            if i % 997 == 0 {
                check(&dense, i + 1);
            }
        }
        check(&dense, 5000);
        for i in 0..4900 {
            dense.swap_remove(&key(i));
        }
        check(&dense, 5000);
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
