//! Sets of unique byte strings.
//!
//! Two representations, as Redis 7.0 has: while every member is an integer (Redis's
//! `string2ll` form) and there are at most `set-max-intset-entries` of them, a sorted vector
//! ("intset": SMEMBERS replies in ascending numeric order); otherwise a [`DenseMap`]
//! ("hashtable"), for good, as in Redis.

use super::element_cost;
use super::hash::scan_dense;
use crate::store::dense::DenseMap;
use crate::store::{parse_i64_strict, Str};

/// Redis caps `set-max-intset-entries` at 2^30 (intset internals).
const INTSET_HARD_MAX: usize = 1 << 30;

#[derive(Debug)]
enum Repr {
    /// "intset": (value, its decimal text), sorted by value. The text (at most 20 bytes,
    /// inline in a `Str`) lets `iter` hand out byte slices like the hashtable does.
    Ints(Vec<(i64, Str)>),
    /// "hashtable".
    Big(DenseMap<()>),
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
            Repr::Big(m) => {
                let mut copy = DenseMap::default();
                for (k, _) in m.iter() {
                    copy.insert(k.clone(), ());
                }
                Repr::Big(copy)
            }
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
    Big(Box<dyn Iterator<Item = (&'a Str, &'a ())> + 'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Iter::Ints(it) => it.next().map(|(_, s)| &s[..]),
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
            Repr::Big(m) => m.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the set is an intset.
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Ints(_))
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(v) => parse_i64_strict(member).is_some_and(|n| v.binary_search_by_key(&n, |e| e.0).is_ok()),
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
        let Repr::Big(m) = &mut self.repr else { unreachable!("converted above") };
        if m.contains_key(member) {
            return false;
        }
        m.insert(Str::new(member), ());
        self.bytes += element_cost(member.len());
        true
    }

    /// Turns an intset into a hashtable (no-op if it is one).
    pub fn convert(&mut self) {
        if let Repr::Ints(v) = &mut self.repr {
            let mut m = DenseMap::default();
            for (_, s) in std::mem::take(v) {
                m.insert(s, ());
            }
            self.repr = Repr::Big(m);
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
            Repr::Big(m) => Iter::Big(Box::new(m.iter())),
        }
    }

    /// The `i`-th member (`i < len()`), for uniform random picks.
    pub fn get_index(&self, i: usize) -> Option<&[u8]> {
        match &self.repr {
            Repr::Ints(v) => v.get(i).map(|(_, s)| &s[..]),
            Repr::Big(m) => m.get_index(i).map(|(k, _)| &k[..]),
        }
    }

    /// One step of SSCAN (see `Hash::scan`): an intset whole with cursor 0, a hashtable by
    /// the descending cursor.
    pub fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8])) -> u64 {
        match &self.repr {
            Repr::Ints(v) => {
                for (_, s) in v {
                    visit(s);
                }
                0
            }
            Repr::Big(m) => scan_dense(m, cursor, count, |k, _| visit(k)),
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Ints(_) => "intset",
            Repr::Big(_) => "hashtable",
        }
    }

    pub fn heap_size(&self) -> usize {
        match &self.repr {
            // An intset's members are inline: the vector is all there is.
            Repr::Ints(v) => v.capacity() * std::mem::size_of::<(i64, Str)>(),
            Repr::Big(m) => self.bytes + m.allocated_bytes(),
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
