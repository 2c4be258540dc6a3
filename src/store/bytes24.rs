//! `Str`: an immutable byte string in 24 bytes, for keys and string values.
//!
//! Most keys and values are short. Storing them inline, in the map slot itself, saves a heap
//! allocation and its header per key (a `Bytes` is 32 bytes plus a separate allocation).
//! Longer strings live in an `Arc<[u8]>`, so a GET of a large value hands the reply a
//! reference instead of a copy.

use bytes::Bytes;
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// Longest string kept inline.
pub const INLINE_MAX: usize = 22;

#[derive(Clone)]
pub enum Str {
    Inline { len: u8, data: [u8; INLINE_MAX] },
    Shared(Arc<[u8]>),
}

impl Str {
    pub fn new(bytes: &[u8]) -> Str {
        if bytes.len() <= INLINE_MAX {
            let mut data = [0u8; INLINE_MAX];
            data[..bytes.len()].copy_from_slice(bytes);
            Str::Inline { len: bytes.len() as u8, data }
        } else {
            Str::Shared(Arc::from(bytes))
        }
    }

    /// The string as `Bytes` for a reply: a copy when inline (short), shared when not.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Str::Inline { .. } => Bytes::copy_from_slice(self),
            Str::Shared(arc) => Bytes::from_owner(SharedSlice(arc.clone())),
        }
    }

    /// Heap bytes owned beyond the 24 inline ones (memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Str::Inline { .. } => 0,
            // The Arc's two counters sit in front of the bytes.
            Str::Shared(arc) => arc.len() + 16,
        }
    }
}

/// Lets `Bytes::from_owner` keep an `Arc<[u8]>` alive.
struct SharedSlice(Arc<[u8]>);

impl AsRef<[u8]> for SharedSlice {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for Str {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Str::Inline { len, data } => &data[..*len as usize],
            Str::Shared(arc) => arc,
        }
    }
}

impl From<&[u8]> for Str {
    fn from(b: &[u8]) -> Str {
        Str::new(b)
    }
}

// Hash, Eq and Borrow agree with `[u8]`, so maps keyed by `Str` are searched with `&[u8]`.
impl Hash for Str {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        **self == **other
    }
}

impl Eq for Str {}

impl Borrow<[u8]> for Str {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn is_24_bytes_and_round_trips() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
        for len in [0, 1, 16, 22, 23, 100, 5000] {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let s = Str::new(&v);
            assert_eq!(&*s, &v[..]);
            assert_eq!(&s.to_bytes()[..], &v[..]);
            assert_eq!(matches!(s, Str::Inline { .. }), len <= INLINE_MAX);
        }
    }

    #[test]
    fn maps_find_it_by_slice() {
        let mut m = HashMap::new();
        m.insert(Str::new(b"key:000000000001"), 1);
        m.insert(Str::new(&[b'x'; 40]), 2);
        assert_eq!(m.get(&b"key:000000000001"[..]), Some(&1));
        assert_eq!(m.get(&[b'x'; 40][..]), Some(&2));
        assert_eq!(m.get(&b"nope"[..]), None);
    }
}
