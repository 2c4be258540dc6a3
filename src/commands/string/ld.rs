//! INCRBYFLOAT's arithmetic, bit-exact with Redis on x86-64.
//!
//! Redis parses both operands with `strtold`, adds them as `long double` (x87 80-bit extended
//! precision: a 64-bit mantissa, exponents down to 2^-16445 with denormals) and prints the sum
//! with `%.17Lf`, then strips trailing zeros. `f64` gives different digits (`0.1 + 0.2` is
//! `0.3` in Redis, `1000 + 0.1` is `1000.09999999999999998`), so this module emulates the
//! format exactly: correctly rounded parsing, round-to-nearest-even addition, and exact
//! fixed-point printing, over a small arbitrary-precision integer.

use std::cmp::Ordering;

/// Exponent of the least significant mantissa bit of the smallest denormal.
const MIN_LSB_EXP: i64 = -16445;
/// Values reach infinity at 2^16384.
const MAX_EXP: i64 = 16384;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: longer inputs are refused.
const MAX_CHARS: usize = 5 * 1024;

/// An x87 extended-precision value: `mant * 2^exp`, or zero / infinity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ld {
    Zero { neg: bool },
    Inf { neg: bool },
    Finite { neg: bool, mant: u64, exp: i64 },
}

impl Ld {
    pub fn from_i64(n: i64) -> Ld {
        if n == 0 {
            return Ld::Zero { neg: false };
        }
        round(Big::from_u64(n.unsigned_abs()), 0, false, n < 0)
    }

    pub fn is_finite(&self) -> bool {
        !matches!(self, Ld::Inf { .. })
    }

    /// Redis's `string2ld`: `strtold` over the whole argument, refusing leading spaces,
    /// trailing garbage, NaN, and overflow or underflow to zero.
    pub fn parse(s: &[u8]) -> Option<Ld> {
        if s.is_empty() || s.len() >= MAX_CHARS {
            return None;
        }
        if matches!(s[0], b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
            return None;
        }
        let (neg, body) = match s[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = body.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            return Some(Ld::Inf { neg });
        }
        let value = if lower.starts_with(b"0x") { parse_hex(&lower[2..], neg)? } else { parse_dec(&lower, neg)? };
        match value {
            Ld::Inf { .. } => None,
            v => Some(v),
        }
    }

    /// `self + other`, rounded to nearest-even; `Inf` for infinite or NaN results.
    pub fn add(self, other: Ld) -> Ld {
        match (self, other) {
            (Ld::Inf { neg }, _) | (_, Ld::Inf { neg }) => Ld::Inf { neg },
            (Ld::Zero { neg: a }, Ld::Zero { neg: b }) => Ld::Zero { neg: a && b },
            (Ld::Zero { .. }, x) | (x, Ld::Zero { .. }) => x,
            (Ld::Finite { neg: na, mant: ma, exp: ea }, Ld::Finite { neg: nb, mant: mb, exp: eb }) => {
                let e = ea.min(eb);
                let a = Big::from_u64(ma).shl((ea - e) as usize);
                let b = Big::from_u64(mb).shl((eb - e) as usize);
                if na == nb {
                    return round(a.add(&b), e, false, na);
                }
                match a.cmp(&b) {
                    Ordering::Equal => Ld::Zero { neg: false },
                    Ordering::Greater => round(a.sub(&b), e, false, na),
                    Ordering::Less => round(b.sub(&a), e, false, nb),
                }
            }
        }
    }

    /// Redis's `ld2string(.., LD_STR_HUMAN)`: `%.17Lf`, trailing zeros (and a bare point)
    /// removed, `-0` shown as `0`. Infinities print as `inf` / `-inf`.
    pub fn to_human(self) -> String {
        let (neg, mant, exp) = match self {
            Ld::Zero { .. } => return "0".to_string(),
            Ld::Inf { neg } => return if neg { "-inf" } else { "inf" }.to_string(),
            Ld::Finite { neg, mant, exp } => (neg, mant, exp),
        };
        let mut text = if exp >= 0 {
            Big::from_u64(mant).shl(exp as usize).to_decimal()
        } else {
            let mut scaled = Big::from_u64(mant);
            scaled.mul_pow10(17);
            let (q, half, rest) = scaled.shr_round_bits((-exp) as usize);
            let q = if half && (rest || q.is_odd()) { q.add(&Big::from_u64(1)) } else { q };
            let mut digits = q.to_decimal();
            if digits.len() < 18 {
                digits = "0".repeat(18 - digits.len()) + &digits;
            }
            digits.insert(digits.len() - 17, '.');
            let trimmed = digits.trim_end_matches('0').trim_end_matches('.');
            trimmed.to_string()
        };
        if neg {
            text.insert(0, '-');
        }
        if text == "-0" {
            text = "0".to_string();
        }
        text
    }
}

/// Decimal `strtold`: digits, an optional fraction, an optional exponent, nothing else.
fn parse_dec(s: &[u8], neg: bool) -> Option<Ld> {
    let mut i = 0;
    let mut digits = Big::zero();
    let (mut ndigits, mut any, mut exp10) = (0i64, false, 0i64);
    let mut seen_point = false;
    while i < s.len() {
        match s[i] {
            c @ b'0'..=b'9' => {
                any = true;
                if !digits.is_zero() || c != b'0' {
                    digits.mul_small(10);
                    digits.add_small((c - b'0') as u32);
                    ndigits += 1;
                }
                if seen_point {
                    exp10 -= 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if !any {
        return None;
    }
    exp10 += parse_exponent(&s[i..], b'e')?;
    if digits.is_zero() {
        return Some(Ld::Zero { neg });
    }
    // Far outside the range: overflow (refused) or underflow to zero (refused).
    let magnitude = ndigits + exp10;
    if magnitude > 4940 {
        return Some(Ld::Inf { neg });
    }
    if magnitude < -4960 {
        return None;
    }
    let value = if exp10 >= 0 {
        digits.mul_pow10(exp10 as usize);
        round(digits, 0, false, neg)
    } else {
        let mut den = Big::from_u64(1);
        den.mul_pow10((-exp10) as usize);
        let k = (den.bits() + 68).saturating_sub(digits.bits());
        let (q, r) = digits.shl(k).div_rem(&den);
        round(q, -(k as i64), !r.is_zero(), neg)
    };
    match value {
        Ld::Zero { .. } => None,
        v => Some(v),
    }
}

/// The optional exponent that ends a number: nothing (0), or `marker[+-]digits`, clamped so
/// huge exponents saturate instead of overflowing. `None` if anything else follows.
fn parse_exponent(rest: &[u8], marker: u8) -> Option<i64> {
    let Some((&first, tail)) = rest.split_first() else { return Some(0) };
    if first != marker {
        return None;
    }
    let (neg, digits) = match tail {
        [b'-', d @ ..] => (true, d),
        [b'+', d @ ..] => (false, d),
        d => (false, d),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let e = digits.iter().fold(0i64, |acc, &c| (acc * 10 + (c - b'0') as i64).min(1_000_000_000));
    Some(if neg { -e } else { e })
}

/// Hexadecimal `strtold` after the `0x`: hex digits, an optional fraction, an optional
/// binary exponent `p[+-]n`.
fn parse_hex(s: &[u8], neg: bool) -> Option<Ld> {
    let mut i = 0;
    let mut mant = Big::zero();
    let (mut any, mut seen_point, mut exp2) = (false, false, 0i64);
    let mut nbits = 0i64;
    while i < s.len() {
        match s[i] {
            c if c.is_ascii_hexdigit() => {
                any = true;
                let d = (c as char).to_digit(16).expect("hex digit");
                if !mant.is_zero() || d != 0 {
                    mant.mul_small(16);
                    mant.add_small(d);
                    nbits += 4;
                }
                if seen_point {
                    exp2 -= 4;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if !any {
        // "0x" with no digits: strtold reads the "0" and stops at the "x".
        return None;
    }
    exp2 += parse_exponent(&s[i..], b'p')?;
    if mant.is_zero() {
        return Some(Ld::Zero { neg });
    }
    if nbits + exp2 > MAX_EXP + 8 {
        return Some(Ld::Inf { neg });
    }
    if nbits + exp2 < MIN_LSB_EXP - 8 {
        return None;
    }
    match round(mant, exp2, false, neg) {
        Ld::Zero { .. } => None,
        v => Some(v),
    }
}

/// The extended-precision value nearest to `n * 2^e` (plus a sticky "a bit more" flag),
/// ties to even, with denormals and overflow to infinity.
fn round(n: Big, e: i64, sticky: bool, neg: bool) -> Ld {
    if n.is_zero() {
        return Ld::Zero { neg };
    }
    let bits = n.bits() as i64;
    let lsb = (e + bits - 64).max(MIN_LSB_EXP);
    let shift = lsb - e;
    let (mut q, mut lsb) = if shift > 0 {
        let (q, half, rest) = n.shr_round_bits(shift as usize);
        let q = q.low_u64() as u128;
        let up = half && (rest || sticky || q & 1 == 1);
        (q + up as u128, lsb)
    } else {
        (n.shl((-shift) as usize).low_u64() as u128, lsb)
    };
    if q == 1u128 << 64 {
        q >>= 1;
        lsb += 1;
    }
    if q == 0 {
        return Ld::Zero { neg };
    }
    let qbits = 128 - q.leading_zeros() as i64;
    if lsb + qbits > MAX_EXP {
        return Ld::Inf { neg };
    }
    Ld::Finite { neg, mant: q as u64, exp: lsb }
}

/// A little-endian arbitrary-precision unsigned integer, just big enough for this module.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big(Vec<u32>);

impl Big {
    fn zero() -> Big {
        Big(Vec::new())
    }

    fn from_u64(n: u64) -> Big {
        let mut b = Big(vec![n as u32, (n >> 32) as u32]);
        b.trim();
        b
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    fn is_odd(&self) -> bool {
        self.0.first().is_some_and(|l| l & 1 == 1)
    }

    fn bits(&self) -> usize {
        match self.0.last() {
            None => 0,
            Some(top) => self.0.len() * 32 - top.leading_zeros() as usize,
        }
    }

    fn bit(&self, i: usize) -> bool {
        self.0.get(i / 32).is_some_and(|l| (l >> (i % 32)) & 1 == 1)
    }

    fn low_u64(&self) -> u64 {
        let lo = self.0.first().copied().unwrap_or(0) as u64;
        let hi = self.0.get(1).copied().unwrap_or(0) as u64;
        lo | (hi << 32)
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in self.0.iter_mut() {
            let v = *limb as u64 * m as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn add_small(&mut self, a: u32) {
        let mut carry = a as u64;
        for limb in self.0.iter_mut() {
            if carry == 0 {
                break;
            }
            let v = *limb as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry != 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow10(&mut self, mut n: usize) {
        while n >= 9 {
            self.mul_small(1_000_000_000);
            n -= 9;
        }
        self.mul_small(10u32.pow(n as u32));
    }

    fn shl(&self, n: usize) -> Big {
        if self.is_zero() {
            return Big::zero();
        }
        let (limbs, bits) = (n / 32, n % 32);
        let mut out = vec![0u32; limbs];
        let mut carry = 0u32;
        for &l in &self.0 {
            if bits == 0 {
                out.push(l);
            } else {
                out.push((l << bits) | carry);
                carry = l >> (32 - bits);
            }
        }
        if carry != 0 {
            out.push(carry);
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    fn shr(&self, n: usize) -> Big {
        let (limbs, bits) = (n / 32, n % 32);
        if limbs >= self.0.len() {
            return Big::zero();
        }
        let src = &self.0[limbs..];
        let mut out = Vec::with_capacity(src.len());
        for i in 0..src.len() {
            let hi = src.get(i + 1).copied().unwrap_or(0);
            out.push(if bits == 0 { src[i] } else { (src[i] >> bits) | (hi << (32 - bits)) });
        }
        let mut b = Big(out);
        b.trim();
        b
    }

    /// `self >> n` (n ≥ 1), the highest bit shifted out, and whether any lower one was set.
    fn shr_round_bits(&self, n: usize) -> (Big, bool, bool) {
        let half = self.bit(n - 1);
        let below = n - 1;
        let rest = self.0.iter().enumerate().any(|(i, &l)| {
            let start = i * 32;
            if start >= below {
                return false;
            }
            let keep = below - start;
            let mask = if keep >= 32 { u32::MAX } else { (1u32 << keep) - 1 };
            l & mask != 0
        });
        (self.shr(n), half, rest)
    }

    fn add(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len().max(other.0.len()) + 1);
        let mut carry = 0u64;
        for i in 0..self.0.len().max(other.0.len()) {
            let v = self.0.get(i).copied().unwrap_or(0) as u64 + other.0.get(i).copied().unwrap_or(0) as u64 + carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        Big(out)
    }

    /// `self - other`, which must not be negative.
    fn sub(&self, other: &Big) -> Big {
        let mut out = Vec::with_capacity(self.0.len());
        let mut borrow = 0i64;
        for i in 0..self.0.len() {
            let mut v = self.0[i] as i64 - other.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            borrow = (v < 0) as i64;
            if v < 0 {
                v += 1 << 32;
            }
            out.push(v as u32);
        }
        debug_assert_eq!(borrow, 0, "Big::sub underflow");
        let mut b = Big(out);
        b.trim();
        b
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// Quotient and remainder; the quotient is expected to be short (a few limbs), as the
    /// bit-at-a-time loop only walks the quotient's bits.
    fn div_rem(&self, den: &Big) -> (Big, Big) {
        if self.cmp(den) == Ordering::Less {
            return (Big::zero(), self.clone());
        }
        let t = self.bits() - den.bits() + 1;
        let mut rem = self.shr(t);
        let mut q = Big(vec![0u32; t.div_ceil(32)]);
        for i in (0..t).rev() {
            rem = rem.shl(1);
            if self.bit(i) {
                rem.add_small(1);
            }
            if rem.cmp(den) != Ordering::Less {
                rem = rem.sub(den);
                q.0[i / 32] |= 1 << (i % 32);
            }
        }
        q.trim();
        (q, rem)
    }

    fn to_decimal(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let mut chunks = Vec::new();
        let mut n = self.0.clone();
        while !n.is_empty() {
            let mut rem = 0u64;
            for limb in n.iter_mut().rev() {
                let v = (rem << 32) | *limb as u64;
                *limb = (v / 1_000_000_000) as u32;
                rem = v % 1_000_000_000;
            }
            while n.last() == Some(&0) {
                n.pop();
            }
            chunks.push(rem as u32);
        }
        let mut out = chunks.last().expect("non-zero").to_string();
        for c in chunks.iter().rev().skip(1) {
            out.push_str(&format!("{c:09}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> String {
        Ld::parse(a.as_bytes()).unwrap().add(Ld::parse(b.as_bytes()).unwrap()).to_human()
    }

    #[test]
    fn sums_print_as_redis_prints_them() {
        // Every expected text below is what Redis 7.0 on x86-64 replied.
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("1000", "0.1"), "1000.09999999999999998");
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(incr("0", "1e20"), "100000000000000000000");
        assert_eq!(incr("0", "1e-20"), "0");
        assert_eq!(incr("0", "-0.0"), "0");
        assert_eq!(incr("0", "3.0e3"), "3000");
        assert_eq!(incr("123456789.123", "0.001"), "123456789.12399999999615829");
        assert_eq!(incr("0", "0x1p3"), "8");
        assert_eq!(incr("8", "+1.5"), "9.5");
        assert_eq!(incr("9.5", "1e-4940"), "9.5");
        assert_eq!(incr("5", "5."), "10");
        assert_eq!(incr("10", ".5"), "10.5");
        let big = incr("0", "1e308");
        assert!(big.starts_with("99999999999999999996685879655845645660560099847415567207797047994921734868838"));
        assert_eq!(big.len(), 308);
    }

    #[test]
    fn parsing_refuses_what_string2ld_refuses() {
        for bad in [
            "", "1\x002", "\0", " 1", "1 ", "1e", "1e+", "0x", "nan", "abc", "1e5000", "1e-5000", "infin", "--1",
            "1.2.3",
        ] {
            assert_eq!(Ld::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(Ld::parse(b"inf"), Some(Ld::Inf { neg: false }));
        assert_eq!(Ld::parse(b"-Infinity"), Some(Ld::Inf { neg: true }));
        assert!(Ld::parse(b"1e4930").is_some());
    }
}
