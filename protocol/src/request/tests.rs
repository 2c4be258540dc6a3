//! Parser tests. Expected behaviour was checked against `redis-server` 7.0.15 where it is
//! not obvious from `networking.c`.

use super::*;

const AUTH: Limits = Limits { max_bulk_len: 512 * 1024 * 1024, authenticated: true };
const NOAUTH: Limits = Limits { max_bulk_len: 512 * 1024 * 1024, authenticated: false };

/// Everything a parser produced from some input: its requests, then the error if one ended it.
type Outcome = (Vec<Vec<Vec<u8>>>, Option<ProtocolError>);

/// Parses everything `buf` holds right now, stopping at `Ok(None)` or an error.
fn drain(parser: &mut RequestParser, buf: &mut BytesMut, limits: &Limits, out: &mut Outcome) -> bool {
    loop {
        match parser.parse(buf, limits) {
            Ok(Some(args)) => {
                assert!(!args.is_empty(), "an empty request must be skipped, not returned");
                out.0.push(args.iter().map(|a| a.to_vec()).collect());
            }
            Ok(None) => return true,
            Err(e) => {
                out.1 = Some(e);
                return false;
            }
        }
    }
}

/// Feeds `chunks` one after another into one buffer, as successive socket reads would.
fn feed<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, limits: &Limits) -> Outcome {
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut out = (Vec::new(), None);
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        if !drain(&mut parser, &mut buf, limits, &mut out) {
            break;
        }
    }
    out
}

fn parse_all(input: &[u8]) -> Outcome {
    feed([input], &AUTH)
}

/// The requests of an input that must parse without error.
fn requests(input: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let (reqs, err) = parse_all(input);
    assert_eq!(err, None, "unexpected error for {:?}", String::from_utf8_lossy(input));
    reqs
}

fn req(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

/// The reason of the error an input must end with.
fn error(input: &[u8], limits: &Limits) -> String {
    match feed([input], limits).1 {
        Some(e) => e.reason().to_string(),
        None => panic!("expected an error for {:?}", String::from_utf8_lossy(input)),
    }
}

/// One parse call on a fresh parser.
fn once(input: &[u8]) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    RequestParser::new().parse(&mut BytesMut::from(input), &AUTH)
}

// ---- happy paths ------------------------------------------------------------------------------

#[test]
fn multibulk_request() {
    assert_eq!(requests(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), vec![req(&[b"GET", b"k"])]);
}

#[test]
fn multibulk_consumes_exactly_one_request() {
    let mut buf = BytesMut::from(&b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI"[..]);
    let mut p = RequestParser::new();
    assert_eq!(p.parse(&mut buf, &AUTH).unwrap().unwrap(), vec![Bytes::from_static(b"PING")]);
    assert_eq!(&buf[..], b"*1\r\n$4\r\nPI");
    assert_eq!(p.parse(&mut buf, &AUTH).unwrap(), None);
    buf.extend_from_slice(b"NG\r\n");
    assert_eq!(p.parse(&mut buf, &AUTH).unwrap().unwrap(), vec![Bytes::from_static(b"PING")]);
    assert!(buf.is_empty());
}

#[test]
fn bulk_args_share_the_read_buffer() {
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
    let range = buf.as_ptr_range();
    let args = RequestParser::new().parse(&mut buf, &AUTH).unwrap().unwrap();
    for arg in &args {
        assert!(range.contains(&arg.as_ptr()), "argument was copied out of the read buffer");
    }
}

#[test]
fn inline_request() {
    assert_eq!(requests(b"GET k\r\n"), vec![req(&[b"GET", b"k"])]);
    assert_eq!(requests(b"GET k\n"), vec![req(&[b"GET", b"k"])]);
    assert_eq!(requests(b"  set   a\tb  \r\n"), vec![req(&[b"set", b"a", b"b"])]);
    // Only one `\r` is stripped; a `\r` inside the line separates arguments.
    assert_eq!(requests(b"ECHO a\rb\r\r\n"), vec![req(&[b"ECHO", b"a", b"b"])]);
    // No line end yet.
    assert_eq!(once(b"GET k").unwrap(), None);
    assert_eq!(once(b"GET k\r").unwrap(), None);
}

#[test]
fn inline_plain_args_are_zero_copy() {
    let mut buf = BytesMut::from(&b"GET key\r\n"[..]);
    let range = buf.as_ptr_range();
    let args = RequestParser::new().parse(&mut buf, &AUTH).unwrap().unwrap();
    assert!(args.iter().all(|a| range.contains(&a.as_ptr())));
}

#[test]
fn pipelined_requests_in_one_buffer() {
    let input = b"*1\r\n$4\r\nPING\r\nSET a b\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\n*1\r\n$4\r\nQUIT\r\n";
    assert_eq!(
        requests(input),
        vec![
            req(&[b"PING"]),
            req(&[b"SET", b"a", b"b"]),
            req(&[b"SET", b"k", b"v"]),
            req(&[b"GET", b"k"]),
            req(&[b"QUIT"]),
        ]
    );
}

#[test]
fn empty_requests_are_skipped() {
    assert_eq!(requests(b"\r\n\n   \r\n\t\x0b\x0c\nPING\r\n"), vec![req(&[b"PING"])]);
    assert_eq!(requests(b"*0\r\n*-1\r\n*-9223372036854775808\r\nPING\r\n"), vec![req(&[b"PING"])]);
    // Skipped requests are consumed even when nothing follows them.
    let mut buf = BytesMut::from(&b"\r\n*0\r\n*-1\r\n"[..]);
    assert_eq!(RequestParser::new().parse(&mut buf, &AUTH).unwrap(), None);
    assert!(buf.is_empty());
}

#[test]
fn bulks_are_binary_safe() {
    let input = b"*3\r\n$3\r\nSET\r\n$4\r\n\r\n\0*\r\n$6\r\n\0$1\r\n\n\r\n";
    assert_eq!(requests(input), vec![req(&[b"SET", b"\r\n\0*", b"\0$1\r\n\n"])]);
    assert_eq!(requests(b"*1\r\n$0\r\n\r\n"), vec![req(&[b""])]);
}

#[test]
fn two_bytes_after_a_bulk_are_not_checked() {
    // Redis answers `$1\r\nx` then `+PONG` to this.
    let input = b"*2\r\n$4\r\nECHO\r\n$1\r\nxAB*1\r\n$4\r\nPINGzz";
    assert_eq!(requests(input), vec![req(&[b"ECHO", b"x"]), req(&[b"PING"])]);
    // The byte after a header's `\r` is not checked either, only waited for.
    assert_eq!(requests(b"*1\rX$4\rYPING\r\n"), vec![req(&[b"PING"])]);
    assert_eq!(once(b"*1\r").unwrap(), None);
}

// ---- inline quoting (sdssplitargs) ------------------------------------------------------------

#[test]
fn quoting() {
    let one = |line: &[u8]| {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\r\n");
        requests(&input).pop().unwrap()
    };
    assert_eq!(one(br#"set "a b" 'c d'"#), req(&[b"set", b"a b", b"c d"]));
    assert_eq!(one(br#"echo "\x41""#), req(&[b"echo", b"A"]));
    assert_eq!(one(br#"echo "\x4a\x4A\xff\x00""#), req(&[b"echo", b"JJ\xff\0"]));
    assert_eq!(one(br#"echo "a\"b""#), req(&[b"echo", b"a\"b"]));
    assert_eq!(one(br#"echo "\n\r\t\b\a\\\q""#), req(&[b"echo", b"\n\r\t\x08\x07\\q"]));
    // An incomplete hex escape is an ordinary escape of `x`.
    assert_eq!(one(br#"echo "\xZZ" "\x4""#), req(&[b"echo", b"xZZ", b"x4"]));
    // Single quotes only know `\'`.
    assert_eq!(one(br"echo 'a\'b' 'c\nd' 'e\\f'"), req(&[b"echo", b"a'b", b"c\\nd", b"e\\\\f"]));
    assert_eq!(one(br#"echo "" ''"#), req(&[b"echo", b"", b""]));
    // A quote inside a word opens a quoted section that ends the word.
    assert_eq!(one(br#"echo a"b c" d'e'"#), req(&[b"echo", b"ab c", b"de"]));
    // A closing quote may be followed by any isspace byte, \v and \f included...
    assert_eq!(one(b"echo \x0b\"x\"\x0bz"), req(&[b"echo", b"x", b"z"]));
    // ...but \v and \f do not end an unquoted word.
    assert_eq!(one(b"echo a\x0bb c\x0cd"), req(&[b"echo", b"a\x0bb", b"c\x0cd"]));
    // Quotes may hold line-ending bytes that came from escapes, and raw high bytes.
    assert_eq!(one(b"echo \"\xe9 \\r\\n\""), req(&[b"echo", b"\xe9 \r\n"]));
}

#[test]
fn unbalanced_quotes() {
    for line in [
        &br#"echo "abc"#[..],
        br#"echo "a"b"#,
        br"echo 'abc",
        br"echo 'a'b",
        br#"echo "a"'b'"#,
        br#"echo "abc\"#,
        br"echo 'abc\'",
        // `\\'` is a backslash then an escaped quote: still open.
        br"echo 'e\\'",
        br#"""#,
    ] {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\r\n");
        assert_eq!(error(&input, &AUTH), "unbalanced quotes in request", "{}", String::from_utf8_lossy(line));
    }
}

// ---- errors -----------------------------------------------------------------------------------

#[test]
fn invalid_multibulk_length() {
    for input in [
        &b"*abc\r\n"[..],
        b"*\r\n",
        b"*+1\r\n",
        b"*01\r\n",
        b"*-0\r\n",
        b"*-\r\n",
        b"* 1\r\n",
        b"*1 \r\n",
        b"*2147483648\r\n",
        b"*9223372036854775808\r\n",
        b"*99999999999999999999999\r\n",
        // The count runs to the first `\r`, wherever it is.
        b"*1\n$4\r\nPING\r\n",
    ] {
        assert_eq!(error(input, &AUTH), "invalid multibulk length", "{}", String::from_utf8_lossy(input));
    }
    // The largest count Redis accepts; no memory is set aside for it up front.
    assert_eq!(once(b"*2147483647\r\n").unwrap(), None);
}

#[test]
fn invalid_bulk_length() {
    for input in [
        &b"*1\r\n$-1\r\n"[..],
        b"*1\r\n$\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\n$01\r\n",
        b"*1\r\n$+1\r\n",
        b"*1\r\n$-0\r\n",
        b"*1\r\n$9223372036854775808\r\n",
        b"*1\r\n$3\nfoo\r\n",
        b"*1\r\n$536870913\r\n",
    ] {
        assert_eq!(error(input, &AUTH), "invalid bulk length", "{}", String::from_utf8_lossy(input));
    }
    let small = Limits { max_bulk_len: 3, authenticated: true };
    assert_eq!(error(b"*1\r\n$4\r\n", &small), "invalid bulk length");
    assert_eq!(feed([&b"*1\r\n$3\r\nabc\r\n"[..]], &small), (vec![req(&[b"abc"])], None));
}

#[test]
fn expected_dollar() {
    assert_eq!(error(b"*1\r\nX3\r\nabc\r\n", &AUTH), "expected '$', got 'X'");
    assert_eq!(error(b"*2\r\n$1\r\na\r\n:1\r\n", &AUTH), "expected '$', got ':'");
    // Redis replaces CR and LF in error replies with spaces.
    assert_eq!(error(b"*1\r\n\r\n", &AUTH), "expected '$', got ' '");
    assert_eq!(error(b"*1\r\n\n\r\n", &AUTH), "expected '$', got ' '");
    assert_eq!(error(b"*1\r\n\xe9\r\n", &AUTH), "expected '$', got '\u{e9}'");
    // Nothing is decided before the header's `\r` and the byte after it have arrived.
    assert_eq!(once(b"*1\r\nX3").unwrap(), None);
    assert_eq!(once(b"*1\r\nX3\r").unwrap(), None);
}

#[test]
fn error_texts() {
    let e = ProtocolError::new("invalid bulk length");
    assert_eq!(e.reason(), "invalid bulk length");
    assert_eq!(e.reply_text(), "ERR Protocol error: invalid bulk length");
    assert_eq!(e.to_string(), "Protocol error: invalid bulk length");
}

#[test]
fn unauthenticated_limits() {
    let eleven = b"*11\r\n$4\r\nPING\r\n";
    assert_eq!(error(eleven, &NOAUTH), "unauthenticated multibulk length");
    assert_eq!(feed([&eleven[..]], &AUTH), (vec![], None));
    let ten = b"*10\r\n";
    assert_eq!(feed([&ten[..]], &NOAUTH), (vec![], None));
    // Negative counts are not refused.
    assert_eq!(feed([&b"*-100\r\n"[..]], &NOAUTH), (vec![], None));

    assert_eq!(error(b"*1\r\n$16385\r\n", &NOAUTH), "unauthenticated bulk length");
    assert_eq!(feed([&b"*1\r\n$16385\r\n"[..]], &AUTH), (vec![], None));
    let mut ok = b"*1\r\n$16384\r\n".to_vec();
    ok.resize(ok.len() + 16384, b'v');
    ok.extend_from_slice(b"\r\n");
    assert_eq!(feed([&ok[..]], &NOAUTH).0.len(), 1);
    // The configured limit is checked first.
    let small = Limits { max_bulk_len: 100, authenticated: false };
    assert_eq!(error(b"*1\r\n$16385\r\n", &small), "invalid bulk length");
    // Inline requests are not limited.
    let many = b"a b c d e f g h i j k l m n\r\n";
    assert_eq!(feed([&many[..]], &NOAUTH).0[0].len(), 14);
}

#[test]
fn size_limits() {
    let pad = |prefix: &[u8], n: usize| {
        let mut v = prefix.to_vec();
        v.resize(prefix.len() + n, b'a');
        v
    };
    // Inline: the limit applies to the unparsed buffer while it has no `\n`.
    assert_eq!(once(&pad(b"", INLINE_MAX_SIZE)).unwrap(), None);
    assert_eq!(error(&pad(b"", INLINE_MAX_SIZE + 1), &AUTH), "too big inline request");
    // A long line is fine once its end is there.
    let mut long = pad(b"SET k ", 2 * INLINE_MAX_SIZE);
    long.extend_from_slice(b"\r\n");
    assert_eq!(requests(&long)[0][2].len(), 2 * INLINE_MAX_SIZE);

    assert_eq!(once(&pad(b"*", INLINE_MAX_SIZE - 1)).unwrap(), None);
    assert_eq!(error(&pad(b"*", INLINE_MAX_SIZE), &AUTH), "too big mbulk count string");

    let header = b"*1\r\n$";
    assert_eq!(once(&pad(header, INLINE_MAX_SIZE - 1)).unwrap(), None);
    assert_eq!(error(&pad(header, INLINE_MAX_SIZE), &AUTH), "too big bulk count string");
    // Counted from the current header, not from the start of the request.
    let mut later = b"*2\r\n$1\r\na\r\n$".to_vec();
    later.resize(later.len() + INLINE_MAX_SIZE - 1, b'1');
    assert_eq!(feed([&later[..]], &AUTH), (vec![], None));
}

#[test]
fn nul_hides_line_ends_like_strchr() {
    // redis-server 7.0 never answers these: `strchr` stops at the NUL.
    assert_eq!(once(b"PI\0NG\r\nPING\r\n").unwrap(), None);
    assert_eq!(once(b"*1\0\r\n$4\r\nPING\r\n").unwrap(), None);
    assert_eq!(once(b"*1\r\n$4\0\r\nPING\r\n").unwrap(), None);
    // Until the buffer outgrows the limit.
    let mut inline = b"PI\0NG\r\n".to_vec();
    inline.resize(INLINE_MAX_SIZE + 1, b'x');
    assert_eq!(error(&inline, &AUTH), "too big inline request");
    let mut count = b"*1\0\r\n".to_vec();
    count.resize(INLINE_MAX_SIZE + 1, b'x');
    assert_eq!(error(&count, &AUTH), "too big mbulk count string");
    // A NUL after the line end is harmless.
    assert_eq!(requests(b"PING\r\n"), vec![req(&[b"PING"])]);
    assert_eq!(requests(b"ECHO x\r\n\r\n*1\r\n$1\r\n\0\r\n"), vec![req(&[b"ECHO", b"x"]), req(&[b"\0"])]);
}

#[test]
fn huge_lengths_do_not_panic() {
    let max = Limits { max_bulk_len: i64::MAX, authenticated: true };
    let mut p = RequestParser::new();
    let mut buf = BytesMut::from(&b"*1\r\n$9223372036854775807\r\nabc"[..]);
    assert_eq!(p.parse(&mut buf, &max).unwrap(), None);
    assert_eq!(p.pending_bulk_len(&buf), Some(i64::MAX as u64 + 2 - 3));
    assert!(buf.capacity() <= MAX_BODY_RESERVE + 64);
    assert_eq!(error(b"*1\r\n$-9223372036854775808\r\n", &max), "invalid bulk length");
    let min = Limits { max_bulk_len: i64::MIN, authenticated: false };
    assert_eq!(error(b"*1\r\n$0\r\n", &min), "invalid bulk length");
}

#[test]
fn pending_bulk_len_and_reservation() {
    let mut p = RequestParser::new();
    let mut buf = BytesMut::from(&b"*2\r\n$3\r\nSET\r\n$1000000\r\nabc"[..]);
    assert_eq!(p.pending_bulk_len(&buf), None);
    assert_eq!(p.parse(&mut buf, &AUTH).unwrap(), None);
    assert_eq!(p.pending_bulk_len(&buf), Some(1_000_002 - 3));
    assert!(buf.capacity() >= 1_000_002, "the body was not reserved for: {}", buf.capacity());
    buf.extend_from_slice(&vec![b'x'; 999_997]);
    assert_eq!(p.pending_bulk_len(&buf), Some(2));
    buf.extend_from_slice(b"\r\n");
    assert_eq!(p.pending_bulk_len(&buf), Some(0));
    let args = p.parse(&mut buf, &AUTH).unwrap().unwrap();
    assert_eq!(args[1].len(), 1_000_000);
    assert_eq!(p.pending_bulk_len(&buf), None);
}

// ---- resumability -----------------------------------------------------------------------------

/// A pipeline mixing every request shape the parser knows.
fn mixed_pipeline() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$7\r\nva\r\nl\0e\r\n");
    v.extend_from_slice(b"GET key:1\r\n");
    v.extend_from_slice(b"\r\n   \n*0\r\n*-1\r\n");
    v.extend_from_slice(b"set \"a b\" 'c d' \"\\x41\\n\" x\"y\"\n");
    v.extend_from_slice(b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
    v.extend_from_slice(b"*1\r\n$4\r\nPINGxx");
    v.extend_from_slice(b"*2\r\n$4\r\nECHO\r\n$300\r\n");
    v.extend((0..300u32).map(|i| (i * 7 % 256) as u8));
    v.extend_from_slice(b"\r\n");
    v.extend_from_slice(b"PING\r\n");
    v
}

fn mixed_expected() -> Vec<Vec<Vec<u8>>> {
    let big: Vec<u8> = (0..300u32).map(|i| (i * 7 % 256) as u8).collect();
    vec![
        req(&[b"SET", b"key:1", b"va\r\nl\0e"]),
        req(&[b"GET", b"key:1"]),
        req(&[b"set", b"a b", b"c d", b"A\n", b"xy"]),
        req(&[b"ECHO", b""]),
        req(&[b"PING"]),
        req(&[b"ECHO", &big]),
        req(&[b"PING"]),
    ]
}

#[test]
fn split_at_every_byte_position() {
    let input = mixed_pipeline();
    assert_eq!(parse_all(&input), (mixed_expected(), None));
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(feed([a, b], &AUTH), (mixed_expected(), None), "split at {at}");
    }
    for (a, b) in [(3, 17), (1, 2), (40, 41), (100, 250)] {
        let parts = [&input[..a], &input[a..b], &input[b..]];
        assert_eq!(feed(parts, &AUTH), (mixed_expected(), None), "split at {a} and {b}");
    }
}

#[test]
fn byte_by_byte() {
    let input = mixed_pipeline();
    assert_eq!(feed(input.chunks(1), &AUTH), (mixed_expected(), None));
    for size in 2..16 {
        assert_eq!(feed(input.chunks(size), &AUTH), (mixed_expected(), None), "chunks of {size}");
    }
}

#[test]
fn errors_are_found_whatever_the_split() {
    for input in [
        &b"PING\r\n*1\r\nX3\r\nabc\r\n"[..],
        b"PING\r\n*x\r\n",
        b"*1\r\n$4\r\nPING\r\n*1\r\n$-3\r\n",
        b"ECHO \"abc\r\n",
    ] {
        let whole = parse_all(input);
        assert!(whole.1.is_some());
        for at in 0..=input.len() {
            let (a, b) = input.split_at(at);
            assert_eq!(feed([a, b], &AUTH), whole, "split at {at}");
        }
        assert_eq!(feed(input.chunks(1), &AUTH), whole);
    }
}

/// A small xorshift generator, so this test needs no dependency and is reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_inputs_parse_the_same_in_any_chunks() {
    // Byte soup biased towards protocol syntax, so that every state and error is reached.
    let alphabet = b"*$\r\n\r\n0123456789-+ \t\"'\\xAa\0\x0b#";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..3000 {
        let mut input = Vec::new();
        let len = rng.below(80);
        while input.len() < len {
            if rng.below(4) == 0 {
                let n = rng.below(4);
                let piece = format!("*{n}\r\n$3\r\nab{}\r\n", n);
                input.extend_from_slice(piece.as_bytes());
            } else {
                input.push(alphabet[rng.below(alphabet.len())]);
            }
        }
        let limits = Limits { max_bulk_len: rng.below(40) as i64 - 2, authenticated: rng.below(2) == 0 };
        let whole = feed([&input[..]], &limits);
        let at = rng.below(input.len() + 1);
        assert_eq!(feed([&input[..at], &input[at..]], &limits), whole, "round {round}, split at {at}");
        assert_eq!(feed(input.chunks(1), &limits), whole, "round {round}, byte by byte");
    }
}

#[test]
fn big_bulk_in_chunks_is_not_rescanned() {
    const LEN: usize = 4 * 1024 * 1024;
    let mut input = format!("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n${LEN}\r\n").into_bytes();
    let header_len = input.len();
    input.extend((0..LEN).map(|i| if i % 1000 == 0 { b'\r' } else { b'v' }));
    input.extend_from_slice(b"\r\n");

    let mut p = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut calls = 0;
    let mut got = None;
    for chunk in input.chunks(16 * 1024) {
        buf.extend_from_slice(chunk);
        calls += 1;
        if let Some(args) = p.parse(&mut buf, &AUTH).unwrap() {
            got = Some(args);
        }
    }
    let args = got.expect("request not complete");
    assert_eq!(calls, input.len().div_ceil(16 * 1024));
    assert_eq!(args[2].len(), LEN);
    assert_eq!(&args[2][..], &input[header_len..header_len + LEN]);
    // Only the three headers were ever searched, each once.
    assert!(p.scan_work <= header_len, "scanned {} bytes", p.scan_work);
}

#[test]
fn long_inline_line_byte_by_byte_is_scanned_once() {
    let mut line = b"SET k ".to_vec();
    line.resize(60_000, b'v');
    line.extend_from_slice(b"\r\n");
    let mut p = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for &b in &line {
        buf.extend_from_slice(&[b]);
        out.extend(p.parse(&mut buf, &AUTH).unwrap());
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][2].len(), 60_000 - 6);
    assert!(p.scan_work <= line.len(), "scanned {} bytes", p.scan_work);
}

#[test]
fn parser_survives_a_foreign_buffer() {
    // Misuse (a different, shorter buffer) must not panic.
    let mut p = RequestParser::new();
    let mut buf = BytesMut::from(&b"GET aaaaaaaaaaaaaaaa"[..]);
    assert_eq!(p.parse(&mut buf, &AUTH).unwrap(), None);
    let mut other = BytesMut::from(&b"PING\r\n"[..]);
    assert_eq!(p.parse(&mut other, &AUTH).unwrap(), None);
}

// ---- string2ll --------------------------------------------------------------------------------

#[test]
fn string2ll_is_strict() {
    let ok: &[(&[u8], i64)] = &[
        (b"0", 0),
        (b"1", 1),
        (b"-1", -1),
        (b"10", 10),
        (b"9223372036854775807", i64::MAX),
        (b"-9223372036854775808", i64::MIN),
    ];
    for &(s, v) in ok {
        assert_eq!(string2ll(s), Some(v), "{}", String::from_utf8_lossy(s));
    }
    let bad: &[&[u8]] = &[
        b"",
        b"-",
        b"-0",
        b"00",
        b"01",
        b"+1",
        b" 1",
        b"1 ",
        b"1a",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"18446744073709551616",
        b"99999999999999999999999",
    ];
    for &s in bad {
        assert_eq!(string2ll(s), None, "{}", String::from_utf8_lossy(s));
    }
}

/// The one-pass path for complete multibulk requests must agree with the resumable path
/// (which a byte-by-byte feed always takes) on well-formed and quirky headers alike.
#[test]
fn fast_path_agrees_with_the_resumable_path() {
    let cases: &[&[u8]] = &[
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n*1\r\n$4\r\nPING\r\n",
        b"*1\r\n$0\r\n\r\n",
        b"*2\r\n$3\r\nGET\r\n$1\r\nkXY",
        b"*1\r\n$01\r\nx\r\n",
        b"*01\r\n$1\r\nx\r\n",
        b"*-1\r\n*1\r\n$1\r\nx\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$+1\r\nx\r\n",
        b"*1\r\n$1\0\r\nx\r\n",
        b"*1\r\n$1\rXx\r\n",
        b"*2\r\n$1\r\nx\r\n",
        b"*2\r\n$1\r\nx\r\n$1\r\ny",
        b"*1\r\n$1\r\nxy\r\n",
        b"*1\r\n$9999999999999999999\r\n",
        b"*1\r\nfoo\r\n",
    ];
    // Requests around the number of argument spans the fast path keeps (8): the rest of the
    // headers are read again.
    let long: Vec<Vec<u8>> = [7usize, 8, 9, 20]
        .iter()
        .map(|&n| {
            let mut v = format!("*{n}\r\n$4\r\nMSET\r\n").into_bytes();
            for i in 1..n {
                let arg = "x".repeat(i * 3 % 11);
                v.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
            }
            v
        })
        .collect();
    for input in cases.iter().copied().chain(long.iter().map(Vec::as_slice)) {
        let whole = parse_all(input);
        let bytewise = feed(input.chunks(1), &AUTH);
        assert_eq!(whole, bytewise, "{:?}", String::from_utf8_lossy(input));
    }
    let args = requests(&long[3]);
    assert_eq!(args.len(), 1);
    assert_eq!(args[0].len(), 20);
    assert_eq!(args[0][19], "x".repeat(19 * 3 % 11).into_bytes());
}
