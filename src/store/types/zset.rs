//! Sorted sets: unique members ordered by (score, member).

use super::element_cost;
use hashbrown::HashMap;
use std::collections::BTreeSet;

/// A score with the total order sorted sets use: by value, never NaN (commands refuse NaN
/// before it gets here), -0.0 equal to 0.0 as C's `<` has it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score(f64);

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(std::cmp::Ordering::Equal)
    }
}

/// A sorted set. Today a member → score map beside an ordered set of (score, member)
/// (reported as "skiplist"); the listpack encoding for small sets is to come.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSet {
    scores: HashMap<Box<[u8]>, f64>,
    order: BTreeSet<(Score, Box<[u8]>)>,
    /// Heap bytes of the members, counted twice as they are stored twice (see `types/mod.rs`).
    bytes: usize,
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
        match self.scores.get_mut(member) {
            Some(old) => {
                if *old != score {
                    let entry = self.order.take(&(Score(*old), Box::from(member))).expect("order has every member");
                    self.order.insert((Score(score), entry.1));
                    *old = score;
                }
                false
            }
            None => {
                self.bytes += 2 * element_cost(member.len()) + 8;
                self.scores.insert(member.into(), score);
                self.order.insert((Score(score), member.into()));
                true
            }
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(score) => {
                self.order.remove(&(Score(score), Box::from(member)));
                self.bytes -= 2 * element_cost(member.len()) + 8;
                true
            }
            None => false,
        }
    }

    /// Every (member, score), lowest score first, ties by member bytes.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        self.order.iter().map(|(s, m)| (&m[..], s.0))
    }

    pub fn encoding(&self) -> &'static str {
        "skiplist"
    }

    pub fn heap_size(&self) -> usize {
        self.bytes + self.scores.capacity() * 24 + self.order.len() * 32
    }
}
