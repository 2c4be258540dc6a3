//! Redis's zipmap (`zipmap.c`), the small-hash encoding of RDB files before Redis 2.6
//! (`HASH_ZIPMAP`). Redis 7.0 still reads it; so do we. Read-only.
//!
//! ```text
//! <zmlen: 1 byte, 254+ = unknown> (<len>key<len><free>value<free bytes>)* 0xFF
//! len: 1 byte < 254, or 254 then u32 LE
//! ```

use std::fmt;

const BIGLEN: u8 = 254;
const END: u8 = 255;

/// Why a buffer is not a valid zipmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipmapError(pub &'static str);

impl fmt::Display for ZipmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid zipmap: {}", self.0)
    }
}

impl std::error::Error for ZipmapError {}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], ZipmapError> {
    if rest.len() < n {
        return Err(ZipmapError("runs past the end"));
    }
    let (taken, after) = rest.split_at(n);
    *rest = after;
    Ok(taken)
}

/// A (key, value) pair, borrowed from the zipmap.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Checks `bytes` as `zipmapValidateIntegrity` does and returns the (key, value) pairs.
pub fn parse(bytes: &[u8]) -> Result<Vec<Pair<'_>>, ZipmapError> {
    let err = |what| Err(ZipmapError(what));
    let Some((&zmlen, mut rest)) = bytes.split_first() else { return err("empty buffer") };
    let mut pairs = Vec::new();
    let read_len = |rest: &mut &[u8]| -> Result<Option<usize>, ZipmapError> {
        let Some((&first, after)) = rest.split_first() else { return Err(ZipmapError("runs past the end")) };
        *rest = after;
        match first {
            END => Ok(None),
            BIGLEN => {
                let Some(b) = rest.get(..4) else { return Err(ZipmapError("runs past the end")) };
                *rest = &rest[4..];
                Ok(Some(u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize))
            }
            n => Ok(Some(usize::from(n))),
        }
    };
    while let Some(klen) = read_len(&mut rest)? {
        let key = take(&mut rest, klen)?;
        let Some(vlen) = read_len(&mut rest)? else { return err("key without a value") };
        let free = usize::from(take(&mut rest, 1)?[0]);
        let value = take(&mut rest, vlen)?;
        take(&mut rest, free)?;
        pairs.push((key, value));
    }
    if !rest.is_empty() {
        return err("bytes after the end");
    }
    if zmlen < BIGLEN && usize::from(zmlen) != pairs.len() {
        return err("header count differs from the entries'");
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_layout_of_zipmap_c() {
        // zipmap.c's example: "foo" => "bar", "hello" => "world", with one free byte after "bar".
        let zm = b"\x02\x03foo\x03\x01barX\x05hello\x05\x00world\xff";
        assert_eq!(parse(zm).unwrap(), [(&b"foo"[..], &b"bar"[..]), (b"hello", b"world")]);
        let mut big = vec![1u8, 254];
        big.extend_from_slice(&300u32.to_le_bytes());
        big.extend_from_slice(&[b'k'; 300]);
        big.extend_from_slice(&[1, 0, b'v', 0xff]);
        assert_eq!(parse(&big).unwrap(), [(&[b'k'; 300][..], &b"v"[..])]);
        assert_eq!(parse(b"\x00\xff").unwrap(), []);
    }

    #[test]
    fn corruption_is_an_error() {
        let zm = b"\x02\x03foo\x03\x01barX\x05hello\x05\x00world\xff";
        for len in 0..zm.len() {
            assert!(parse(&zm[..len]).is_err(), "truncated to {len}");
        }
        assert!(parse(b"\x03\x03foo\x03\x00bar\xff").is_err(), "wrong count");
        assert!(parse(b"\x01\x03foo\xff").is_err(), "key without value");
        assert!(parse(b"\x01\x03foo\x03\x00bar\xff\x00").is_err(), "trailing bytes");
        assert!(parse(b"\x01\xfe\xff\xff\xff\xff\xff").is_err(), "huge length");
    }
}
