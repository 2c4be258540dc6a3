//! Packed encodings: small hashes and small sets in one exact-size heap buffer each.
//!
//! Both are what Redis's listpack is to its small collections: a flat byte string scanned
//! linearly, which the caller bounds (fixed caps for both, see `hash.rs` and `set.rs`).
//! Both buffers start with the element count (`u32`, little endian)
//! so `len` is O(1); an empty collection holds no buffer at all. The buffer is resized
//! exactly on every change (as Redis reallocates a listpack), so it costs its length
//! rounded up to the allocator's size class and nothing more.
//!
//! `heap_size` is the buffer's length, exact; the memory account (`types/mod.rs`) leaves the
//! size-class rounding out: jemalloc's classes are 16 bytes apart up to 128 bytes and a
//! quarter of a power of two apart above, so it undercounts by less than that.
//!
//! - [`PackedHash`]: pairs in insertion order, each field and each value an entry
//!   `varint shared, varint suffix length, suffix` whose first `shared` bytes are those of
//!   the previous entry *of the same role* (field after field, value after value), as
//!   LevelDB's blocks compress keys. `shared` is always the longest common prefix: lookups
//!   rely on it (see [`PackedHash::find`]). Elements are therefore not contiguous: reads hand
//!   out a borrowed slice when an element shares nothing, an owned copy otherwise.
//! - [`PackedSet`]: members as `varint length, bytes`, contiguous, so reads borrow. Removal
//!   moves the last member into the hole, exactly as [`DenseMap`](crate::store::dense::DenseMap)'s
//!   `swap_remove` does, so a packed set keeps the order the hashtable would have.

use super::varint;
use smallvec::SmallVec;
use std::borrow::Cow;

/// Bytes of the count that starts every non-empty buffer.
const HEADER: usize = 4;

/// A reconstructed element, on the stack while it is short.
type Scratch = SmallVec<[u8; 64]>;

fn count_of(buf: &[u8]) -> usize {
    match buf.get(..HEADER) {
        Some(h) => u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize,
        None => 0,
    }
}

/// Length of the longest common prefix of `a` and `b`.
#[inline]
fn lcp(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Replaces `range` of `buf` by `mid` and sets the count to `count`, resizing the
/// allocation exactly (no buffer at all when `count` is 0).
fn splice(buf: &mut Box<[u8]>, range: std::ops::Range<usize>, mid: &[u8], count: usize) {
    edit(buf, count, |v| splice_vec(v, range, mid));
}

/// Runs `change` on the buffer as a vector (with its header, even if it had no buffer),
/// then sets the count and gives it back exactly sized.
fn edit(buf: &mut Box<[u8]>, count: usize, change: impl FnOnce(&mut Vec<u8>)) {
    if count == 0 {
        *buf = Box::default();
        return;
    }
    let mut v = std::mem::take(buf).into_vec();
    if v.is_empty() {
        v.reserve_exact(HEADER);
        v.extend_from_slice(&[0; HEADER]);
    }
    change(&mut v);
    let count = u32::try_from(count).expect("packed collections hold fewer than 2^32 elements");
    v[..HEADER].copy_from_slice(&count.to_le_bytes());
    *buf = v.into_boxed_slice();
}

/// `v[range] = mid`, growing the allocation by exactly what is needed.
fn splice_vec(v: &mut Vec<u8>, range: std::ops::Range<usize>, mid: &[u8]) {
    let (a, b, old_len) = (range.start, range.end, v.len());
    let gap = b - a;
    if mid.len() > gap {
        let grow = mid.len() - gap;
        v.reserve_exact(grow);
        v.resize(old_len + grow, 0);
        v.copy_within(b..old_len, b + grow);
    } else if mid.len() < gap {
        let shrink = gap - mid.len();
        v.copy_within(b..old_len, b - shrink);
        v.truncate(old_len - shrink);
    }
    v[a..a + mid.len()].copy_from_slice(mid);
}

// ---------------------------------------------------------------------------------------
// Hashes

/// Reads raw entries (`shared`, suffix) from a hash buffer.
#[derive(Clone)]
struct Raw<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Raw<'a> {
    fn new(buf: &'a [u8]) -> Raw<'a> {
        Raw { buf, pos: HEADER.min(buf.len()) }
    }

    fn at(buf: &'a [u8], pos: usize) -> Raw<'a> {
        Raw { buf, pos }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    fn entry(&mut self) -> (usize, &'a [u8]) {
        let shared = varint::get(self.buf, &mut self.pos);
        let len = varint::get(self.buf, &mut self.pos);
        let suffix = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        (shared, suffix)
    }
}

/// Walks a hash buffer rebuilding each pair in full.
struct Decoder<'a> {
    raw: Raw<'a>,
    field: Scratch,
    value: Scratch,
}

impl<'a> Decoder<'a> {
    fn new(buf: &'a [u8]) -> Decoder<'a> {
        Decoder { raw: Raw::new(buf), field: Scratch::new(), value: Scratch::new() }
    }

    fn next_pair(&mut self) -> Option<(&[u8], &[u8])> {
        if self.raw.at_end() {
            return None;
        }
        for scratch in [&mut self.field, &mut self.value] {
            let (shared, suffix) = self.raw.entry();
            scratch.truncate(shared);
            scratch.extend_from_slice(suffix);
        }
        Some((&self.field, &self.value))
    }
}

/// Appends the entry for `cur` following `prev` (same role).
fn encode_entry(out: &mut Scratch, prev: &[u8], cur: &[u8]) {
    let shared = lcp(prev, cur);
    varint::put(out, shared);
    varint::put(out, cur.len() - shared);
    out.extend_from_slice(&cur[shared..]);
}

/// A pair read from a hash: borrowed where it can be, rebuilt otherwise.
pub type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// Where [`PackedHash::find`] found a field.
struct Found {
    /// The pair's position in the hash.
    index: usize,
    /// Offset of its value entry.
    value_at: usize,
    /// Offset of the last value entry at or before it that shares nothing with its
    /// predecessor: the value can be rebuilt from there.
    anchor: usize,
}

/// A small hash: pairs in insertion order, prefix-compressed (see the module docs).
#[derive(Clone, Default)]
pub struct PackedHash {
    buf: Box<[u8]>,
}

impl std::fmt::Debug for PackedHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        self.for_each(|k, v| {
            m.entry(&String::from_utf8_lossy(k), &String::from_utf8_lossy(v));
        });
        m.finish()
    }
}

impl PackedHash {
    pub fn len(&self) -> usize {
        count_of(&self.buf)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The buffer's length (see the module docs).
    pub fn heap_size(&self) -> usize {
        self.buf.len()
    }

    /// Finds `target` without rebuilding any field. With `m` the common prefix length of
    /// the previous field and `target`, and `shared` the current field's (always maximal)
    /// prefix shared with the previous field: if `shared < m` the current field differs from
    /// the previous one, hence from `target`, at byte `shared` (or ends there, short of
    /// `target`'s length); if `shared > m` it agrees with the previous field at byte `m`,
    /// where `target` does not; only `shared == m` needs its suffix compared.
    fn find(&self, target: &[u8]) -> Option<Found> {
        let mut raw = Raw::new(&self.buf);
        let mut m = 0;
        let mut anchor = 0;
        let mut index = 0;
        while !raw.at_end() {
            let (shared, suffix) = raw.entry();
            let hit = if shared == m {
                let l = lcp(suffix, &target[m..]);
                m += l;
                l == suffix.len() && m == target.len()
            } else {
                m = m.min(shared);
                false
            };
            let value_at = raw.pos;
            let (vshared, _) = raw.entry();
            if vshared == 0 {
                anchor = value_at;
            }
            if hit {
                return Some(Found { index, value_at, anchor });
            }
            index += 1;
        }
        None
    }

    /// The value whose entry is at `value_at`, rebuilt from `anchor`.
    fn value(&self, anchor: usize, value_at: usize) -> Cow<'_, [u8]> {
        let mut raw = Raw::at(&self.buf, anchor);
        let (_, first) = raw.entry();
        if anchor == value_at {
            return Cow::Borrowed(first);
        }
        let mut value = first.to_vec();
        loop {
            raw.entry(); // the next field
            let at = raw.pos;
            let (shared, suffix) = raw.entry();
            value.truncate(shared);
            value.extend_from_slice(suffix);
            if at == value_at {
                return Cow::Owned(value);
            }
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<Cow<'_, [u8]>> {
        self.find(field).map(|f| self.value(f.anchor, f.value_at))
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.find(field).is_some()
    }

    /// Sets `field` to `value` (in place if it exists, appended otherwise); true if new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.find(field) {
            Some(found) => {
                self.replace_pair(found.index, Some((field, value)));
                false
            }
            None => {
                self.replace_pair(self.len(), Some((field, value)));
                true
            }
        }
    }

    /// Removes `field`, keeping the others' order; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(found) => {
                self.replace_pair(found.index, None);
                true
            }
            None => false,
        }
    }

    /// Replaces pair `k` (`k == len()`: appends) by `pair`, or removes it. Only pair `k` and
    /// the one after it change encoding (each entry depends on its predecessor of the same
    /// role alone), so the rest of the buffer moves as it is.
    fn replace_pair(&mut self, k: usize, pair: Option<(&[u8], &[u8])>) {
        let n = self.len();
        let mut dec = Decoder::new(&self.buf);
        for _ in 0..k {
            dec.next_pair();
        }
        let start = dec.raw.pos.max(HEADER);
        let (prev_field, prev_value) = (dec.field.clone(), dec.value.clone());
        let mut mid = Scratch::new();
        let mut end = start;
        if k < n {
            dec.next_pair();
            end = dec.raw.pos;
        }
        let (base_field, base_value): (&[u8], &[u8]) = match pair {
            Some((f, v)) => {
                encode_entry(&mut mid, &prev_field, f);
                encode_entry(&mut mid, &prev_value, v);
                (f, v)
            }
            None => (&prev_field, &prev_value),
        };
        if k + 1 < n {
            let (f, v) = dec.next_pair().expect("pair below len");
            encode_entry(&mut mid, base_field, f);
            encode_entry(&mut mid, base_value, v);
            end = dec.raw.pos;
        }
        let count = match (pair.is_some(), k < n) {
            (true, false) => n + 1,
            (false, true) => n - 1,
            _ => n,
        };
        splice(&mut self.buf, start..end, &mid, count);
    }

    /// Calls `f` on every pair, in order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        let mut dec = Decoder::new(&self.buf);
        while let Some((k, v)) = dec.next_pair() {
            f(k, v);
        }
    }

    /// The `i`-th pair.
    pub fn get_index(&self, i: usize) -> Option<Pair<'_>> {
        if i >= self.len() {
            return None;
        }
        let mut dec = Decoder::new(&self.buf);
        for _ in 0..i {
            dec.next_pair();
        }
        dec.next_pair().map(|(f, v)| (Cow::Owned(f.to_vec()), Cow::Owned(v.to_vec())))
    }

    pub fn iter(&self) -> PackedHashIter<'_> {
        PackedHashIter { raw: Raw::new(&self.buf), field: Vec::new(), value: Vec::new() }
    }

    /// Checks the encoding: entries end with the buffer, the count is right, and every
    /// `shared` is the longest common prefix ([`find`](Self::find) relies on it).
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut raw = Raw::new(&self.buf);
        let mut prev: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        let mut n = 0;
        while !raw.at_end() {
            for p in prev.iter_mut() {
                let (shared, suffix) = raw.entry();
                assert!(shared <= p.len());
                let mut cur = p[..shared].to_vec();
                cur.extend_from_slice(suffix);
                assert_eq!(shared, lcp(p, &cur), "shared prefix not maximal");
                *p = cur;
            }
            n += 1;
        }
        assert_eq!(raw.pos, self.buf.len());
        assert_eq!(n, self.len());
        assert_eq!(self.buf.is_empty(), n == 0);
    }
}

/// The pairs of a [`PackedHash`]: borrowed where an element shares no prefix, copies otherwise.
pub struct PackedHashIter<'a> {
    raw: Raw<'a>,
    field: Vec<u8>,
    value: Vec<u8>,
}

impl<'a> Iterator for PackedHashIter<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.raw.at_end() {
            return None;
        }
        let mut one = |scratch: &mut Vec<u8>| {
            let (shared, suffix) = self.raw.entry();
            scratch.truncate(shared);
            scratch.extend_from_slice(suffix);
            if shared == 0 {
                Cow::Borrowed(suffix)
            } else {
                Cow::Owned(scratch.clone())
            }
        };
        let f = one(&mut self.field);
        let v = one(&mut self.value);
        Some((f, v))
    }
}

// ---------------------------------------------------------------------------------------
// Sets

/// A small set: members as `varint length, bytes`, in the order a hashtable would keep them
/// (appended; removal moves the last member into the hole).
#[derive(Clone, Default)]
pub struct PackedSet {
    buf: Box<[u8]>,
}

impl std::fmt::Debug for PackedSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(String::from_utf8_lossy)).finish()
    }
}

impl PackedSet {
    pub fn len(&self) -> usize {
        count_of(&self.buf)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The buffer's length (see the module docs).
    pub fn heap_size(&self) -> usize {
        self.buf.len()
    }

    /// Offsets of `member`'s entry: (start, end).
    fn find(&self, member: &[u8]) -> Option<(usize, usize)> {
        let buf = &self.buf[..];
        let mut pos = HEADER.min(buf.len());
        while pos < buf.len() {
            let start = pos;
            let len = varint::get(buf, &mut pos);
            let end = pos + len;
            if len == member.len() && &buf[pos..end] == member {
                return Some((start, end));
            }
            pos = end;
        }
        None
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.find(member).is_some()
    }

    /// Appends `member`, which the caller checked is absent.
    pub fn push(&mut self, member: &[u8]) {
        let mut entry = Scratch::new();
        varint::put(&mut entry, member.len());
        entry.extend_from_slice(member);
        let end = self.buf.len().max(HEADER);
        let count = self.len() + 1;
        splice(&mut self.buf, end..end, &entry, count);
    }

    /// Removes `member` (the last member takes its place); true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let Some((start, end)) = self.find(member) else { return false };
        let n = self.len();
        if end == self.buf.len() {
            splice(&mut self.buf, start..end, &[], n - 1);
            return true;
        }
        // The last entry: the one after which the buffer ends.
        let mut pos = end;
        let mut last = end;
        while pos < self.buf.len() {
            last = pos;
            let len = varint::get(&self.buf, &mut pos);
            pos += len;
        }
        let moved: Scratch = self.buf[last..].into();
        // Drop the last entry, then put it in the hole: offsets before `last` hold.
        edit(&mut self.buf, n - 1, |v| {
            v.truncate(last);
            splice_vec(v, start..end, &moved);
        });
        true
    }

    pub fn iter(&self) -> PackedSetIter<'_> {
        PackedSetIter { buf: &self.buf, pos: HEADER.min(self.buf.len()) }
    }

    /// The `i`-th member.
    pub fn get_index(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i)
    }

    /// The encoded size of `member`'s entry.
    #[cfg(test)]
    fn entry_size(member: &[u8]) -> usize {
        varint::len(member.len()) + member.len()
    }
}

pub struct PackedSetIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackedSetIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let len = varint::get(self.buf, &mut self.pos);
        let member = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Some(member)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// An element from a small alphabet (so prefixes are often shared and fields repeat),
    /// sometimes empty, sometimes binary, sometimes long.
    fn element(rng: &mut StdRng) -> Vec<u8> {
        match rng.gen_range(0..10) {
            0 => Vec::new(),
            1 => (0..rng.gen_range(1..300)).map(|_| rng.gen()).collect(),
            2 => {
                let mut v = b"prefix:".repeat(rng.gen_range(1..20));
                v.push(rng.gen_range(b'a'..b'e'));
                v
            }
            3 => (0..rng.gen_range(120..140)).map(|_| b'x').collect(),
            _ => {
                let len = rng.gen_range(1..6);
                (0..len).map(|_| [b'a', b'b', 0, 0xff][rng.gen_range(0..4)]).collect()
            }
        }
    }

    /// The buffer a hash of `pairs` takes, worked out from the format alone.
    fn encoded_size(pairs: &[(Vec<u8>, Vec<u8>)]) -> usize {
        if pairs.is_empty() {
            return 0;
        }
        let entry = |prev: &[u8], cur: &[u8]| {
            let shared = prev.iter().zip(cur).take_while(|(a, b)| a == b).count();
            varint::len(shared) + varint::len(cur.len() - shared) + cur.len() - shared
        };
        let (mut pf, mut pv): (&[u8], &[u8]) = (&[], &[]);
        let mut size = HEADER;
        for (f, v) in pairs {
            size += entry(pf, f) + entry(pv, v);
            (pf, pv) = (f, v);
        }
        size
    }

    #[test]
    fn packed_hash_matches_a_model() {
        for seed in 0..120u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut h = PackedHash::default();
            let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            for _ in 0..rng.gen_range(1..120) {
                let field = element(&mut rng);
                match rng.gen_range(0..10) {
                    0..=5 => {
                        let value = element(&mut rng);
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
                        assert_eq!(h.insert(&field, &value), new, "seed {seed}");
                    }
                    6..=7 => {
                        let at = model.iter().position(|(f, _)| *f == field);
                        if let Some(i) = at {
                            model.remove(i);
                        }
                        assert_eq!(h.remove(&field), at.is_some(), "seed {seed}");
                    }
                    _ => {
                        // Remove an existing field, often the first or the last.
                        if !model.is_empty() {
                            let i = match rng.gen_range(0..3) {
                                0 => 0,
                                1 => model.len() - 1,
                                _ => rng.gen_range(0..model.len()),
                            };
                            let (f, _) = model.remove(i);
                            assert!(h.remove(&f), "seed {seed}");
                        }
                    }
                }
                h.check_invariants();
                assert_eq!(h.heap_size(), encoded_size(&model), "seed {seed}");
                assert_eq!(h.len(), model.len());
                assert_eq!(h.heap_size() == 0, model.is_empty());
                let got: Vec<(Vec<u8>, Vec<u8>)> = h.iter().map(|(f, v)| (f.into_owned(), v.into_owned())).collect();
                assert_eq!(got, model, "seed {seed}");
                let mut each = Vec::new();
                h.for_each(|f, v| each.push((f.to_vec(), v.to_vec())));
                assert_eq!(each, model, "seed {seed}");
                for (i, (f, v)) in model.iter().enumerate() {
                    assert_eq!(h.get(f).as_deref(), Some(&v[..]), "seed {seed}");
                    let (gf, gv) = h.get_index(i).expect("below len");
                    assert_eq!((&gf[..], &gv[..]), (&f[..], &v[..]));
                }
                assert!(h.get_index(model.len()).is_none());
                let probe = element(&mut rng);
                let expected = model.iter().find(|(f, _)| *f == probe).map(|(_, v)| &v[..]);
                assert_eq!(h.get(&probe).as_deref(), expected, "seed {seed}");
                assert_eq!(h.contains(&probe), expected.is_some());
            }
        }
    }

    #[test]
    fn packed_hash_compresses_shared_prefixes() {
        let mut h = PackedHash::default();
        for j in 0..10 {
            h.insert(format!("field:{j}").as_bytes(), format!("value:{j}").as_bytes());
        }
        // 4 (count) + 2 × (9 + 9 × 3): "field:0" whole, then one byte of suffix each.
        assert_eq!(h.heap_size(), 76);
        assert_eq!(h.get(b"field:7").as_deref(), Some(&b"value:7"[..]));
        assert_eq!(h.get(b"field:").as_deref(), None);
        assert_eq!(h.get(b"field:77").as_deref(), None);
        assert!(matches!(h.get(b"field:0"), Some(Cow::Borrowed(b"value:0"))));
    }

    #[test]
    fn packed_set_matches_a_hashtable_order_model() {
        for seed in 0..200u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut s = PackedSet::default();
            let mut model: Vec<Vec<u8>> = Vec::new();
            for _ in 0..rng.gen_range(1..150) {
                let m = element(&mut rng);
                if rng.gen_range(0..3) > 0 {
                    let absent = !model.contains(&m);
                    assert_eq!(!s.contains(&m), absent);
                    if absent {
                        model.push(m.clone());
                        s.push(&m);
                    }
                } else {
                    let at = model.iter().position(|x| *x == m);
                    if let Some(i) = at {
                        model.swap_remove(i);
                    }
                    assert_eq!(s.remove(&m), at.is_some(), "seed {seed}");
                }
                assert_eq!(s.len(), model.len());
                assert_eq!(s.heap_size() == 0, model.is_empty());
                assert_eq!(s.iter().collect::<Vec<_>>(), model.iter().map(|m| &m[..]).collect::<Vec<_>>());
                for (i, m) in model.iter().enumerate() {
                    assert_eq!(s.get_index(i), Some(&m[..]));
                }
                assert_eq!(
                    s.heap_size(),
                    if model.is_empty() {
                        0
                    } else {
                        HEADER + model.iter().map(|m| PackedSet::entry_size(m)).sum::<usize>()
                    }
                );
            }
        }
    }
}
