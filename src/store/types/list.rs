//! Lists: sequences of byte strings, pushed and popped at both ends.
//!
//! A list is a quicklist, as in Redis: packed nodes (`node.rs`, entries prefix-compressed
//! against their neighbour) between two small unpacked buffers, `head` (reversed) and `tail`.
//! Pushes go to a buffer; a full buffer is packed into the node at its end (the tail appends,
//! the head prepends a whole number of groups), so a push costs O(1) amortized. Pops take from
//! a buffer and refill an empty one with one group of the nearest node. Positional reads and
//! edits walk the nodes from the nearer end and decode or rebuild one node.
//!
//! Nodes are shared copy-on-write (`Arc::make_mut` where one changes): a copy of a list (a
//! snapshot's, COPY's) shares them, and a write afterwards copies the one node it changes,
//! not the list.

mod node;

use super::{element_cost, shared_size};
use node::{Builder, Node, GROUP, NODE_BYTES};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Arc;

/// Elements a buffer holds before it is packed (a whole number of groups).
const BUFFER: usize = 2 * GROUP;

/// Node `i` of `nodes` for a change: copied first if a copy of the list shares it, `bytes`
/// (the list's running count) following the copy's cost.
fn unshare<'a>(nodes: &'a mut VecDeque<Arc<Node>>, bytes: &mut usize, i: usize) -> &'a mut Node {
    if Arc::get_mut(&mut nodes[i]).is_none() {
        let copy = Node::clone(&nodes[i]);
        *bytes = *bytes - nodes[i].cost() + copy.cost();
        nodes[i] = Arc::new(copy);
    }
    Arc::get_mut(&mut nodes[i]).expect("unshared above")
}

/// A list (reported as "quicklist", as Redis 7.0 does for every list).
#[derive(Debug, Default)]
pub struct List {
    /// The first elements, reversed: `head.last()` is the list's first element.
    head: Vec<Box<[u8]>>,
    nodes: VecDeque<Arc<Node>>,
    /// The last elements, in order.
    tail: Vec<Box<[u8]>>,
    len: usize,
    /// Heap bytes of the buffered elements and of the nodes (see `types/mod.rs`).
    bytes: usize,
}

impl Clone for List {
    fn clone(&self) -> List {
        let mut l = List {
            head: self.head.clone(),
            nodes: self.nodes.clone(),
            tail: self.tail.clone(),
            len: self.len,
            bytes: 0,
        };
        l.bytes = l.count_bytes();
        l
    }
}

impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        if self.len != other.len {
            return false;
        }
        let mut theirs = Vec::with_capacity(self.len);
        other.for_each(|e| theirs.push(e.to_vec()));
        let mut i = 0;
        self.visit(0, self.len, |e| {
            i += 1;
            if e == &theirs[i - 1][..] {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        })
        .is_continue()
    }
}

/// Where list index `i` is: in `head` at vector index, in node `n` at index, or in `tail`.
enum Place {
    Head(usize),
    Node(usize, usize),
    Tail(usize),
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn count_bytes(&self) -> usize {
        self.head.iter().chain(&self.tail).map(|e| element_cost(e.len())).sum::<usize>()
            + self.nodes.iter().map(|n| n.cost()).sum::<usize>()
    }

    fn nodes_len(&self) -> usize {
        self.len - self.head.len() - self.tail.len()
    }

    pub fn push_back(&mut self, item: &[u8]) {
        self.bytes += element_cost(item.len());
        self.len += 1;
        self.tail.push(item.into());
        if self.tail.len() >= BUFFER {
            self.pack_tail();
        }
    }

    pub fn push_front(&mut self, item: &[u8]) {
        self.bytes += element_cost(item.len());
        self.len += 1;
        self.head.push(item.into());
        if self.head.len() >= BUFFER {
            self.pack_head();
        }
    }

    /// Moves `tail` into the last node (or a new one if that one is full).
    fn pack_tail(&mut self) {
        let raw: usize = self.tail.iter().map(|e| e.len() + 2).sum();
        self.bytes -= self.tail.iter().map(|e| element_cost(e.len())).sum::<usize>();
        // The last node is copied (if shared) only to take the elements; a shared one that
        // stays as it is is not copied to be shrunk (a copy would be exact-size anyway).
        let fits = self.nodes.back().is_some_and(|n| n.encoded_len() + raw <= NODE_BYTES);
        match self.nodes.len().checked_sub(1) {
            Some(i) if fits => {
                let n = unshare(&mut self.nodes, &mut self.bytes, i);
                self.bytes -= n.cost();
                n.extend(self.tail.iter().map(|e| &e[..]));
                self.bytes += n.cost();
            }
            _ => {
                if let Some(n) = self.nodes.back_mut().and_then(Arc::get_mut) {
                    self.bytes -= n.cost();
                    n.shrink();
                    self.bytes += n.cost();
                }
                // Built, not filled: large elements must not share one oversized node.
                for n in Node::build(self.tail.iter().map(|e| &e[..])) {
                    self.bytes += n.cost();
                    self.nodes.push_back(Arc::new(n));
                }
            }
        }
        self.tail.clear();
    }

    /// Moves `head` into the first node (or a new one if that one is full).
    fn pack_head(&mut self) {
        let raw: usize = self.head.iter().map(|e| e.len() + 2).sum();
        self.bytes -= self.head.iter().map(|e| element_cost(e.len())).sum::<usize>();
        self.head.reverse();
        let fits = self.nodes.front().is_some_and(|n| n.encoded_len() + raw <= NODE_BYTES);
        match self.nodes.front() {
            Some(_) if self.head.len().is_multiple_of(GROUP) && fits => {
                let n = unshare(&mut self.nodes, &mut self.bytes, 0);
                self.bytes -= n.cost();
                n.prepend(&self.head);
                self.bytes += n.cost();
            }
            _ => {
                for n in Node::build(self.head.iter().map(|e| &e[..])).into_iter().rev() {
                    self.bytes += n.cost();
                    self.nodes.push_front(Arc::new(n));
                }
            }
        }
        self.head.clear();
    }

    pub fn pop_front(&mut self) -> Option<Box<[u8]>> {
        if self.head.is_empty() {
            if !self.nodes.is_empty() {
                let n = unshare(&mut self.nodes, &mut self.bytes, 0);
                let before = n.cost();
                let mut group = n.take_front_group();
                self.bytes += group.iter().map(|e| element_cost(e.len())).sum::<usize>();
                if n.len() == 0 {
                    self.bytes -= before;
                    self.nodes.pop_front();
                }
                group.reverse();
                self.head = group;
            } else if !self.tail.is_empty() {
                let item = self.tail.remove(0);
                return Some(self.took(item));
            }
        }
        let item = self.head.pop()?;
        Some(self.took(item))
    }

    pub fn pop_back(&mut self) -> Option<Box<[u8]>> {
        if self.tail.is_empty() {
            if let Some(last) = self.nodes.len().checked_sub(1) {
                let n = unshare(&mut self.nodes, &mut self.bytes, last);
                self.bytes -= n.cost();
                let group = n.take_back_group();
                self.bytes += group.iter().map(|e| element_cost(e.len())).sum::<usize>();
                if n.len() == 0 {
                    self.nodes.pop_back();
                } else {
                    self.bytes += n.cost();
                }
                self.tail = group;
            } else if !self.head.is_empty() {
                let item = self.head.remove(0);
                return Some(self.took(item));
            }
        }
        let item = self.tail.pop()?;
        Some(self.took(item))
    }

    fn took(&mut self, item: Box<[u8]>) -> Box<[u8]> {
        self.len -= 1;
        self.bytes -= element_cost(item.len());
        item
    }

    /// Where index `i` (< len) is.
    fn place(&self, i: usize) -> Place {
        let h = self.head.len();
        if i < h {
            return Place::Head(h - 1 - i);
        }
        let tail_start = self.len - self.tail.len();
        if i >= tail_start {
            return Place::Tail(i - tail_start);
        }
        let mut k = i - h;
        if k < self.nodes_len() / 2 {
            for (n, node) in self.nodes.iter().enumerate() {
                if k < node.len() {
                    return Place::Node(n, k);
                }
                k -= node.len();
            }
        } else {
            let mut from_end = tail_start - i; // 1 for the last node element
            for (n, node) in self.nodes.iter().enumerate().rev() {
                if from_end <= node.len() {
                    return Place::Node(n, node.len() - from_end);
                }
                from_end -= node.len();
            }
        }
        unreachable!("list index {i} of {} not found", self.len)
    }

    pub fn get(&self, index: usize) -> Option<Cow<'_, [u8]>> {
        if index >= self.len {
            return None;
        }
        Some(match self.place(index) {
            Place::Head(j) => Cow::Borrowed(&self.head[j][..]),
            Place::Tail(j) => Cow::Borrowed(&self.tail[j][..]),
            Place::Node(n, k) => Cow::Owned(self.nodes[n].get(k)),
        })
    }

    /// Calls `f` with the elements at `start..end` (clamped to the list), head to tail, until
    /// it breaks; O(end - start) after a walk over the nodes from the nearer end.
    pub fn visit(&self, start: usize, end: usize, mut f: impl FnMut(&[u8]) -> ControlFlow<()>) -> ControlFlow<()> {
        let end = end.min(self.len);
        if start >= end {
            return ControlFlow::Continue(());
        }
        let h = self.head.len();
        for i in start..end.min(h) {
            f(&self.head[h - 1 - i])?;
        }
        let tail_start = self.len - self.tail.len();
        let (from, to) = (start.max(h), end.min(tail_start));
        if from < to {
            let Place::Node(mut n, mut k) = self.place(from) else { unreachable!() };
            let mut left = to - from;
            let mut scratch = Vec::new();
            while left > 0 {
                let node = &self.nodes[n];
                let take = (node.len() - k).min(left);
                node.visit(k, k + take, &mut scratch, &mut f)?;
                left -= take;
                n += 1;
                k = 0;
            }
        }
        for i in start.max(tail_start)..end {
            f(&self.tail[i - tail_start])?;
        }
        ControlFlow::Continue(())
    }

    /// Calls `f` with the elements at `start..end` (clamped), tail to head, until it breaks.
    pub fn visit_rev(&self, start: usize, end: usize, mut f: impl FnMut(&[u8]) -> ControlFlow<()>) -> ControlFlow<()> {
        let end = end.min(self.len);
        if start >= end {
            return ControlFlow::Continue(());
        }
        let h = self.head.len();
        let tail_start = self.len - self.tail.len();
        for i in (start.max(tail_start)..end).rev() {
            f(&self.tail[i - tail_start])?;
        }
        let (from, to) = (start.max(h), end.min(tail_start));
        if from < to {
            let Place::Node(mut n, k) = self.place(to - 1) else { unreachable!() };
            let mut k_end = k + 1;
            let mut left = to - from;
            let mut scratch = Vec::new();
            loop {
                let node = &self.nodes[n];
                let take = k_end.min(left);
                node.visit_rev(k_end - take, k_end, &mut scratch, &mut f)?;
                left -= take;
                if left == 0 {
                    break;
                }
                n -= 1;
                k_end = self.nodes[n].len();
            }
        }
        for i in (start..end.min(h)).rev() {
            f(&self.head[h - 1 - i])?;
        }
        ControlFlow::Continue(())
    }

    /// Calls `f` with every element, head to tail.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        let _ = self.visit(0, self.len, |e| {
            f(e);
            ControlFlow::Continue(())
        });
    }

    /// Calls `f` with the elements at `start..end` (clamped), head to tail.
    pub fn for_each_in(&self, start: usize, end: usize, mut f: impl FnMut(&[u8])) {
        let _ = self.visit(start, end, |e| {
            f(e);
            ControlFlow::Continue(())
        });
    }

    /// Calls `f` with the elements at `start..end` (clamped), tail to head.
    pub fn for_each_rev_in(&self, start: usize, end: usize, mut f: impl FnMut(&[u8])) {
        let _ = self.visit_rev(start, end, |e| {
            f(e);
            ControlFlow::Continue(())
        });
    }

    /// Every element, head to tail, copied (for tests and cold paths).
    pub fn to_vec(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len);
        self.for_each(|e| out.push(e.to_vec()));
        out
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn heap_size(&self) -> usize {
        self.bytes
            + (self.head.capacity() + self.tail.capacity()) * std::mem::size_of::<Box<[u8]>>()
            + self.nodes.capacity() * std::mem::size_of::<Arc<Node>>()
            + self.nodes.len() * shared_size::<Node>()
    }

    /// Rebuilds node `n` from its live entries `from..to`, each handed to `edit` (with its
    /// index in the node) to push what should take its place; `extra` is about how many
    /// bytes the edit adds. The result is split evenly if it outgrew a node; returns how many
    /// nodes it became. Callers then merge small nodes ([`merge_around`](Self::merge_around)),
    /// so edits in the middle neither leave a trail of tiny nodes nor make ever more of them
    /// (Redis's quicklist merges for the same reason).
    fn rebuild_node(
        &mut self,
        n: usize,
        from: usize,
        to: usize,
        extra: usize,
        mut edit: impl FnMut(usize, &[u8], &mut Builder),
    ) -> usize {
        let old = &self.nodes[n];
        let mut b = Builder::balanced(old.live_len() + extra);
        let (mut i, mut scratch) = (from, Vec::new());
        let _ = old.visit(from, to, &mut scratch, &mut |e| {
            edit(i, e, &mut b);
            i += 1;
            ControlFlow::Continue(())
        });
        self.bytes -= old.cost();
        let mut built = b.finish();
        let count = built.len();
        match count {
            0 => {
                self.nodes.remove(n);
            }
            _ => {
                self.bytes += built.iter().map(Node::cost).sum::<usize>();
                let rest = built.split_off(1);
                self.nodes[n] = Arc::new(built.pop().expect("one node"));
                for (j, more) in rest.into_iter().enumerate() {
                    self.nodes.insert(n + 1 + j, Arc::new(more));
                }
            }
        }
        count
    }

    /// After node `n` was rebuilt into `count` nodes: merges them with their neighbours where
    /// small (the pair after them first, so that `n` still names the first of them).
    fn merge_around(&mut self, n: usize, count: usize) {
        if count > 0 {
            self.merge_if_small(n + count - 1);
        }
        if n > 0 {
            self.merge_if_small(n - 1);
        }
    }

    /// Merges node `a + 1` into node `a` when their live entries fill at most three quarters of
    /// a node: the merged node has room for edits, so edits cannot make it split and merge back
    /// in turn.
    fn merge_if_small(&mut self, a: usize) -> bool {
        let (Some(x), Some(y)) = (self.nodes.get(a), self.nodes.get(a + 1)) else { return false };
        let bytes = x.live_len() + y.live_len();
        if bytes > NODE_BYTES / 4 * 3 {
            return false;
        }
        let mut b = Builder::new(NODE_BYTES);
        let mut scratch = Vec::new();
        for node in [x, y] {
            let _ = node.visit(0, node.len(), &mut scratch, &mut |e| {
                b.push(e);
                ControlFlow::Continue(())
            });
        }
        let merged = b.finish();
        if merged.len() != 1 {
            return false; // entries larger than their encoded estimate; leave them
        }
        self.bytes -= x.cost() + y.cost();
        let merged = merged.into_iter().next().expect("one node");
        self.bytes += merged.cost();
        self.nodes[a] = Arc::new(merged);
        self.nodes.remove(a + 1);
        true
    }

    /// Replaces the element at `index`; false if there is none.
    pub fn set(&mut self, index: usize, item: &[u8]) -> bool {
        if index >= self.len {
            return false;
        }
        let slot = match self.place(index) {
            Place::Head(j) => &mut self.head[j],
            Place::Tail(j) => &mut self.tail[j],
            Place::Node(n, k) => {
                let len = self.nodes[n].len();
                let count =
                    self.rebuild_node(n, 0, len, item.len() + 2, |i, e, b| b.push(if i == k { item } else { e }));
                self.merge_around(n, count);
                return true;
            }
        };
        self.bytes = self.bytes - element_cost(slot.len()) + element_cost(item.len());
        *slot = item.into();
        true
    }

    /// Inserts `item` so that it ends at `index` (0 ..= len).
    pub fn insert(&mut self, index: usize, item: &[u8]) {
        let h = self.head.len();
        let tail_start = self.len - self.tail.len();
        if index <= h {
            self.bytes += element_cost(item.len());
            self.len += 1;
            self.head.insert(h - index, item.into());
            if self.head.len() >= BUFFER {
                self.pack_head();
            }
        } else if index >= tail_start {
            self.bytes += element_cost(item.len());
            self.len += 1;
            self.tail.insert(index - tail_start, item.into());
            if self.tail.len() >= BUFFER {
                self.pack_tail();
            }
        } else {
            let Place::Node(n, k) = self.place(index) else { unreachable!() };
            let len = self.nodes[n].len();
            let count = self.rebuild_node(n, 0, len, item.len() + 2, |i, e, b| {
                if i == k {
                    b.push(item);
                }
                b.push(e);
            });
            self.merge_around(n, count);
            self.len += 1;
        }
    }

    /// Removes up to `limit` elements equal to `item` (0: all), counting from the head, or
    /// from the tail when `from_tail`; returns how many went. Only nodes holding a match are
    /// rebuilt.
    pub fn remove_matching(&mut self, item: &[u8], limit: usize, from_tail: bool) -> usize {
        // From the tail with a limit: the matches that go are those at or after the
        // `limit`-th match counted from the tail (all of them if there are fewer).
        let first = match (from_tail, limit) {
            (true, l) if l > 0 => {
                let (mut seen, mut at, mut pos) = (0, 0, self.len);
                let _ = self.visit_rev(0, self.len, |e| {
                    pos -= 1;
                    seen += usize::from(e == item);
                    if seen == l {
                        at = pos;
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                });
                at
            }
            _ => 0,
        };
        let limit = if from_tail { 0 } else { limit };
        let (removed, mut pos) = (std::cell::Cell::new(0usize), 0usize);
        let all_found = || limit > 0 && removed.get() == limit;
        // Whether the element at the next position goes.
        let mut goes = |e: &[u8]| {
            pos += 1;
            let go = pos > first && !all_found() && e == item;
            removed.set(removed.get() + usize::from(go));
            go
        };
        let mut freed = 0;
        let mut head = std::mem::take(&mut self.head);
        head.reverse();
        head.retain(|e| {
            let go = goes(e);
            freed += if go { element_cost(e.len()) } else { 0 };
            !go
        });
        head.reverse();
        self.head = head;
        let mut n = 0;
        let mut rebuilt = false;
        while n < self.nodes.len() && !all_found() {
            let mut flags = Vec::new();
            let mut scratch = Vec::new();
            let node = &self.nodes[n];
            let _ = node.visit(0, node.len(), &mut scratch, &mut |e| {
                flags.push(goes(e));
                ControlFlow::Continue(())
            });
            if !flags.contains(&true) {
                n += 1;
                continue;
            }
            let len = node.len();
            n += self.rebuild_node(n, 0, len, 0, |i, e, b| {
                if !flags[i] {
                    b.push(e);
                }
            });
            rebuilt = true;
        }
        self.tail.retain(|e| {
            let go = goes(e);
            freed += if go { element_cost(e.len()) } else { 0 };
            !go
        });
        if rebuilt {
            // Merged only now: merging during the walk would bring visited entries back.
            let mut a = 0;
            while a + 1 < self.nodes.len() {
                if !self.merge_if_small(a) {
                    a += 1;
                }
            }
        }
        let removed = removed.get();
        self.bytes -= freed;
        self.len -= removed;
        removed
    }

    /// Removes the last `n` elements.
    fn drop_back(&mut self, mut n: usize) {
        let m = n.min(self.tail.len());
        let cut = self.tail.len() - m;
        self.bytes -= self.tail.drain(cut..).map(|e| element_cost(e.len())).sum::<usize>();
        self.len -= m;
        n -= m;
        while n > 0 {
            let Some(node) = self.nodes.back() else { break };
            let take = node.len().min(n);
            if take == node.len() {
                self.bytes -= node.cost();
                self.nodes.pop_back();
            } else {
                let (last, keep) = (self.nodes.len() - 1, node.len() - take);
                let count = self.rebuild_node(last, 0, keep, 0, |_, e, b| b.push(e));
                self.merge_around(last, count);
            }
            self.len -= take;
            n -= take;
        }
        let m = n.min(self.head.len());
        self.bytes -= self.head.drain(..m).map(|e| element_cost(e.len())).sum::<usize>();
        self.len -= m;
    }

    /// Removes the first `n` elements.
    fn drop_front(&mut self, mut n: usize) {
        let m = n.min(self.head.len());
        let cut = self.head.len() - m;
        self.bytes -= self.head.drain(cut..).map(|e| element_cost(e.len())).sum::<usize>();
        self.len -= m;
        n -= m;
        while n > 0 {
            let Some(node) = self.nodes.front() else { break };
            let take = node.len().min(n);
            if take == node.len() {
                self.bytes -= node.cost();
                self.nodes.pop_front();
            } else {
                let len = node.len();
                let count = self.rebuild_node(0, take, len, 0, |_, e, b| b.push(e));
                self.merge_around(0, count);
            }
            self.len -= take;
            n -= take;
        }
        let m = n.min(self.tail.len());
        self.bytes -= self.tail.drain(..m).map(|e| element_cost(e.len())).sum::<usize>();
        self.len -= m;
    }

    /// Keeps only the elements at `start..end` (clamped to the list; empty when start >= end).
    pub fn retain_range(&mut self, start: usize, end: usize) {
        let end = end.min(self.len);
        let start = start.min(end);
        self.drop_back(self.len - end);
        self.drop_front(start);
        if self.nodes.capacity() > 64 && self.nodes.len() < self.nodes.capacity() / 4 {
            self.nodes.shrink_to_fit();
        }
        if self.len == 0 {
            *self = List::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// The running byte count always equals what the buffers and nodes cost, the length is
    /// right, no node is empty, and the contents equal the model's.
    fn check(l: &List, model: &VecDeque<Vec<u8>>) {
        assert_eq!(l.bytes, l.count_bytes());
        assert_eq!(l.len(), model.len());
        assert!(l.nodes.iter().all(|n| n.len() > 0));
        // Only an entry too large for a node has one to itself; the rest share nodes of
        // bounded size (a varint's slack per entry, as the builder counts raw lengths).
        assert!(l.nodes.iter().all(|n| n.len() == 1 || n.encoded_len() <= NODE_BYTES + 16));
        assert_eq!(l.nodes_len(), l.nodes.iter().map(|n| n.len()).sum::<usize>());
        assert_eq!(l.to_vec(), model.iter().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn edits_keep_the_byte_count_exact() {
        let mut l = List::new();
        let mut m = VecDeque::new();
        for i in 0..100 {
            l.push_back(format!("item{}", i % 7).as_bytes());
            m.push_back(format!("item{}", i % 7).into_bytes());
        }
        check(&l, &m);
        assert_eq!(l.remove_matching(b"item3", 5, true), 5);
        // The five that went were the last five: item3 is at 3, 10, … 94 (14 of them).
        let left: Vec<usize> = l.to_vec().iter().enumerate().filter(|(_, e)| *e == b"item3").map(|(i, _)| i).collect();
        assert_eq!(left.len(), 9);
        assert_eq!(l.remove_matching(b"item4", 2, false), 2);
        // item4 was at 4, 11, 18: the first two went, so 18 moved down by two.
        assert_eq!(l.to_vec().iter().position(|e| e == b"item4"), Some(16));
        assert!(l.set(0, b"a much longer element than before"));
        assert!(!l.set(1000, b"x"));
        l.insert(3, b"x");
        assert_eq!(l.bytes, l.count_bytes());
        l.retain_range(10, 40);
        assert_eq!(l.len(), 30);
        assert_eq!(l.bytes, l.count_bytes());
        let mut n = 0;
        l.for_each_in(0, 2, |_| n += 1);
        assert_eq!(n, 2);
        l.retain_range(5, 5);
        assert!(l.is_empty());
        assert_eq!(l.bytes, 0);
    }

    #[test]
    fn inserts_in_the_middle_split_nodes_evenly_and_merge_them_back() {
        let mut l = List::new();
        let mut m = VecDeque::new();
        for i in 0..2000 {
            l.push_back(format!("element:{i}").as_bytes());
            m.push_back(format!("element:{i}").into_bytes());
        }
        let full = l.nodes.len();
        for i in 0..2000 {
            l.insert(1000, format!("inserted:{i}").as_bytes());
            m.insert(1000, format!("inserted:{i}").into_bytes());
        }
        check(&l, &m);
        // Twice the elements, the node count at most about twice plus the even splits' slack
        // (one-element nodes would make it ~2000).
        assert!(l.nodes.len() <= 3 * full + 2, "{} nodes from {full}", l.nodes.len());
        // Removing most of them merges the nodes left nearly empty.
        for i in 0..1900 {
            assert_eq!(l.remove_matching(format!("inserted:{i}").as_bytes(), 1, i % 2 == 0), 1);
            m.retain(|e| *e != format!("inserted:{i}").into_bytes());
        }
        check(&l, &m);
        assert!(l.nodes.len() <= full + 2, "{} nodes from {full}", l.nodes.len());
    }

    #[test]
    fn large_incompressible_elements_get_nodes_of_their_own() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut l = List::new();
        let mut m = VecDeque::new();
        for _ in 0..4 * BUFFER {
            let e: Vec<u8> = (0..NODE_BYTES / 2 + 1).map(|_| rng.gen()).collect();
            l.push_back(&e);
            m.push_back(e);
        }
        check(&l, &m);
        assert!(l.nodes.len() >= 3 * BUFFER, "{} nodes", l.nodes.len());
    }

    fn element(rng: &mut SmallRng) -> Vec<u8> {
        match rng.gen_range(0..10) {
            0 => Vec::new(),
            1 => (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect(),
            2 => vec![b'L'; rng.gen_range(NODE_BYTES - 10..NODE_BYTES * 2)],
            3 => format!("{}", rng.gen_range(0..5)).into_bytes(),
            _ => format!("element:{}", rng.gen_range(0..1_000_000)).into_bytes(),
        }
    }

    /// Random edits against a `VecDeque` model, with pushes and pops weighted so the list
    /// grows through many nodes, shrinks and grows again. Every 300 steps a copy is held (as a
    /// snapshot holds one, sharing nodes) and the edits go on in the copy or the original: the
    /// held one must not change.
    #[test]
    fn matches_a_model_under_random_edits() {
        let mut most_nodes = 0;
        for seed in 0..40u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut l = List::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            let mut held: Option<(List, VecDeque<Vec<u8>>)> = None;
            let grow = rng.gen_range(40..90);
            for step in 0..3000 {
                if step % 300 == 0 {
                    if let Some((hl, hm)) = held.take() {
                        check(&hl, &hm);
                    }
                    let copy = l.clone();
                    held =
                        Some(if rng.gen() { (std::mem::replace(&mut l, copy), m.clone()) } else { (copy, m.clone()) });
                }
                let op = rng.gen_range(0..100);
                let len = m.len();
                let pushing = (step / 500) % 2 == 0;
                match op {
                    _ if op < grow && pushing || op < 100 - grow && !pushing => {
                        let e = element(&mut rng);
                        if rng.gen() {
                            l.push_front(&e);
                            m.push_front(e);
                        } else {
                            l.push_back(&e);
                            m.push_back(e);
                        }
                    }
                    _ if op < 92 => {
                        if rng.gen() {
                            assert_eq!(l.pop_front().map(|b| b.to_vec()), m.pop_front());
                        } else {
                            assert_eq!(l.pop_back().map(|b| b.to_vec()), m.pop_back());
                        }
                    }
                    92 | 93 => {
                        let i = rng.gen_range(0..=len);
                        let e = element(&mut rng);
                        l.insert(i, &e);
                        m.insert(i, e);
                    }
                    94 if len > 0 => {
                        let i = rng.gen_range(0..len);
                        let e = element(&mut rng);
                        assert!(l.set(i, &e));
                        m[i] = e;
                    }
                    95 if len > 0 => {
                        let target = m[rng.gen_range(0..len)].clone();
                        let limit = rng.gen_range(0..4);
                        let from_tail = rng.gen();
                        let mut removed = 0;
                        let mut keep: Vec<bool> = vec![true; len];
                        let order: Vec<usize> = if from_tail { (0..len).rev().collect() } else { (0..len).collect() };
                        for i in order {
                            if m[i] == target && (limit == 0 || removed < limit) {
                                keep[i] = false;
                                removed += 1;
                            }
                        }
                        assert_eq!(l.remove_matching(&target, limit, from_tail), removed);
                        let mut i = 0;
                        m.retain(|_| {
                            i += 1;
                            keep[i - 1]
                        });
                    }
                    96 if len > 0 && rng.gen_range(0..4) == 0 => {
                        let a = rng.gen_range(0..=len);
                        let b = rng.gen_range(0..=len + 2);
                        l.retain_range(a, b);
                        let b = b.min(len);
                        let a = a.min(b);
                        m.truncate(b);
                        m.drain(..a);
                    }
                    97 if len > 0 => {
                        let i = rng.gen_range(0..len);
                        assert_eq!(l.get(i).as_deref(), Some(&m[i][..]));
                        assert!(l.get(len).is_none());
                    }
                    98 | 99 if len > 0 => {
                        let a = rng.gen_range(0..len);
                        let b = rng.gen_range(a..=len);
                        let mut got = Vec::new();
                        l.for_each_in(a, b, |e| got.push(e.to_vec()));
                        assert_eq!(got, m.range(a..b).cloned().collect::<Vec<_>>());
                        got.clear();
                        l.for_each_rev_in(a, b, |e| got.push(e.to_vec()));
                        assert_eq!(got, m.range(a..b).rev().cloned().collect::<Vec<_>>());
                        // Stopping early stops.
                        let mut n = 0;
                        let flow = l.visit(a, b, |_| {
                            n += 1;
                            if n == 3 {
                                ControlFlow::Break(())
                            } else {
                                ControlFlow::Continue(())
                            }
                        });
                        assert_eq!(flow.is_break(), b - a >= 3);
                        assert_eq!(n, (b - a).min(3));
                    }
                    _ => {}
                }
                most_nodes = most_nodes.max(l.nodes.len());
                if step % 97 == 0 || m.len() < 40 {
                    check(&l, &m);
                }
            }
            check(&l, &m);
            if let Some((hl, hm)) = held {
                check(&hl, &hm);
            }
            let copy = l.clone();
            assert_eq!(copy.bytes, copy.count_bytes());
            assert!(copy == l);
        }
        assert!(most_nodes >= 20, "{most_nodes}");
    }

    /// A million sequential elements pack into a few bytes each, pushed from either end.
    #[test]
    fn sequential_elements_pack_small() {
        for front in [false, true] {
            let mut l = List::new();
            for i in 0..100_000 {
                let e = format!("element:{i}");
                if front {
                    l.push_front(e.as_bytes());
                } else {
                    l.push_back(e.as_bytes());
                }
            }
            let per = l.heap_size() as f64 / 100_000.0;
            assert!(per < 7.0, "{per} bytes per element (front: {front})");
            assert_eq!(
                l.get(54_321).as_deref(),
                Some(format!("element:{}", if front { 99_999 - 54_321 } else { 54_321 }).as_bytes())
            );
        }
    }
}
