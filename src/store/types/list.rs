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
}
