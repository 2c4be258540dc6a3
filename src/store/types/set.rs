//! Sets of unique byte strings.

use super::element_cost;
use hashbrown::HashSet;

/// A set. Today a hash table only ("hashtable"); the intset encoding for small all-integer
/// sets is to come.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Set {
    members: HashSet<Box<[u8]>>,
    /// Heap bytes of the members (see `types/mod.rs`).
    bytes: usize,
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.members.contains(member)
    }

    /// Adds `member`; true if it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.members.contains(member) {
            return false;
        }
        self.bytes += element_cost(member.len());
        self.members.insert(member.into())
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let removed = self.members.remove(member);
        if removed {
            self.bytes -= element_cost(member.len());
        }
        removed
    }

    /// Every member, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.members.iter().map(|m| &m[..])
    }

    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    pub fn heap_size(&self) -> usize {
        self.bytes + self.members.capacity() * std::mem::size_of::<Box<[u8]>>()
    }
}
