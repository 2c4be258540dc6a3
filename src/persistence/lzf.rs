//! LZF, the compression of RDB strings and DUMP payloads: a port of liblzf 3.6 as Redis 7.0 builds
//! it (`lzfP.h`: `HLOG 16`, `VERY_FAST 1`, `ULTRA_FAST 0`, `INIT_HTAB 0`, `CHECK_INPUT 1`).
//!
//! The compressor must emit exactly Redis's bytes, because DUMP payloads are compared byte for byte
//! and Redis decides between LZF and a raw string by the compressed size. So this follows
//! `lzf_compress` step by step, including its quirks (the hash of three bytes, the unrolled match
//! loop that can run past `maxlen`, the two positions hashed after a match) rather than being a
//! cleaner LZ77.
//!
//! One difference is deliberate: Redis leaves the hash table uninitialised (`INIT_HTAB 0`), so a
//! stale slot from an earlier call can, in rare cases, offer a match that an empty table would not.
//! That makes Redis's output depend on what it compressed before; we use the only reproducible
//! reading, an empty table, which is what Redis produces whenever the stale slots do not happen to
//! match.
//!
//! Format (`lzf_c.c`):
//!
//! ```text
//! 000LLLLL <L+1 literal bytes>        literal run of 1..=32 bytes
//! LLLooooo oooooooo                   back reference: L+2 bytes (L 1..=6) from offset o+1
//! 111ooooo LLLLLLLL oooooooo          back reference: L+9 bytes from offset o+1
//! ```

use std::cell::RefCell;
use std::fmt;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
/// Longest literal run.
const MAX_LIT: usize = 1 << 5;
/// Farthest back reference.
const MAX_OFF: usize = 1 << 13;
/// Longest back reference, minus the two bytes every reference has.
const MAX_REF: usize = (1 << 8) + (1 << 3);
/// Most output bytes one input byte can stand for: a 3-byte reference expands to 7 + 255 + 2 bytes.
const MAX_EXPANSION: usize = 88;

/// Why an LZF block could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LzfError {
    /// The block would decompress to more bytes than its declared length (`E2BIG` in liblzf).
    TooLong,
    /// The block is malformed: it ends inside an instruction, or references before the start
    /// of the output (`EINVAL` in liblzf), or it is empty.
    Corrupt,
    /// The block decompressed to fewer bytes than its declared length.
    TooShort { expected: usize, actual: usize },
}

impl fmt::Display for LzfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LzfError::TooLong => f.write_str("LZF data decompresses to more than its declared length"),
            LzfError::Corrupt => f.write_str("invalid LZF compressed data"),
            LzfError::TooShort { expected, actual } => {
                write!(f, "LZF data decompresses to {actual} bytes, {expected} declared")
            }
        }
    }
}

impl std::error::Error for LzfError {}

/// The compressor's hash table: for each hash of three bytes, the last input position that had it.
///
/// Clearing 64 Ki slots for every string would cost more than compressing a short value, so slots
/// are never cleared: each call gets a fresh `base` above every position stored before, and a slot
/// below the current `base` reads as empty.
struct HashTable {
    slots: Box<[u64]>,
    base: u64,
}

impl HashTable {
    fn new() -> HashTable {
        HashTable { slots: vec![0; HSIZE].into_boxed_slice(), base: 1 }
    }

    /// Reads the slot (`None` when empty) and stores `pos` in it, as `ref = *hslot; *hslot = ip`.
    fn swap(&mut self, slot: usize, pos: usize) -> Option<usize> {
        let old = std::mem::replace(&mut self.slots[slot], self.base + pos as u64);
        old.checked_sub(self.base).map(|p| p as usize)
    }

    fn set(&mut self, slot: usize, pos: usize) {
        self.slots[slot] = self.base + pos as u64;
    }
}

thread_local! {
    static HASH_TABLE: RefCell<HashTable> = RefCell::new(HashTable::new());
}

fn first(input: &[u8], p: usize) -> u32 {
    (u32::from(input[p]) << 8) | u32::from(input[p + 1])
}

fn next(hval: u32, input: &[u8], p: usize) -> u32 {
    (hval << 8) | u32::from(input[p + 2])
}

/// `IDX` with `VERY_FAST`: unsigned 32-bit arithmetic, as in C.
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Compresses `input` into at most `max_output` bytes, or `None` when the result would not fit
/// (or `input` is empty): `lzf_compress(input, len, out, max_output)` returning 0.
pub fn compress(input: &[u8], max_output: usize) -> Option<Vec<u8>> {
    if input.is_empty() || max_output == 0 {
        return None;
    }
    HASH_TABLE.with(|table| {
        let mut table = table.borrow_mut();
        let result = compress_with(&mut table, input, max_output);
        table.base += input.len() as u64 + 1;
        result
    })
}

fn compress_with(htab: &mut HashTable, input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let in_len = input.len();
    let mut out = vec![0u8; out_len];
    // `op` may point one past the end, as in C, where the next literal run's header would go.
    let mut op = 1; // lit = 0; op++: start run
    let mut lit = 0usize;
    let mut ip = 0usize;
    let mut hval = if in_len >= 2 { first(input, 0) } else { 0 };

    while ip + 2 < in_len {
        hval = next(hval, input, ip);
        let slot = idx(hval);
        let candidate = htab.swap(slot, ip);
        let reference = candidate.filter(|&r| {
            r > 0 && ip - r - 1 < MAX_OFF && input[r + 2] == input[ip + 2] && input[r..r + 2] == input[ip..ip + 2]
        });

        if let Some(r) = reference {
            let off = ip - r - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);

            if op - usize::from(lit == 0) + 3 + 1 >= out_len {
                return None;
            }
            out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
            op -= usize::from(lit == 0); // undo run if length is zero

            // The unrolled loop compares up to 16 bytes without checking `maxlen` (it may end one
            // past it); the input is long enough there because `maxlen > 16`.
            'matching: {
                if maxlen > 16 {
                    for _ in 0..16 {
                        len += 1;
                        if input[r + len] != input[ip + len] {
                            break 'matching;
                        }
                    }
                }
                loop {
                    len += 1;
                    if !(len < maxlen && input[r + len] == input[ip + len]) {
                        break;
                    }
                }
            }

            len -= 2; // len is now #octets - 1
            ip += 1;

            if len < 7 {
                out[op] = ((off >> 8) + (len << 5)) as u8;
                op += 1;
            } else {
                out[op] = ((off >> 8) + (7 << 5)) as u8;
                out[op + 1] = (len - 7) as u8;
                op += 2;
            }
            out[op] = off as u8;
            op += 2; // the offset's low byte, then lit = 0; op++: start run
            lit = 0;

            ip += len + 1;
            if ip + 2 >= in_len {
                break;
            }

            // VERY_FAST: hash the last two positions of the match.
            ip -= 2;
            hval = first(input, ip);
            hval = next(hval, input, ip);
            htab.set(idx(hval), ip);
            ip += 1;
            hval = next(hval, input, ip);
            htab.set(idx(hval), ip);
            ip += 1;
        } else {
            if op >= out_len {
                return None;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit - 1) as u8; // stop run
                lit = 0;
                op += 1; // start run
            }
        }
    }

    if op + 3 > out_len {
        return None; // at most 3 bytes can be missing here
    }

    while ip < in_len {
        lit += 1;
        out[op] = input[ip];
        op += 1;
        ip += 1;
        if lit == MAX_LIT {
            out[op - lit - 1] = (lit - 1) as u8;
            lit = 0;
            op += 1;
        }
    }

    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
    op -= usize::from(lit == 0); // undo run if length is zero
    out.truncate(op);
    Some(out)
}

/// Decompresses an LZF block that must expand to exactly `expected_len` bytes, as Redis's
/// `rdbLoadLzfStringObject` requires. Never reads or writes out of bounds, whatever the input.
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    // Checked before allocating, so a corrupt length cannot ask for more memory than the
    // compressed bytes could possibly produce.
    if input.is_empty() || expected_len > input.len().saturating_mul(MAX_EXPANSION) {
        return Err(LzfError::Corrupt);
    }
    let mut out = Vec::with_capacity(expected_len);
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < MAX_LIT {
            let run = ctrl + 1;
            if out.len() + run > expected_len {
                return Err(LzfError::TooLong);
            }
            let literal = input.get(ip..ip + run).ok_or(LzfError::Corrupt)?;
            out.extend_from_slice(literal);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(LzfError::Corrupt)?);
                ip += 1;
            }
            let low = usize::from(*input.get(ip).ok_or(LzfError::Corrupt)?);
            ip += 1;
            let distance = ((ctrl & 0x1f) << 8) + low + 1;
            let len = len + 2;
            if out.len() + len > expected_len {
                return Err(LzfError::TooLong);
            }
            let start = out.len().checked_sub(distance).ok_or(LzfError::Corrupt)?;
            if distance >= len {
                out.extend_from_within(start..start + len);
            } else {
                // The reference overlaps what it writes (a run): copy byte by byte, as lzf_d.c does.
                for i in start..start + len {
                    out.push(out[i]);
                }
            }
        }
    }
    if out.len() != expected_len {
        return Err(LzfError::TooShort { expected: expected_len, actual: out.len() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Bytes drawn from an alphabet of `alphabet` symbols, in runs of up to `max_run`: low
    /// alphabets and long runs compress well, 256 symbols in runs of 1 do not.
    fn sample(rng: &mut SmallRng, len: usize, alphabet: u16, max_run: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let byte = rng.gen_range(0..alphabet) as u8;
            let run = rng.gen_range(1..=max_run).min(len - out.len());
            out.extend(std::iter::repeat_n(byte, run));
        }
        out
    }

    #[test]
    fn known_blocks() {
        // Redis's DUMP of 'a' * 100 carries this block (see the rdb fixtures).
        assert_eq!(compress(&[b'a'; 100], 96).unwrap(), [0x01, 0x61, 0x61, 0xe0, 0x57, 0x00, 0x01, 0x61, 0x61]);
        assert_eq!(decompress(&[0x01, 0x61, 0x61, 0xe0, 0x57, 0x00, 0x01, 0x61, 0x61], 100).unwrap(), [b'a'; 100]);
        assert_eq!(compress(b"abc", 10).unwrap(), [0x02, b'a', b'b', b'c']);
        assert_eq!(compress(b"x", 10).unwrap(), [0x00, b'x']);
    }

    #[test]
    fn gives_up_when_the_output_would_not_fit() {
        // Redis asks for a saving of at least 4 bytes (`rdbSaveLzfStringObject`).
        let incompressible = b"abcdefghijklmnopqrstuvwxy";
        assert_eq!(compress(incompressible, incompressible.len() - 4), None);
        assert_eq!(compress(incompressible, 64).unwrap(), [&[24u8][..], incompressible].concat());
        assert_eq!(compress(b"", 10), None);
        assert_eq!(compress(b"abc", 0), None);
    }

    #[test]
    fn round_trips_inputs_of_every_kind() {
        let mut rng = SmallRng::seed_from_u64(0x1f2e3d4c);
        for round in 0..2000 {
            let len = match round % 4 {
                0 => rng.gen_range(1..40),
                1 => rng.gen_range(40..600),
                2 => rng.gen_range(600..10_000),
                _ => rng.gen_range(10_000..70_000),
            };
            let alphabet = [2, 4, 16, 256][rng.gen_range(0..4)];
            let max_run = [1, 3, 20, 300][rng.gen_range(0..4)];
            let input = sample(&mut rng, len, alphabet, max_run);
            let bound = input.len() + input.len() / 16 + 64; // room for the incompressible case
            let compressed = compress(&input, bound).expect("fits in the worst-case bound");
            assert_eq!(decompress(&compressed, input.len()).unwrap(), input, "round {round}");
        }
    }

    #[test]
    fn output_does_not_depend_on_earlier_calls() {
        let text = b"the quick brown fox jumps over the lazy dog, the quick brown fox again".repeat(5);
        let alone = compress(&text, text.len()).unwrap();
        compress(&b"the lazy dog jumps over the quick brown fox".repeat(50), 10_000).unwrap();
        assert_eq!(compress(&text, text.len()).unwrap(), alone);
    }

    #[test]
    fn decompress_rejects_wrong_lengths() {
        let block = compress(&[b'z'; 500], 500).unwrap();
        assert_eq!(decompress(&block, 499), Err(LzfError::TooLong));
        assert_eq!(decompress(&block, 501), Err(LzfError::TooShort { expected: 501, actual: 500 }));
        assert_eq!(decompress(&[], 0), Err(LzfError::Corrupt));
        // A reference before the start of the output.
        assert_eq!(decompress(&[0x20, 0x00], 3), Err(LzfError::Corrupt));
        // A literal run longer than the input left.
        assert_eq!(decompress(&[0x05, b'a'], 6), Err(LzfError::Corrupt));
        // A declared length no block this short could reach is refused before allocating.
        assert_eq!(decompress(&[0x00, b'a'], usize::MAX), Err(LzfError::Corrupt));
    }

    #[test]
    fn decompress_never_panics_on_garbage() {
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..64);
            let garbage: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let _ = decompress(&garbage, rng.gen_range(0..2000));
        }
        // Mutations of a valid block: bytes flipped, cut short.
        let input = sample(&mut rng, 3000, 4, 20);
        let block = compress(&input, input.len()).unwrap();
        for _ in 0..20_000 {
            let mut broken = block.clone();
            let at = rng.gen_range(0..broken.len());
            broken[at] ^= 1 << rng.gen_range(0..8);
            broken.truncate(rng.gen_range(at..=broken.len()));
            if let Ok(out) = decompress(&broken, input.len()) {
                assert_eq!(out.len(), input.len());
            }
        }
    }
}
