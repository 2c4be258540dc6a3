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
//!
//! A packed hash is scanned and rewritten whole by every command, as a listpack is. The
//! defaults bound that (512 pairs of at most 64-byte elements: under 70 KB), but
//! `hash-max-listpack-entries` and `-value` go up to 2^63; so past [`PACKED_MAX_ENTRIES`]
//! pairs or [`PACKED_MAX_BYTES`] a hash Redis would still keep as a listpack moves to an
//! [`Ordered`] table: same insertion order, same replies and encoding (DUMP, OBJECT
//! ENCODING), O(1) per field.

use super::packed::{PackedHash, PackedHashIter, Pair};
use super::{element_cost, shared_size};
use crate::store::dense::DenseMap;
use crate::store::Str;
use ordered::Ordered;
use std::borrow::Cow;
use std::sync::Arc;

mod ordered;

/// Most pairs a packed hash holds before it becomes [`Ordered`] (still "listpack").
#[cfg(not(test))]
pub const PACKED_MAX_ENTRIES: usize = 1024;
/// Largest buffer a packed hash keeps before it becomes [`Ordered`] (still "listpack"): about twice
/// the default limits' worst case, so that with them a hash is packed until it converts.
#[cfg(not(test))]
pub const PACKED_MAX_BYTES: usize = 128 * 1024;
/// Smaller in tests, so that the model tests cross the cap.
#[cfg(test)]
pub const PACKED_MAX_ENTRIES: usize = 24;
#[cfg(test)]
pub const PACKED_MAX_BYTES: usize = 1024;

/// When a small hash becomes a hashtable (`hash-max-listpack-entries` / `-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl HashLimits {
    /// Redis 7.0's defaults as Ferrocache's config declares them.
    pub const REDIS_DEFAULTS: HashLimits = HashLimits { max_entries: 512, max_value: 64 };
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits::REDIS_DEFAULTS
    }
}

/// What a hash holds: a packed buffer inline, anything else boxed, so that a small hash
/// costs its buffer and 16 bytes (two inline pointers-with-length would make it 24). The box
/// is shared copy-on-write (see `Value`): a snapshot of a big hash copies no field.
#[derive(Debug)]
enum Stored {
    Small(PackedHash),
    Boxed(Arc<Boxed>),
}

#[derive(Debug)]
enum Boxed {
    Ordered(Ordered),
    Big(Big),
}

/// A hash's representation, as the methods see it.
enum Repr<'a> {
    /// "listpack": pairs in insertion order, searched linearly (at most `max_entries`).
    Small(&'a PackedHash),
    /// "listpack" past the packed form's cap (see the module docs).
    Ordered(&'a Ordered),
    /// "hashtable".
    Big(&'a Big),
}

enum ReprMut<'a> {
    Small(&'a mut PackedHash),
    Ordered(&'a mut Ordered),
    Big(&'a mut Big),
}

#[derive(Debug, Default)]
struct Big {
    map: DenseMap<Str>,
    /// Heap bytes of the fields and values (see `types/mod.rs`).
    bytes: usize,
}

/// A hash.
#[derive(Debug, Default)]
pub struct Hash {
    stored: Stored,
}

impl Default for Stored {
    fn default() -> Self {
        Stored::Small(PackedHash::default())
    }
}

impl Clone for Hash {
    /// A copy with the same encoding and order (COPY keeps the encoding, as Redis's
    /// `hashTypeDup`). A table form is shared until either side writes.
    fn clone(&self) -> Self {
        let stored = match &self.stored {
            Stored::Small(p) => Stored::Small(p.clone()),
            Stored::Boxed(b) => Stored::Boxed(Arc::clone(b)),
        };
        Hash { stored }
    }
}

impl Clone for Boxed {
    fn clone(&self) -> Self {
        match self {
            Boxed::Ordered(o) => {
                let mut copy = Ordered::default();
                for (f, v) in o.iter() {
                    copy.insert(f, v);
                }
                Boxed::Ordered(copy)
            }
            Boxed::Big(b) => Boxed::Big(Big { map: b.map.clone(), bytes: b.bytes }),
        }
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
    Table(Box<dyn Iterator<Item = (&'a Str, &'a Str)> + 'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Pair<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(it) => it.next(),
            Iter::Table(it) => it.next().map(|(f, v)| (Cow::Borrowed(&f[..]), Cow::Borrowed(&v[..]))),
        }
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    fn repr(&self) -> Repr<'_> {
        match &self.stored {
            Stored::Small(p) => Repr::Small(p),
            Stored::Boxed(b) => match &**b {
                Boxed::Ordered(o) => Repr::Ordered(o),
                Boxed::Big(b) => Repr::Big(b),
            },
        }
    }

    fn repr_mut(&mut self) -> ReprMut<'_> {
        match &mut self.stored {
            Stored::Small(p) => ReprMut::Small(p),
            Stored::Boxed(b) => match Arc::make_mut(b) {
                Boxed::Ordered(o) => ReprMut::Ordered(o),
                Boxed::Big(b) => ReprMut::Big(b),
            },
        }
    }

    /// Whether its table form is shared with another holder (see `Value::is_shared`).
    pub fn is_shared(&self) -> bool {
        matches!(&self.stored, Stored::Boxed(b) if Arc::strong_count(b) > 1)
    }

    pub fn len(&self) -> usize {
        match self.repr() {
            Repr::Small(p) => p.len(),
            Repr::Ordered(o) => o.len(),
            Repr::Big(b) => b.map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self.repr() {
            Repr::Small(p) => p.is_empty(),
            Repr::Ordered(o) => o.len() == 0,
            Repr::Big(b) => b.map.is_empty(),
        }
    }

    /// Whether the hash is in its small, ordered form ("listpack").
    pub fn is_compact(&self) -> bool {
        matches!(self.repr(), Repr::Small(_) | Repr::Ordered(_))
    }

    pub fn get(&self, field: &[u8]) -> Option<Cow<'_, [u8]>> {
        match self.repr() {
            Repr::Small(p) => p.get(field),
            Repr::Ordered(o) => o.get(field).map(|v| Cow::Borrowed(&v[..])),
            Repr::Big(b) => b.map.get(field).map(|v| Cow::Borrowed(&v[..])),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self.repr() {
            Repr::Small(p) => p.contains(field),
            Repr::Ordered(o) => o.contains(field),
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
        let new = match self.repr_mut() {
            ReprMut::Small(p) => p.insert(field, value),
            ReprMut::Ordered(o) => o.insert(field, value),
            ReprMut::Big(b) => match b.map.get_mut(field) {
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
        } else if let Repr::Small(p) = self.repr() {
            if p.len() > PACKED_MAX_ENTRIES || p.heap_size() > PACKED_MAX_BYTES {
                let mut o = Ordered::default();
                p.for_each(|f, v| {
                    o.insert(f, v);
                });
                self.stored = Stored::Boxed(Arc::new(Boxed::Ordered(o)));
            }
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
        let mut big = Big::default();
        match std::mem::take(&mut self.stored) {
            Stored::Small(p) => p.for_each(|f, v| {
                big.bytes += element_cost(f.len()) + element_cost(v.len());
                big.map.insert(Str::new(f), Str::new(v));
            }),
            Stored::Boxed(b) if matches!(*b, Boxed::Big(_)) => {
                self.stored = Stored::Boxed(b);
                return;
            }
            Stored::Boxed(b) => {
                let Boxed::Ordered(o) = Arc::unwrap_or_clone(b) else { unreachable!("matched above") };
                let (pairs, bytes) = o.into_pairs();
                pairs.for_each(|(f, v)| {
                    big.map.insert(f, v);
                });
                big.bytes = bytes;
            }
        }
        self.stored = Stored::Boxed(Arc::new(Boxed::Big(big)));
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.repr_mut() {
            // A listpack keeps its order.
            ReprMut::Small(p) => p.remove(field),
            ReprMut::Ordered(o) => o.remove(field),
            ReprMut::Big(b) => match b.map.swap_remove(field) {
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
        match self.repr() {
            Repr::Small(p) => Iter::Small(p.iter()),
            Repr::Ordered(o) => Iter::Table(Box::new(o.iter())),
            Repr::Big(b) => Iter::Table(Box::new(b.map.iter())),
        }
    }

    /// Calls `f` on every (field, value), in [`iter`](Self::iter)'s order, copying nothing.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self.repr() {
            Repr::Small(p) => p.for_each(f),
            Repr::Ordered(o) => o.iter().for_each(|(k, v)| f(k, v)),
            Repr::Big(b) => b.map.iter().for_each(|(k, v)| f(k, v)),
        }
    }

    /// The `i`-th pair (`i < len()`), for uniform random picks: O(1) for a hashtable, O(i)
    /// for a small hash (pick many from [`iter`](Self::iter) instead).
    pub fn get_index(&self, i: usize) -> Option<Pair<'_>> {
        match self.repr() {
            Repr::Small(p) => p.get_index(i),
            Repr::Ordered(o) => o.get_index(i).map(|(f, v)| (Cow::Borrowed(&f[..]), Cow::Borrowed(&v[..]))),
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
        match self.repr() {
            Repr::Small(p) => {
                p.for_each(visit);
                0
            }
            Repr::Ordered(o) => {
                o.iter().for_each(|(f, v)| visit(f, v));
                0
            }
            Repr::Big(b) => scan_dense(&b.map, cursor, count, |f, v| visit(f, v)),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr() {
            Repr::Small(_) | Repr::Ordered(_) => "listpack",
            Repr::Big(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match self.repr() {
            Repr::Small(p) => p.heap_size(),
            Repr::Ordered(o) => shared_size::<Boxed>() + o.heap_size(),
            Repr::Big(b) => shared_size::<Boxed>() + b.bytes + b.map.allocated_bytes(),
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
        let Repr::Big(b) = h.repr() else { panic!("a hashtable stays one") };
        assert_eq!(b.bytes, 0, "the running count returns to zero");
    }

    impl Hash {
        fn check_invariants(&self) {
            match self.repr() {
                Repr::Small(p) => assert!(p.len() <= PACKED_MAX_ENTRIES && p.heap_size() <= PACKED_MAX_BYTES),
                Repr::Ordered(o) => o.check_invariants(),
                Repr::Big(_) => {}
            }
        }
    }

    /// Every representation against a model, through both conversions: while the model says
    /// "listpack" (no limit crossed yet) the order is insertion order whether the hash is
    /// packed or [`Ordered`]; after, the same pairs. Limits well above the (test-sized) packed
    /// caps make the [`Ordered`] form common.
    #[test]
    fn matches_a_model_packed_ordered_and_table() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        fn element(rng: &mut StdRng) -> Vec<u8> {
            match rng.gen_range(0..6) {
                0 => Vec::new(),
                1 => vec![b'v'; rng.gen_range(30..90)],
                2 => (0..rng.gen_range(1..8)).map(|_| rng.gen()).collect(),
                _ => format!("field:{}", rng.gen_range(0..60)).into_bytes(),
            }
        }
        let mut saw_ordered = 0;
        for seed in 0..80u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let limits = HashLimits { max_entries: rng.gen_range(5..80), max_value: rng.gen_range(40..100) };
            let mut h = Hash::new();
            let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let mut listpack = true;
            for _ in 0..300 {
                let field = element(&mut rng);
                if rng.gen_range(0..4) > 0 {
                    let value = element(&mut rng);
                    h.check_lengths([&field[..], &value[..]], &limits);
                    let new = match model.iter_mut().find(|(f, _)| *f == field) {
                        Some((_, v)) => {
                            *v = value.clone();
                            false
                        }
                        None => {
                            model.push((field.clone(), value.clone()));
                            true
                        }
                    };
                    listpack &= field.len() <= limits.max_value
                        && value.len() <= limits.max_value
                        && model.len() <= limits.max_entries;
                    assert_eq!(h.insert_limited(&field, &value, &limits), new, "seed {seed}");
                } else {
                    let at = model.iter().position(|(f, _)| *f == field);
                    if let Some(i) = at {
                        model.remove(i);
                    }
                    assert_eq!(h.remove(&field), at.is_some(), "seed {seed}");
                }
                h.check_invariants();
                saw_ordered += usize::from(matches!(h.repr(), Repr::Ordered(_)));
                assert_eq!(h.encoding(), if listpack { "listpack" } else { "hashtable" }, "seed {seed}");
                assert_eq!(h.len(), model.len());
                let mut got: Vec<(Vec<u8>, Vec<u8>)> =
                    h.iter().map(|(f, v)| (f.into_owned(), v.into_owned())).collect();
                let mut scanned = Vec::new();
                let mut cursor = 0;
                loop {
                    cursor = h.scan(cursor, 7, |f, v| scanned.push((f.to_vec(), v.to_vec())));
                    if cursor == 0 {
                        break;
                    }
                }
                for (i, pair) in got.iter().enumerate() {
                    let (f, v) = h.get_index(i).expect("below len");
                    assert_eq!((&f[..], &v[..]), (&pair.0[..], &pair.1[..]));
                    assert_eq!(h.get(&pair.0).as_deref(), Some(&pair.1[..]));
                }
                let mut want = model.clone();
                if listpack {
                    assert_eq!(scanned, got, "a listpack scans whole, in order");
                } else {
                    want.sort();
                    got.sort();
                    scanned.sort();
                    assert_eq!(scanned, want);
                }
                assert_eq!(got, want, "seed {seed}");
                let probe = element(&mut rng);
                assert_eq!(h.contains(&probe), model.iter().any(|(f, _)| *f == probe));
                let copy = h.clone();
                assert_eq!((copy.encoding(), copy.len()), (h.encoding(), h.len()));
                assert!(copy == h);
                if model.is_empty() {
                    (h, listpack) = (Hash::new(), true);
                }
            }
        }
        assert!(saw_ordered > 1000, "the cap was crossed in {saw_ordered} steps only");
    }

    #[test]
    fn past_the_packed_cap_a_listpack_keeps_its_order_in_a_table() {
        let limits = HashLimits { max_entries: 10_000, max_value: 64 };
        let mut h = Hash::new();
        for j in 0..1000 {
            h.insert_limited(format!("f{j}").as_bytes(), b"v", &limits);
        }
        assert!(matches!(h.repr(), Repr::Ordered(_)));
        assert_eq!(h.encoding(), "listpack");
        for j in (0..1000).step_by(3) {
            assert!(h.remove(format!("f{j}").as_bytes()));
        }
        h.check_invariants();
        let order: Vec<Vec<u8>> = h.iter().map(|(f, _)| f.into_owned()).collect();
        let want: Vec<Vec<u8>> = (0..1000).filter(|j| j % 3 != 0).map(|j| format!("f{j}").into_bytes()).collect();
        assert_eq!(order, want);
        assert_eq!(h.get_index(1).map(|(f, _)| f.into_owned()), Some(b"f2".to_vec()));
        for j in 1000..10_334 {
            h.insert_limited(format!("f{j}").as_bytes(), b"v", &limits);
        }
        assert_eq!((h.encoding(), h.len()), ("listpack", 10_000));
        h.insert_limited(b"one more", b"v", &limits);
        assert_eq!((h.encoding(), h.len()), ("hashtable", 10_001));
        assert_eq!(h.get(b"f2").as_deref(), Some(&b"v"[..]));
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
