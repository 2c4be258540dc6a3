//! Redis's ziplist (`ziplist.c`), the compact encoding of RDB files written before Redis 7.0
//! (lists before 3.2, and small hashes and sorted sets until 7.0). Redis 7.0 still reads it and
//! converts it on load; so do we. Read-only: no Redis 7.0 writes one.
//!
//! ```text
//! <zlbytes u32 LE> <zltail u32 LE: offset of the last entry> <zllen u16 LE, 65535 = unknown>
//! <entry>* 0xFF
//! entry: <prevlen: 1 byte < 254, or 0xFE + u32 LE> <encoding> <data>
//! ```
//!
//! [`parse`] checks it whole, as `ziplistValidateIntegrity` does with deep checks: every
//! length against the buffer, each prevlen against the entry before, the tail offset, the
//! count and the terminator.

use super::listpack::LpEntry;
use std::fmt;

const HEADER: usize = 10;
const END: u8 = 0xFF;

/// Why a buffer is not a valid ziplist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZiplistError(pub &'static str);

impl fmt::Display for ZiplistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid ziplist: {}", self.0)
    }
}

impl std::error::Error for ZiplistError {}

/// Checks `bytes` whole and returns its elements (at most one per two input bytes).
pub fn parse(bytes: &[u8]) -> Result<Vec<LpEntry<'_>>, ZiplistError> {
    let err = |what| Err(ZiplistError(what));
    if bytes.len() < HEADER + 1 {
        return err("shorter than its header");
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
    if u32_at(0) != bytes.len() {
        return err("header size differs from the buffer's");
    }
    let tail = u32_at(4);
    let count = u16::from_le_bytes([bytes[8], bytes[9]]);
    let mut entries = Vec::new();
    let mut pos = HEADER;
    let mut prev_len = 0usize;
    let mut last_start = HEADER;
    loop {
        let Some(&first) = bytes.get(pos) else { return err("no terminator") };
        if first == END {
            if pos + 1 != bytes.len() {
                return err("bytes after the terminator");
            }
            break;
        }
        let p = &bytes[pos..];
        let (prevlen, prevlen_size) = if first < 254 {
            (usize::from(first), 1)
        } else if first == 254 {
            let Some(b) = p.get(1..5) else { return err("entry runs past the end") };
            (u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize, 5)
        } else {
            unreachable!("0xFF handled above")
        };
        if prevlen != prev_len {
            return err("prevlen differs from the previous entry's length");
        }
        let (entry, len) = decode_entry(p, prevlen_size)?;
        entries.push(entry);
        last_start = pos;
        prev_len = len;
        pos += len;
    }
    if tail != last_start {
        return err("wrong tail offset");
    }
    if count != u16::MAX && usize::from(count) != entries.len() {
        return err("header count differs from the entries'");
    }
    Ok(entries)
}

/// Decodes the entry at the start of `p` whose prevlen takes `at` bytes: the element and the
/// whole entry's length.
fn decode_entry(p: &[u8], at: usize) -> Result<(LpEntry<'_>, usize), ZiplistError> {
    let need = |n: usize| if p.len() >= n { Ok(()) } else { Err(ZiplistError("entry runs past the end")) };
    need(at + 1)?;
    let enc = p[at];
    let le = |from: usize, n: usize| p[from..from + n].iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b));
    let sext = |v: u64, bits: u32| ((v << (64 - bits)) as i64) >> (64 - bits);
    let string = |header: usize, len: usize| -> Result<(LpEntry<'_>, usize), ZiplistError> {
        let end = (at + header).checked_add(len).ok_or(ZiplistError("string length overflows"))?;
        need(end)?;
        Ok((LpEntry::Str(&p[at + header..end]), end))
    };
    let int = |n: usize, bits: u32| -> Result<(LpEntry<'_>, usize), ZiplistError> {
        need(at + 1 + n)?;
        Ok((LpEntry::Int(sext(le(at + 1, n), bits)), at + 1 + n))
    };
    match enc >> 6 {
        0 => string(1, usize::from(enc & 0x3f)),
        1 => {
            need(at + 2)?;
            string(2, usize::from(enc & 0x3f) << 8 | usize::from(p[at + 1]))
        }
        2 => {
            if enc != 0x80 {
                return Err(ZiplistError("unknown entry encoding"));
            }
            need(at + 5)?;
            let len = u32::from_be_bytes(p[at + 1..at + 5].try_into().expect("4 bytes")) as usize;
            string(5, len)
        }
        _ => match enc {
            0xC0 => int(2, 16),
            0xD0 => int(4, 32),
            0xE0 => int(8, 64),
            0xF0 => int(3, 24),
            0xFE => int(1, 8),
            0xF1..=0xFD => Ok((LpEntry::Int(i64::from(enc & 0x0f) - 1), at + 1)),
            _ => Err(ZiplistError("unknown entry encoding")),
        },
    }
}

/// Builds ziplists as `ziplistPush(…, ZIPLIST_TAIL)` does, for tests of the reader (no Redis
/// 7.0 writes them, so neither do we).
#[cfg(test)]
pub(crate) fn build(items: &[&[u8]]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    let mut prev_len = 0usize;
    let mut last = HEADER;
    for item in items {
        let start = out.len();
        last = start;
        if prev_len < 254 {
            out.push(prev_len as u8);
        } else {
            out.push(254);
            out.extend_from_slice(&(prev_len as u32).to_le_bytes());
        }
        match (item.len() < 32).then(|| crate::store::parse_i64_strict(item)).flatten() {
            Some(v @ 0..=12) => out.push(0xF1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => out.extend_from_slice(&[0xFE, v as u8]),
            Some(v) if i16::try_from(v).is_ok() => {
                out.push(0xC0);
                out.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-(1 << 23)..1 << 23).contains(&v) => {
                out.push(0xF0);
                out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                out.push(0xD0);
                out.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                out.push(0xE0);
                out.extend_from_slice(&v.to_le_bytes());
            }
            None => {
                let len = item.len();
                if len < 64 {
                    out.push(len as u8);
                } else if len < 16384 {
                    out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
                } else {
                    out.push(0x80);
                    out.extend_from_slice(&(len as u32).to_be_bytes());
                }
                out.extend_from_slice(item);
            }
        }
        prev_len = out.len() - start;
    }
    out.push(END);
    let total = out.len() as u32;
    out[0..4].copy_from_slice(&total.to_le_bytes());
    out[4..8].copy_from_slice(&(last as u32).to_le_bytes());
    out[8..10].copy_from_slice(&u16::try_from(items.len()).unwrap_or(u16::MAX).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn reads_the_layout_of_ziplist_c() {
        // The example in ziplist.c's header comment: a ziplist of "2" and "5".
        let zl = [0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 0x02, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff];
        assert_eq!(parse(&zl).unwrap(), [LpEntry::Int(2), LpEntry::Int(5)]);
        assert_eq!(build(&[b"2", b"5"]), zl);
        // "Hello World" appended to it, per the same comment.
        let mut hello = zl[..14].to_vec();
        hello.extend_from_slice(&[0x02, 0x0b]);
        hello.extend_from_slice(b"Hello World");
        hello.push(0xff);
        hello[0] = 0x1c;
        hello[4] = 0x0e;
        hello[8] = 3;
        assert_eq!(parse(&hello).unwrap(), [LpEntry::Int(2), LpEntry::Int(5), LpEntry::Str(b"Hello World")]);
        assert_eq!(build(&[b"2", b"5", b"Hello World"]), hello);
    }

    #[test]
    fn every_integer_width_and_string_length() {
        let items: Vec<Vec<u8>> =
            [0i64, 12, 13, -1, 127, -128, 128, 32767, -32769, 8388607, -8388609, i64::MAX, i64::MIN]
                .iter()
                .map(|v| v.to_string().into_bytes())
                .chain([vec![b'a'; 63], vec![b'b'; 64], vec![b'c'; 300], vec![b'd'; 16384], b"012".to_vec()])
                .collect();
        let refs: Vec<&[u8]> = items.iter().map(|i| &i[..]).collect();
        let zl = build(&refs);
        let back: Vec<Vec<u8>> = parse(&zl).unwrap().into_iter().map(LpEntry::to_bytes).collect();
        assert_eq!(back, items);
    }

    #[test]
    fn random_contents_round_trip() {
        let mut rng = SmallRng::seed_from_u64(8);
        for _ in 0..200 {
            let items: Vec<Vec<u8>> = (0..rng.gen_range(0..120))
                .map(|_| match rng.gen_range(0..4) {
                    0 => (rng.gen::<i64>() >> rng.gen_range(0..64)).to_string().into_bytes(),
                    1 => (0..rng.gen_range(0..70)).map(|_| rng.gen()).collect(),
                    2 => (0..rng.gen_range(250..600)).map(|_| rng.gen()).collect(),
                    _ => rng.gen_range(-20i64..20).to_string().into_bytes(),
                })
                .collect();
            let refs: Vec<&[u8]> = items.iter().map(|i| &i[..]).collect();
            let back: Vec<Vec<u8>> = parse(&build(&refs)).unwrap().into_iter().map(LpEntry::to_bytes).collect();
            assert_eq!(back, items);
        }
    }

    #[test]
    fn corruption_is_an_error_never_a_panic() {
        let good = build(&[b"a", &[b'x'; 300], b"12345", b"-7", b"99999999999", b"hello"]);
        assert!(parse(&good).is_ok());
        for len in 0..good.len() {
            assert!(parse(&good[..len]).is_err(), "truncated to {len}");
        }
        let mut rng = SmallRng::seed_from_u64(5);
        for at in 0..good.len() {
            for _ in 0..8 {
                let mut bad = good.clone();
                bad[at] = rng.gen();
                let _ = parse(&bad);
            }
        }
        let mut wrong_tail = good.clone();
        wrong_tail[4] ^= 1;
        assert!(parse(&wrong_tail).is_err());
        let mut wrong_count = good.clone();
        wrong_count[8] += 1;
        assert!(parse(&wrong_count).is_err());
    }
}
