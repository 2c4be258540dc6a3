//! Lists: sequences of byte strings, pushed and popped at both ends.

use super::element_cost;
use std::collections::VecDeque;

/// A list. Today a deque of separately allocated elements (reported as "quicklist"); the
/// packed quicklist of listpack nodes is to come.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct List {
    items: VecDeque<Box<[u8]>>,
    /// Heap bytes of the elements (see `types/mod.rs`).
    bytes: usize,
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push_back(&mut self, item: &[u8]) {
        self.bytes += element_cost(item.len());
        self.items.push_back(item.into());
    }

    pub fn push_front(&mut self, item: &[u8]) {
        self.bytes += element_cost(item.len());
        self.items.push_front(item.into());
    }

    pub fn pop_front(&mut self) -> Option<Box<[u8]>> {
        let item = self.items.pop_front()?;
        self.bytes -= element_cost(item.len());
        Some(item)
    }

    pub fn pop_back(&mut self) -> Option<Box<[u8]>> {
        let item = self.items.pop_back()?;
        self.bytes -= element_cost(item.len());
        Some(item)
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.items.get(index).map(|i| &i[..])
    }

    /// Every element, head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|i| &i[..])
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn heap_size(&self) -> usize {
        self.bytes + self.items.capacity() * std::mem::size_of::<Box<[u8]>>()
    }

    /// The elements at `start..=end` (indices already clamped into the list), head to tail:
    /// O(end - start) after an O(1) seek.
    pub fn range(&self, start: usize, end: usize) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.range(start..=end).map(|i| &i[..])
    }

    /// Replaces the element at `index`; false if there is none.
    pub fn set(&mut self, index: usize, item: &[u8]) -> bool {
        let Some(slot) = self.items.get_mut(index) else { return false };
        self.bytes = self.bytes - element_cost(slot.len()) + element_cost(item.len());
        *slot = item.into();
        true
    }

    /// Inserts `item` so that it ends at `index` (0 ..= len).
    pub fn insert(&mut self, index: usize, item: &[u8]) {
        self.bytes += element_cost(item.len());
        self.items.insert(index, item.into());
    }

    /// Removes up to `limit` elements equal to `item` (0: all), counting from the head, or
    /// from the tail when `from_tail`; returns how many went. One pass, no reallocation.
    pub fn remove_matching(&mut self, item: &[u8], limit: usize, from_tail: bool) -> usize {
        // From the tail with a limit: the matches that go are those at or after the
        // `limit`-th match counted from the tail (all of them if there are fewer).
        let first = match (from_tail, limit) {
            (true, l) if l > 0 => {
                let mut seen = 0;
                let nth = self.items.iter().rposition(|e| {
                    seen += usize::from(&e[..] == item);
                    seen == l
                });
                nth.unwrap_or(0)
            }
            _ => 0,
        };
        let limit = if from_tail { 0 } else { limit };
        let (mut removed, mut freed, mut pos) = (0, 0, 0);
        self.items.retain(|e| {
            pos += 1;
            if pos > first && (limit == 0 || removed < limit) && &e[..] == item {
                removed += 1;
                freed += element_cost(e.len());
                false
            } else {
                true
            }
        });
        self.bytes -= freed;
        removed
    }

    /// Keeps only the elements at `start..end` (clamped to the list; empty when start >= end).
    pub fn retain_range(&mut self, start: usize, end: usize) {
        let end = end.min(self.items.len());
        let start = start.min(end);
        let freed: usize = self.items.drain(end..).map(|e| element_cost(e.len())).sum::<usize>()
            + self.items.drain(..start).map(|e| element_cost(e.len())).sum::<usize>();
        self.bytes -= freed;
        if self.items.capacity() > 64 && self.items.len() < self.items.capacity() / 4 {
            self.items.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The running byte count always equals what the elements cost.
    fn check(l: &List) {
        assert_eq!(l.bytes, l.items.iter().map(|e| element_cost(e.len())).sum::<usize>());
    }

    #[test]
    fn edits_keep_the_byte_count_exact() {
        let mut l = List::new();
        for i in 0..100 {
            l.push_back(format!("item{}", i % 7).as_bytes());
        }
        check(&l);
        assert_eq!(l.remove_matching(b"item3", 5, true), 5);
        check(&l);
        // The five that went were the last five: item3 is at 3, 10, … 94 (14 of them).
        let left: Vec<usize> = l.iter().enumerate().filter(|(_, e)| *e == b"item3").map(|(i, _)| i).collect();
        assert_eq!(left.len(), 9);
        assert_eq!(l.remove_matching(b"item4", 2, false), 2);
        // item4 was at 4, 11, 18: the first two went, so 18 moved down by two.
        assert_eq!(l.iter().position(|e| e == b"item4"), Some(16));
        assert!(l.set(0, b"a much longer element than before"));
        assert!(!l.set(1000, b"x"));
        l.insert(3, b"x");
        check(&l);
        l.retain_range(10, 40);
        assert_eq!(l.len(), 30);
        check(&l);
        assert_eq!(l.range(0, 1).count(), 2);
        l.retain_range(5, 5);
        assert!(l.is_empty());
        check(&l);
    }
}
