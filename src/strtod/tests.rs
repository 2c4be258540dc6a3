//! [`strtod`] against glibc's own `strtod` (through `libc`): value bits, bytes consumed and
//! `ERANGE`, on a fixed list of edge cases and on a large seeded random set.

use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// glibc's answer for `s`, read as a C string (up to its first NUL).
fn glibc(s: &[u8]) -> Strtod {
    let c = std::ffi::CString::new(s.split(|&b| b == 0).next().unwrap_or_default()).unwrap();
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c` is a valid NUL-terminated string and `end` a valid out-pointer; errno is
    // this thread's.
    unsafe {
        *libc::__errno_location() = 0;
        let value = libc::strtod(c.as_ptr(), &mut end);
        let erange = *libc::__errno_location() == libc::ERANGE;
        Strtod { value, len: end.offset_from(c.as_ptr()) as usize, erange }
    }
}

fn check(s: &[u8]) {
    let (ours, want) = (strtod(s), glibc(s));
    let same_value = if want.value.is_nan() {
        ours.value.is_nan() && ours.value.is_sign_negative() == want.value.is_sign_negative()
    } else {
        ours.value.to_bits() == want.value.to_bits()
    };
    assert!(
        same_value && ours.len == want.len && ours.erange == want.erange,
        "{:?}: ours {ours:?} ({:#x}), glibc {want:?} ({:#x})",
        String::from_utf8_lossy(&s[..s.len().min(200)]),
        ours.value.to_bits(),
        want.value.to_bits()
    );
}

/// The edge cases the callers' differential corpora also send to redis-server.
pub(crate) const EDGES: &[&str] = &[
    "1e-320",
    "0x1p-1074",
    "1e400",
    "-1e400",
    "0x1p1024",
    "inf",
    "-INF",
    "nan",
    " 1",
    "1 ",
    "",
    "0x",
    "1e",
    ".5",
    "5.",
    "+.5e-3",
    "0X1P-2",
    "1e-400",
    "2.2250738585072011e-308",
    "2.2250738585072012e-308",
    "2.22507385850720125e-308",
    "2.2250738585072013e-308",
    "2.2250738585072014e-308",
    "1_0",
    "0x1p-1075",
    "0x1.000001p-1075",
    "0x1.8p-1074",
    "0x1p-1022",
    "0x1.fffffffffffffp-1023",
    "0x1.fffffffffffff8p-1023",
    "0x1.fffffffffffff7p-1023",
    "0x1.fffffffffffff800000000000001p-1023",
    "0x1.fffffffffffffp1023",
    "0x1.fffffffffffff8p1023",
    "0x1.fffffffffffff7ffffffp1023",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "1.7976931348623159e308",
    "4.9406564584124654e-324",
    "2.4703282292062328e-324",
    "2.4703282292062327e-324",
    "2.470328229206232720882538e-324",
    "-0",
    "-0x0p0",
    "infinity",
    "-Infinity",
    "infinit",
    "INFINITYx",
    "nan(123)",
    "nan(",
    "nan()",
    "nan(a_b)",
    "nan(a-b)",
    "-nan",
    "NaN",
    "+inf",
    "++1",
    "-",
    "+",
    ".",
    "e5",
    "0x.",
    "0x.8",
    "0xp1",
    "0x1p",
    "0x1p+",
    "0x1p-",
    "0x1P+3",
    "0x.p1",
    "0xg",
    "0x1.2.3",
    "1.2.3",
    "1\0",
    "\t1",
    "\x0b\x0c\r\n 7",
    "1e+",
    "1e-",
    "1e+5",
    "0e-400",
    "0e99999999999999999999",
    "0x0p99999999999",
    "0x1p99999999999999999999",
    "0x1p-99999999999999999999",
    "1e99999999999999999999",
    "1e-99999999999999999999",
    "9007199254740993",
    "9007199254740993.0000000000000000000000000001",
    "0x20000000000001",
    "0x2000000000000100000000001p-100",
    "0x1.0000000000000fffp-1022",
    "1e-310",
    "2.225073858507201e-308",
    "0.1",
    "123456789012345678901234567890",
    "00000000000000000000000.000000000000001e15",
    "0x0000000000000000000000000001p0",
    "0x.0000000000000000000000000001p112",
    "1e308",
    "10e308",
    "0.1e309",
    "0.01e310",
    "1e-323",
    "1e-324",
    "3e-324",
    "2.5e-324",
    "7e-324",
];

#[test]
fn edges_match_glibc() {
    for e in EDGES {
        check(e.as_bytes());
    }
    for long in [
        "1".repeat(401),
        "9".repeat(5000),
        format!("0.{}1", "0".repeat(400)),
        format!("1{}e-400", "0".repeat(400)),
        format!("0.{}1e400", "0".repeat(400)),
        format!("0.{}1e400000", "0".repeat(400_000)),
        format!("1{}e-400000", "0".repeat(400_000)),
        format!("{}e-1200", "9".repeat(900)),
        // The smallest subnormal's exact decimal expansion, then one more non-zero digit.
        format!("{}e-1074", five_pow(1074)),
        format!("{}1e-1075", five_pow(1074)),
        // Halfway between 0 and the smallest subnormal, exactly, then a hair above.
        format!("{}e-1075", five_pow(1075)),
        format!("{}{}1e-{}", five_pow(1075), "0".repeat(30), 1075 + 31),
        format!("0x1{}p-1080", "0".repeat(300)),
        format!("0x{}", "f".repeat(300)),
        format!("0x.{}1p1100", "0".repeat(270)),
    ] {
        check(long.as_bytes());
    }
}

/// The decimal digits of 5^n.
fn five_pow(n: u32) -> String {
    let mut digits = vec![1u8];
    for _ in 0..n {
        let mut carry = 0;
        for d in digits.iter_mut() {
            let t = *d * 5 + carry;
            *d = t % 10;
            carry = t / 10;
        }
        if carry > 0 {
            digits.push(carry);
        }
    }
    digits.iter().rev().map(|d| char::from(b'0' + d)).collect()
}

/// A random string built to hit strtod's branches: blanks, signs, decimal and hex mantissas
/// around the ends of the range, exponents (some cut short), words, and stray bytes.
fn random_input(rng: &mut SmallRng) -> Vec<u8> {
    let mut s = Vec::new();
    let pick = |rng: &mut SmallRng, set: &[u8]| set[rng.gen_range(0..set.len())];
    if rng.gen_bool(0.1) {
        for _ in 0..rng.gen_range(1..3) {
            s.push(pick(rng, b" \t\n\x0b\x0c\r"));
        }
    }
    if rng.gen_bool(0.3) {
        s.push(pick(rng, b"+-"));
    }
    let digits = |rng: &mut SmallRng, s: &mut Vec<u8>, n: usize, hex: bool| {
        let set: &[u8] = if hex { b"0123456789abcdefABCDEF" } else { b"0123456789" };
        let zeros = rng.gen_bool(0.3);
        for _ in 0..n {
            s.push(if zeros && rng.gen_bool(0.8) { b'0' } else { pick(rng, set) });
        }
    };
    let len = |rng: &mut SmallRng| match rng.gen_range(0..10) {
        0 => 0,
        1..=6 => rng.gen_range(1..20),
        7 | 8 => rng.gen_range(15..40),
        _ => rng.gen_range(100..900),
    };
    match rng.gen_range(0..10) {
        0 => {
            for _ in 0..rng.gen_range(0..12) {
                s.push(pick(rng, b"0123456789.eEpPxX+-infatyINFATY() _\0"));
            }
        }
        kind => {
            // A hex float (exponents around 2^±1024) or a decimal one (around 10^±308).
            let hex = kind <= 3;
            let (markers, ranges): (&[u8], [std::ops::Range<i32>; 4]) = if hex {
                (b"pP", [1000..1100, 960..1030, 0..200, 0..5000])
            } else {
                (b"eE", [300..345, 280..320, 0..30, 0..2000])
            };
            if hex {
                s.extend_from_slice(pick_str(rng, &["0x", "0X"]));
            }
            let n = len(rng);
            digits(rng, &mut s, n, hex);
            if rng.gen_bool(0.6) {
                s.push(b'.');
                let n = len(rng);
                digits(rng, &mut s, n, hex);
            }
            if rng.gen_bool(0.8) {
                s.push(pick(rng, markers));
                if rng.gen_bool(0.6) {
                    s.push(pick(rng, b"+-"));
                }
                let range = ranges[rng.gen_range(0..4)].clone();
                let e = rng.gen_range(range);
                if rng.gen_range(0..20) > 0 {
                    s.extend_from_slice(e.to_string().as_bytes());
                }
            }
        }
    }
    if rng.gen_bool(0.2) {
        s.push(pick(rng, b" x.e0\0"));
    }
    s
}

fn pick_str<'a>(rng: &mut SmallRng, set: &[&'a str]) -> &'a [u8] {
    set[rng.gen_range(0..set.len())].as_bytes()
}

#[test]
fn random_inputs_match_glibc() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_f10a7);
    for _ in 0..200_000 {
        check(&random_input(&mut rng));
    }
}

/// Exact decimal neighbours of the tiny boundaries, where tininess and exactness decide
/// ERANGE: k × 2^-1076 for k around the smallest normal and the subnormals, written out in
/// full and nudged by one unit of a last appended digit.
#[test]
fn exact_boundaries_match_glibc() {
    let five = five_pow(1076);
    for k in
        [1u64, 2, 3, 4, 5, 6, 7, (1 << 54) - 5, (1 << 54) - 3, (1 << 54) - 2, (1 << 54) - 1, 1 << 54, (1 << 54) + 1]
    {
        // k × 5^1076 × 10^-1076, as decimal digits.
        let mut digits: Vec<u32> = five.bytes().rev().map(|b| u32::from(b - b'0')).collect();
        let mut carry = 0u64;
        for d in digits.iter_mut() {
            let t = u64::from(*d) * k + carry;
            *d = (t % 10) as u32;
            carry = t / 10;
        }
        while carry > 0 {
            digits.push((carry % 10) as u32);
            carry /= 10;
        }
        let text: String = digits.iter().rev().map(|&d| char::from_digit(d, 10).unwrap()).collect();
        check(format!("{text}e-1076").as_bytes());
        check(format!("{text}1e-1077").as_bytes());
        check(format!("{text}0000000000000000000000000000000000000001e-1116").as_bytes());
        // Just below: the same number minus one unit of its last digit.
        let below = format!("{}9e-1077", decrement(&text));
        check(below.as_bytes());
    }
}

fn decrement(digits: &str) -> String {
    let mut d: Vec<u8> = digits.bytes().collect();
    for i in (0..d.len()).rev() {
        if d[i] == b'0' {
            d[i] = b'9';
        } else {
            d[i] -= 1;
            break;
        }
    }
    String::from_utf8(d).unwrap()
}

/// A long run of digits is read in one pass with bounded memory (no copy of the input).
#[test]
fn long_inputs_stay_linear() {
    let mut s = vec![b'7'; 20 << 20];
    s.extend_from_slice(b"e-20971500");
    check(&s);
    let mut s = b"0x".to_vec();
    s.resize(20 << 20, b'f');
    s.extend_from_slice(b"p-83886000");
    check(&s);
    let mut s = b"0.".to_vec();
    s.resize(20 << 20, b'0');
    s.extend_from_slice(b"5e20971500");
    check(&s);
}

#[test]
fn string2d_is_redis_getdoublefromobject() {
    assert_eq!(string2d(b"1e-320"), Some(1e-320));
    assert_eq!(string2d(b"0x1p-1074"), Some(f64::from_bits(1)));
    assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
    for bad in ["", " 1", "1 ", "1e400", "-1e400", "0x1p1024", "1e-400", "0x1p-1075", "nan", "1\0", "0x", "1e", "1_0"] {
        assert_eq!(string2d(bad.as_bytes()), None, "{bad:?}");
    }
}

/// `string2d`'s fast path for short integers gives glibc's value (bits: -0 too), and longer
/// or malformed ones fall through to the full reader.
#[test]
fn short_integers_match_glibc() {
    let mut rng = SmallRng::seed_from_u64(18);
    let mut cases: Vec<String> =
        ["0", "-0", "+0", "000000123456", "-", "+", "--1", "1-", "999999999999999", "9999999999999999"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for _ in 0..20_000 {
        let digits = rng.gen_range(1..=17);
        let mut t: String = (0..digits).map(|_| char::from(b'0' + rng.gen_range(0..10))).collect();
        match rng.gen_range(0..3) {
            0 => t.insert(0, '-'),
            1 => t.insert(0, '+'),
            _ => {}
        }
        cases.push(t);
    }
    for t in cases {
        let want = glibc(t.as_bytes());
        let expect = (want.len == t.len()).then_some(want.value);
        assert_eq!(string2d(t.as_bytes()).map(f64::to_bits), expect.map(f64::to_bits), "{t:?}");
    }
}

/// glibc's slip on subnormal results (see `round`): exact binary values whose 54th
/// significant bit is set, in hex and as their exact decimal expansions.
#[test]
fn subnormal_rounding_matches_glibc() {
    let mut rng = SmallRng::seed_from_u64(0x0b1d_0054);
    for _ in 0..20_000 {
        let mut m: u64 = rng.gen::<u64>() | 1 << 63;
        if rng.gen_bool(0.7) {
            // Few low bits, so that the forgotten bit is often the only one below the cut.
            m &= !((1u64 << rng.gen_range(0..40)) - 1);
            if rng.gen_bool(0.5) {
                m |= 1 << 10;
            }
        }
        let top: i64 = rng.gen_range(-1080..-1018);
        check(format!("0x{m:x}p{}", top - 63).as_bytes());
        check(format!("-0X{m:X}P{}", top - 63).as_bytes());
    }
    let five = |q: u32| five_pow(q);
    let powers: Vec<(u32, String)> = (1074..=1080).map(|q| (q, five(q))).collect();
    for _ in 0..300 {
        let (q, p) = &powers[rng.gen_range(0..powers.len())];
        // k × 2^-q, k of 53..56 bits with its low bits mostly clear.
        let mut k: u64 = rng.gen_range(1u64 << 52..1u64 << 56);
        k &= !((1u64 << rng.gen_range(0..8)) - 1);
        check(format!("{}e-{q}", times(p, k)).as_bytes());
    }
}

/// The decimal string `p × k`.
fn times(p: &str, k: u64) -> String {
    let mut out = Vec::with_capacity(p.len() + 20);
    let mut carry = 0u128;
    for b in p.bytes().rev() {
        let t = u128::from(b - b'0') * u128::from(k) + carry;
        out.push(b'0' + (t % 10) as u8);
        carry = t / 10;
    }
    while carry > 0 {
        out.push(b'0' + (carry % 10) as u8);
        carry /= 10;
    }
    out.reverse();
    String::from_utf8(out).unwrap()
}
