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
            (Reply::Raw(a), Reply::Raw(b)) => a == b,
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
            let text = format_double(*d);
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
    let mut buf = itoa::Buffer::new();
    let len = buf.format(body.len());
    out.reserve(body.len() + len.len() + 5);
    out.put_u8(prefix);
    out.put_slice(len.as_bytes());
    out.put_slice(b"\r\n");
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

/// Formats a double the way Redis 7.0 does for replies (`%.17g`, with `inf`/`-inf`/`nan`).
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    format_g(d, 17)
}

/// C's `%.<precision>g`: the shorter of `%e` and `%f` with trailing zeros removed.
fn format_g(d: f64, precision: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let p = precision.max(1);
    // The exponent of the value once rounded to `p` significant digits.
    let sci = format!("{:.*e}", p - 1, d);
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    if exp < -4 || exp >= p as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
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
}
