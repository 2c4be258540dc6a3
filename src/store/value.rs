//! Values and entries as the keyspace holds them.

use super::bytes24::Str;
use super::types::{shared_size, Hash, List, Set, ZSet};
use bytes::Bytes;
use std::sync::Arc;

/// Longest string Redis stores with the `embstr` encoding (`OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
pub const EMBSTR_MAX: usize = 44;

/// A stored value: one of three string forms, or a collection (boxed, so the enum stays at
/// 24 bytes and a string key pays nothing for them; a hash is 16 bytes, a pointer to its
/// packed buffer or to its table, so it is held inline). `TYPE` / `WRONGTYPE` checks go
/// through it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string that is the canonical decimal text of an i64 (`OBJECT ENCODING` "int").
    Int(i64),
    /// An immutable string ("embstr" up to 44 bytes, "raw" beyond), as `SET` stores it.
    Str(Str),
    /// A string grown or edited in place by APPEND / SETRANGE / SETBIT ("raw"). Boxed: rare,
    /// and it keeps `Value` at 24 bytes.
    Raw(Box<Vec<u8>>),
    /// Collections are shared copy-on-write (`Arc::make_mut` on every write, see
    /// `types::Collection`): a snapshot holds them for the cost of a reference count, and a
    /// write meanwhile copies only the collection it changes (as a fork copies pages).
    Hash(Hash),
    List(Arc<List>),
    Set(Arc<Set>),
    ZSet(Arc<ZSet>),
}

impl Value {
    /// The value `SET` stores for `bytes`: an integer when Redis would encode it as one
    /// (`tryObjectEncoding`: at most 20 chars that `string2l` accepts), otherwise an owned copy.
    pub fn from_set(bytes: &[u8]) -> Value {
        if bytes.len() <= 20 {
            if let Some(n) = parse_i64_strict(bytes) {
                return Value::Int(n);
            }
        }
        Value::Str(Str::new(bytes))
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Str(_) | Value::Raw(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Str(b) if b.len() <= EMBSTR_MAX => "embstr",
            Value::Str(_) | Value::Raw(_) => "raw",
            Value::Hash(h) => h.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Str(_) | Value::Raw(_))
    }

    /// The string's bytes (integers rendered to decimal). `None` for non-string types.
    pub fn as_bytes(&self) -> Option<Bytes> {
        match self {
            Value::Int(n) => Some(Bytes::copy_from_slice(itoa::Buffer::new().format(*n).as_bytes())),
            Value::Str(b) => Some(b.to_bytes()),
            Value::Raw(v) => Some(Bytes::copy_from_slice(v)),
            Value::Hash(_) | Value::List(_) | Value::Set(_) | Value::ZSet(_) => None,
        }
    }

    /// Length of the string value (STRLEN), without allocating for integers; 0 for other types.
    pub fn str_len(&self) -> usize {
        match self {
            Value::Int(n) => itoa::Buffer::new().format(*n).len(),
            Value::Str(b) => b.len(),
            Value::Raw(v) => v.len(),
            Value::Hash(_) | Value::List(_) | Value::Set(_) | Value::ZSet(_) => 0,
        }
    }

    /// Turns the value into an editable byte vector (APPEND, SETRANGE, SETBIT), as Redis
    /// converts the object to a raw sds before editing it.
    pub fn make_raw(&mut self) -> &mut Vec<u8> {
        if !matches!(self, Value::Raw(_)) {
            let bytes = self.as_bytes().map(|b| b.to_vec()).unwrap_or_default();
            *self = Value::Raw(Box::new(bytes));
        }
        match self {
            Value::Raw(v) => v,
            _ => unreachable!("just converted to Raw"),
        }
    }

    /// Whether another holder (a snapshot, a COPY) shares this collection, so that dropping
    /// this one frees nothing.
    pub fn is_shared(&self) -> bool {
        match self {
            Value::List(l) => Arc::strong_count(l) > 1,
            Value::Set(s) => Arc::strong_count(s) > 1,
            Value::ZSet(z) => Arc::strong_count(z) > 1,
            Value::Hash(h) => h.is_shared(),
            Value::Int(_) | Value::Str(_) | Value::Raw(_) => false,
        }
    }

    /// Bytes this value keeps on the heap, for memory accounting and `MEMORY USAGE` (a
    /// collection shared with a snapshot or a COPY counts in full for each key holding it).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) => 0,
            Value::Str(b) => b.heap_size(),
            Value::Raw(v) => v.capacity() + 24,
            Value::Hash(h) => h.heap_size(),
            Value::List(l) => l.heap_size() + shared_size::<List>(),
            Value::Set(s) => s.heap_size() + shared_size::<Set>(),
            Value::ZSet(z) => z.heap_size() + shared_size::<ZSet>(),
        }
    }

    /// What freeing the value costs, as Redis's `lazyfreeGetFreeEffort` counts it: one
    /// allocation per element of a general encoding, one for anything packed or a string.
    pub fn free_effort(&self) -> usize {
        match self {
            Value::Int(_) | Value::Str(_) | Value::Raw(_) => 1,
            Value::Hash(h) => h.len(),
            Value::List(l) => l.len(),
            Value::Set(s) => s.len(),
            Value::ZSet(z) => z.len(),
        }
    }

    /// A raw (editable) string value.
    pub fn raw(bytes: Vec<u8>) -> Value {
        Value::Raw(Box::new(bytes))
    }
}

/// A key's value plus its access data. Expiry times live apart, in the table's `expires`
/// map (as Redis keeps its `expires` dict), so keys without a TTL do not pay 8 bytes for one.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// LRU clock (seconds, 24 bits) or LFU data (16-bit minutes << 8 | 8-bit counter),
    /// depending on the eviction policy, as in Redis's `robj.lru`.
    pub access: u32,
}

/// Redis's `string2ll`: optional '-', digits, no '+', no spaces, no leading zeros (but "0").
pub fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s {
        [] => return None,
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg { v.checked_mul(10)?.checked_sub(d)? } else { v.checked_mul(10)?.checked_add(d)? };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers_follow_string2ll() {
        assert_eq!(parse_i64_strict(b"0"), Some(0));
        assert_eq!(parse_i64_strict(b"-12"), Some(-12));
        assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"-", b"-0", b"01", b"+1", b" 1", b"1 ", b"9223372036854775808", b"1a"] {
            assert_eq!(parse_i64_strict(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn values_and_entries_stay_small() {
        // Per-key memory is a goal: a value fits 24 bytes (inline strings up to 22 bytes).
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    #[test]
    fn set_encodings_match_redis() {
        assert_eq!(Value::from_set(b"123").encoding(), "int");
        assert_eq!(Value::from_set(b"0123").encoding(), "embstr");
        assert_eq!(Value::from_set(&[b'a'; 44]).encoding(), "embstr");
        assert_eq!(Value::from_set(&[b'a'; 45]).encoding(), "raw");
    }
}
