//! The few string routines of Redis's `sds.c` and libc that decide what a manifest line means,
//! ported byte for byte: quoting a file name (`sdsneedsrepr`, `sdscatrepr`), splitting a line
//! into arguments (`sdssplitargs`, the protocol crate's, over a C string), trimming (`sdstrim`)
//! and reading a number (`atoll`).
//!
//! Redis runs in the C locale for character classes, so `isspace` and `isprint` are ASCII's, and
//! every byte from 0x80 up is neither.

/// `isspace` in the C locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `isprint` in the C locale.
fn is_print(c: u8) -> bool {
    (0x20..=0x7e).contains(&c)
}

/// `sdsneedsrepr`: whether a name must be quoted to survive `sdssplitargs` (spaces, quotes,
/// backslashes, anything unprintable).
pub fn needs_repr(s: &[u8]) -> bool {
    s.iter().any(|&c| matches!(c, b'\\' | b'"') || !is_print(c) || is_space(c))
}

/// `sdscatrepr`: `s` in double quotes, with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b` escaped and
/// other unprintable bytes as `\xNN` (lower-case hex).
pub fn cat_repr(out: &mut String, s: &[u8]) {
    out.push('"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push('\\');
                out.push(char::from(c));
            }
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            c if is_print(c) => out.push(char::from(c)),
            c => {
                use std::fmt::Write;
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push('"');
}

/// `sdstrim(s, " \t\r\n")`.
pub fn trim(s: &[u8]) -> &[u8] {
    let is_trimmed = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|c| !is_trimmed(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !is_trimmed(c)).map_or(start, |i| i + 1);
    &s[start..end]
}

/// The C string a buffer holds: everything before its first NUL.
pub fn c_str(s: &[u8]) -> &[u8] {
    &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
}

/// `sdssplitargs` over a C string: `line` ends at its first NUL, as Redis reads a manifest
/// line; the splitting itself is the protocol crate's (the same function serves inline
/// requests, redis.conf and nodes.conf). `None` for unbalanced quotes, or a closing quote
/// followed by anything but a space, as Redis refuses them.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = bytes::Bytes::copy_from_slice(c_str(line));
    let args = ferrocache_protocol::split_args(&line)?;
    Some(args.into_iter().map(|a| a.to_vec()).collect())
}

/// glibc's `atoll`: leading white space, an optional sign, then as many digits as there are;
/// no digits gives 0, and a value out of range saturates (it is `strtoll` underneath).
pub fn atoll(s: &[u8]) -> i64 {
    let s = c_str(s);
    let mut i = s.iter().position(|&c| !is_space(c)).unwrap_or(s.len());
    let negative = match s.get(i) {
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
    let mut value: i64 = 0;
    for &c in s[i..].iter().take_while(|c| c.is_ascii_digit()) {
        let digit = i64::from(c - b'0');
        let next =
            value.checked_mul(10).and_then(|v| if negative { v.checked_sub(digit) } else { v.checked_add(digit) });
        match next {
            Some(v) => value = v,
            None => return if negative { i64::MIN } else { i64::MAX },
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(s: &[u8]) -> String {
        let mut out = String::new();
        cat_repr(&mut out, s);
        out
    }

    fn split(s: &str) -> Option<Vec<Vec<u8>>> {
        split_args(s.as_bytes())
    }

    #[test]
    fn repr_matches_redis_test_vector() {
        // sds.c's own test: sdscatrepr of "\a\n\0foo\r".
        assert_eq!(repr(b"\x07\n\x00foo\r"), r#""\a\n\x00foo\r""#);
        assert_eq!(repr(b"a \"b\" \\c\t\x08\xff\x7f"), r#""a \"b\" \\c\t\b\xff\x7f""#);
        assert_eq!(repr("é".as_bytes()), r#""\xc3\xa9""#);
    }

    #[test]
    fn which_names_need_quoting() {
        assert!(!needs_repr(b"appendonly.aof.1.base.rdb"));
        assert!(!needs_repr(b"a!#$%&()*+,-./:;<=>?@[]^_`{|}~'"));
        for odd in [&b"a b"[..], b"a\"b", b"a\\b", b"a\tb", b"\x00", b"\x7f", b"\x80", b"a\x0bb", b"a\x0cb"] {
            assert!(needs_repr(odd), "{odd:?}");
        }
        assert!(!needs_repr(b""));
    }

    #[test]
    fn split_follows_sdssplitargs() {
        let args = |v: &[&str]| Some(v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>());
        assert_eq!(split(""), args(&[]));
        assert_eq!(split("  \t "), args(&[]));
        assert_eq!(split("file a seq 1"), args(&["file", "a", "seq", "1"]));
        assert_eq!(split(" \x0b a\x0bb c "), args(&["a\x0bb", "c"]));
        assert_eq!(split(r#""a b" 'c d' "e\"f" 'g\'h' "\x41\x4a\n\q""#), args(&["a b", "c d", "e\"f", "g'h", "AJ\nq"]));
        assert_eq!(split(r#""\xzz""#), args(&["xzz"]));
        assert_eq!(split(r#""""#), args(&[""]));
        assert_eq!(split(r#"a"b" c"#), args(&["ab", "c"]));
        assert_eq!(split(r#"a"b"c"#), None);
        assert_eq!(split("a'b c' d"), args(&["ab c", "d"]));
        assert_eq!(split(r#""a"b"#), None);
        assert_eq!(split(r#""a"#), None);
        assert_eq!(split("'a"), None);
        assert_eq!(split("'a'b"), None);
        assert_eq!(split(r#""a\"#), None);
        assert_eq!(split("a\0b c"), args(&["a"]));
        assert_eq!(split_args(b"\"\\x00\"").unwrap(), [vec![0u8]]);
    }

    #[test]
    fn repr_survives_split() {
        let names: [&[u8]; 5] = [b"plain", b"with space", b"\"quoted\" \\ \t\r\n\x07\x08", b"\x01\x7f\x80\xff", b""];
        for name in names {
            assert_eq!(split_args(repr(name).as_bytes()).unwrap(), [name.to_vec()], "{name:?}");
        }
    }

    #[test]
    fn atoll_is_lenient_like_libc() {
        assert_eq!(atoll(b"12"), 12);
        assert_eq!(atoll(b"  +7x"), 7);
        assert_eq!(atoll(b"-3"), -3);
        assert_eq!(atoll(b"abc"), 0);
        assert_eq!(atoll(b""), 0);
        assert_eq!(atoll(b"- 1"), 0);
        assert_eq!(atoll(b"99999999999999999999"), i64::MAX);
        assert_eq!(atoll(b"-99999999999999999999"), i64::MIN);
        assert_eq!(atoll(b"-9223372036854775808"), i64::MIN);
    }

    #[test]
    fn trim_strips_the_four_redis_trims() {
        assert_eq!(trim(b" \t\r\nab c\n\r\t "), b"ab c");
        assert_eq!(trim(b"\x0bab\x0b"), b"\x0bab\x0b");
        assert_eq!(trim(b"  "), b"");
    }
}
