//! A packed list node: up to about [`NODE_BYTES`] of entries in one buffer, each entry
//! prefix-compressed against the one before it (LevelDB's block format).
//!
//! Entries come in groups of [`GROUP`]. A group's first entry (its restart) is stored whole:
//! `varint len, bytes`; the others as `varint shared, varint suffix_len, suffix`, where `shared`
//! is the length of the prefix they share with the previous entry. `restarts` holds each
//! group's byte offset. Every group but the last is full, so entry `p` (counted from the
//! buffer's start) is in group `p / GROUP`: reading any entry decodes at most one group.
//!
//! Groups before `first` are dead (popped from the front): their bytes stay until the node is
//! rebuilt or emptied, so a pop never moves the buffer.

use crate::store::types::varint;
use std::ops::ControlFlow;

/// Entries per group (restart interval).
pub(super) const GROUP: usize = 16;

/// Encoded bytes past which a node takes no more entries (Redis's `list-max-listpack-size -2`).
#[cfg(not(test))]
pub(super) const NODE_BYTES: usize = 8192;
/// Smaller in tests, so that the model tests cross many nodes.
#[cfg(test)]
pub(super) const NODE_BYTES: usize = 1024;

#[derive(Debug, Default)]
pub(super) struct Node {
    buf: Vec<u8>,
    /// Byte offset of each group in `buf`, dead ones included.
    restarts: Vec<usize>,
    /// Dead groups at the front.
    first: usize,
    /// Live entries.
    len: usize,
}

impl Clone for Node {
    fn clone(&self) -> Node {
        // Only the live part, exact-size (its cost is recomputed by the caller).
        let mut node = Node::default();
        node.append_node(self);
        node.shrink();
        node
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl Node {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes this node owns (its two buffers and their allocation headers).
    pub(super) fn cost(&self) -> usize {
        self.buf.capacity() + self.restarts.capacity() * std::mem::size_of::<usize>() + 32
    }

    /// Encoded bytes (dead groups included).
    pub(super) fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// Entries in the buffer, dead groups included.
    fn physical(&self) -> usize {
        self.first * GROUP + self.len
    }

    fn group_end(&self, g: usize) -> usize {
        self.restarts.get(g + 1).copied().unwrap_or(self.buf.len())
    }

    /// Appends one entry; `prev` holds the node's last entry and is updated.
    fn push_entry(&mut self, prev: &mut Vec<u8>, item: &[u8]) {
        if self.physical().is_multiple_of(GROUP) {
            self.restarts.push(self.buf.len());
            varint::put(&mut self.buf, item.len());
            self.buf.extend_from_slice(item);
        } else {
            let shared = common_prefix(prev, item);
            varint::put(&mut self.buf, shared);
            varint::put(&mut self.buf, item.len() - shared);
            self.buf.extend_from_slice(&item[shared..]);
        }
        prev.clear();
        prev.extend_from_slice(item);
        self.len += 1;
    }

    /// Calls `f` with the entries of group `g` from its `skip`-th on, in order.
    #[inline]
    fn visit_group(
        &self,
        g: usize,
        skip: usize,
        scratch: &mut Vec<u8>,
        f: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let (buf, end) = (&self.buf[..], self.group_end(g));
        let mut pos = self.restarts[g];
        let n = varint::get(buf, &mut pos);
        scratch.clear();
        scratch.extend_from_slice(&buf[pos..pos + n]);
        pos += n;
        if skip == 0 {
            f(scratch)?;
        }
        let mut i = 1;
        while pos < end {
            let shared = varint::get(buf, &mut pos);
            let n = varint::get(buf, &mut pos);
            scratch.truncate(shared);
            scratch.extend_from_slice(&buf[pos..pos + n]);
            pos += n;
            if i >= skip {
                f(scratch)?;
            }
            i += 1;
        }
        ControlFlow::Continue(())
    }

    /// Calls `f` with the live entries `from..to`, in order, until it breaks.
    pub(super) fn visit(
        &self,
        from: usize,
        to: usize,
        scratch: &mut Vec<u8>,
        f: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if from >= to {
            return ControlFlow::Continue(());
        }
        let p = self.first * GROUP + from;
        let mut left = to - from;
        let (mut g, mut skip) = (p / GROUP, p % GROUP);
        let mut stopped = false;
        while left > 0 {
            let _ = self.visit_group(g, skip, scratch, &mut |e| {
                left -= 1;
                if f(e).is_break() {
                    stopped = true;
                    return ControlFlow::Break(());
                }
                if left == 0 {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            });
            if stopped {
                return ControlFlow::Break(());
            }
            g += 1;
            skip = 0;
        }
        ControlFlow::Continue(())
    }

    /// Calls `f` with the live entries `from..to` from the last to the first, until it breaks.
    pub(super) fn visit_rev(
        &self,
        from: usize,
        to: usize,
        scratch: &mut Vec<u8>,
        f: &mut impl FnMut(&[u8]) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if from >= to {
            return ControlFlow::Continue(());
        }
        // Group by group from the back: decode one group forward, replay it backwards.
        let base = self.first * GROUP;
        let (lo, hi) = (base + from, base + to);
        let mut g = (hi - 1) / GROUP;
        let mut ends: Vec<usize> = Vec::with_capacity(GROUP);
        let mut flat: Vec<u8> = Vec::new();
        loop {
            let g0 = g * GROUP;
            let skip = lo.saturating_sub(g0);
            let take = hi.min(g0 + GROUP) - (g0 + skip);
            ends.clear();
            flat.clear();
            let mut n = take;
            let _ = self.visit_group(g, skip, scratch, &mut |e| {
                if n == 0 {
                    return ControlFlow::Break(());
                }
                n -= 1;
                flat.extend_from_slice(e);
                ends.push(flat.len());
                ControlFlow::Continue(())
            });
            for i in (0..ends.len()).rev() {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                f(&flat[start..ends[i]])?;
            }
            if g0 <= lo {
                return ControlFlow::Continue(());
            }
            g -= 1;
        }
    }

    /// The live entry at `index`.
    pub(super) fn get(&self, index: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        let _ = self.visit(index, index + 1, &mut scratch, &mut |e| {
            out.extend_from_slice(e);
            ControlFlow::Break(())
        });
        out
    }

    /// Every live entry, in order.
    #[cfg(test)]
    pub(super) fn to_vec(&self) -> Vec<Box<[u8]>> {
        let mut out = Vec::with_capacity(self.len);
        let mut scratch = Vec::new();
        let _ = self.visit(0, self.len, &mut scratch, &mut |e| {
            out.push(e.into());
            ControlFlow::Continue(())
        });
        out
    }

    /// The last entry, decoded into `prev` (empty for an empty node).
    fn last_into(&self, prev: &mut Vec<u8>) {
        prev.clear();
        if self.len == 0 {
            return;
        }
        let mut scratch = Vec::new();
        let _ = self.visit(self.len - 1, self.len, &mut scratch, &mut |e| {
            prev.extend_from_slice(e);
            ControlFlow::Break(())
        });
    }

    /// Appends `items` at the back.
    pub(super) fn extend<'a>(&mut self, items: impl IntoIterator<Item = &'a [u8]>) {
        let mut prev = Vec::new();
        // At a group boundary (a packed buffer always ends on one) the next entry is a
        // restart: the last one need not be decoded.
        if !self.physical().is_multiple_of(GROUP) {
            self.last_into(&mut prev);
        }
        for item in items {
            self.push_entry(&mut prev, item);
        }
    }

    /// Appends the live entries of `other`.
    fn append_node(&mut self, other: &Node) {
        let mut prev = Vec::new();
        self.last_into(&mut prev);
        let mut scratch = Vec::new();
        let _ = other.visit(0, other.len, &mut scratch, &mut |e| {
            self.push_entry(&mut prev, e);
            ControlFlow::Continue(())
        });
    }

    /// Puts `items` (a whole number of groups, in order) before the live entries; the node is
    /// rebuilt exact-size without its dead groups.
    pub(super) fn prepend(&mut self, items: &[Box<[u8]>]) {
        debug_assert!(items.len().is_multiple_of(GROUP));
        let mut node = Node::default();
        let mut prev = Vec::new();
        let live = self.restarts.get(self.first).copied().unwrap_or(self.buf.len());
        node.buf.reserve_exact(items.iter().map(|i| i.len() + 2).sum::<usize>() + self.buf.len() - live);
        for item in items {
            node.push_entry(&mut prev, item);
        }
        let shift = node.buf.len();
        node.buf.extend_from_slice(&self.buf[live..]);
        node.restarts.reserve_exact(self.restarts.len() - self.first);
        node.restarts.extend(self.restarts[self.first..].iter().map(|r| r - live + shift));
        node.len += self.len;
        node.buf.shrink_to_fit();
        node.restarts.shrink_to_fit();
        *self = node;
    }

    /// Removes the last group and returns its live entries, in order.
    pub(super) fn take_back_group(&mut self) -> Vec<Box<[u8]>> {
        let g = self.restarts.len() - 1;
        let mut out = Vec::with_capacity(GROUP);
        let mut scratch = Vec::new();
        let _ = self.visit_group(g, 0, &mut scratch, &mut |e| {
            out.push(e.into());
            ControlFlow::Continue(())
        });
        self.buf.truncate(self.restarts[g]);
        self.restarts.pop();
        self.len -= out.len();
        out
    }

    /// Removes the first live group and returns its entries, in order.
    pub(super) fn take_front_group(&mut self) -> Vec<Box<[u8]>> {
        let mut out = Vec::with_capacity(GROUP);
        let mut scratch = Vec::new();
        let _ = self.visit_group(self.first, 0, &mut scratch, &mut |e| {
            out.push(e.into());
            ControlFlow::Continue(())
        });
        self.first += 1;
        self.len -= out.len();
        out
    }

    /// Frees spare capacity.
    pub(super) fn shrink(&mut self) {
        self.buf.shrink_to_fit();
        self.restarts.shrink_to_fit();
    }

    /// Encoded bytes of the live entries.
    pub(super) fn live_len(&self) -> usize {
        self.buf.len() - self.restarts.get(self.first).copied().unwrap_or(self.buf.len())
    }

    /// Packs `items` into nodes of about [`NODE_BYTES`] each, exact-size.
    pub(super) fn build<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<Node> {
        let mut b = Builder::new(NODE_BYTES);
        items.into_iter().for_each(|item| b.push(item));
        b.finish()
    }
}

/// Packs entries pushed in order into exact-size nodes of at most `target` encoded bytes each
/// (an entry larger than that gets a node of its own), without an allocation per entry.
pub(super) struct Builder {
    nodes: Vec<Node>,
    node: Node,
    prev: Vec<u8>,
    target: usize,
}

impl Builder {
    pub(super) fn new(target: usize) -> Builder {
        Builder { nodes: Vec::new(), node: Node::default(), prev: Vec::new(), target }
    }

    /// For about `bytes` of entries: as few nodes as [`NODE_BYTES`] allows, evenly filled, so
    /// that a node that overflows by one entry splits in halves with room on both sides rather
    /// than into a full node and a one-entry one.
    pub(super) fn balanced(bytes: usize) -> Builder {
        let nodes = bytes.div_ceil(NODE_BYTES).max(1);
        Builder::new(bytes.div_ceil(nodes))
    }

    pub(super) fn push(&mut self, item: &[u8]) {
        if self.node.len > 0 && self.node.buf.len() + item.len() > self.target {
            self.node.shrink();
            self.nodes.push(std::mem::take(&mut self.node));
        }
        self.node.push_entry(&mut self.prev, item);
    }

    pub(super) fn finish(mut self) -> Vec<Node> {
        if self.node.len > 0 {
            self.node.shrink();
            self.nodes.push(self.node);
        }
        self.nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(n: &Node) -> Vec<Vec<u8>> {
        n.to_vec().into_iter().map(|b| b.to_vec()).collect()
    }

    #[test]
    fn entries_round_trip_and_share_prefixes() {
        let items: Vec<Vec<u8>> = (0..100).map(|i| format!("element:{i}").into_bytes()).collect();
        let nodes = Node::build(items.iter().map(|i| &i[..]));
        assert_eq!(nodes.len(), 1);
        assert_eq!(collect(&nodes[0]), items);
        assert!(nodes[0].encoded_len() < 100 * 5, "{}", nodes[0].encoded_len());
        for (i, item) in items.iter().enumerate() {
            assert_eq!(&nodes[0].get(i), item);
        }
        let mut back = Vec::new();
        let mut scratch = Vec::new();
        let _ = nodes[0].visit_rev(3, 40, &mut scratch, &mut |e| {
            back.push(e.to_vec());
            ControlFlow::Continue(())
        });
        assert_eq!(back, items[3..40].iter().rev().cloned().collect::<Vec<_>>());
    }
}
