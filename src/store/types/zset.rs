//! Sorted sets: unique members ordered by (score, member).
//!
//! Each member's bytes live once, in one allocation of their own (a [`Member`]: a length
//! prefix and the bytes). Two structures point at it:
//!
//! - an index, a hash table of (member, score) hashed by the member's bytes, for O(1)
//!   lookups;
//! - an order-statistic list of (score, member) for ranks: sorted chunks of at most
//!   [`CHUNK_MAX`] entries plus a Fenwick tree over the chunk lengths. Finding a position, a
//!   rank or the entry at a rank is a binary search over the chunks' last entries or a
//!   Fenwick descent, then one within the chunk: O(log n), as Redis's skiplist with spans.
//!   Inserting or removing shifts at most one chunk's entries. Chunks emptied at the front
//!   (ZPOPMIN) are dropped lazily and at the back (ZPOPMAX) popped, both without rebuilding
//!   the Fenwick tree, so pops cost O(1) amortized besides the shift within a chunk.
//!
//! At 13-byte members this is ~16 bytes per member, 16 per order entry and 16 per index
//! bucket (plus control bytes and spare capacity), against Redis's ~112.

use hashbrown::hash_table::Entry as TableEntry;
use hashbrown::{DefaultHashBuilder, HashTable};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cmp::Ordering;
use std::hash::BuildHasher;
use std::ptr::NonNull;

/// Redis's `zset-max-listpack-entries` / `zset-max-listpack-value` defaults.
pub const LISTPACK_MAX_ENTRIES: usize = 128;
pub const LISTPACK_MAX_VALUE: usize = 64;

/// When a sorted set stops being reported as "listpack" (`zset-max-listpack-entries` /
/// `-value`). Ferrocache stores both encodings alike; OBJECT ENCODING, DUMP and RDB tell
/// them apart, and a listpack keeps -0 as 0 (it stores scores as text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZSetLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl ZSetLimits {
    /// Redis 7.0's defaults.
    pub const REDIS_DEFAULTS: ZSetLimits =
        ZSetLimits { max_entries: LISTPACK_MAX_ENTRIES, max_value: LISTPACK_MAX_VALUE };
}

impl Default for ZSetLimits {
    fn default() -> Self {
        ZSetLimits::REDIS_DEFAULTS
    }
}

/// Entries a chunk holds at most; a full chunk splits before it takes one more.
const CHUNK_MAX: usize = 128;

/// The sorted-set order of two entries: by score (as C's `<`: -0.0 equals 0.0), then by
/// member bytes.
#[cfg(test)]
fn cmp_entry(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal).then_with(|| a.1.cmp(b.1))
}

/// Bytes of the LEB128 length prefix of a `len`-byte member.
fn header_len(len: usize) -> usize {
    (usize::BITS - (len | 1).leading_zeros()).div_ceil(7) as usize
}

/// What jemalloc hands out for a member of `len` bytes: its size class (8, 16, then four
/// classes per power of two).
fn member_cost(len: usize) -> usize {
    let n = header_len(len) + len;
    if n <= 8 {
        8
    } else if n <= 128 {
        n.next_multiple_of(16)
    } else {
        n.next_multiple_of(n.next_power_of_two() / 8)
    }
}

/// A member's bytes in one heap allocation of their own: a LEB128 length, then the bytes.
///
/// A plain pointer, `Copy`: the [`ZSet`] that made it frees it (once, in [`ZSet::remove`],
/// a pop or its `Drop`), after taking it out of both its index and its order, which hold
/// the only copies. So every `Member` reachable from a `ZSet` is live while the `ZSet` is,
/// which is what the `unsafe` reads below rely on.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Member(NonNull<u8>);

impl Member {
    fn new(bytes: &[u8]) -> Member {
        let head = header_len(bytes.len());
        let layout = Layout::from_size_align(head + bytes.len(), 1).expect("a member's size fits an isize");
        // SAFETY: `layout` has a non-zero size (the header is at least one byte).
        let Some(p) = NonNull::new(unsafe { alloc(layout) }) else { handle_alloc_error(layout) };
        let mut len = bytes.len();
        for i in 0..head {
            let more = if i + 1 < head { 0x80 } else { 0 };
            // SAFETY: `i < head`, within the allocation.
            unsafe { p.as_ptr().add(i).write((len & 0x7f) as u8 | more) };
            len >>= 7;
        }
        // SAFETY: the allocation has `bytes.len()` bytes after the header; a fresh allocation
        // does not overlap `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_ptr().add(head), bytes.len()) };
        Member(p)
    }

    /// The length and the header's size.
    ///
    /// # Safety
    /// `self` must not have been freed.
    unsafe fn len_head(self) -> (usize, usize) {
        let (mut len, mut i) = (0usize, 0);
        loop {
            // SAFETY: `Member::new` wrote a complete LEB128 header (the caller's promise that
            // the allocation is live); reading stops at its last byte.
            let b = unsafe { self.0.as_ptr().add(i).read() };
            len |= ((b & 0x7f) as usize) << (7 * i);
            i += 1;
            if b & 0x80 == 0 {
                return (len, i);
            }
        }
    }

    /// The member's bytes.
    ///
    /// # Safety
    /// `self` must not be freed while the slice is in use: callers tie `'a` to a borrow of
    /// the [`ZSet`] holding it.
    unsafe fn bytes<'a>(self) -> &'a [u8] {
        // SAFETY: the allocation is live (the caller's promise) and holds `len` bytes after
        // its header, written once by `Member::new` and never changed.
        unsafe {
            let (len, head) = self.len_head();
            std::slice::from_raw_parts(self.0.as_ptr().add(head), len)
        }
    }

    /// Frees the allocation.
    ///
    /// # Safety
    /// `self` must be live, and no copy of it used afterwards.
    unsafe fn free(self) {
        // SAFETY: live, per the caller; the layout is the one `Member::new` allocated with.
        unsafe {
            let (len, head) = self.len_head();
            dealloc(self.0.as_ptr(), Layout::from_size_align_unchecked(head + len, 1));
        }
    }
}

type Entry = (f64, Member);

/// `e` against (score, member) in the set's order. The member's bytes are read only when the
/// scores tie, which saves a cache miss per comparison otherwise.
fn cmp_key(e: &Entry, score: f64, member: &[u8]) -> Ordering {
    match e.0.partial_cmp(&score) {
        Some(Ordering::Equal) | None => {
            // SAFETY: entries of a live set hold live members (see `Member`).
            unsafe { e.1.bytes() }.cmp(member)
        }
        Some(o) => o,
    }
}

/// The ordered entries: sorted chunks and a Fenwick tree of their lengths.
///
/// `chunks[..head]` are empty (emptied at the front and kept until they are half the list,
/// so that popping the front never shifts the list); `chunks[head..]` are never empty.
#[derive(Default)]
struct Order {
    chunks: Vec<Vec<Entry>>,
    head: usize,
    /// Fenwick tree (1-based, stored 0-based) over `chunks[i].len()`.
    fenwick: Vec<usize>,
    len: usize,
    /// The chunks' capacities, summed (for the heap size).
    slots: usize,
}

impl Order {
    fn live(&self) -> &[Vec<Entry>] {
        &self.chunks[self.head..]
    }

    fn rebuild(&mut self) {
        let n = self.chunks.len();
        self.fenwick.clear();
        self.fenwick.extend(self.chunks.iter().map(Vec::len));
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

    /// Appends a chunk of `size` entries to the tree (the chunk is already pushed):
    /// node `n` covers chunks `n & (n + 1) ..= n`, all but the last already in the tree.
    fn fenwick_push(&mut self, size: usize) {
        let n = self.fenwick.len();
        let node = size + self.before(n) - self.before(n & (n + 1));
        self.fenwick.push(node);
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
        // SAFETY (both closures): entries hold live members (see `Member`).
        let ci = self.live().partition_point(|c| {
            let (s, m) = c.last().expect("live chunks are never empty");
            before(*s, unsafe { m.bytes() })
        });
        if ci == self.live().len() {
            return self.len;
        }
        let ci = self.head + ci;
        self.before(ci) + self.chunks[ci].partition_point(|(s, m)| before(*s, unsafe { m.bytes() }))
    }

    /// The chunk where (score, member) is or would go, and its offset there.
    fn find(&self, score: f64, member: &[u8]) -> (usize, Result<usize, usize>) {
        let live = self.live();
        let k = live.partition_point(|c| {
            cmp_key(c.last().expect("live chunks are never empty"), score, member) == Ordering::Less
        });
        let k = k.min(live.len().saturating_sub(1));
        let Some(chunk) = live.get(k) else { return (self.head, Err(0)) };
        (self.head + k, chunk.binary_search_by(|e| cmp_key(e, score, member)))
    }

    /// Makes room for one more entry in chunk `ci`, growing its capacity by doubling but never
    /// past [`CHUNK_MAX`].
    fn reserve_one(&mut self, ci: usize) {
        let c = &mut self.chunks[ci];
        if c.len() == c.capacity() {
            self.slots -= c.capacity();
            let want = (c.capacity() * 2).clamp(4, CHUNK_MAX);
            c.reserve_exact(want - c.len());
            self.slots += c.capacity();
        }
    }

    fn new_chunk(&mut self) -> Vec<Entry> {
        let c = Vec::with_capacity(CHUNK_MAX);
        self.slots += c.capacity();
        c
    }

    /// Inserts an entry that is not there yet.
    fn insert(&mut self, score: f64, member: Member) {
        // SAFETY: `member` is live: the caller just made it or holds it in the index.
        let bytes = unsafe { member.bytes() };
        let e = (score, member);
        self.len += 1;
        if self.head == self.chunks.len() {
            self.chunks.clear();
            self.head = 0;
            self.chunks.push(Vec::new());
            self.reserve_one(0);
            self.chunks[0].push(e);
            self.rebuild();
            return;
        }
        let (ci, at) = self.find(score, bytes);
        debug_assert!(at.is_err(), "inserting an entry twice");
        let at = at.unwrap_or_else(|e| e);
        if self.chunks[ci].len() < CHUNK_MAX {
            self.reserve_one(ci);
            self.chunks[ci].insert(at, e);
            self.fenwick_add(ci, 1);
            return;
        }
        // Chunk `ci` is full. Between two chunks, the previous one may have room.
        if at == 0 && ci > self.head && self.chunks[ci - 1].len() < CHUNK_MAX {
            self.reserve_one(ci - 1);
            self.chunks[ci - 1].push(e);
            self.fenwick_add(ci - 1, 1);
            return;
        }
        // Before everything (scores that only shrink) starts a chunk too.
        if at == 0 && ci == self.head {
            let mut c = self.new_chunk();
            c.push(e);
            if self.head == 0 {
                // No empty slot before the first chunk: make room for many at once (half as
                // many as there are chunks; `drop_empty` drains them only once they are at
                // least as many as the rest), so that a set filled from the low end shifts
                // the chunk list once per O(chunks) new chunks, not once per chunk.
                let room = (self.chunks.len() / 2).max(16);
                self.chunks.splice(0..0, std::iter::repeat_with(Vec::new).take(room));
                self.head = room;
                self.rebuild();
            }
            self.head -= 1;
            self.chunks[self.head] = c;
            self.fenwick_add(self.head, 1);
            return;
        }
        let last = ci + 1 == self.chunks.len();
        // Appending past the end (scores that only grow) starts a chunk, leaving this one full.
        if at == CHUNK_MAX && last {
            let mut c = self.new_chunk();
            c.push(e);
            self.chunks.push(c);
            self.fenwick_push(1);
            return;
        }
        // Split in half. At either end of the list no chunk after it moves, so the Fenwick
        // tree is updated in place; in the middle it is rebuilt.
        let half = CHUNK_MAX / 2;
        let mut tail = self.new_chunk();
        tail.extend(self.chunks[ci].drain(half..));
        if at <= half {
            self.chunks[ci].insert(at, e);
        } else {
            tail.insert(at - half, e);
        }
        let tail_len = tail.len();
        if last {
            self.chunks.push(tail);
            self.fenwick_add(ci, half as isize - CHUNK_MAX as isize + (at <= half) as isize);
            self.fenwick_push(tail_len);
        } else if ci == self.head && self.head > 0 {
            // The front half moves into the empty slot before it.
            let front = std::mem::replace(&mut self.chunks[ci], tail);
            self.slots -= self.chunks[ci - 1].capacity();
            self.chunks[ci - 1] = front;
            self.head -= 1;
            let front_len = self.chunks[ci - 1].len();
            self.fenwick_add(ci - 1, front_len as isize);
            self.fenwick_add(ci, tail_len as isize - CHUNK_MAX as isize);
        } else {
            self.chunks.insert(ci + 1, tail);
            self.rebuild();
        }
    }

    /// Removes the entry at offset `at` of chunk `ci`, then keeps chunks from thinning out.
    fn remove_at(&mut self, ci: usize, at: usize) -> Entry {
        self.len -= 1;
        let e = self.chunks[ci].remove(at);
        self.fenwick_add(ci, -1);
        let len = self.chunks[ci].len();
        if len >= CHUNK_MAX / 4 {
            return e;
        }
        // Merge a small chunk into a neighbour with room, so that deletions cannot leave a
        // chunk per entry: into the next one (at the front, this is where pops go), else
        // into the previous one (at the back, the same).
        if ci + 1 < self.chunks.len() && len + self.chunks[ci + 1].len() <= CHUNK_MAX {
            let moved = std::mem::take(&mut self.chunks[ci]);
            self.slots -= moved.capacity();
            let next = &mut self.chunks[ci + 1];
            if next.capacity() < next.len() + len {
                self.slots -= next.capacity();
                next.reserve_exact(CHUNK_MAX - next.len());
                self.slots += next.capacity();
            }
            next.splice(0..0, moved);
            self.fenwick_add(ci, -(len as isize));
            self.fenwick_add(ci + 1, len as isize);
            self.drop_empty(ci);
        } else if ci > self.head && len + self.chunks[ci - 1].len() <= CHUNK_MAX {
            let moved = std::mem::take(&mut self.chunks[ci]);
            self.slots -= moved.capacity();
            let prev = &mut self.chunks[ci - 1];
            if prev.capacity() < prev.len() + len {
                self.slots -= prev.capacity();
                prev.reserve_exact(CHUNK_MAX - prev.len());
                self.slots += prev.capacity();
            }
            prev.extend(moved);
            self.fenwick_add(ci, -(len as isize));
            self.fenwick_add(ci - 1, len as isize);
            self.drop_empty(ci);
        } else if len == 0 {
            self.drop_empty(ci);
        }
        e
    }

    /// Takes out chunk `ci`, empty (and counted 0 in the tree).
    fn drop_empty(&mut self, ci: usize) {
        self.slots -= self.chunks[ci].capacity();
        self.chunks[ci] = Vec::new();
        if ci + 1 == self.chunks.len() {
            self.chunks.pop();
            self.fenwick.pop();
            if self.head == self.chunks.len() {
                *self = Order { slots: self.slots, ..Order::default() };
            }
        } else if ci == self.head {
            self.head += 1;
            if self.head >= 32 && self.head * 2 >= self.chunks.len() {
                self.chunks.drain(..self.head);
                self.head = 0;
                self.rebuild();
            }
        } else {
            self.chunks.remove(ci);
            self.rebuild();
        }
    }

    fn remove(&mut self, score: f64, member: &[u8]) -> Option<Member> {
        let (ci, Ok(at)) = self.find(score, member) else { return None };
        Some(self.remove_at(ci, at).1)
    }

    fn pop_first(&mut self) -> Option<Entry> {
        (self.len > 0).then(|| self.remove_at(self.head, 0))
    }

    fn pop_last(&mut self) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let ci = self.chunks.len() - 1;
        Some(self.remove_at(ci, self.chunks[ci].len() - 1))
    }

    fn get(&self, rank: usize) -> Option<&Entry> {
        if rank >= self.len {
            return None;
        }
        let (ci, off) = self.locate(rank);
        Some(&self.chunks[ci][off])
    }

    /// Entries from `rank` upwards.
    fn iter_from(&self, rank: usize) -> impl Iterator<Item = &Entry> {
        let (ci, off) = if rank >= self.len { (self.chunks.len(), 0) } else { self.locate(rank) };
        self.chunks[ci..].iter().enumerate().flat_map(move |(i, c)| c[if i == 0 { off } else { 0 }..].iter())
    }

    /// Entries from `rank` downwards (rank < len, else nothing).
    fn iter_down_from(&self, rank: usize) -> impl Iterator<Item = &Entry> {
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
    }
}

/// An entry as the API hands it out.
fn view(e: &Entry) -> (&[u8], f64) {
    // SAFETY: `e` is borrowed from a live set, whose members live as long as the borrow.
    (unsafe { e.1.bytes() }, e.0)
}

/// A sorted set.
#[derive(Default)]
pub struct ZSet {
    /// (member, score) by the member's bytes.
    index: HashTable<(Member, f64)>,
    hasher: DefaultHashBuilder,
    order: Order,
    /// Heap bytes of the members' own allocations.
    bytes: usize,
    /// Whether Redis would hold this set as a skiplist: set once it outgrows the listpack
    /// limits and never cleared by later deletions, as Redis converts only one way (except
    /// [`ZSet::compact_if_small`], Redis's `zsetConvertToListpackIfNeeded` for stored results).
    big: bool,
}

// SAFETY: a `ZSet` owns its members' allocations outright (the raw pointers are never shared
// outside it, see `Member`) and has no interior mutability: `&ZSet` only reads.
unsafe impl Send for ZSet {}
// SAFETY: as above.
unsafe impl Sync for ZSet {}

impl Drop for ZSet {
    fn drop(&mut self) {
        for c in &self.order.chunks {
            for (_, m) in c {
                // SAFETY: the order holds each live member exactly once; the index's copies
                // are dropped with it, unused.
                unsafe { m.free() };
            }
        }
    }
}

impl Clone for ZSet {
    fn clone(&self) -> ZSet {
        let hasher = self.hasher.clone();
        let mut index = HashTable::with_capacity(self.len());
        let mut slots = 0;
        let chunks = self
            .order
            .chunks
            .iter()
            .map(|c| {
                let mut copy = Vec::with_capacity(c.capacity());
                slots += copy.capacity();
                for e in c {
                    let (bytes, score) = view(e);
                    let m = Member::new(bytes);
                    // SAFETY (the rehash closure): the new index holds live members.
                    index.insert_unique(hasher.hash_one(bytes), (m, score), |(m, _)| {
                        hasher.hash_one(unsafe { m.bytes() })
                    });
                    copy.push((score, m));
                }
                copy
            })
            .collect();
        let order =
            Order { chunks, head: self.order.head, fenwick: self.order.fenwick.clone(), len: self.order.len, slots };
        ZSet { index, hasher, order, bytes: self.bytes, big: self.big }
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s))).finish()
    }
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
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn hash(&self, member: &[u8]) -> u64 {
        self.hasher.hash_one(member)
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        // SAFETY: the index holds live members.
        self.index.find(self.hash(member), |(m, _)| unsafe { m.bytes() } == member).map(|(_, s)| *s)
    }

    /// Sets `member`'s score (NaN is the caller's to refuse); true if the member is new.
    /// A listpack converts past Redis's default limits (loaders and scratch sets; commands
    /// use [`insert_within`](Self::insert_within) with the configured ones).
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        self.insert_within(member, score, ZSetLimits::default())
    }

    /// [`insert`](Self::insert), converting a listpack as Redis's `zsetAdd` does once a new
    /// member would pass `limits`.
    pub fn insert_within(&mut self, member: &[u8], score: f64, limits: ZSetLimits) -> bool {
        debug_assert!(!score.is_nan());
        let len = self.index.len();
        let hasher = &self.hasher;
        // SAFETY (both closures): the index holds live members.
        let entry = self.index.entry(
            hasher.hash_one(member),
            |(m, _)| unsafe { m.bytes() } == member,
            |(m, _)| hasher.hash_one(unsafe { m.bytes() }),
        );
        match entry {
            TableEntry::Occupied(mut o) => {
                // A listpack holds scores as text, where -0 reads back as the integer 0.
                let score = if score == 0.0 && !self.big { 0.0 } else { score };
                let (m, old) = o.get_mut();
                // As C compares: -0 replaces nothing where 0 is.
                if *old != score {
                    let old_score = std::mem::replace(old, score);
                    let m = *m;
                    let taken = self.order.remove(old_score, member);
                    debug_assert!(taken == Some(m), "order has every member");
                    self.order.insert(score, m);
                }
                false
            }
            TableEntry::Vacant(v) => {
                if len + 1 > limits.max_entries || member.len() > limits.max_value {
                    self.big = true;
                }
                let score = if score == 0.0 && !self.big { 0.0 } else { score };
                let m = Member::new(member);
                v.insert((m, score));
                self.order.insert(score, m);
                self.bytes += member_cost(member.len());
                true
            }
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let h = self.hash(member);
        // SAFETY: the index holds live members.
        let Ok(o) = self.index.find_entry(h, |(m, _)| unsafe { m.bytes() } == member) else { return false };
        let ((m, score), _) = o.remove();
        let taken = self.order.remove(score, member);
        debug_assert!(taken == Some(m), "order has every member");
        self.bytes -= member_cost(member.len());
        // SAFETY: `m` is out of the index and the order, and unused from here.
        unsafe { m.free() };
        true
    }

    /// Takes `e`, just removed from the order, out of the index too and frees its member.
    fn take(&mut self, e: Entry) -> (Box<[u8]>, f64) {
        self.take_with(e, |bytes, score| (bytes.into(), score))
    }

    /// Takes `m` out of the index and frees it, handing its bytes and score to `f` first.
    fn take_with<R>(&mut self, (score, m): Entry, f: impl FnOnce(&[u8], f64) -> R) -> R {
        // SAFETY: `m` is live until freed below.
        let bytes = unsafe { m.bytes() };
        let h = self.hash(bytes);
        if let Ok(o) = self.index.find_entry(h, |(x, _)| *x == m) {
            o.remove();
        } else {
            debug_assert!(false, "index has every member");
        }
        self.bytes -= member_cost(bytes.len());
        let r = f(bytes, score);
        // SAFETY: out of both structures; `bytes` is not used past this point.
        unsafe { m.free() };
        r
    }

    /// Removes the entry with the lowest score, or the highest if `max`, and hands it to `f`
    /// before its bytes are freed: a pop that replies needs no copy of its own.
    pub fn pop_with<R>(&mut self, max: bool, f: impl FnOnce(&[u8], f64) -> R) -> Option<R> {
        let e = if max { self.order.pop_last() } else { self.order.pop_first() }?;
        Some(self.take_with(e, f))
    }

    /// Removes and returns the entry with the lowest score (ZPOPMIN).
    pub fn pop_first(&mut self) -> Option<(Box<[u8]>, f64)> {
        let e = self.order.pop_first()?;
        Some(self.take(e))
    }

    /// Removes and returns the entry with the highest score (ZPOPMAX).
    pub fn pop_last(&mut self) -> Option<(Box<[u8]>, f64)> {
        let e = self.order.pop_last()?;
        Some(self.take(e))
    }

    /// Every (member, score), lowest score first, ties by member bytes.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        self.order.live().iter().flat_map(|c| c.iter()).map(view)
    }

    /// The 0-based rank of `member` from the lowest score.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        let (ci, at) = self.order.find(score, member);
        Some(self.order.before(ci) + at.ok()?)
    }

    /// The entry at `rank` from the lowest score.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        self.order.get(rank).map(view)
    }

    /// Entries from rank `rank` upwards (towards higher scores).
    pub fn iter_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> {
        self.order.iter_from(rank).map(view)
    }

    /// Entries from rank `rank` downwards (towards lower scores); nothing if out of range.
    pub fn iter_down_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> {
        self.order.iter_down_from(rank).map(view)
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
    pub fn compact_if_small(&mut self, limits: ZSetLimits) {
        self.big = self.len() > limits.max_entries || self.iter().any(|(m, _)| m.len() > limits.max_value);
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

    /// Heap bytes, exactly as allocated but for the members' rounding (O(1)).
    pub fn heap_size(&self) -> usize {
        self.bytes
            + self.index.allocation_size()
            + self.order.slots * std::mem::size_of::<Entry>()
            + self.order.chunks.capacity() * std::mem::size_of::<Vec<Entry>>()
            + self.order.fenwick.capacity() * std::mem::size_of::<usize>()
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
        assert_eq!(z.bytes, 0);
        assert_eq!(z.order.slots, 0);
    }

    /// Every structural invariant the `unsafe` code and the ranks rely on.
    fn check_invariants(z: &ZSet) {
        let o = &z.order;
        assert!(o.chunks[..o.head].iter().all(|c| c.is_empty() && c.capacity() == 0));
        assert!(o.live().iter().all(|c| !c.is_empty() && c.len() <= CHUNK_MAX && c.capacity() <= CHUNK_MAX));
        assert!(o.head < o.chunks.len() || o.len == 0);
        assert_eq!(o.slots, o.chunks.iter().map(Vec::capacity).sum::<usize>());
        let mut fresh = Order { chunks: o.chunks.clone(), ..Order::default() };
        fresh.rebuild();
        assert_eq!(fresh.fenwick, o.fenwick);
        assert_eq!(o.len, o.chunks.iter().map(Vec::len).sum::<usize>());
        assert_eq!(o.len, z.index.len());
        let entries: Vec<_> = z.iter().collect();
        assert!(entries.windows(2).all(|w| cmp_entry((w[0].1, w[0].0), (w[1].1, w[1].0)) == Ordering::Less));
        for c in o.live() {
            for e in c {
                let ((bytes, _), (s, m)) = (view(e), e);
                let (im, is) = z.index.find(z.hash(bytes), |(x, _)| x == m).expect("indexed");
                assert!(im == m && is.to_bits() == s.to_bits());
            }
        }
        assert_eq!(z.bytes, entries.iter().map(|(m, _)| member_cost(m.len())).sum::<usize>());
    }

    /// The model's entries in the set's order.
    fn sorted(model: &std::collections::BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<_> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_entry((a.1, &a.0), (b.1, &b.0)));
        v
    }

    fn same(got: Vec<(&[u8], f64)>, want: &[(Vec<u8>, f64)]) {
        let got: Vec<(Vec<u8>, u64)> = got.into_iter().map(|(m, s)| (m.to_vec(), s.to_bits())).collect();
        let want: Vec<(Vec<u8>, u64)> = want.iter().map(|(m, s)| (m.clone(), s.to_bits())).collect();
        assert_eq!(got, want);
    }

    /// Random ZADD / ZINCRBY / ZREM / pops / ranks / ranges against a `BTreeMap` model, with
    /// ties (ordered by member bytes), -0 and +0, infinities, empty and long members.
    #[test]
    fn matches_a_btreemap_model() {
        use std::collections::BTreeMap;
        for seed in 0..12u64 {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let pool = [40, 400, 3000][seed as usize % 3];
            let steps = 12_000;
            let (mut z, mut model, mut big) = (ZSet::new(), BTreeMap::<Vec<u8>, f64>::new(), false);
            let member = |rng: &mut rand::rngs::SmallRng| -> Vec<u8> {
                let k = rng.gen_range(0..pool);
                match rng.gen_range(0..50) {
                    0 => Vec::new(),
                    1 => vec![b'L'; 60 + k % 300],
                    2 => vec![(k % 256) as u8; 1 + k % 3],
                    _ => format!("m{k}").into_bytes(),
                }
            };
            let score = |rng: &mut rand::rngs::SmallRng| -> f64 {
                match rng.gen_range(0..10) {
                    0 => f64::INFINITY,
                    1 => f64::NEG_INFINITY,
                    2 => -0.0,
                    3 => 0.0,
                    4 | 5 => rng.gen_range(-3..3) as f64,
                    6 => rng.gen::<f64>() * 1e300 - 5e299,
                    _ => rng.gen_range(-1000..1000) as f64 / 4.0,
                }
            };
            // Mostly growing first, then mostly shrinking, so both ends and merges are used.
            for step in 0..steps {
                let grow = (step / 2000) % 2 == 0;
                // Adds are rarer while shrinking (they fall to ZINCRBY).
                let op = match rng.gen_range(0..100) {
                    0..=44 if !grow && rng.gen_bool(0.7) => 50,
                    op => op,
                };
                match op {
                    0..=44 => {
                        let (m, s) = (member(&mut rng), score(&mut rng));
                        let new = !model.contains_key(&m);
                        if new && (model.len() + 1 > LISTPACK_MAX_ENTRIES || m.len() > LISTPACK_MAX_VALUE) {
                            big = true;
                        }
                        let s2 = if s == 0.0 && !big { 0.0 } else { s };
                        match model.get_mut(&m) {
                            Some(old) if *old != s2 => *old = s2,
                            Some(_) => {}
                            None => {
                                model.insert(m.clone(), s2);
                            }
                        }
                        assert_eq!(z.insert(&m, s), new);
                    }
                    45..=54 => {
                        // ZINCRBY: the caller adds and refuses NaN.
                        let (m, d) = (member(&mut rng), score(&mut rng));
                        let cur = z.score(&m);
                        assert_eq!(cur.map(f64::to_bits), model.get(&m).map(|s| s.to_bits()));
                        let s = cur.unwrap_or(0.0) + d;
                        if !s.is_nan() {
                            let new = cur.is_none();
                            if new && (model.len() + 1 > LISTPACK_MAX_ENTRIES || m.len() > LISTPACK_MAX_VALUE) {
                                big = true;
                            }
                            let s2 = if s == 0.0 && !big { 0.0 } else { s };
                            let old = model.entry(m.clone()).or_insert(s2);
                            if *old != s2 {
                                *old = s2;
                            }
                            assert_eq!(z.insert(&m, s), new);
                        }
                    }
                    55..=74 => {
                        let m = member(&mut rng);
                        assert_eq!(z.remove(&m), model.remove(&m).is_some());
                    }
                    75..=84 => {
                        let n = rng.gen_range(1..40);
                        let max = rng.gen_bool(0.5);
                        for _ in 0..n {
                            let want = if max { model_last(&model) } else { model_first(&model) };
                            let got = if max { z.pop_last() } else { z.pop_first() };
                            if let Some((m, _)) = &want {
                                model.remove(m);
                            }
                            assert_eq!(
                                got.map(|(m, s)| (m.to_vec(), s.to_bits())),
                                want.map(|(m, s)| (m, s.to_bits()))
                            );
                        }
                    }
                    _ if step % 7 == 0 => {
                        let all = sorted(&model);
                        let r = rng.gen_range(0..=all.len());
                        let k = rng.gen_range(0..300);
                        same(z.iter_from(r).take(k).collect(), &all[r..(r + k).min(all.len())]);
                        let down: Vec<_> =
                            if r < all.len() { all[..=r].iter().rev().take(k).cloned().collect() } else { vec![] };
                        same(z.iter_down_from(r).take(k).collect(), &down);
                        same(z.get_by_rank(r).into_iter().collect(), &all[r..(r + 1).min(all.len())]);
                        if let Some((m, _)) = all.get(r) {
                            assert_eq!(z.rank(m), Some(r));
                        }
                        let cut = score(&mut rng);
                        assert_eq!(z.partition(|s, _| s < cut), all.iter().filter(|(_, s)| *s < cut).count());
                        same(z.iter().rev().collect(), &all.iter().rev().cloned().collect::<Vec<_>>());
                    }
                    _ => {}
                }
                assert_eq!(z.len(), model.len());
                if step % 250 == 0 {
                    check_invariants(&z);
                    same(z.iter().collect(), &sorted(&model));
                    let copy = z.clone();
                    check_invariants(&copy);
                    assert_eq!(copy, z);
                    assert_eq!((copy.bytes, copy.order.slots), (z.bytes, z.order.slots));
                }
            }
            check_invariants(&z);
            same(z.iter().collect(), &sorted(&model));
            while z.pop_first().is_some() {}
            check_invariants(&z);
            assert_eq!((z.bytes, z.order.slots), (0, 0));
        }
    }

    fn model_first(model: &std::collections::BTreeMap<Vec<u8>, f64>) -> Option<(Vec<u8>, f64)> {
        model.iter().min_by(|a, b| cmp_entry((*a.1, a.0), (*b.1, b.0))).map(|(m, s)| (m.clone(), *s))
    }

    fn model_last(model: &std::collections::BTreeMap<Vec<u8>, f64>) -> Option<(Vec<u8>, f64)> {
        model.iter().max_by(|a, b| cmp_entry((*a.1, a.0), (*b.1, b.0))).map(|(m, s)| (m.clone(), *s))
    }

    /// Scores that only grow (or only shrink) fill chunks to the brim; pops at either end then
    /// never rebuild the tree, and the front's empty chunks are dropped in batches.
    #[test]
    fn sequential_fill_and_pops_keep_chunks_full() {
        let mut z = ZSet::new();
        for i in 0..10_000 {
            z.insert(format!("member:{i}").as_bytes(), i as f64);
        }
        for i in 0..10_000 {
            z.insert(format!("low:{i}").as_bytes(), -(i as f64));
        }
        check_invariants(&z);
        let live = z.order.live().len();
        assert!(live <= 20_000 / CHUNK_MAX + 2, "{live} chunks");
        for i in 0..15_000 {
            let (m, s) = z.pop_first().expect("not empty");
            let want = if i < 10_000 { i as f64 - 9_999.0 } else { (i - 10_000) as f64 };
            assert_eq!(s, want);
            assert!(!m.is_empty());
            if i % 1000 == 0 {
                check_invariants(&z);
            }
        }
        check_invariants(&z);
        assert_eq!(z.pop_last().map(|(m, s)| (m.to_vec(), s)), Some((b"member:9999".to_vec(), 9999.0)));
        check_invariants(&z);
    }

    #[test]
    fn a_set_filled_from_the_low_end_shifts_its_chunks_rarely() {
        let mut z = ZSet::new();
        let (mut shifts, mut chunks, mut head) = (0, 0, 0);
        for i in 0..100_000 {
            z.insert(format!("m{i}").as_bytes(), -(i as f64));
            // A new chunk with no empty slot before the first one shifts the whole list.
            shifts += usize::from(z.order.chunks.len() > chunks && head == 0 && i > 0);
            (chunks, head) = (z.order.chunks.len(), z.order.head);
        }
        check_invariants(&z);
        // ~780 chunks: one shift per chunk would be ~780; doubling room makes it ~log(780).
        assert!(shifts <= 12, "{shifts} shifts");
        assert_eq!(z.get_by_rank(0).map(|(m, s)| (m.to_vec(), s)), Some((b"m99999".to_vec(), -99_999.0)));
        assert_eq!(z.rank(b"m0"), Some(99_999));
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
        z.compact_if_small(ZSetLimits::default());
        assert_eq!(z.encoding(), "listpack");
        z.insert(&[b'x'; 65], 1.0);
        assert_eq!(z.encoding(), "skiplist");
    }
}
