//! LEB128 varints: the lengths inside the packed encodings (`packed.rs`, `list/node.rs`).
//!
//! Seven bits a byte, least significant first, the top bit set on every byte but the last:
//! lengths below 128 (nearly all of them) take one byte.

/// Most bytes a `usize` takes.
const MAX_LEN: usize = (usize::BITS as usize).div_ceil(7);

/// Appends `n`.
#[inline]
pub(super) fn put(out: &mut impl Extend<u8>, mut n: usize) {
    let mut bytes = [0u8; MAX_LEN];
    let mut len = 0;
    while n >= 0x80 {
        bytes[len] = (n as u8) | 0x80;
        n >>= 7;
        len += 1;
    }
    bytes[len] = n as u8;
    out.extend(bytes[..=len].iter().copied());
}

/// Reads the varint at `*pos` and moves `*pos` past it. The buffer is ours, so it is well
/// formed: a truncated varint panics on the index.
#[inline]
pub(super) fn get(buf: &[u8], pos: &mut usize) -> usize {
    let b = buf[*pos];
    *pos += 1;
    if b < 0x80 {
        return b as usize;
    }
    let mut n = (b & 0x7f) as usize;
    let mut shift = 7;
    loop {
        let b = buf[*pos];
        *pos += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return n;
        }
        shift += 7;
    }
}

/// Bytes [`put`] writes for `n`.
#[cfg(test)]
pub(super) fn len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        for n in [0usize, 1, 127, 128, 300, 16383, 16384, 1 << 30, usize::MAX] {
            let mut out = Vec::new();
            super::put(&mut out, n);
            assert_eq!(out.len(), super::len(n));
            let mut small = smallvec::SmallVec::<[u8; 4]>::new();
            super::put(&mut small, n);
            assert_eq!(&small[..], &out[..]);
            let mut pos = 0;
            assert_eq!(super::get(&out, &mut pos), n);
            assert_eq!(pos, out.len());
        }
        let mut out = Vec::new();
        super::put(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
    }
}
