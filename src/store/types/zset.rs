//! Sorted sets: unique members ordered by (score, member).
//!
//! A member → score map for O(1) lookups, beside an order-statistic list of (score, member)
//! for ranks: sorted chunks of at most [`CHUNK_MAX`] entries plus a Fenwick tree over the
//! chunk lengths. Finding a position, a rank or the entry at a rank is a binary search over
//! the chunks' last entries or a Fenwick descent, then one within the chunk: O(log n), as
//! Redis's skiplist with spans. Inserting or removing shifts at most one chunk's entries.

use super::element_cost;
use hashbrown::HashMap;
use std::cmp::Ordering;

/// Redis's `zset-max-listpack-entries` / `zset-max-listpack-value` defaults: a set within
/// both is reported as "listpack". Ferrocache stores both alike; only OBJECT ENCODING tells
/// (the directives are stored, not applied).
pub const LISTPACK_MAX_ENTRIES: usize = 128;
pub const LISTPACK_MAX_VALUE: usize = 64;

/// Entries a chunk holds before it splits in two.
const CHUNK_MAX: usize = 128;

/// The sorted-set order of two entries: by score (as C's `<`: -0.0 equals 0.0), then by
/// member bytes.
pub fn cmp_entry(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal).then_with(|| a.1.cmp(b.1))
}

type Entry = (f64, Box<[u8]>);

/// The ordered entries: sorted, never-empty chunks and a Fenwick tree of their lengths.
#[derive(Debug, Clone, Default)]
struct Order {
    chunks: Vec<Vec<Entry>>,
    /// Fenwick tree (1-based, stored 0-based) over `chunks[i].len()`.
    fenwick: Vec<usize>,
    len: usize,
}

impl Order {
    fn rebuild(&mut self) {
        let n = self.chunks.len();
        self.fenwick = self.chunks.iter().map(Vec::len).collect();
        for i in 0..n {
            let parent = i | (i + 1);
            if parent < n {
                self.fenwick[parent] += self.fenwick[i];
            }
        }
    }

    fn fenwick_add(&mut self, mut i: usize, delta: isize) {
        while i < self.fenwick.len() {
            self.fenwick[i] = self.fenwick[i].wrapping_add_signed(delta);
            i |= i + 1;
        }
    }

    /// Entries in the chunks before chunk `ci`.
    fn before(&self, ci: usize) -> usize {
        let (mut sum, mut i) = (0, ci);
        while i > 0 {
            sum += self.fenwick[i - 1];
            i &= i - 1;
        }
        sum
    }

    /// The chunk and offset of the entry at `rank` (< len).
    fn locate(&self, mut rank: usize) -> (usize, usize) {
        let n = self.fenwick.len();
        let mut pos = 0;
        let mut step = n.next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next <= n && self.fenwick[next - 1] <= rank {
                pos = next;
                rank -= self.fenwick[next - 1];
            }
            step >>= 1;
        }
        (pos, rank)
    }

    /// The rank of the first entry for which `before` is false (`before` must be true for a
    /// prefix of the order, false after it).
    fn partition(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let ci = self.chunks.partition_point(|c| {
            let (s, m) = c.last().expect("chunks are never empty");
            before(*s, m)
        });
        if ci == self.chunks.len() {
            return self.len;
        }
        self.before(ci) + self.chunks[ci].partition_point(|(s, m)| before(*s, m))
    }

    /// The chunk where (score, member) is or would go, and its offset there.
    fn find(&self, score: f64, member: &[u8]) -> (usize, Result<usize, usize>) {
        let lt = |e: &Entry| cmp_entry((e.0, &e.1), (score, member)) == Ordering::Less;
        let ci = self.chunks.partition_point(|c| lt(c.last().expect("chunks are never empty")));
        let ci = ci.min(self.chunks.len().saturating_sub(1));
        let Some(chunk) = self.chunks.get(ci) else { return (0, Err(0)) };
        (ci, chunk.binary_search_by(|e| cmp_entry((e.0, &e.1), (score, member))))
    }

    fn insert(&mut self, score: f64, member: Box<[u8]>) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(vec![(score, member)]);
            self.rebuild();
            return;
        }
        let (ci, at) = self.find(score, &member);
        let at = at.unwrap_or_else(|e| e);
        let chunk = &mut self.chunks[ci];
        chunk.insert(at, (score, member));
        if chunk.len() > CHUNK_MAX {
            let tail = chunk.split_off(chunk.len() / 2);
            self.chunks.insert(ci + 1, tail);
            self.rebuild();
        } else {
            self.fenwick_add(ci, 1);
        }
    }

    fn remove(&mut self, score: f64, member: &[u8]) -> Option<Box<[u8]>> {
        let (ci, Ok(at)) = self.find(score, member) else { return None };
        self.len -= 1;
        let (_, m) = self.chunks[ci].remove(at);
        let len = self.chunks[ci].len();
        if len == 0 {
            self.chunks.remove(ci);
            self.rebuild();
        } else if len < CHUNK_MAX / 4 && ci + 1 < self.chunks.len() && len + self.chunks[ci + 1].len() <= CHUNK_MAX {
            // Merge small neighbours so that deletions cannot leave a chunk per entry.
            let next = self.chunks.remove(ci + 1);
            self.chunks[ci].extend(next);
            self.rebuild();
        } else {
            self.fenwick_add(ci, -1);
        }
        Some(m)
    }

    fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len {
            return None;
        }
        let (ci, off) = self.locate(rank);
        let (s, m) = &self.chunks[ci][off];
        Some((m, *s))
    }

    /// Entries from `rank` upwards.
    fn iter_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> {
        let (ci, off) = if rank >= self.len { (self.chunks.len(), 0) } else { self.locate(rank) };
        self.chunks[ci.min(self.chunks.len())..]
            .iter()
            .enumerate()
            .flat_map(move |(i, c)| c[if i == 0 { off } else { 0 }..].iter())
            .map(|(s, m)| (&m[..], *s))
    }

    /// Entries from `rank` downwards (rank < len, else nothing).
    fn iter_down_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> {
        let (n, off) = if rank < self.len {
            let (ci, off) = self.locate(rank);
            (ci + 1, off)
        } else {
            (0, 0)
        };
        self.chunks[..n]
            .iter()
            .rev()
            .enumerate()
            .flat_map(move |(i, c)| c[..if i == 0 { off + 1 } else { c.len() }].iter().rev())
            .map(|(s, m)| (&m[..], *s))
    }
}

/// A sorted set.
#[derive(Debug, Clone, Default)]
pub struct ZSet {
    scores: HashMap<Box<[u8]>, f64>,
    order: Order,
    /// Heap bytes of the members, counted twice as they are stored twice (see `types/mod.rs`).
    bytes: usize,
    /// Whether Redis would hold this set as a skiplist: set once it outgrows the listpack
    /// limits and never cleared by later deletions, as Redis converts only one way (except
    /// [`ZSet::compact_if_small`], Redis's `zsetConvertToListpackIfNeeded` for stored results).
    big: bool,
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
    }
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score (NaN is the caller's to refuse); true if the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        debug_assert!(!score.is_nan());
        let new = !self.scores.contains_key(member);
        if new && (self.scores.len() + 1 > LISTPACK_MAX_ENTRIES || member.len() > LISTPACK_MAX_VALUE) {
            self.big = true;
        }
        // A listpack holds scores as text, where -0 reads back as the integer 0.
        let score = if score == 0.0 && !self.big { 0.0 } else { score };
        match self.scores.get_mut(member) {
            Some(old) => {
                // As C compares: -0 replaces nothing where 0 is.
                if *old != score {
                    let old_score = std::mem::replace(old, score);
                    let boxed = self.order.remove(old_score, member).expect("order has every member");
                    self.order.insert(score, boxed);
                }
                false
            }
            None => {
                self.bytes += 2 * element_cost(member.len()) + 8;
                self.scores.insert(member.into(), score);
                self.order.insert(score, member.into());
                true
            }
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(score) => {
                self.order.remove(score, member);
                self.bytes -= 2 * element_cost(member.len()) + 8;
                true
            }
            None => false,
        }
    }

    /// Every (member, score), lowest score first, ties by member bytes.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        self.order.chunks.iter().flat_map(|c| c.iter()).map(|(s, m)| (&m[..], *s))
    }

    /// The 0-based rank of `member` from the lowest score.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        let (ci, at) = self.order.find(score, member);
        Some(self.order.before(ci) + at.ok()?)
    }

    /// The entry at `rank` from the lowest score.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        self.order.get(rank)
    }

    /// Entries from rank `rank` upwards (towards higher scores).
    pub fn iter_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> {
        self.order.iter_from(rank)
    }

    /// Entries from rank `rank` downwards (towards lower scores); nothing if out of range.
    pub fn iter_down_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> {
        self.order.iter_down_from(rank)
    }

    /// The rank of the first entry for which `before(score, member)` is false; `before` must
    /// hold for a prefix of the order only (e.g. "score < min").
    pub fn partition(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.order.partition(before)
    }

    /// "listpack" while within Redis's limits (as Redis converts, once), else "skiplist".
    pub fn encoding(&self) -> &'static str {
        if self.big {
            "skiplist"
        } else {
            "listpack"
        }
    }

    /// Reports "listpack" again if the set is within the limits: Redis's
    /// `zsetConvertToListpackIfNeeded`, which the commands that store a computed set call.
    pub fn compact_if_small(&mut self) {
        self.big = self.len() > LISTPACK_MAX_ENTRIES || self.scores.keys().any(|m| m.len() > LISTPACK_MAX_VALUE);
    }

    /// Reports "skiplist" from now on: Redis's SORT converts every sorted set it reads
    /// (sort.c's `zsetConvert(sortval, OBJ_ENCODING_SKIPLIST)`), SORT_RO included.
    pub fn convert_to_skiplist(&mut self) {
        self.big = true;
    }

    /// Whether the set is reported as a skiplist (what ZSCAN's paging depends on in Redis).
    pub fn is_big(&self) -> bool {
        self.big
    }

    pub fn heap_size(&self) -> usize {
        self.bytes
            + self.scores.capacity() * 24
            // Each entry's (score, pointer, length) in its chunk, plus each chunk's header and
            // its spare capacity, roughly (exact capacities would take O(chunks) to sum).
            + self.order.len * 24
            + self.order.chunks.len() * (24 + CHUNK_MAX / 4 * 24)
            + self.order.fenwick.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn check(z: &ZSet, model: &std::collections::BTreeSet<(i64, Vec<u8>)>) {
        assert_eq!(z.len(), model.len());
        let got: Vec<(i64, Vec<u8>)> = z.iter().map(|(m, s)| (s as i64, m.to_vec())).collect();
        let want: Vec<(i64, Vec<u8>)> = model.iter().cloned().collect();
        assert_eq!(got, want);
        for (rank, (s, m)) in model.iter().enumerate() {
            assert_eq!(z.rank(m), Some(rank));
            assert_eq!(z.get_by_rank(rank), Some((&m[..], *s as f64)));
        }
        assert_eq!(z.get_by_rank(model.len()), None);
    }

    #[test]
    fn ranks_follow_a_model_through_random_edits() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut z = ZSet::new();
        let mut model = std::collections::BTreeSet::new();
        let mut scores = std::collections::HashMap::new();
        for step in 0..6000 {
            let m = format!("m{}", rng.gen_range(0..700)).into_bytes();
            let grow = step < 3000;
            if rng.gen_bool(if grow { 0.7 } else { 0.3 }) {
                let s = rng.gen_range(-50..50i64);
                if let Some(old) = scores.insert(m.clone(), s) {
                    model.remove(&(old, m.clone()));
                }
                model.insert((s, m.clone()));
                z.insert(&m, s as f64);
            } else {
                let had = scores.remove(&m).map(|old| model.remove(&(old, m.clone()))).is_some();
                assert_eq!(z.remove(&m), had);
            }
            if step % 500 == 0 {
                check(&z, &model);
            }
        }
        check(&z, &model);
        // Every start rank, both directions.
        let all: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        for r in [0, 1, all.len() / 2, all.len().saturating_sub(1), all.len()] {
            let up: Vec<_> = z.iter_from(r).map(|(m, s)| (m.to_vec(), s)).collect();
            assert_eq!(up, all[r.min(all.len())..]);
            let down: Vec<_> = z.iter_down_from(r).map(|(m, s)| (m.to_vec(), s)).collect();
            let want: Vec<_> = if r < all.len() { all[..=r].iter().rev().cloned().collect() } else { vec![] };
            assert_eq!(down, want);
        }
        // Partition: the first score >= 0.
        let p = z.partition(|s, _| s < 0.0);
        assert_eq!(p, all.iter().filter(|(_, s)| *s < 0.0).count());
        while let Some((m, _)) = z.get_by_rank(0).map(|(m, s)| (m.to_vec(), s)) {
            assert!(z.remove(&m));
        }
        assert!(z.is_empty());
        assert_eq!(z.heap_size(), z.scores.capacity() * 24 + z.order.fenwick.capacity() * 8);
    }

    #[test]
    fn encoding_converts_once() {
        let mut z = ZSet::new();
        for i in 0..128 {
            z.insert(format!("{i}").as_bytes(), 1.0);
        }
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"one more", 1.0);
        assert_eq!(z.encoding(), "skiplist");
        z.remove(b"one more");
        assert_eq!(z.encoding(), "skiplist");
        z.compact_if_small();
        assert_eq!(z.encoding(), "listpack");
        z.insert(&[b'x'; 65], 1.0);
        assert_eq!(z.encoding(), "skiplist");
    }
}
