//! Redis's intset (`intset.c`): a sorted array of unique integers, all of one width, the RDB
//! form (`SET_INTSET`) of small sets whose members are all integers.
//!
//! ```text
//! <encoding u32 LE: 2, 4 or 8 bytes per integer> <length u32 LE> <integers, ascending, LE>
//! ```

use std::fmt;

/// Why a buffer is not a valid intset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntsetError(pub &'static str);

impl fmt::Display for IntsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid intset: {}", self.0)
    }
}

impl std::error::Error for IntsetError {}

/// Checks `bytes` as `intsetValidateIntegrity` does with deep checks (a known width, a size
/// that matches the length, strictly ascending members) and returns the members.
pub fn parse(bytes: &[u8]) -> Result<Vec<i64>, IntsetError> {
    if bytes.len() < 8 {
        return Err(IntsetError("shorter than its header"));
    }
    let width = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(IntsetError("unknown encoding"));
    }
    let len = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as u64;
    if len.checked_mul(width as u64).and_then(|n| n.checked_add(8)) != Some(bytes.len() as u64) {
        return Err(IntsetError("size differs from the length"));
    }
    let members: Vec<i64> = bytes[8..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i64::from(i16::from_le_bytes(c.try_into().expect("2 bytes"))),
            4 => i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))),
            _ => i64::from_le_bytes(c.try_into().expect("8 bytes")),
        })
        .collect();
    if members.windows(2).any(|w| w[0] >= w[1]) {
        return Err(IntsetError("members not in strictly ascending order"));
    }
    Ok(members)
}

/// The intset of `members` (any order, no duplicates expected; duplicates are dropped), in the
/// narrowest width that holds them all, as `intsetAdd` leaves it.
pub fn build(members: impl IntoIterator<Item = i64>) -> Vec<u8> {
    let mut members: Vec<i64> = members.into_iter().collect();
    members.sort_unstable();
    members.dedup();
    let width: usize = if members.iter().all(|&m| i16::try_from(m).is_ok()) {
        2
    } else if members.iter().all(|&m| i32::try_from(m).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + members.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for m in members {
        out.extend_from_slice(&m.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn narrowest_width_sorted() {
        assert_eq!(build([3, 1, 2]), [2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 3, 0]);
        assert_eq!(build([70000]), [4, 0, 0, 0, 1, 0, 0, 0, 0x70, 0x11, 0x01, 0]);
        assert_eq!(build([i64::MIN])[0], 8);
        assert_eq!(parse(&build([5, -5, 1 << 40])).unwrap(), [-5, 5, 1 << 40]);
    }

    #[test]
    fn round_trips_and_refuses_bad_input() {
        let mut rng = SmallRng::seed_from_u64(11);
        for _ in 0..200 {
            let shift = rng.gen_range(1..64);
            let mut members: Vec<i64> = (0..rng.gen_range(0..100)).map(|_| rng.gen::<i64>() >> shift).collect();
            let set = build(members.clone());
            members.sort_unstable();
            members.dedup();
            assert_eq!(parse(&set).unwrap(), members);
        }
        let good = build([1, 2, 3]);
        for len in 0..good.len() {
            assert!(parse(&good[..len]).is_err());
        }
        assert!(parse(&[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 1, 0]).is_err(), "duplicate");
        assert!(parse(&[2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0]).is_err(), "descending");
        assert!(parse(&[3, 0, 0, 0, 0, 0, 0, 0]).is_err(), "width 3");
        assert!(parse(&[8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err(), "huge length");
    }
}
