//! Parsing of scores and ranges as Redis's `t_zset.c` does it: `getDoubleFromObject` for
//! scores and weights, `zslParseRange` for `min`/`max` scores (strtod with looser rules),
//! `zslParseLexRangeItem` for lexicographic bounds.

use super::super::args;
use std::cmp::Ordering;

/// C's `strtod` on `s`: the value, how many bytes it consumed (0: no number), and whether it
/// overflowed to ±inf or underflowed to 0 (`errno == ERANGE` in the cases Redis checks).
pub fn strtod(s: &[u8]) -> (f64, usize, bool) {
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    let word = |w: &str| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes());
    if word("infinity") {
        return (sign(f64::INFINITY), i + 8, false);
    }
    if word("inf") {
        return (sign(f64::INFINITY), i + 3, false);
    }
    if word("nan") {
        let mut end = i + 3;
        // "nan(chars)" is one token.
        if s.get(end) == Some(&b'(') {
            if let Some(close) = s[end..].iter().position(|&c| c == b')') {
                if s[end + 1..end + close].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
                    end += close + 1;
                }
            }
        }
        return (f64::NAN, end, false);
    }
    if rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        if let Some((v, n)) = hex_float(&rest[2..]) {
            return (sign(v), i + 2 + n, false);
        }
    }
    // Decimal: digits [. digits] [e [sign] digits], at least one mantissa digit.
    let mut j = i;
    let digits = |j: &mut usize| {
        let from = *j;
        while *j < s.len() && s[*j].is_ascii_digit() {
            *j += 1;
        }
        *j - from
    };
    let mut mantissa = digits(&mut j);
    if s.get(j) == Some(&b'.') {
        let mut k = j + 1;
        let frac = digits(&mut k);
        if mantissa + frac > 0 {
            mantissa += frac;
            j = k;
        }
    }
    if mantissa == 0 {
        return (0.0, 0, false);
    }
    let nonzero = s[i..j].iter().any(|c| (b'1'..=b'9').contains(c));
    if matches!(s.get(j), Some(b'e' | b'E')) {
        let mut k = j + 1;
        if matches!(s.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if digits(&mut k) > 0 {
            j = k;
        }
    }
    let text = std::str::from_utf8(&s[i..j]).expect("ASCII");
    let v: f64 = text.parse().unwrap_or(0.0);
    let erange = (v.is_infinite()) || (v == 0.0 && nonzero);
    (sign(v), j, erange)
}

/// The hexadecimal part of a `0x` float: (value, bytes consumed), None without a digit.
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let (mut mant, mut exp, mut any, mut i) = (0u64, 0i64, false, 0);
    let mut point = false;
    while i < s.len() {
        let c = s[i];
        if c == b'.' && !point {
            point = true;
        } else if let Some(d) = (c as char).to_digit(16) {
            any = true;
            if mant >> 56 == 0 {
                mant = mant << 4 | d as u64;
                if point {
                    exp -= 4;
                }
            } else if !point {
                exp += 4;
            }
        } else {
            break;
        }
        i += 1;
    }
    if !any {
        return None;
    }
    if i < s.len() && (s[i] | 0x20) == b'p' {
        let mut k = i + 1;
        let neg = match s.get(k) {
            Some(b'-') => {
                k += 1;
                true
            }
            Some(b'+') => {
                k += 1;
                false
            }
            _ => false,
        };
        let from = k;
        let mut e: i64 = 0;
        while k < s.len() && s[k].is_ascii_digit() {
            e = (e * 10 + (s[k] - b'0') as i64).min(1 << 20);
            k += 1;
        }
        if k > from {
            exp += if neg { -e } else { e };
            i = k;
        }
    }
    let v = mant as f64 * 2f64.powi(exp.clamp(-2000, 2000) as i32);
    Some((v, i))
}

/// `getDoubleFromObject`: the whole argument a number, no leading space, no overflow, not NaN.
pub fn score(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || matches!(arg[0], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        return None;
    }
    let (v, n, erange) = strtod(arg);
    (n == arg.len() && !erange && !v.is_nan()).then_some(v)
}

/// One end of a score range: `(` for exclusive, then strtod of the rest (an empty rest is
/// 0, as strtod leaves it), which must use every byte up to the C string's end.
fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let arg = args::c_str(arg);
    let (text, exclusive) = match arg.first() {
        Some(b'(') => (&arg[1..], true),
        _ => (arg, false),
    };
    let (v, n, _) = strtod(text);
    (n == text.len() && !v.is_nan()).then_some((v, exclusive))
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
