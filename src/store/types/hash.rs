//! Hashes: field → value maps.

use super::element_cost;
use hashbrown::HashMap;

/// A hash. Today a hash table only ("hashtable" in OBJECT ENCODING); the listpack encoding for
/// small hashes is to come.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hash {
    map: HashMap<Box<[u8]>, Box<[u8]>>,
    /// Heap bytes of the fields and values (see `types/mod.rs`).
    bytes: usize,
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.map.get(field).map(|v| &v[..])
    }

    /// Sets `field` to `value`; true if the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.map.get_mut(field) {
            Some(old) => {
                self.bytes = self.bytes - element_cost(old.len()) + element_cost(value.len());
                *old = value.into();
                false
            }
            None => {
                self.bytes += element_cost(field.len()) + element_cost(value.len());
                self.map.insert(field.into(), value.into());
                true
            }
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self.map.remove(field) {
            Some(v) => {
                self.bytes -= element_cost(field.len()) + element_cost(v.len());
                true
            }
            None => false,
        }
    }

    /// Every (field, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.map.iter().map(|(f, v)| (&f[..], &v[..]))
    }

    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    pub fn heap_size(&self) -> usize {
        self.bytes + self.map.capacity() * 2 * std::mem::size_of::<Box<[u8]>>()
    }
}
