//! Parsing of scores and ranges as Redis's `t_zset.c` does it: `getDoubleFromObject` for
//! scores and weights, `zslParseRange` for `min`/`max` scores (strtod with looser rules),
//! `zslParseLexRangeItem` for lexicographic bounds. Numbers are read by [`crate::strtod`].

use super::super::args;
use crate::strtod;
use std::cmp::Ordering;

/// `getDoubleFromObject`: the whole argument a number, no leading space, no overflow or
/// underflow to zero (a subnormal is fine), not NaN.
pub fn score(arg: &[u8]) -> Option<f64> {
    strtod::string2d(arg)
}

/// One end of a score range: `(` for exclusive, then strtod of the rest (an empty rest is
/// 0, as strtod leaves it), which must use every byte up to the C string's end.
fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let arg = args::c_str(arg);
    let (text, exclusive) = match arg.first() {
        Some(b'(') => (&arg[1..], true),
        _ => (arg, false),
    };
    // No ERANGE check here: `(1e400` is +inf, `1e-400` is 0.
    let r = strtod::strtod(text);
    (r.len == text.len() && !r.value.is_nan()).then_some((r.value, exclusive))
}

/// A score interval (`zrangespec`).
#[derive(Debug, Clone, Copy)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    /// `zslParseRange`.
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, minex) = score_bound(min)?;
        let (max, maxex) = score_bound(max)?;
        Some(ScoreRange { min, max, minex, maxex })
    }

    /// Whether `s` is below the range (the order's prefix before it).
    pub fn below(&self, s: f64) -> bool {
        if self.minex {
            s <= self.min
        } else {
            s < self.min
        }
    }

    /// Whether `s` is not above the range.
    pub fn not_above(&self, s: f64) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }
}

/// One end of a lexicographic range.
#[derive(Debug, Clone)]
pub enum LexBound {
    Min,
    Max,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

impl LexBound {
    /// `zslParseLexRangeItem`.
    fn parse(arg: &[u8]) -> Option<LexBound> {
        match arg.first()? {
            b'+' if arg.len() == 1 || arg[1] == 0 => Some(LexBound::Max),
            b'-' if arg.len() == 1 || arg[1] == 0 => Some(LexBound::Min),
            b'(' => Some(LexBound::Exclusive(arg[1..].to_vec())),
            b'[' => Some(LexBound::Inclusive(arg[1..].to_vec())),
            _ => None,
        }
    }

    /// The order of `m` against this bound's value (Min below all, Max above all).
    fn cmp(&self, m: &[u8]) -> Ordering {
        match self {
            LexBound::Min => Ordering::Greater,
            LexBound::Max => Ordering::Less,
            LexBound::Inclusive(v) | LexBound::Exclusive(v) => m.cmp(v),
        }
    }

    fn exclusive(&self) -> bool {
        matches!(self, LexBound::Exclusive(_))
    }
}

/// A lexicographic interval (`zlexrangespec`).
#[derive(Debug, Clone)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// `zslParseLexRange`.
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange { min: LexBound::parse(min)?, max: LexBound::parse(max)? })
    }

    /// Whether `m` sorts before the range.
    pub fn below(&self, m: &[u8]) -> bool {
        match self.min.cmp(m) {
            Ordering::Less => true,
            Ordering::Equal => self.min.exclusive(),
            Ordering::Greater => false,
        }
    }

    /// Whether `m` does not sort after the range.
    pub fn not_above(&self, m: &[u8]) -> bool {
        match self.max.cmp(m) {
            Ordering::Less => true,
            Ordering::Equal => !self.max.exclusive(),
            Ordering::Greater => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_as_strtod_with_redis_checks() {
        assert_eq!(score(b"1.5"), Some(1.5));
        assert_eq!(score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(score(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(score(b"0x10"), Some(16.0));
        assert_eq!(score(b"0x1p-2"), Some(0.25));
        assert_eq!(score(b"1e-310"), Some(1e-310));
        assert_eq!(score(b".5"), Some(0.5));
        assert_eq!(score(b"5."), Some(5.0));
        for bad in [&b""[..], b" 1", b"1 ", b"1e400", b"1e-400", b"nan", b"abc", b"1x", b".", b"e5", b"0x"] {
            assert_eq!(score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn range_bounds_are_looser() {
        let r = ScoreRange::parse(b"", b"(5").unwrap();
        assert_eq!((r.min, r.minex, r.max, r.maxex), (0.0, false, 5.0, true));
        let r = ScoreRange::parse(b" 1", b"1e400").unwrap();
        assert_eq!((r.min, r.max), (1.0, f64::INFINITY));
        assert!(ScoreRange::parse(b"1 ", b"2").is_none());
        assert!(ScoreRange::parse(b"(nan", b"2").is_none());
        assert!(ScoreRange::parse(b"(", b"(").is_some());
        assert!(LexRange::parse(b"+x", b"-").is_none());
        assert!(LexRange::parse(b"a", b"-").is_none());
        let r = LexRange::parse(b"(b", b"[d").unwrap();
        assert!(r.below(b"b") && !r.below(b"ba") && r.not_above(b"d") && !r.not_above(b"da"));
    }
}
