//! C's `strtod` as glibc runs it on x86-64. Redis reads its double arguments with it
//! (sorted-set scores and weights, score range bounds, SORT's weights), and each call site
//! then applies its own acceptance rule to what [`strtod`] reports; [`string2d`] is the rule of
//! Redis's `string2d` / `getDoubleFromObject`, the common one. (`long double` arguments,
//! INCRBYFLOAT's and timeouts, are `strtold`'s: `commands::string::ld`.)
//!
//! # What is read
//!
//! As glibc in the C locale: leading white space (`isspace`: space, `\t \n \v \f \r`), an
//! optional sign, then one of
//! - `inf` or `infinity`, any case;
//! - `nan`, any case, optionally followed by `(` letters, digits and `_` `)` (one token; the
//!   NaN's payload is not reproduced: every caller refuses NaN);
//! - `0x` / `0X`, hex digits with at most one point (at least one digit), optionally `p` and a
//!   signed decimal power of two. Without a hex digit after `0x`, only the `0` is read;
//! - decimal digits with at most one point (at least one digit), optionally `e` and a signed
//!   decimal exponent.
//!
//! An exponent marker not followed by a digit is not part of the number. A NUL byte ends the
//! number like any other byte that cannot continue it, so a caller holding a C string checks
//! what follows [`Strtod::len`] itself.
//!
//! # Value and `ERANGE`
//!
//! The value is correctly rounded (to nearest, ties to even), as glibc's is, except for
//! glibc's own slip on some subnormal results, which is copied (see [`round`]). `erange` is set
//! when glibc sets `errno = ERANGE`: on overflow (the value is ±inf), and on underflow, which
//! glibc reports when the result is *tiny* and *inexact*. x86 detects tininess after rounding:
//! a value just under the smallest normal that would round up to it with a 53-bit mantissa is
//! not tiny. So `1e-320` (subnormal, inexact) sets it, `0x1p-1074` (subnormal, exact) does not,
//! and `1e-400` (rounds to 0) does.
//!
//! # Cost
//!
//! One pass over the input, no allocation on the way: a decimal keeps its first
//! [`MAX_DIGITS`] significant digits and whether any later digit is non-zero (the rest cannot
//! change the result), a hex float its first 64 bits and the same sticky flag. Exponents
//! saturate far outside the f64 range. Only results at the very bottom of the range
//! (subnormal, or the smallest normal) take a bounded big-integer division (under 2^2700) to
//! round them as glibc does.

use std::cmp::Ordering;

/// Significant decimal digits kept; later ones only count as "some non-zero digit follows".
/// Every rounding boundary of an f64 has at most 767 significant digits, so the rest cannot
/// change a correctly rounded result; at the bottom of the range glibc itself looks at no
/// digit below 10^-1076, which is within the first 770 there.
const MAX_DIGITS: usize = 800;

/// Decimal exponents beyond this saturate: already far outside anything a digit count can
/// bring back into range (inputs are under 2^40 bytes).
const EXP_LIMIT: i64 = 1 << 50;

/// What [`strtod`] read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Strtod {
    /// The value (0.0 when nothing was read).
    pub value: f64,
    /// Bytes consumed, white space and sign included: C's `endptr - nptr`. 0 when no number
    /// was read (C then leaves `endptr` at the start, before any white space).
    pub len: usize,
    /// glibc would set `errno` to `ERANGE`: overflow to ±inf, or an inexact tiny result.
    pub erange: bool,
}

impl Strtod {
    const NONE: Strtod = Strtod { value: 0.0, len: 0, erange: false };
}

/// glibc's `strtod(s, &end)` on the bytes `s` (see the module documentation).
pub fn strtod(s: &[u8]) -> Strtod {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let signed =
        |value: f64, len: usize, erange: bool| Strtod { value: if negative { -value } else { value }, len, erange };
    let rest = &s[i..];
    let starts = |word: &[u8]| rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word);
    if starts(b"inf") {
        let n = if starts(b"infinity") { 8 } else { 3 };
        return signed(f64::INFINITY, i + n, false);
    }
    if starts(b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            let chars = rest[4..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
            if rest.get(4 + chars) == Some(&b')') {
                n = 4 + chars + 1;
            }
        }
        return signed(f64::NAN, i + n, false);
    }
    let hex_digit_at = |k: usize| rest.get(k).is_some_and(u8::is_ascii_hexdigit);
    if starts(b"0x") && (hex_digit_at(2) || (rest.get(2) == Some(&b'.') && hex_digit_at(3))) {
        let (value, n, erange) = hex(&rest[2..]);
        return signed(value, i + 2 + n, erange);
    }
    match decimal(rest) {
        Some((value, n, erange)) => signed(value, i + n, erange),
        None => Strtod::NONE,
    }
}

/// Redis's `string2d` (`getDoubleFromObject`'s check): the whole of `s` is one number, with no
/// leading white space, not NaN, and not an overflow or an underflow to zero (a subnormal
/// result is accepted even when glibc flags it).
pub fn string2d(s: &[u8]) -> Option<f64> {
    if let Some(v) = short_integer(s) {
        return Some(v);
    }
    if s.first().is_none_or(|&b| is_space(b)) {
        return None;
    }
    let r = strtod(s);
    let out_of_range = r.erange && (r.value.is_infinite() || r.value == 0.0);
    (r.len == s.len() && !out_of_range && !r.value.is_nan()).then_some(r.value)
}

/// The common score, a sign and at most 15 digits ("42", "-7", "000123"): below 2^53, so the
/// integer is the f64 exactly, as strtod would round it (and "-0" is -0.0).
fn short_integer(s: &[u8]) -> Option<f64> {
    let (negative, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    let mut n = 0u64;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n * 10 + u64::from(d);
    }
    let v = n as f64;
    Some(if negative { -v } else { v })
}

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A decimal number at the start of `s` (after the sign): `(magnitude, bytes, erange)`, or
/// `None` if there is no digit.
fn decimal(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut digits = [0u8; MAX_DIGITS];
    let (mut kept, mut sticky, mut significant) = (0usize, false, false);
    // The value is 0.d1d2d3… × 10^point (d1 the first significant digit).
    let mut point: i64 = 0;
    let mut j = 0;
    let mut any = false;
    let mut push = |d: u8, kept: &mut usize, sticky: &mut bool| {
        if *kept < MAX_DIGITS {
            digits[*kept] = d;
            *kept += 1;
        } else if d != b'0' {
            *sticky = true;
        }
    };
    while let Some(&d) = s.get(j).filter(|b| b.is_ascii_digit()) {
        any = true;
        if significant || d != b'0' {
            significant = true;
            push(d, &mut kept, &mut sticky);
            point += 1;
        }
        j += 1;
    }
    if s.get(j) == Some(&b'.') {
        let mut k = j + 1;
        while let Some(&d) = s.get(k).filter(|b| b.is_ascii_digit()) {
            any = true;
            if significant || d != b'0' {
                significant = true;
                push(d, &mut kept, &mut sticky);
            } else {
                point -= 1;
            }
            k += 1;
        }
        if any {
            j = k;
        }
    }
    if !any {
        return None;
    }
    if let Some((e, n)) = exponent(&s[j..], b'e') {
        point += e;
        j += n;
    }
    if !significant {
        return Some((0.0, j, false));
    }
    // 0.d… × 10^point: at least 10^(point-1), below 10^point.
    if point > 310 {
        return Some((f64::INFINITY, j, true));
    }
    if point < -330 {
        return Some((0.0, j, true));
    }
    // Rust's parser rounds correctly; it reads a short canonical copy of the number.
    let mut text = [0u8; MAX_DIGITS + 16];
    text[..2].copy_from_slice(b"0.");
    text[2..2 + kept].copy_from_slice(&digits[..kept]);
    let mut n = 2 + kept;
    if sticky {
        text[n] = b'1';
        n += 1;
    }
    text[n] = b'e';
    n += 1;
    let mut exp = itoa::Buffer::new();
    let exp = exp.format(point).as_bytes();
    text[n..n + exp.len()].copy_from_slice(exp);
    n += exp.len();
    let value: f64 = std::str::from_utf8(&text[..n]).ok().and_then(|t| t.parse().ok()).unwrap_or(0.0);
    if value > f64::MIN_POSITIVE {
        return Some((value, j, value.is_infinite()));
    }
    // At the bottom of the range glibc rounds in its own way: it reads the digits down to
    // 10^-1076 only (`need_frac_digits`: enough for every bit down to a quarter of the least
    // subnormal), noting whether any digit further down is non-zero, divides that out exactly,
    // then rounds (see `round`). The value is at most 10^-307, so `cut` is under 770.
    let cut = usize::try_from(1076 + point).unwrap_or(0).min(kept);
    let dropped = sticky || digits[cut..kept].iter().any(|&d| d != b'0');
    let (mant, exp, rest) = binary(&digits[..cut], point);
    let (value, inexact, tiny) = round(mant, exp, rest || dropped);
    Some((value, j, tiny && inexact))
}

/// The hex digits (and exponent) after `0x`, which start with a digit or `.digit`:
/// `(magnitude, bytes, erange)`.
fn hex(s: &[u8]) -> (f64, usize, bool) {
    // The value is (mant + a bit of `sticky`) × 2^exp.
    let (mut mant, mut exp, mut sticky) = (0u64, 0i64, false);
    let (mut nibbles, mut j, mut seen_point) = (0u32, 0usize, false);
    while j < s.len() {
        let b = s[j];
        if b == b'.' && !seen_point {
            seen_point = true;
        } else if let Some(d) = (b as char).to_digit(16) {
            if nibbles > 0 || d != 0 {
                if nibbles < 16 {
                    mant = mant << 4 | u64::from(d);
                    nibbles += 1;
                    if seen_point {
                        exp -= 4;
                    }
                } else {
                    sticky |= d != 0;
                    if !seen_point {
                        exp += 4;
                    }
                }
            } else if seen_point {
                exp -= 4;
            }
        } else {
            break;
        }
        j += 1;
    }
    if let Some((e, n)) = exponent(&s[j..], b'p') {
        exp += e;
        j += n;
    }
    if mant == 0 {
        return (0.0, j, false);
    }
    let (value, inexact, tiny) = round(mant, exp, sticky);
    (value, j, value.is_infinite() || (tiny && inexact))
}

/// An exponent at the start of `s`: the `marker` letter (either case), an optional sign and
/// at least one decimal digit, as `(value, bytes)`, the value saturating at ±[`EXP_LIMIT`].
/// `None` if `s` does not start with one (then none of it belongs to the number).
fn exponent(s: &[u8], marker: u8) -> Option<(i64, usize)> {
    if s.first()?.to_ascii_lowercase() != marker {
        return None;
    }
    let negative = s.get(1) == Some(&b'-');
    let from = if matches!(s.get(1), Some(b'+' | b'-')) { 2 } else { 1 };
    let digits = s[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let e = s[from..from + digits].iter().fold(0i64, |e, &d| (e * 10 + i64::from(d - b'0')).min(EXP_LIMIT));
    Some((if negative { -e } else { e }, from + digits))
}

/// `(mant + sticky) × 2^exp` (mant ≠ 0) rounded to an f64 as glibc 2.36 rounds it (to
/// nearest, ties to even): `(value, inexact, tiny)`, tiny as x86 detects it (after rounding
/// to 53 bits), inexact as glibc decides it.
///
/// glibc's `round_and_return` first rounds to 53 bits, keeping the next ("round") bit and
/// whether anything below it is set; for a subnormal result it then shifts the mantissa right
/// and takes the new round bit from it, but forgets the first round bit on the way. So a
/// subnormal result is rounded, and its inexactness judged, as if the 54th significant bit
/// were 0: `0x1.00000000000008p-1075` is 0 (a tie, to even) rather than 2^-1074, and
/// `(2^52 - 1.25) × 2^-1074` rounds down. Tininess is judged on the true value. (Checked
/// against the machine's glibc, exhaustively on random bit patterns, in the tests.)
fn round(mant: u64, exp: i64, sticky: bool) -> (f64, bool, bool) {
    let shift = mant.leading_zeros();
    let m = mant << shift;
    // The leading bit's weight is 2^top.
    let top = exp - i64::from(shift) + 63;
    if top > 1023 {
        return (f64::INFINITY, true, false);
    }
    if top < -1075 {
        return (0.0, true, true);
    }
    // `m` rounded to its `bits` leading bits: (result, inexact); bits in 0..=53.
    let keep = |m: u64, bits: u32| -> (u64, bool) {
        if bits == 0 {
            let up = m > 1 << 63 || (m == 1 << 63 && sticky);
            return (u64::from(up), true);
        }
        let drop = 64 - bits;
        let (kept, rest, half) = (m >> drop, m & ((1 << drop) - 1), 1u64 << (drop - 1));
        let up = rest > half || (rest == half && (sticky || kept & 1 == 1));
        (kept + u64::from(up), rest != 0 || sticky)
    };
    if top >= -1022 {
        let (mut kept, inexact) = keep(m, 53);
        let mut top = top;
        if kept == 1 << 53 {
            kept >>= 1;
            top += 1;
        }
        if top > 1023 {
            return (f64::INFINITY, true, false);
        }
        let bits = ((top + 1023) as u64) << 52 | (kept & ((1 << 52) - 1));
        return (f64::from_bits(bits), inexact, false);
    }
    // Subnormal: the last kept bit weighs 2^-1074, so the kept bits are the encoding itself
    // (a carry into bit 52 gives the smallest normal, also encoded as is). Bit 10 of `m` is
    // the 54th significant bit, the one glibc forgets.
    let (kept, inexact) = keep(m & !(1 << 10), (top + 1075) as u32);
    let tiny = top < -1023 || keep(m, 53).0 != 1 << 53;
    (f64::from_bits(kept), inexact, tiny)
}

/// The decimal `0.digits × 10^point` (some digit non-zero, `point` < 0) in binary:
/// `(mant, exp, rest)` with `mant` in [2^63, 2^64), the value being `mant × 2^exp` plus
/// something below its last bit if `rest`. Only used at the bottom of the range, where
/// `point` is -307..-330 and so the big integers stay under 2^2700.
fn binary(digits: &[u8], point: i64) -> (u64, i64, bool) {
    // digits / 10^d, with d = len - point: (digits / 5^d) × 2^-d.
    let d = digits.len() as i64 - point;
    let mut num = Big::zero();
    for &c in digits {
        num.mul_add(10, u32::from(c - b'0'));
    }
    let mut den = Big::zero();
    den.mul_add(0, 1);
    for _ in 0..d / 13 {
        den.mul_add(1_220_703_125, 0); // 5^13
    }
    for _ in 0..d % 13 {
        den.mul_add(5, 0);
    }
    // Scale so that the quotient has 64 or 65 bits.
    let g = den.bits() as i64 + 64 - num.bits() as i64;
    if g >= 0 {
        num.shl(g as usize);
    } else {
        den.shl((-g) as usize);
    }
    let (mut q, mut rest) = num.div(den, 66);
    let mut exp = -d - g;
    while q >> 64 != 0 {
        rest |= q & 1 == 1;
        q >>= 1;
        exp += 1;
    }
    (q as u64, exp, rest)
}

/// A little-endian unsigned big integer, just enough for [`binary`].
struct Big(Vec<u32>);

impl Big {
    fn zero() -> Big {
        Big(Vec::with_capacity(140))
    }

    fn mul_add(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.0 {
            let t = u64::from(*limb) * u64::from(mul) + carry;
            *limb = t as u32;
            carry = t >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
        self.trim();
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn bits(&self) -> usize {
        self.0.last().map_or(0, |top| self.0.len() * 32 - top.leading_zeros() as usize)
    }

    fn shl(&mut self, bits: usize) {
        let (words, bits) = (bits / 32, bits % 32);
        if bits > 0 {
            let mut carry = 0u32;
            for limb in &mut self.0 {
                let t = (u64::from(*limb) << bits) | u64::from(carry);
                *limb = t as u32;
                carry = (t >> 32) as u32;
            }
            self.0.push(carry);
        }
        self.0.splice(0..0, std::iter::repeat_n(0, words));
        self.trim();
    }

    fn shr1(&mut self) {
        let mut carry = 0u32;
        for limb in self.0.iter_mut().rev() {
            let next = *limb & 1;
            *limb = (*limb >> 1) | (carry << 31);
            carry = next;
        }
        self.trim();
    }

    /// `self -= other`, with `self >= other`.
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let t = i64::from(*limb) - i64::from(other.0.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(t < 0);
            *limb = (t + (borrow << 32)) as u32;
        }
        self.trim();
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `(self / den, remainder != 0)`, for a quotient below 2^bits (bits ≤ 128).
    fn div(mut self, mut den: Big, bits: usize) -> (u128, bool) {
        let mut q = 0u128;
        den.shl(bits);
        for i in (0..bits).rev() {
            den.shr1();
            if self.cmp(&den) != Ordering::Less {
                self.sub(&den);
                q |= 1 << i;
            }
        }
        (q, !self.0.is_empty())
    }
}

#[cfg(test)]
mod tests;
