//! A "listpack" hash too big to stay packed: see [`Ordered`].

use crate::store::dense::hash as hash_of;
use crate::store::types::element_cost;
use crate::store::Str;
use hashbrown::HashTable;

/// A hash that Redis would still keep as a listpack (a `hash-max-listpack-entries` or
/// `-value` set far above the defaults) but that has outgrown the packed form's cap: pairs in
/// insertion order, kept through removals as a listpack keeps them, with a hash index, so
/// each command costs O(1) instead of a scan of a huge buffer. Removal leaves a hole;
/// the holes are squeezed out once they outnumber the live pairs (amortized O(1)).
#[derive(Default)]
pub(super) struct Ordered {
    /// Pairs in insertion order; `None` where one was removed.
    slots: Vec<Option<(Str, Str)>>,
    /// The position in `slots` of each live pair, by its field's hash.
    index: HashTable<usize>,
    live: usize,
    /// Heap bytes of the fields and values (see `types/mod.rs`).
    bytes: usize,
}

impl std::fmt::Debug for Ordered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.iter() {
            m.entry(&String::from_utf8_lossy(k), &String::from_utf8_lossy(v));
        }
        m.finish()
    }
}

fn field_of(slots: &[Option<(Str, Str)>], i: usize) -> &[u8] {
    &slots[i].as_ref().expect("the index holds live slots only").0
}

impl Ordered {
    pub(super) fn len(&self) -> usize {
        self.live
    }

    fn position(&self, field: &[u8]) -> Option<usize> {
        self.index.find(hash_of(field), |&i| field_of(&self.slots, i) == field).copied()
    }

    pub(super) fn get(&self, field: &[u8]) -> Option<&Str> {
        self.position(field).map(|i| &self.slots[i].as_ref().expect("live slot").1)
    }

    pub(super) fn contains(&self, field: &[u8]) -> bool {
        self.position(field).is_some()
    }

    /// Sets `field` to `value` (in place if it exists, appended otherwise); true if new.
    pub(super) fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Some(i) = self.position(field) {
            let old = &mut self.slots[i].as_mut().expect("live slot").1;
            self.bytes = self.bytes - element_cost(old.len()) + element_cost(value.len());
            *old = Str::new(value);
            return false;
        }
        self.bytes += element_cost(field.len()) + element_cost(value.len());
        self.push(Str::new(field), Str::new(value));
        true
    }

    /// Appends a pair whose field is absent.
    fn push(&mut self, field: Str, value: Str) {
        let h = hash_of(&field);
        let at = self.slots.len();
        self.slots.push(Some((field, value)));
        let Ordered { slots, index, .. } = self;
        index.insert_unique(h, at, |&i| hash_of(field_of(slots, i)));
        self.live += 1;
    }

    /// Removes `field`, keeping the others' order; true if it was there.
    pub(super) fn remove(&mut self, field: &[u8]) -> bool {
        let Ok(entry) = self.index.find_entry(hash_of(field), |&i| field_of(&self.slots, i) == field) else {
            return false;
        };
        let (at, _) = entry.remove();
        let (f, v) = self.slots[at].take().expect("live slot");
        self.bytes -= element_cost(f.len()) + element_cost(v.len());
        self.live -= 1;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        if self.slots.len() > 2 * self.live + 16 {
            self.compact();
        }
        true
    }

    /// Squeezes the holes out and re-indexes.
    fn compact(&mut self) {
        self.slots.retain(Option::is_some);
        self.slots.shrink_to_fit();
        self.index.clear();
        let Ordered { slots, index, .. } = self;
        for at in 0..slots.len() {
            index.insert_unique(hash_of(field_of(slots, at)), at, |&i| hash_of(field_of(slots, i)));
        }
        self.index.shrink_to_fit(|&i| hash_of(field_of(&self.slots, i)));
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&Str, &Str)> {
        self.slots.iter().flatten().map(|(f, v)| (f, v))
    }

    /// The `i`-th pair: O(1) without holes, O(i) with.
    pub(super) fn get_index(&self, i: usize) -> Option<(&Str, &Str)> {
        if self.slots.len() == self.live {
            self.slots.get(i).map(|s| {
                let (f, v) = s.as_ref().expect("no holes");
                (f, v)
            })
        } else {
            self.iter().nth(i)
        }
    }

    /// Heap bytes past the struct itself.
    pub(super) fn heap_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<(Str, Str)>>() + self.index.allocation_size() + self.bytes
    }

    /// The pairs, in order, with the running byte count, as a hashtable's entries.
    pub(super) fn into_pairs(self) -> (impl Iterator<Item = (Str, Str)>, usize) {
        (self.slots.into_iter().flatten(), self.bytes)
    }

    /// Holes at most as many as live pairs (plus slack), the byte count right.
    #[cfg(test)]
    pub(super) fn check_invariants(&self) {
        assert_eq!(self.slots.iter().flatten().count(), self.live);
        assert_eq!(self.index.len(), self.live);
        assert!(self.slots.len() <= 2 * self.live + 16);
        assert!(!matches!(self.slots.last(), Some(None)));
        let bytes: usize = self.iter().map(|(f, v)| element_cost(f.len()) + element_cost(v.len())).sum();
        assert_eq!(bytes, self.bytes);
        for (f, _) in self.iter() {
            assert!(self.contains(f));
        }
    }
}
