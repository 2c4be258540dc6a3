//! Reply values and their RESP2 / RESP3 encodings.

use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;

/// A reply as a command handler produces it, independent of the protocol version.
///
/// RESP3-only shapes degrade to their RESP2 equivalents when encoded with `proto == 2`,
/// the way Redis's `addReply*` functions do: a map becomes a flat array, a set an array,
/// a double a bulk string, a boolean an integer, a verbatim string a bulk string, and
/// both nulls `$-1` / `*-1`.
#[derive(Debug, Clone)]
pub enum Reply {
    /// `+OK`: a status line. Must not contain CR or LF.
    Simple(Cow<'static, str>),
    /// `-ERR ...`: the full error text without the leading `-` (for example
    /// `"ERR syntax error"` or `"WRONGTYPE Operation against ..."`).
    Error(Cow<'static, str>),
    Integer(i64),
    Bulk(Bytes),
    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// The null array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    Array(Vec<Reply>),
    /// Key/value pairs: `%n` in RESP3, a flat `*2n` array in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// `~n` in RESP3, an array in RESP2.
    Set(Vec<Reply>),
    /// `,1.5` in RESP3, a bulk string in RESP2 (`%.17g` formatting, as Redis).
    Double(f64),
    /// `#t` / `#f` in RESP3, `:1` / `:0` in RESP2.
    Bool(bool),
    /// `=len\r\ntxt:...` in RESP3 (three-letter format, e.g. `txt`), a bulk string in RESP2.
    Verbatim(&'static str, Bytes),
    /// Bytes already encoded (shared replies, MONITOR lines); written as they are.
    Raw(Bytes),
    /// A bulk string of at most [`SHORT_BULK_MAX`] bytes held in place: a GET of a short value
    /// replies without allocating. Encodes, and compares equal, exactly like `Bulk`.
    ShortBulk(u8, [u8; SHORT_BULK_MAX]),
}

/// Longest bulk string [`Reply::ShortBulk`] holds (it keeps `Reply` no larger than before).
pub const SHORT_BULK_MAX: usize = 38;

impl PartialEq for Reply {
    fn eq(&self, other: &Reply) -> bool {
        // Bytes already encoded equal a reply that encodes (in RESP2) to them: a handler may
        // encode an array of bulk strings as it reads them (LRANGE), the same on the wire.
        match (self, other) {
            (Reply::Raw(a), Reply::Raw(b)) => return a == b,
            (Reply::Raw(raw), r) | (r, Reply::Raw(raw)) => {
                let mut out = BytesMut::new();
                encode(r, 2, &mut out);
                return out[..] == raw[..];
            }
            _ => {}
        }
        // A bulk string is a bulk string however it is held.
        match (self.bulk_bytes(), other.bulk_bytes()) {
            (Some(a), Some(b)) => return a == b,
            (Some(_), None) | (None, Some(_)) => return false,
            (None, None) => {}
        }
        match (self, other) {
            (Reply::Simple(a), Reply::Simple(b)) | (Reply::Error(a), Reply::Error(b)) => a == b,
            (Reply::Integer(a), Reply::Integer(b)) => a == b,
            (Reply::Null, Reply::Null) | (Reply::NullArray, Reply::NullArray) => true,
            (Reply::Array(a), Reply::Array(b)) | (Reply::Set(a), Reply::Set(b)) => a == b,
            (Reply::Map(a), Reply::Map(b)) => a == b,
            (Reply::Double(a), Reply::Double(b)) => a == b,
            (Reply::Bool(a), Reply::Bool(b)) => a == b,
            (Reply::Verbatim(f, a), Reply::Verbatim(g, b)) => f == g && a == b,
            _ => false,
        }
    }
}

impl Reply {
    pub const OK: Reply = Reply::Simple(Cow::Borrowed("OK"));

    /// An error reply from a static string (the common case: all wire strings are constants).
    pub fn err(msg: &'static str) -> Reply {
        Reply::Error(Cow::Borrowed(msg))
    }

    /// An error reply built at run time.
    pub fn error(msg: String) -> Reply {
        Reply::Error(Cow::Owned(msg))
    }

    pub fn simple(s: &'static str) -> Reply {
        Reply::Simple(Cow::Borrowed(s))
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    /// A bulk string copied from `b`: held in place when short, else in a new `Bytes`.
    pub fn bulk_copy(b: &[u8]) -> Reply {
        if b.len() <= SHORT_BULK_MAX {
            let mut data = [0u8; SHORT_BULK_MAX];
            data[..b.len()].copy_from_slice(b);
            Reply::ShortBulk(b.len() as u8, data)
        } else {
            Reply::Bulk(Bytes::copy_from_slice(b))
        }
    }

    /// The bytes of a bulk string reply, however it is held.
    pub fn bulk_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::ShortBulk(len, data) => Some(&data[..*len as usize]),
            _ => None,
        }
    }

    /// A bulk string holding the decimal text of an integer.
    pub fn bulk_int(n: i64) -> Reply {
        let mut buf = itoa::Buffer::new();
        Reply::Bulk(Bytes::copy_from_slice(buf.format(n).as_bytes()))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// Appends the encoding of `reply` for protocol version `proto` (2 or 3) to `out`.
pub fn encode(reply: &Reply, proto: u8, out: &mut BytesMut) {
    match reply {
        Reply::Simple(s) => line(out, b'+', s.as_bytes()),
        Reply::Error(e) => error_line(out, e),
        Reply::Integer(n) => int_line(out, b':', *n),
        Reply::Bulk(b) => bulk(out, b'$', b),
        Reply::ShortBulk(len, data) => bulk(out, b'$', &data[..*len as usize]),
        Reply::Null if proto >= 3 => out.put_slice(b"_\r\n"),
        Reply::Null => out.put_slice(b"$-1\r\n"),
        Reply::NullArray if proto >= 3 => out.put_slice(b"_\r\n"),
        Reply::NullArray => out.put_slice(b"*-1\r\n"),
        Reply::Array(items) => {
            int_line(out, b'*', items.len() as i64);
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Set(items) => {
            int_line(out, if proto >= 3 { b'~' } else { b'*' }, items.len() as i64);
            for item in items {
                encode(item, proto, out);
            }
        }
        Reply::Map(pairs) => {
            if proto >= 3 {
                int_line(out, b'%', pairs.len() as i64);
            } else {
                int_line(out, b'*', 2 * pairs.len() as i64);
            }
            for (k, v) in pairs {
                encode(k, proto, out);
                encode(v, proto, out);
            }
        }
        Reply::Double(d) => {
            let text = DoubleText::new(*d);
            if proto >= 3 {
                line(out, b',', text.as_bytes());
            } else {
                bulk(out, b'$', text.as_bytes());
            }
        }
        Reply::Bool(b) if proto >= 3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Bool(b) => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
        Reply::Verbatim(format, body) if proto >= 3 => {
            int_line(out, b'=', (body.len() + 4) as i64);
            out.put_slice(format.as_bytes());
            out.put_u8(b':');
            out.put_slice(body);
            out.put_slice(b"\r\n");
        }
        Reply::Verbatim(_, body) => bulk(out, b'$', body),
        Reply::Raw(bytes) => out.put_slice(bytes),
    }
}

/// Appends the header of an array of `len` elements (the same in RESP2 and RESP3).
pub fn encode_array_len(out: &mut BytesMut, len: usize) {
    int_line(out, b'*', len as i64);
}

/// Appends a bulk string (the same in RESP2 and RESP3).
#[inline]
pub fn encode_bulk(out: &mut BytesMut, body: &[u8]) {
    bulk(out, b'$', body);
}

fn line(out: &mut BytesMut, prefix: u8, body: &[u8]) {
    out.reserve(body.len() + 3);
    out.put_u8(prefix);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

/// Redis replaces CR and LF inside error messages with spaces so that an error can
/// never break the framing (`addReplyErrorLength` → `sanitizeErrorString`).
fn error_line(out: &mut BytesMut, msg: &str) {
    out.reserve(msg.len() + 3);
    out.put_u8(b'-');
    for &b in msg.as_bytes() {
        out.put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
    }
    out.put_slice(b"\r\n");
}

fn int_line(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut buf = itoa::Buffer::new();
    line(out, prefix, buf.format(n).as_bytes());
}

fn bulk(out: &mut BytesMut, prefix: u8, body: &[u8]) {
    if body.len() < 10 {
        // The common short element: a one-digit length, one reserve.
        out.reserve(body.len() + 6);
        out.extend_from_slice(&[prefix, b'0' + body.len() as u8, b'\r', b'\n']);
    } else {
        let mut buf = itoa::Buffer::new();
        let len = buf.format(body.len());
        out.reserve(body.len() + len.len() + 5);
        out.put_u8(prefix);
        out.put_slice(len.as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

/// Formats a double the way Redis 7.0 does for replies (`%.17g`, with `inf`/`-inf`/`nan`).
pub fn format_double(d: f64) -> String {
    let text = DoubleText::new(d);
    std::str::from_utf8(text.as_bytes()).expect("ASCII").to_string()
}

/// The `%.17g` text of a double (`inf`/`-inf`/`nan` too) in place: replies format one per
/// ZPOPMIN or WITHSCORES member, so this neither allocates nor formats twice.
pub struct DoubleText {
    buf: [u8; 32],
    len: usize,
}

impl DoubleText {
    pub fn new(d: f64) -> DoubleText {
        let mut t = DoubleText { buf: [0; 32], len: 0 };
        if d.is_nan() {
            t.put(b"nan");
        } else if d.is_infinite() {
            t.put(if d > 0.0 { b"inf" } else { b"-inf" });
        } else if d == 0.0 {
            t.put(if d.is_sign_negative() { b"-0" } else { b"0" });
        } else if d.trunc() == d && d.abs() < 1e17 {
            // An integer of at most 17 digits: exact at 17 significant digits, printed in
            // fixed notation without a fraction. Below 1e17 it fits an i64 exactly.
            t.put(itoa::Buffer::new().format(d as i64).as_bytes());
        } else {
            t.general(d);
        }
        t
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// C's `%.17g` of a finite, non-zero `d`: the 17 significant digits and exponent X of
    /// `%.16e`, then `%e` style if X < -4 or X >= 17, else `%f` style (whose precision
    /// 16 - X gives the same 17 rounded digits), trailing zeros of the fraction removed.
    fn general(&mut self, d: f64) {
        use std::io::Write;
        let mut sci = [0u8; 32];
        let n = {
            let mut w = &mut sci[..];
            write!(w, "{:.16e}", d.abs()).expect("%.16e fits 32 bytes");
            32 - w.len()
        };
        let sci = &sci[..n];
        // "D.DDDDDDDDDDDDDDDDe[-]X"
        let e = sci.iter().position(|&b| b == b'e').expect("{:e} has an exponent");
        let mut digits = [0u8; 17];
        digits[0] = sci[0];
        digits[1..].copy_from_slice(&sci[2..e]);
        let exp_text = std::str::from_utf8(&sci[e + 1..]).expect("ASCII");
        let exp: i32 = exp_text.parse().expect("exponent is an integer");
        // Significant digits left once trailing zeros go (the first is never zero).
        let sig = 17 - digits.iter().rev().take_while(|&&b| b == b'0').count();
        if d < 0.0 {
            self.put(b"-");
        }
        if !(-4..17).contains(&exp) {
            self.put(&digits[..1]);
            if sig > 1 {
                self.put(b".");
                self.put(&digits[1..sig]);
            }
            self.put(if exp < 0 { b"e-" } else { b"e+" });
            let abs = exp.unsigned_abs();
            if abs < 10 {
                self.put(b"0");
            }
            self.put(itoa::Buffer::new().format(abs).as_bytes());
        } else if exp >= 0 {
            let whole = exp as usize + 1;
            self.put(&digits[..whole]);
            if sig > whole {
                self.put(b".");
                self.put(&digits[whole..sig]);
            }
        } else {
            self.put(b"0.");
            for _ in 0..(-exp - 1) {
                self.put(b"0");
            }
            self.put(&digits[..sig]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: &Reply, proto: u8) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(r, proto, &mut out);
        out.to_vec()
    }

    #[test]
    fn resp2_shapes() {
        assert_eq!(enc(&Reply::OK, 2), b"+OK\r\n");
        assert_eq!(enc(&Reply::err("ERR x"), 2), b"-ERR x\r\n");
        assert_eq!(enc(&Reply::Integer(-5), 2), b":-5\r\n");
        assert_eq!(enc(&Reply::bulk(&b"ab"[..]), 2), b"$2\r\nab\r\n");
        assert_eq!(enc(&Reply::Null, 2), b"$-1\r\n");
        assert_eq!(enc(&Reply::NullArray, 2), b"*-1\r\n");
        let map = Reply::Map(vec![(Reply::bulk(&b"a"[..]), Reply::Integer(1))]);
        assert_eq!(enc(&map, 2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), 2), b"$3\r\n1.5\r\n");
        assert_eq!(enc(&Reply::Bool(true), 2), b":1\r\n");
        assert_eq!(enc(&Reply::Verbatim("txt", Bytes::from_static(b"hi")), 2), b"$2\r\nhi\r\n");
    }

    #[test]
    fn resp3_shapes() {
        assert_eq!(enc(&Reply::Null, 3), b"_\r\n");
        assert_eq!(enc(&Reply::NullArray, 3), b"_\r\n");
        let map = Reply::Map(vec![(Reply::bulk(&b"a"[..]), Reply::Integer(1))]);
        assert_eq!(enc(&map, 3), b"%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Reply::Set(vec![Reply::Integer(1)]), 3), b"~1\r\n:1\r\n");
        assert_eq!(enc(&Reply::Double(1.5), 3), b",1.5\r\n");
        assert_eq!(enc(&Reply::Bool(false), 3), b"#f\r\n");
        assert_eq!(enc(&Reply::Verbatim("txt", Bytes::from_static(b"hi")), 3), b"=6\r\ntxt:hi\r\n");
    }

    #[test]
    fn short_bulks_are_bulks() {
        let short = Reply::bulk_copy(b"abc");
        assert!(matches!(short, Reply::ShortBulk(..)));
        assert_eq!(short, Reply::bulk(&b"abc"[..]));
        assert_ne!(short, Reply::bulk(&b"abd"[..]));
        assert_eq!(enc(&short, 2), b"$3\r\nabc\r\n");
        let long = Reply::bulk_copy(&[b'x'; 100]);
        assert!(matches!(long, Reply::Bulk(_)));
        // Adding the variant did not grow the enum.
        assert!(std::mem::size_of::<Reply>() <= 56, "{}", std::mem::size_of::<Reply>());
    }

    #[test]
    fn errors_cannot_break_framing() {
        assert_eq!(enc(&Reply::error("ERR a\r\nb".into()), 2), b"-ERR a  b\r\n");
    }

    #[test]
    fn doubles_match_printf_g17() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.0e-5), "1.0000000000000001e-05");
        assert_eq!(format_double(123456789.0), "123456789");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_double(-2.5), "-2.5");
    }

    /// The straightforward `%.17g` (format `%.16e`, then `%.Nf` when fixed notation wins),
    /// which [`DoubleText`] must match byte for byte.
    fn reference_g17(d: f64) -> String {
        if d.is_nan() {
            return "nan".into();
        }
        if d.is_infinite() {
            return if d > 0.0 { "inf" } else { "-inf" }.into();
        }
        if d == 0.0 {
            return if d.is_sign_negative() { "-0" } else { "0" }.into();
        }
        let sci = format!("{:.16e}", d);
        let (mantissa, exp) = sci.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        let trim = |s: &str| {
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                s.to_string()
            }
        };
        if !(-4..17).contains(&exp) {
            format!("{}e{}{:02}", trim(mantissa), if exp < 0 { '-' } else { '+' }, exp.abs())
        } else {
            trim(&format!("{:.*}", (16 - exp) as usize, d))
        }
    }

    #[test]
    fn doubles_match_the_reference_everywhere() {
        let mut edge = vec![
            1e17,
            -1e17,
            1e17 - 16.0,
            99999999999999984.0,
            1e16 + 2.0,
            9007199254740993.0,
            1e-4,
            9.9999999999999e-5,
            0.0001,
            1e16,
            123456.5,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            -0.5,
            0.99999999999999999,
            1e300,
            1e-300,
            2.5e-5,
            12345678901234567.0,
            0.1 + 0.2,
            100.0,
            1e15 + 0.5,
            -123.456e10,
            f64::NAN,
            -0.0,
            0.0,
        ];
        for e in -320..310 {
            let p = 10f64.powi(e);
            edge.extend([p, -p, p * 1.5, p * 9.999999999999999, p - p * 1e-16]);
        }
        for d in edge {
            assert_eq!(DoubleText::new(d).as_bytes(), reference_g17(d).as_bytes(), "{d:e}");
        }
        // Random bit patterns (every exponent) and random integers and halves.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for d in [f64::from_bits(x), (x >> 11) as f64, (x >> 20) as f64 / 2.0, -((x >> 40) as f64)] {
                assert_eq!(DoubleText::new(d).as_bytes(), reference_g17(d).as_bytes(), "{d:e}");
            }
        }
    }
}
