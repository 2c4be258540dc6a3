//! Sets of unique byte strings.
//!
//! Two representations, as Redis 7.0 has: while every member is an integer (Redis's
//! `string2ll` form) and there are at most `set-max-intset-entries` of them, a sorted vector
//! ("intset": SMEMBERS replies in ascending numeric order); otherwise a [`DenseMap`]
//! ("hashtable"), for good, as in Redis.
//!
//! A small "hashtable" (at most [`PACKED_MAX_ENTRIES`] members of at most
//! [`PACKED_MAX_LEN`] bytes) is kept as a [`PackedSet`] instead: one buffer, in exactly the
//! order the [`DenseMap`] would have (appended, removal moves the last member into the hole,
//! converted in that order), so nothing but its memory tells them apart. Redis 7.0 has no
//! listpack sets, so OBJECT ENCODING, DUMP and SAVE still say "hashtable".

use super::element_cost;
use super::hash::scan_dense;
use super::packed::{PackedSet, PackedSetIter};
use crate::store::dense::DenseMap;
use crate::store::{parse_i64_strict, Str};

/// Redis caps `set-max-intset-entries` at 2^30 (intset internals).
const INTSET_HARD_MAX: usize = 1 << 30;

/// Most members a packed "hashtable" holds (linear scans beyond this cost more than a table).
pub const PACKED_MAX_ENTRIES: usize = 128;
/// Longest member a packed "hashtable" holds.
pub const PACKED_MAX_LEN: usize = 64;

#[derive(Debug)]
enum Repr {
    /// "intset": (value, its decimal text), sorted by value. The text (at most 20 bytes,
    /// inline in a `Str`) lets `iter` hand out byte slices like the hashtable does.
    Ints(Vec<(i64, Str)>),
    /// A small "hashtable", packed (see the module docs).
    Packed(PackedSet),
    /// "hashtable".
    Big(Box<DenseMap<()>>),
}

/// A set.
#[derive(Debug)]
pub struct Set {
    repr: Repr,
    /// Heap bytes of the members (see `types/mod.rs`).
    bytes: usize,
}

impl Default for Set {
    /// An empty intset: the first member decides (Redis's `setTypeCreate`).
    fn default() -> Self {
        Set { repr: Repr::Ints(Vec::new()), bytes: 0 }
    }
}

impl Clone for Set {
    fn clone(&self) -> Self {
        let repr = match &self.repr {
            Repr::Ints(v) => Repr::Ints(v.clone()),
            Repr::Packed(p) => Repr::Packed(p.clone()),
            Repr::Big(m) => Repr::Big(m.clone()),
        };
        Set { repr, bytes: self.bytes }
    }
}

impl PartialEq for Set {
    /// The same members, whatever the encoding or order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains(m))
    }
}

/// The members of a set, in its order (see [`Set::iter`]).
pub enum Iter<'a> {
    Ints(std::slice::Iter<'a, (i64, Str)>),
    Packed(PackedSetIter<'a>),
    Big(Box<dyn Iterator<Item = (&'a Str, &'a ())> + 'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Iter::Ints(it) => it.next().map(|(_, s)| &s[..]),
            Iter::Packed(it) => it.next(),
            Iter::Big(it) => it.next().map(|(k, _)| &k[..]),
        }
    }
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(v) => v.len(),
            Repr::Packed(p) => p.len(),
            Repr::Big(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Ints(v) => v.is_empty(),
            Repr::Packed(p) => p.is_empty(),
            Repr::Big(m) => m.is_empty(),
        }
    }

    /// Whether the set is an intset.
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Ints(_))
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(v) => parse_i64_strict(member).is_some_and(|n| v.binary_search_by_key(&n, |e| e.0).is_ok()),
            Repr::Packed(p) => p.contains(member),
            Repr::Big(m) => m.contains_key(member),
        }
    }

    /// Adds `member` with Redis's default `set-max-intset-entries` (512); true if it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        self.insert_limited(member, 512)
    }

    /// Adds `member`; true if it is new. An intset becomes a hashtable when `member` is not
    /// an integer or it would hold more than `max_intset` members (Redis's `setTypeAdd`).
    pub fn insert_limited(&mut self, member: &[u8], max_intset: usize) -> bool {
        if let Repr::Ints(v) = &mut self.repr {
            match parse_i64_strict(member) {
                Some(n) => {
                    let Err(at) = v.binary_search_by_key(&n, |e| e.0) else { return false };
                    v.insert(at, (n, Str::new(member)));
                    self.bytes += element_cost(member.len());
                    if v.len() > max_intset.min(INTSET_HARD_MAX) {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        if let Repr::Packed(p) = &mut self.repr {
            if p.contains(member) {
                return false;
            }
            if p.len() < PACKED_MAX_ENTRIES && member.len() <= PACKED_MAX_LEN {
                p.push(member);
                self.bytes += element_cost(member.len());
                return true;
            }
            self.unpack();
        }
        let Repr::Big(m) = &mut self.repr else { unreachable!("converted above") };
        if m.contains_key(member) {
            return false;
        }
        m.insert(Str::new(member), ());
        self.bytes += element_cost(member.len());
        true
    }

    /// Turns an intset into a hashtable (no-op if it is one): a packed one while it is small.
    pub fn convert(&mut self) {
        if let Repr::Ints(v) = &mut self.repr {
            let v = std::mem::take(v);
            if v.len() <= PACKED_MAX_ENTRIES {
                let mut p = PackedSet::default();
                for (_, s) in &v {
                    p.push(s);
                }
                self.repr = Repr::Packed(p);
            } else {
                let mut m = DenseMap::default();
                for (_, s) in v {
                    m.insert(s, ());
                }
                self.repr = Repr::Big(Box::new(m));
            }
        }
    }

    /// Turns a packed hashtable into a real one, in the same order.
    fn unpack(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let mut m = DenseMap::default();
            for s in p.iter() {
                m.insert(Str::new(s), ());
            }
            self.repr = Repr::Big(Box::new(m));
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let removed = match &mut self.repr {
            Repr::Ints(v) => match parse_i64_strict(member).and_then(|n| v.binary_search_by_key(&n, |e| e.0).ok()) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Repr::Packed(p) => p.remove(member),
            Repr::Big(m) => m.swap_remove(member).is_some(),
        };
        if removed {
            self.bytes -= element_cost(member.len());
        }
        removed
    }

    /// Every member: ascending for an intset, the table's order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Ints(v) => Iter::Ints(v.iter()),
            Repr::Packed(p) => Iter::Packed(p.iter()),
            Repr::Big(m) => Iter::Big(Box::new(m.iter())),
        }
    }

    /// The `i`-th member (`i < len()`), for uniform random picks: O(1) but for a packed
    /// hashtable, O(i) (pick many from [`iter`](Self::iter) instead).
    pub fn get_index(&self, i: usize) -> Option<&[u8]> {
        match &self.repr {
            Repr::Ints(v) => v.get(i).map(|(_, s)| &s[..]),
            Repr::Packed(p) => p.get_index(i),
            Repr::Big(m) => m.get_index(i).map(|(k, _)| &k[..]),
        }
    }

    /// Whether [`get_index`](Self::get_index) is O(1) (not for a packed hashtable: many
    /// random picks should then pick from a list of [`iter`](Self::iter)'s members).
    pub fn has_fast_index(&self) -> bool {
        !matches!(self.repr, Repr::Packed(_))
    }

    /// One step of SSCAN (see `Hash::scan`): an intset whole with cursor 0, a hashtable by
    /// the descending cursor (a packed one as the table would be walked).
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        match &self.repr {
            Repr::Ints(v) => {
                for (_, s) in v {
                    visit(s);
                }
                0
            }
            Repr::Packed(p) => {
                let members: Vec<&[u8]> = p.iter().collect();
                let len = members.len();
                let mut remaining = if cursor == 0 { len } else { (cursor.min(len as u64)) as usize };
                let mut budget = count.max(1);
                while remaining > 0 && budget > 0 {
                    remaining -= 1;
                    budget -= 1;
                    visit(members[remaining]);
                }
                remaining as u64
            }
            Repr::Big(m) => scan_dense(m, cursor, count, |k, _| visit(k)),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Ints(_) => "intset",
            Repr::Packed(_) | Repr::Big(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match &self.repr {
            // An intset's members are inline: the vector is all there is.
            Repr::Ints(v) => v.capacity() * std::mem::size_of::<(i64, Str)>(),
            Repr::Packed(p) => p.heap_size(),
            Repr::Big(m) => std::mem::size_of::<DenseMap<()>>() + self.bytes + m.allocated_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_sorts_and_converts_on_strings_or_size() {
        let mut s = Set::new();
        for m in ["10", "-3", "7", "7"] {
            s.insert_limited(m.as_bytes(), 4);
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![&b"-3"[..], b"7", b"10"]);
        assert_eq!(s.encoding(), "intset");
        assert!(s.contains(b"7") && !s.contains(b"07") && !s.contains(b"8"));
        s.insert_limited(b"1", 4);
        assert_eq!(s.encoding(), "intset");
        s.insert_limited(b"2", 4);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 5);
        assert!(s.contains(b"-3"));

        let mut s = Set::new();
        s.insert(b"1");
        assert!(s.insert(b"01"), "not canonical: a string member");
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"1") && s.remove(b"01") && s.is_empty());
    }

    /// A packed "hashtable" answers exactly as the table would: same order, picks, cursor
    /// walks and encoding, through conversions from the intset and to the table.
    #[test]
    fn a_packed_hashtable_is_indistinguishable_from_the_table() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        fn member(rng: &mut StdRng) -> Vec<u8> {
            match rng.gen_range(0..8) {
                0..=3 => rng.gen_range(-20i64..20).to_string().into_bytes(),
                4 => vec![b'L'; rng.gen_range(60..70)],
                5 => Vec::new(),
                _ => format!("m:{}", rng.gen_range(0..150)).into_bytes(),
            }
        }
        fn table(s: &mut Set) {
            s.convert();
            s.unpack();
        }
        for seed in 0..60u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let max_intset = rng.gen_range(1..20);
            let (mut packed, mut plain) = (Set::new(), Set::new());
            for _ in 0..400 {
                let m = member(&mut rng);
                if rng.gen_range(0..3) > 0 {
                    assert_eq!(packed.insert_limited(&m, max_intset), plain.insert_limited(&m, max_intset));
                } else {
                    assert_eq!(packed.remove(&m), plain.remove(&m));
                }
                if !plain.is_compact() {
                    table(&mut plain);
                }
                assert_eq!(packed.encoding(), plain.encoding(), "seed {seed}");
                assert_eq!(packed.iter().collect::<Vec<_>>(), plain.iter().collect::<Vec<_>>(), "seed {seed}");
                assert_eq!(packed.is_empty(), plain.is_empty());
                let i = rng.gen_range(0..plain.len().max(1));
                assert_eq!(packed.get_index(i), plain.get_index(i));
                let probe = member(&mut rng);
                assert_eq!(packed.contains(&probe), plain.contains(&probe));
                let (cursor, count) = (rng.gen_range(0..plain.len() as u64 + 2), rng.gen_range(1..5));
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let next = packed.scan(cursor, count, |m| a.push(m.to_vec()));
                assert_eq!((next, a), (plain.scan(cursor, count, |m| b.push(m.to_vec())), b));
                if plain.is_empty() {
                    (packed, plain) = (Set::new(), Set::new());
                }
            }
        }
    }

    #[test]
    fn the_table_is_boxed_so_small_sets_stay_small() {
        assert!(std::mem::size_of::<Set>() <= 40, "{}", std::mem::size_of::<Set>());
        let mut s = Set::new();
        for j in 0..10 {
            s.insert(format!("member:{j}").as_bytes());
        }
        // 4 (count) + 10 × (1 + 8).
        assert_eq!((s.encoding(), s.heap_size()), ("hashtable", 94));
    }

    #[test]
    fn eq_ignores_encoding() {
        let mut a = Set::new();
        let mut b = Set::new();
        for m in ["1", "2"] {
            a.insert(m.as_bytes());
            b.insert(m.as_bytes());
        }
        b.convert();
        assert_eq!(a, b);
        assert_eq!(b.clone().encoding(), "hashtable");
    }
}
