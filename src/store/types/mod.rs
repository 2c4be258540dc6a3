//! The collection types a key can hold besides strings: hashes, lists, sets and sorted sets.
//!
//! Each type hides its representation behind a small API (what the commands, persistence and
//! memory accounting use), so a compact encoding (Redis's listpack / intset / quicklist) can
//! replace or join the general one without touching the commands. Every type keeps its heap
//! size as a running count: the keyspace re-reads it around every write to account memory,
//! so it must be O(1).
//!
//! Elements are binary-safe byte strings. A collection is never empty while stored: the
//! command that removes its last element deletes the key, as Redis does.

mod hash;
mod list;
mod packed;
mod set;
mod varint;
mod zset;

pub use hash::{Hash, HashLimits};
pub use list::List;
pub use set::Set;
pub use zset::{ZSet, ZSetLimits};

/// The packed encodings' conversion thresholds together: the configured ones (the server's
/// `hot.encoding`), or Redis 7.0's defaults. A loaded value (RDB, RESTORE) takes the form
/// these give it, whatever encoding it was written in, as Redis's `rdbLoadObject` converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingThresholds {
    pub hash: HashLimits,
    pub zset: ZSetLimits,
    /// `set-max-intset-entries`.
    pub set_max_intset: usize,
}

impl EncodingThresholds {
    /// Redis 7.0's defaults, as Ferrocache's config declares them.
    pub const REDIS_DEFAULTS: EncodingThresholds =
        EncodingThresholds { hash: HashLimits::REDIS_DEFAULTS, zset: ZSetLimits::REDIS_DEFAULTS, set_max_intset: 512 };

    /// These with no limit on an element's length: what Redis 7.0 checks when it loads a
    /// hash or sorted set written as a listpack or ziplist (the entry count only).
    pub fn entries_only(&self) -> EncodingThresholds {
        EncodingThresholds {
            hash: HashLimits { max_value: usize::MAX, ..self.hash },
            zset: ZSetLimits { max_value: usize::MAX, ..self.zset },
            set_max_intset: self.set_max_intset,
        }
    }
}

impl Default for EncodingThresholds {
    fn default() -> Self {
        EncodingThresholds::REDIS_DEFAULTS
    }
}

use super::Value;

/// What the collection commands need to find their type in a [`Value`] and store a new one
/// (see `commands/collection.rs`).
pub trait Collection: Default {
    fn of(value: &Value) -> Option<&Self>;
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    fn into_value(self) -> Value;
    fn is_empty(&self) -> bool;
}

macro_rules! collection {
    ($type:ident, $variant:ident) => {
        collection!($type, $variant, std::sync::Arc::new, std::sync::Arc::make_mut);
    };
    // `$wrap`: how the variant holds the type (shared, or inline for a hash); `$unshare`:
    // the type's own copy for a write (a shared one is copied first).
    ($type:ident, $variant:ident, $wrap:expr, $unshare:expr) => {
        impl Collection for $type {
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(c) => Some(c),
                    _ => None,
                }
            }
            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(c) => Some($unshare(c)),
                    _ => None,
                }
            }
            fn into_value(self) -> Value {
                Value::$variant($wrap(self))
            }
            fn is_empty(&self) -> bool {
                $type::is_empty(self)
            }
        }
    };
}

// A hash shares its table forms itself (small ones are copied whole: a few dozen bytes).
collection!(Hash, Hash, std::convert::identity, std::convert::identity);
collection!(List, List);
collection!(Set, Set);
collection!(ZSet, ZSet);

/// Heap bytes of an `Arc<T>`'s allocation (a shared collection or part of one): its two
/// reference counts and the `T`.
pub(crate) const fn shared_size<T>() -> usize {
    2 * std::mem::size_of::<usize>() + std::mem::size_of::<T>()
}

/// Heap bytes charged for one element's own allocation (its bytes plus the allocator's
/// header and rounding, roughly), used by the general encodings' running counts.
pub(crate) fn element_cost(len: usize) -> usize {
    len + 16
}
