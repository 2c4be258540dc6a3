//! Hashes: field → value maps.
//!
//! Two representations, as Redis 7.0 has: a small hash is a [`PackedHash`], pairs kept in
//! insertion order in one prefix-compressed buffer (Redis's "listpack": HGETALL and friends
//! reply in that order, deletions keep it), and past `hash-max-listpack-entries` fields or a
//! field or value longer than `hash-max-listpack-value` bytes it becomes a [`DenseMap`]
//! ("hashtable"), and never goes back, as in Redis.
//!
//! The hashtable's entries are dense (`swap_remove` on delete), which gives O(1) fair random
//! picks (HRANDFIELD) and a SCAN cursor that survives growth: see [`Hash::scan`].
//!
//! A packed hash's elements are not contiguous (they share prefixes), so reads return
//! `Cow`s: borrowed from a hashtable, or from a packed element that shares nothing, and
//! copies otherwise. [`Hash::for_each`] walks without copying.

use super::element_cost;
use super::packed::{PackedHash, PackedHashIter, Pair};
use crate::store::dense::DenseMap;
use crate::store::Str;
use std::borrow::Cow;

/// When a small hash becomes a hashtable (`hash-max-listpack-entries` / `-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Default for HashLimits {
    /// Redis 7.0's defaults as Ferrocache's config declares them.
    fn default() -> Self {
        HashLimits { max_entries: 512, max_value: 64 }
    }
}

#[derive(Debug)]
enum Repr {
    /// "listpack": pairs in insertion order, searched linearly (at most `max_entries`).
    Small(PackedHash),
    /// "hashtable", boxed so that a small hash costs its buffer and 16 bytes.
    Big(Box<Big>),
}

#[derive(Debug, Default)]
struct Big {
    map: DenseMap<Str>,
    /// Heap bytes of the fields and values (see `types/mod.rs`).
    bytes: usize,
}

/// A hash.
#[derive(Debug)]
pub struct Hash {
    repr: Repr,
}

impl Default for Hash {
    fn default() -> Self {
        Hash { repr: Repr::Small(PackedHash::default()) }
    }
}

impl Clone for Hash {
    /// A copy with the same encoding and order (COPY keeps the encoding, as Redis's `hashTypeDup`).
    fn clone(&self) -> Self {
        let repr = match &self.repr {
            Repr::Small(p) => Repr::Small(p.clone()),
            Repr::Big(b) => {
                let mut map = DenseMap::default();
                for (f, v) in b.map.iter() {
                    map.insert(f.clone(), v.clone());
                }
                Repr::Big(Box::new(Big { map, bytes: b.bytes }))
            }
        };
        Hash { repr }
    }
}

impl PartialEq for Hash {
    /// The same fields with the same values, whatever the encoding or order.
    fn eq(&self, other: &Self) -> bool {
        let mut same = self.len() == other.len();
        if same {
            self.for_each(|f, v| same = same && other.get(f).as_deref() == Some(v));
        }
        same
    }
}

/// The pairs of a hash, in its order (see [`Hash::iter`]).
pub enum Iter<'a> {
    Small(PackedHashIter<'a>),
    Big(Box<dyn Iterator<Item = (&'a Str, &'a Str)> + 'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Pair<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(it) => it.next(),
            Iter::Big(it) => it.next().map(|(f, v)| (Cow::Borrowed(&f[..]), Cow::Borrowed(&v[..]))),
        }
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.len(),
            Repr::Big(b) => b.map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Small(p) => p.is_empty(),
            Repr::Big(b) => b.map.is_empty(),
        }
    }

    /// Whether the hash is in its small, ordered form ("listpack").
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Small(_))
    }

    pub fn get(&self, field: &[u8]) -> Option<Cow<'_, [u8]>> {
        match &self.repr {
            Repr::Small(p) => p.get(field),
            Repr::Big(b) => b.map.get(field).map(|v| Cow::Borrowed(&v[..])),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match &self.repr {
            Repr::Small(p) => p.contains(field),
            Repr::Big(b) => b.map.contains_key(field),
        }
    }

    /// Sets `field` to `value` with the default limits; true if the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.insert_limited(field, value, &HashLimits::default())
    }

    /// Sets `field` to `value`; true if the field is new. Converts to a hashtable when either
    /// is longer than `max_value` or the hash then holds more than `max_entries` fields
    /// (Redis's `hashTypeSet`); [`check_lengths`](Self::check_lengths) checks a whole
    /// command's arguments first, as HSET does.
    pub fn insert_limited(&mut self, field: &[u8], value: &[u8], limits: &HashLimits) -> bool {
        // Redis 7.0.15's `hashTypeSet` converts on a long field or value whatever the command
        // (HINCRBYFLOAT's result included).
        if field.len() > limits.max_value || value.len() > limits.max_value {
            self.convert();
        }
        let new = match &mut self.repr {
            Repr::Small(p) => p.insert(field, value),
            Repr::Big(b) => match b.map.get_mut(field) {
                Some(old) => {
                    b.bytes = b.bytes - element_cost(old.len()) + element_cost(value.len());
                    *old = Str::new(value);
                    false
                }
                None => {
                    b.bytes += element_cost(field.len()) + element_cost(value.len());
                    b.map.insert(Str::new(field), Str::new(value));
                    true
                }
            },
        };
        if self.len() > limits.max_entries {
            self.convert();
        }
        new
    }

    /// Redis's `hashTypeTryConversion`: a small hash becomes a hashtable if any of `args`
    /// (the fields and values about to be written) is longer than `max_value`.
    pub fn check_lengths<'a>(&mut self, args: impl IntoIterator<Item = &'a [u8]>, limits: &HashLimits) {
        if self.is_compact() && args.into_iter().any(|a| a.len() > limits.max_value) {
            self.convert();
        }
    }

    /// Turns a small hash into a hashtable (no-op if it is one).
    pub fn convert(&mut self) {
        if let Repr::Small(p) = &self.repr {
            let mut big = Big::default();
            p.for_each(|f, v| {
                big.bytes += element_cost(f.len()) + element_cost(v.len());
                big.map.insert(Str::new(f), Str::new(v));
            });
            self.repr = Repr::Big(Box::new(big));
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            // A listpack keeps its order.
            Repr::Small(p) => p.remove(field),
            Repr::Big(b) => match b.map.swap_remove(field) {
                Some((_, v)) => {
                    b.bytes -= element_cost(field.len()) + element_cost(v.len());
                    true
                }
                None => false,
            },
        }
    }

    /// Every (field, value): insertion order for a small hash, the table's order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Small(p) => Iter::Small(p.iter()),
            Repr::Big(b) => Iter::Big(Box::new(b.map.iter())),
        }
    }

    /// Calls `f` on every (field, value), in [`iter`](Self::iter)'s order, copying nothing.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match &self.repr {
            Repr::Small(p) => p.for_each(f),
            Repr::Big(b) => b.map.iter().for_each(|(k, v)| f(k, v)),
        }
    }

    /// The `i`-th pair (`i < len()`), for uniform random picks: O(1) for a hashtable, O(i)
    /// for a small hash (pick many from [`iter`](Self::iter) instead).
    pub fn get_index(&self, i: usize) -> Option<Pair<'_>> {
        match &self.repr {
            Repr::Small(p) => p.get_index(i),
            Repr::Big(b) => b.map.get_index(i).map(|(f, v)| (Cow::Borrowed(&f[..]), Cow::Borrowed(&v[..]))),
        }
    }

    /// One step of HSCAN from `cursor`, visiting at most `count` pairs (at least one step of
    /// progress), calling `visit` on each; returns the next cursor (0: done).
    ///
    /// A small hash is returned whole with cursor 0, as Redis does for a listpack. A hashtable
    /// is walked from its last index down: the cursor is the number of indices `[0, cursor)`
    /// still to visit (0 starts afresh from the top). Removal moves the *last* entry into the
    /// hole, which was visited already (or added since the scan began), and growth appends
    /// above the cursor, so an entry present for the whole scan is never skipped; one added
    /// meanwhile may or may not be returned, one moved may be returned twice: SCAN's contract.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Small(p) => {
                p.for_each(visit);
                0
            }
            Repr::Big(b) => scan_dense(&b.map, cursor, count, |f, v| visit(f, v)),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Small(_) => "listpack",
            Repr::Big(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.heap_size(),
            Repr::Big(b) => std::mem::size_of::<Big>() + b.bytes + b.map.allocated_bytes(),
        }
    }
}

/// The downward walk of a [`DenseMap`] shared by HSCAN and SSCAN (see [`Hash::scan`]).
pub(super) fn scan_dense<V>(m: &DenseMap<V>, cursor: u64, count: usize, mut visit: impl FnMut(&Str, &V)) -> u64 {
    let len = m.len();
    let mut remaining = if cursor == 0 { len } else { (cursor.min(len as u64)) as usize };
    let mut budget = count.max(1);
    while remaining > 0 && budget > 0 {
        remaining -= 1;
        budget -= 1;
        let (k, v) = m.get_index(remaining).expect("index below len");
        visit(k, v);
    }
    remaining as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> HashLimits {
        HashLimits { max_entries: 4, max_value: 8 }
    }

    #[test]
    fn small_hash_keeps_insertion_order_and_converts_past_the_limits() {
        let mut h = Hash::new();
        for f in ["c", "a", "b"] {
            assert!(h.insert_limited(f.as_bytes(), b"v", &small()));
        }
        assert!(!h.insert_limited(b"a", b"w", &small()));
        assert!(h.remove(b"c"));
        h.insert_limited(b"c", b"x", &small());
        let order: Vec<Vec<u8>> = h.iter().map(|(f, _)| f.into_owned()).collect();
        assert_eq!(order, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(h.encoding(), "listpack");
        h.insert_limited(b"d", b"1", &small());
        assert_eq!(h.encoding(), "listpack");
        h.insert_limited(b"e", b"1", &small());
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a").as_deref(), Some(&b"w"[..]));
        assert_eq!(h.len(), 5);

        let mut h = Hash::new();
        h.insert_limited(b"f", b"v", &small());
        h.check_lengths([&b"f"[..], b"123456789"], &small());
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f").as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn scan_returns_every_field_present_throughout_despite_changes() {
        let mut h = Hash::new();
        for i in 0..2000 {
            h.insert(format!("f{i}").as_bytes(), b"v");
        }
        assert_eq!(h.encoding(), "hashtable");
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = h.scan(cursor, 37, |f, _| {
                seen.insert(f.to_vec());
            });
            // Churn between calls: delete some never-to-be-checked fields, add new ones.
            round += 1;
            h.remove(format!("f{}", round * 3 % 200).as_bytes());
            h.insert(format!("new{round}").as_bytes(), b"v");
            if cursor == 0 {
                break;
            }
        }
        for i in 200..2000 {
            assert!(seen.contains(format!("f{i}").as_bytes()), "f{i} missed");
        }
    }

    #[test]
    fn a_small_hash_is_its_buffer_and_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Hash>(), 16);
        let mut h = Hash::new();
        assert_eq!(h.heap_size(), 0);
        for j in 0..10 {
            h.insert(format!("field:{j}").as_bytes(), format!("value:{j}").as_bytes());
        }
        assert_eq!((h.encoding(), h.heap_size()), ("listpack", 76));
        let before = h.heap_size();
        h.convert();
        assert!(h.heap_size() > before);
        for j in 0..10 {
            assert!(h.remove(format!("field:{j}").as_bytes()));
        }
        let Repr::Big(b) = &h.repr else { panic!("a hashtable stays one") };
        assert_eq!(b.bytes, 0, "the running count returns to zero");
    }

    #[test]
    fn clone_and_eq_ignore_order() {
        let mut a = Hash::new();
        let mut b = Hash::new();
        a.insert(b"x", b"1");
        a.insert(b"y", b"2");
        b.insert(b"y", b"2");
        b.insert(b"x", b"1");
        assert_eq!(a, b);
        b.convert();
        assert_eq!(a, b.clone());
        assert_eq!(b.clone().encoding(), "hashtable");
        b.insert(b"x", b"3");
        assert_ne!(a, b);
    }
}
