//! Redis's listpack (`listpack.c`): a flat, self-validating sequence of strings and integers,
//! the RDB form of small hashes and sorted sets and of each quicklist node (Redis 7.0).
//!
//! ```text
//! <total bytes u32 LE> <count u16 LE, 65535 = unknown> <entry>* 0xFF
//! entry: <encoding + data> <backlen: length of encoding + data, 1–5 bytes, 7 bits each>
//! ```
//!
//! [`parse`] checks a listpack completely (every length against the buffer, every
//! back-length, the count and the terminator), as `lpValidateIntegrity` does with deep checks,
//! so a hostile buffer gives an error and never a panic; it borrows the strings it finds.
//! [`ListpackWriter`] writes the bytes Redis writes for the same pushes.

use std::fmt;

const HEADER: usize = 6;
const EOF: u8 = 0xFF;
/// The count a listpack header holds when there are 65535 entries or more.
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One listpack element. Redis stores a string that is the canonical text of an i64 as the
/// integer; callers wanting bytes use [`LpEntry::to_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LpEntry<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl LpEntry<'_> {
    /// The element as a string (integers in decimal), as `lpGet` callers render it.
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            LpEntry::Str(s) => s.to_vec(),
            LpEntry::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
        }
    }
}

/// Why a buffer is not a valid listpack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListpackError(pub &'static str);

impl fmt::Display for ListpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid listpack: {}", self.0)
    }
}

impl std::error::Error for ListpackError {}

/// Checks `bytes` whole and returns its elements. The result holds at most one element per
/// two input bytes, so memory is bounded by the input.
pub fn parse(bytes: &[u8]) -> Result<Vec<LpEntry<'_>>, ListpackError> {
    let err = |what| Err(ListpackError(what));
    if bytes.len() < HEADER + 1 {
        return err("shorter than its header");
    }
    let total = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    if total != bytes.len() {
        return err("header size differs from the buffer's");
    }
    let count = u16::from_le_bytes([bytes[4], bytes[5]]);
    let mut entries = Vec::new();
    let mut pos = HEADER;
    loop {
        let Some(&first) = bytes.get(pos) else { return err("no terminator") };
        if first == EOF {
            if pos + 1 != bytes.len() {
                return err("bytes after the terminator");
            }
            break;
        }
        let (entry, len) = decode_entry(&bytes[pos..])?;
        let backlen = encode_backlen(len as u64);
        let back = &backlen.0[..backlen.1];
        let end = pos + len;
        if bytes.get(end..end + back.len()) != Some(back) {
            return err("wrong back-length");
        }
        entries.push(entry);
        pos = end + back.len();
    }
    if count != COUNT_UNKNOWN && usize::from(count) != entries.len() {
        return err("header count differs from the entries'");
    }
    Ok(entries)
}

/// Decodes the entry at the start of `p`: the element and the length of its encoding + data
/// (without the back-length).
fn decode_entry(p: &[u8]) -> Result<(LpEntry<'_>, usize), ListpackError> {
    let first = p[0];
    let need = |n: usize| if p.len() >= n { Ok(()) } else { Err(ListpackError("entry runs past the end")) };
    let sext = |v: u64, bits: u32| ((v << (64 - bits)) as i64) >> (64 - bits);
    let le = |from: usize, n: usize| p[from..from + n].iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b));
    Ok(if first & 0x80 == 0 {
        (LpEntry::Int(i64::from(first & 0x7f)), 1)
    } else if first & 0xC0 == 0x80 {
        let len = usize::from(first & 0x3f);
        need(1 + len)?;
        (LpEntry::Str(&p[1..1 + len]), 1 + len)
    } else if first & 0xE0 == 0xC0 {
        need(2)?;
        let v = u64::from(first & 0x1f) << 8 | u64::from(p[1]);
        (LpEntry::Int(sext(v, 13)), 2)
    } else if first & 0xF0 == 0xE0 {
        need(2)?;
        let len = usize::from(first & 0x0f) << 8 | usize::from(p[1]);
        need(2 + len)?;
        (LpEntry::Str(&p[2..2 + len]), 2 + len)
    } else {
        match first {
            0xF0 => {
                need(5)?;
                let len = le(1, 4) as usize;
                need(5usize.checked_add(len).ok_or(ListpackError("string length overflows"))?)?;
                (LpEntry::Str(&p[5..5 + len]), 5 + len)
            }
            0xF1 => {
                need(3)?;
                (LpEntry::Int(sext(le(1, 2), 16)), 3)
            }
            0xF2 => {
                need(4)?;
                (LpEntry::Int(sext(le(1, 3), 24)), 4)
            }
            0xF3 => {
                need(5)?;
                (LpEntry::Int(sext(le(1, 4), 32)), 5)
            }
            0xF4 => {
                need(9)?;
                (LpEntry::Int(le(1, 8) as i64), 9)
            }
            _ => return Err(ListpackError("unknown entry encoding")),
        }
    })
}

/// `lpEncodeBacklen`: the length of an entry's encoding + data, written so it can be read
/// backwards: most significant 7 bits first, every byte but the first with bit 7 set.
fn encode_backlen(l: u64) -> ([u8; 5], usize) {
    let mut buf = [0u8; 5];
    let n = match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    };
    for (i, b) in buf[..n].iter_mut().enumerate() {
        let shift = 7 * (n - 1 - i);
        *b = ((l >> shift) & 127) as u8 | if i == 0 { 0 } else { 128 };
    }
    (buf, n)
}

/// Builds a listpack by appending, as `lpAppend` does.
#[derive(Debug, Clone)]
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter::new()
    }
}

impl ListpackWriter {
    pub fn new() -> ListpackWriter {
        ListpackWriter { buf: vec![0; HEADER], count: 0 }
    }

    /// Appends a string; like Redis, one that is the canonical text of an i64 (`string2ll`)
    /// is stored as that integer.
    pub fn push(&mut self, s: &[u8]) {
        match (s.len() < 21).then(|| crate::store::parse_i64_strict(s)).flatten() {
            Some(n) => self.push_int(n),
            None => self.push_str(s),
        }
    }

    /// Appends a string as a string, whatever it holds.
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let len = s.len();
        if len < 64 {
            self.buf.push(0x80 | len as u8);
        } else if len < 4096 {
            self.buf.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.end_entry(start);
    }

    /// Appends an integer in the smallest of the integer encodings.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        let bytes = v.to_le_bytes();
        match v {
            0..=127 => self.buf.push(v as u8),
            -4096..=4095 => {
                let u = (v as u64) & 0x1fff;
                self.buf.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
            }
            -32768..=32767 => {
                self.buf.push(0xF1);
                self.buf.extend_from_slice(&bytes[..2]);
            }
            -8388608..=8388607 => {
                self.buf.push(0xF2);
                self.buf.extend_from_slice(&bytes[..3]);
            }
            -2147483648..=2147483647 => {
                self.buf.push(0xF3);
                self.buf.extend_from_slice(&bytes[..4]);
            }
            _ => {
                self.buf.push(0xF4);
                self.buf.extend_from_slice(&bytes);
            }
        }
        self.end_entry(start);
    }

    fn end_entry(&mut self, start: usize) {
        let (back, n) = encode_backlen((self.buf.len() - start) as u64);
        self.buf.extend_from_slice(&back[..n]);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The size [`finish`](Self::finish) will return, in bytes (`lpBytes`).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// The complete listpack: header filled in, terminator appended.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    fn build(items: &[&[u8]]) -> Vec<u8> {
        let mut w = ListpackWriter::new();
        items.iter().for_each(|i| w.push(i));
        w.finish()
    }

    #[test]
    fn small_listpacks_match_redis_bytes() {
        // RPUSH l a 1 -1 hello 300 100000 in redis-server 7.0, DUMP, listpack node bytes.
        let lp = build(&[b"a", b"1", b"-1", b"hello", b"300", b"100000"]);
        let expected: &[u8] = &[
            0x1e, 0, 0, 0, 6, 0, // header: 30 bytes, 6 entries
            0x81, b'a', 2, // 6-bit string
            0x01, 1, // 7-bit uint
            0xDF, 0xFF, 2, // 13-bit -1
            0x85, b'h', b'e', b'l', b'l', b'o', 6, // string
            0xC1, 0x2C, 2, // 13-bit 300
            0xF2, 0xA0, 0x86, 0x01, 4, // 24-bit 100000
            0xFF,
        ];
        assert_eq!(lp, expected);
        let parsed = parse(&lp).unwrap();
        assert_eq!(
            parsed,
            [
                LpEntry::Str(b"a"),
                LpEntry::Int(1),
                LpEntry::Int(-1),
                LpEntry::Str(b"hello"),
                LpEntry::Int(300),
                LpEntry::Int(100000)
            ]
        );
    }

    #[test]
    fn backlen_follows_lp_encode_backlen() {
        assert_eq!(encode_backlen(127), ([127, 0, 0, 0, 0], 1));
        assert_eq!(encode_backlen(128), ([1, 128, 0, 0, 0], 2));
        assert_eq!(encode_backlen(500), ([3, 128 | 116, 0, 0, 0], 2));
        assert_eq!(encode_backlen(16383).1, 3);
        assert_eq!(encode_backlen(2097151).1, 4);
        assert_eq!(encode_backlen(268435455).1, 5);
    }

    #[test]
    fn not_canonical_integers_stay_strings() {
        for s in [&b"01"[..], b"-0", b"+1", b" 1", b"", b"9223372036854775808", b"1.5"] {
            assert_eq!(parse(&build(&[s])).unwrap(), [LpEntry::Str(s)], "{}", s.escape_ascii());
        }
    }

    #[test]
    fn round_trips_random_contents() {
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..300 {
            let n = rng.gen_range(0..200);
            let items: Vec<Vec<u8>> = (0..n)
                .map(|_| match rng.gen_range(0..6) {
                    0 => rng.gen::<i64>().to_string().into_bytes(),
                    1 => rng.gen_range(-70000i64..70000).to_string().into_bytes(),
                    2 => (0..rng.gen_range(0..70)).map(|_| rng.gen()).collect(),
                    3 => (0..rng.gen_range(60..5000)).map(|_| rng.gen()).collect(),
                    4 => (1i64 << rng.gen_range(0..63)).to_string().into_bytes(),
                    _ => (-(1i64 << rng.gen_range(0..63))).to_string().into_bytes(),
                })
                .collect();
            let refs: Vec<&[u8]> = items.iter().map(|i| &i[..]).collect();
            let lp = build(&refs);
            let parsed: Vec<Vec<u8>> = parse(&lp).unwrap().into_iter().map(LpEntry::to_bytes).collect();
            assert_eq!(parsed, items);
        }
        // Over 65535 entries the count is "unknown".
        let mut w = ListpackWriter::new();
        (0..70000).for_each(|i| w.push_int(i));
        let lp = w.finish();
        assert_eq!(&lp[4..6], &[0xff, 0xff]);
        assert_eq!(parse(&lp).unwrap().len(), 70000);
    }

    #[test]
    fn every_corruption_is_an_error_never_a_panic() {
        let good = build(&[b"a", b"hello world", &[b'x'; 100], b"12345", b"-7", b"99999999999"]);
        assert!(parse(&good).is_ok());
        for len in 0..good.len() {
            assert!(parse(&good[..len]).is_err(), "truncated to {len}");
        }
        let mut rng = SmallRng::seed_from_u64(3);
        for at in 0..good.len() {
            for _ in 0..8 {
                let mut bad = good.clone();
                bad[at] = rng.gen();
                // Must not panic; if it parses, it is a listpack that re-encodes to a valid one.
                if let Ok(entries) = parse(&bad) {
                    assert!(entries.len() <= bad.len() / 2);
                }
            }
        }
        // A 32-bit string length of 4 GB in a tiny buffer.
        let huge = [12, 0, 0, 0, 1, 0, 0xF0, 0xff, 0xff, 0xff, 0xff, 0xFF];
        assert!(parse(&huge).is_err());
        // Wrong count, wrong total size, trailing bytes.
        let mut bad_count = good.clone();
        bad_count[4] += 1;
        assert!(parse(&bad_count).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        trailing[0] += 1;
        assert!(parse(&trailing).is_err());
    }
}
