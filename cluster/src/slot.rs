//! Key → hash slot, a port of Redis 7.0's `keyHashSlot` and `crc16`, and the slot argument
//! parsers of `cluster.c` (`getSlotOrReply` and friends).

use crate::error::ClusterError;

/// Number of hash slots in a Redis Cluster (`CLUSTER_SLOTS`).
pub const SLOTS: u16 = 16384;

/// CRC16-XMODEM (polynomial 0x1021, initial value 0, no reflection): Redis's `crc16()`.
const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);

/// The hash slot of `key`, exactly as Redis's `keyHashSlot`.
///
/// If the key holds a `{`, and a `}` follows it with at least one byte between them, only the
/// bytes between that first `{` and the first `}` after it are hashed. Otherwise (no `{`, no
/// `}` after it, or an empty tag `{}`) the whole key is hashed. Later tags never count, so
/// `foo{}{bar}` hashes whole while `foo{bar}{zap}` hashes `bar`.
///
/// ```
/// use ferrocache_cluster::key_slot;
/// assert_eq!(key_slot(b"foo"), 12182);
/// assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
/// ```
#[inline]
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS - 1)
}

/// The bytes of `key` that [`key_slot`] hashes: the first non-empty `{tag}`, or the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// Redis's `crc16()`: CRC16-XMODEM of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16.checksum(bytes)
}

/// Parses a slot argument as `getSlotOrReply` does: a decimal 64-bit integer (Redis's
/// `string2ll` rules: no spaces, no `+`, no leading zeros) in `0..16384`, else
/// [`ClusterError::InvalidSlot`] (`ERR Invalid or out of range slot`).
pub fn parse_slot(arg: &[u8]) -> Result<u16, ClusterError> {
    match parse_i64(arg) {
        Some(n) if (0..SLOTS as i64).contains(&n) => Ok(n as u16),
        _ => Err(ClusterError::InvalidSlot),
    }
}

/// Redis's `string2ll`: the strict decimal form of a signed 64-bit integer.
pub(crate) fn parse_i64(arg: &[u8]) -> Option<i64> {
    let (neg, digits) = match arg {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, arg),
    };
    match digits {
        [] => return None,
        [b'0'] => return if neg { None } else { Some(0) },
        [b'0', ..] => return None,
        _ => {}
    }
    let mut value: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if neg {
        if value > i64::MAX as u64 + 1 {
            None
        } else {
            Some((value as i64).wrapping_neg())
        }
    } else {
        i64::try_from(value).ok()
    }
}

/// Groups ascending slots into inclusive `(start, end)` runs: `[1, 2, 3, 5]` → `[(1, 3), (5, 5)]`.
pub fn slot_ranges(slots: impl IntoIterator<Item = u16>) -> Vec<(u16, u16)> {
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    for slot in slots {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(slot) => *end = slot,
            _ => ranges.push((slot, slot)),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of COMPAT.md §2 (each also checked with `redis-cli CLUSTER KEYSLOT` on
    /// redis-server 7.0.15; `tests/keyslot.rs` repeats the check against a live server).
    #[test]
    fn compat_vectors() {
        let vectors: &[(&[u8], u16)] = &[
            (b"foo", 12182),
            (b"bar", 5061),
            (b"{user1000}.following", 3443),
            (b"123456789", 12739),
            (b"foo{}{bar}", 8363),
            (b"foo{{bar}}zap", 4015),
            (b"foo{bar}{zap}", 5061),
            (b"", 0),
        ];
        for &(key, slot) in vectors {
            assert_eq!(key_slot(key), slot, "{:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn crc16_check_value() {
        // The XMODEM check value: CRC of "123456789".
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn hash_tags() {
        assert_eq!(hash_tag(b"{a}b"), b"a");
        assert_eq!(hash_tag(b"x{a}"), b"a");
        assert_eq!(hash_tag(b"{}a"), b"{}a");
        assert_eq!(hash_tag(b"{a"), b"{a");
        assert_eq!(hash_tag(b"}a{"), b"}a{");
        assert_eq!(hash_tag(b"{{a}}"), b"{a");
        assert_eq!(hash_tag(b"a{b}c{d}"), b"b");
        assert_eq!(hash_tag(b"{"), b"{");
        assert_eq!(hash_tag(b"{}"), b"{}");
    }

    #[test]
    fn slot_args() {
        assert_eq!(parse_slot(b"0"), Ok(0));
        assert_eq!(parse_slot(b"16383"), Ok(16383));
        for bad in [&b"16384"[..], b"-1", b"", b"01", b"+1", b" 1", b"1 ", b"abc", b"99999999999999999999", b"-0"] {
            assert_eq!(parse_slot(bad), Err(ClusterError::InvalidSlot), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-9223372036854775809"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(slot_ranges([1, 2, 3, 5]), vec![(1, 3), (5, 5)]);
        assert_eq!(slot_ranges([]), vec![]);
        assert_eq!(slot_ranges([16383]), vec![(16383, 16383)]);
        assert_eq!(slot_ranges(0..SLOTS), vec![(0, 16383)]);
    }
}
