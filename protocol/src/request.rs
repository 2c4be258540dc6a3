//! Resumable request parser (RESP multibulk + inline), a port of Redis 7.0's `processInputBuffer`,
//! `processInlineBuffer`, `processMultibulkBuffer`, `sdssplitargs` and `string2ll`.
//!
//! Fidelity to `networking.c` is the point, quirks included, so that clients (and tests written
//! against `redis-server`) see the same replies and the same error strings:
//!
//! * Line ends are found with `strchr`, which stops at a NUL byte. A NUL before the `\n` of an
//!   inline request or the `\r` of a `*` / `$` header therefore hides the line end for good: the
//!   request stays incomplete until the 64 KiB limit turns it into a "too big" error.
//! * A header's number is everything between its first byte and the *first* `\r` after it, so
//!   `$3\nfoo\r\n` is an "invalid bulk length", not a missing `\r`.
//! * The two bytes after a bulk body are skipped without checking that they are `\r\n`.
//!
//! The parser only ever looks at bytes it has not examined before: finished pieces are split off
//! the front of the buffer (zero-copy, so arguments share the read buffer's allocation) and the
//! line scans remember how far they got.

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline request, and longest `*<count>` / `$<len>` header line, Redis accepts
/// before it has seen the line's end (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Per-connection limits, read from the config at every parse call so `CONFIG SET` applies at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest bulk argument accepted.
    pub max_bulk_len: i64,
    /// False while the connection still has to `AUTH`: then more than 10 arguments or a bulk
    /// over 16384 bytes is a protocol error, as in Redis.
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bulk_len: 512 * 1024 * 1024, authenticated: true }
    }
}

/// A framing error. The connection replies `-ERR Protocol error: <reason>` and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    reason: String,
}

impl ProtocolError {
    pub fn new(reason: impl Into<String>) -> Self {
        ProtocolError { reason: reason.into() }
    }
    /// The reason alone, e.g. `invalid bulk length`.
    pub fn reason(&self) -> &str {
        &self.reason
    }
    /// The error reply text without the leading `-`: `ERR Protocol error: <reason>`.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {}", self.reason)
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Protocol error: {}", self.reason)
    }
}

impl std::error::Error for ProtocolError {}

/// Redis allocates `argv` for at most this many arguments up front (`argv_len`), whatever count
/// the client announced: the count is untrusted and may be up to `i32::MAX`.
const MAX_PREALLOC_ARGS: usize = 1024;

/// Largest up-front reservation for a bulk body. Redis reserves the whole body (bounded by
/// `proto-max-bulk-len`, 512 MiB by default); we do the same but cap it so that a huge configured
/// limit cannot make `reserve` overflow or abort. Beyond the cap the buffer simply grows as read.
const MAX_BODY_RESERVE: usize = 512 * 1024 * 1024 + 2;

/// Largest multibulk count Redis accepts (`INT_MAX`).
const MAX_MULTIBULK_LEN: i64 = i32::MAX as i64;

/// While unauthenticated, Redis refuses more than this many arguments...
const UNAUTH_MAX_MULTIBULK_LEN: i64 = 10;
/// ...and bulks longer than this.
const UNAUTH_MAX_BULK_LEN: i64 = 16384;

/// Where the parser stands inside the current request. The buffer always starts at the first
/// byte not yet consumed, so no offsets into it are kept except the scan position.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between requests: the next byte picks inline or multibulk.
    #[default]
    Start,
    /// Inside a multibulk request, waiting for a `$<len>\r\n` header; `remaining` counts the
    /// arguments still to come, including this one.
    BulkHeader { remaining: usize },
    /// Waiting for a bulk body of `len` bytes plus the two bytes that follow it.
    BulkBody { remaining: usize, len: u64 },
}

/// Parses requests out of a connection's read buffer, keeping its place across partial reads.
#[derive(Debug, Default)]
pub struct RequestParser {
    state: State,
    /// Arguments of the multibulk request in progress.
    args: Vec<Bytes>,
    /// An emptied argument vector handed back by the caller ([`recycle`](Self::recycle)), so
    /// the next request needs no allocation.
    spare: Vec<Bytes>,
    /// Length of the buffer prefix already searched, without success, for the line end the
    /// current state waits for. Keeps a line that trickles in byte by byte linear, not quadratic.
    scanned: usize,
    /// Total bytes examined by line scans; lets tests prove that nothing is scanned twice.
    #[cfg(test)]
    scan_work: usize,
}

/// Outcome of looking for a line end the way `strchr` does.
enum Find {
    Found(usize),
    /// Neither the byte nor a NUL yet: more data may bring it.
    NotYet,
    /// A NUL came first. `strchr` would stop there on every later call too, so the line end can
    /// never be seen; only the size limit can end the request.
    Blocked,
}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser::default()
    }

    /// Takes the next complete request out of `buf`.
    ///
    /// `Ok(Some(args))`: one request (never empty). `Ok(None)`: more bytes are needed; what was
    /// already parsed is kept, so the next call does not start over. Empty inline lines and
    /// `*0` / `*-1` are consumed and skipped, as Redis does.
    ///
    /// `buf` must be the same buffer on every call, only ever appended to by the caller between
    /// calls. After an error the connection is to be closed; the parser's state is then unspecified
    /// (but using it further is still memory-safe and panic-free).
    pub fn parse(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            match self.state {
                State::Start => {
                    let Some(&first) = buf.first() else { return Ok(None) };
                    if first == b'*' && self.scanned == 0 {
                        if let Some(args) = take_complete_multibulk(buf, limits, &mut self.spare) {
                            return Ok(Some(args));
                        }
                    }
                    let request =
                        if first == b'*' { self.parse_multibulk_count(buf, limits)? } else { self.parse_inline(buf)? };
                    match request {
                        Step::NeedMore => return Ok(None),
                        Step::Request(args) => return Ok(Some(args)),
                        Step::Continue => {}
                    }
                }
                State::BulkHeader { remaining } => {
                    if !self.parse_bulk_header(buf, limits, remaining)? {
                        return Ok(None);
                    }
                }
                State::BulkBody { remaining, len } => {
                    // `len <= i64::MAX`, so `len + 2` cannot overflow a u64.
                    if (buf.len() as u64) < len + 2 {
                        return Ok(None);
                    }
                    // Fits in usize: that many bytes are in memory.
                    let arg = buf.split_to(len as usize).freeze();
                    // Redis skips these two bytes blindly; `$1\r\nxAB` is the argument "x".
                    buf.advance(2);
                    self.args.push(arg);
                    if remaining > 1 {
                        self.state = State::BulkHeader { remaining: remaining - 1 };
                    } else {
                        self.state = State::Start;
                        return Ok(Some(std::mem::take(&mut self.args)));
                    }
                }
            }
        }
    }

    /// Copies the arguments of the request in progress out of the read buffer they were
    /// split from, so that replacing that buffer (to shrink it) frees its allocation.
    pub fn detach_args(&mut self) {
        detach(&mut self.args);
    }

    /// Hands back a request's argument vector once it is done with: it is emptied and kept
    /// (unless large) for the next request.
    #[inline]
    pub fn recycle(&mut self, mut args: Vec<Bytes>) {
        if args.capacity() <= KEPT_SPANS * 2 {
            args.clear();
            self.spare = args;
        }
    }

    /// How many more bytes the bulk body being read still needs (body plus its trailing two
    /// bytes), or `None` when no body is in progress. Lets the server size its next read, as
    /// Redis does for big arguments.
    pub fn pending_bulk_len(&self, buf: &BytesMut) -> Option<u64> {
        match self.state {
            State::BulkBody { len, .. } => Some((len + 2).saturating_sub(buf.len() as u64)),
            _ => None,
        }
    }

    /// `processInlineBuffer`: one line, split with `sdssplitargs`.
    fn parse_inline(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        let newline = match self.find(buf, b'\n') {
            Find::Found(i) => i,
            Find::NotYet | Find::Blocked => {
                if buf.len() > INLINE_MAX_SIZE {
                    return Err(ProtocolError::new("too big inline request"));
                }
                return Ok(Step::NeedMore);
            }
        };
        let line_len = if newline > 0 && buf[newline - 1] == b'\r' { newline - 1 } else { newline };
        let line = buf.split_to(line_len).freeze();
        buf.advance(newline + 1 - line_len);
        self.scanned = 0;
        let args = split_args(&line).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
        Ok(if args.is_empty() { Step::Continue } else { Step::Request(args) })
    }

    /// The `*<count>\r\n` line that opens a multibulk request.
    fn parse_multibulk_count(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Step, ProtocolError> {
        let Some(cr) = self.find_header_end(buf, "too big mbulk count string")? else {
            return Ok(Step::NeedMore);
        };
        let count = match string2ll(&buf[1..cr]) {
            Some(n) if n <= MAX_MULTIBULK_LEN => n,
            _ => return Err(ProtocolError::new("invalid multibulk length")),
        };
        if count > UNAUTH_MAX_MULTIBULK_LEN && !limits.authenticated {
            return Err(ProtocolError::new("unauthenticated multibulk length"));
        }
        buf.advance(cr + 2);
        self.scanned = 0;
        if count <= 0 {
            return Ok(Step::Continue);
        }
        let count = count as usize; // 1..=i32::MAX
        self.args = Vec::with_capacity(count.min(MAX_PREALLOC_ARGS));
        self.state = State::BulkHeader { remaining: count };
        Ok(Step::Continue)
    }

    /// A `$<len>\r\n` header. Returns false when more bytes are needed.
    fn parse_bulk_header(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
        remaining: usize,
    ) -> Result<bool, ProtocolError> {
        let Some(cr) = self.find_header_end(buf, "too big bulk count string")? else {
            return Ok(false);
        };
        if buf[0] != b'$' {
            return Err(unexpected_byte(buf[0]));
        }
        let len = match string2ll(&buf[1..cr]) {
            Some(n) if n >= 0 && n <= limits.max_bulk_len => n,
            _ => return Err(ProtocolError::new("invalid bulk length")),
        };
        if len > UNAUTH_MAX_BULK_LEN && !limits.authenticated {
            return Err(ProtocolError::new("unauthenticated bulk length"));
        }
        buf.advance(cr + 2);
        self.scanned = 0;
        let len = len as u64;
        // Make room for the whole body now, so a large value lands in one allocation instead of
        // being copied through every doubling of the read buffer.
        let missing = (len + 2).saturating_sub(buf.len() as u64);
        if missing > 0 {
            buf.reserve(usize::try_from(missing).unwrap_or(usize::MAX).min(MAX_BODY_RESERVE));
        }
        self.state = State::BulkBody { remaining, len };
        Ok(true)
    }

    /// Finds the `\r` ending a `*` or `$` header, and insists on one more byte after it (Redis
    /// waits for the `\n` position to be filled but never looks at it). `Ok(None)`: need more.
    fn find_header_end(&mut self, buf: &BytesMut, too_big: &str) -> Result<Option<usize>, ProtocolError> {
        match self.find(buf, b'\r') {
            Find::Found(cr) if cr + 1 < buf.len() => Ok(Some(cr)),
            Find::Found(_) => Ok(None),
            Find::NotYet | Find::Blocked => {
                if buf.len() > INLINE_MAX_SIZE {
                    Err(ProtocolError::new(too_big))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// `strchr(buf, byte)`, resuming where the previous unsuccessful call stopped.
    fn find(&mut self, buf: &[u8], byte: u8) -> Find {
        let from = self.scanned.min(buf.len());
        let hit = buf[from..].iter().position(|&b| b == byte || b == 0);
        #[cfg(test)]
        {
            self.scan_work += hit.map_or(buf.len() - from, |i| i + 1);
        }
        match hit {
            Some(i) => {
                // Leave the scan position on the hit: if we must wait (a `\r` with nothing
                // after it yet, or a NUL), the next call finds it again at once.
                self.scanned = from + i;
                if buf[from + i] == 0 {
                    Find::Blocked
                } else {
                    Find::Found(from + i)
                }
            }
            None => {
                self.scanned = buf.len();
                Find::NotYet
            }
        }
    }
}

/// Most fast-path arguments fit without the vector spilling; beyond this, the resumable path.
const FAST_PATH_MAX_ARGS: i64 = 1024;

/// Argument spans the first pass keeps for the second; a request with more arguments than
/// this (rare: long MSETs, DELs) has the rest of its headers read again.
const KEPT_SPANS: usize = 8;

/// The fast path for the common case: a well-formed multibulk request that is already complete
/// in `buf` (pipelined clients send many at once). It walks the headers once, then takes the
/// whole request out of the buffer with a single split and hands out slices of it, instead of a
/// split and an advance per argument.
///
/// It returns `None`, touching nothing, on anything unusual — an incomplete request, a header
/// that is not plain digits, a limit reached, the unauthenticated state — and the resumable
/// path then does the real work, errors included. So its results are those of the slow path
/// by construction (the tests feed every input both ways).
fn take_complete_multibulk(buf: &mut BytesMut, limits: &Limits, spare: &mut Vec<Bytes>) -> Option<Vec<Bytes>> {
    if !limits.authenticated {
        return None;
    }
    // First pass: check the request is complete and well-formed, noting where the first
    // arguments are.
    let (count, first) = plain_header(buf, 0, b'*')?;
    if count == 0 || count > FAST_PATH_MAX_ARGS {
        return None;
    }
    let count = count as usize;
    let mut spans = [(0usize, 0usize); KEPT_SPANS];
    let mut pos = first;
    for i in 0..count {
        let (len, body) = plain_header(buf, pos, b'$')?;
        if len > limits.max_bulk_len {
            return None;
        }
        let end = body.checked_add(len as usize)?;
        if let Some(span) = spans.get_mut(i) {
            *span = (body, end);
        }
        // Like Redis, the two bytes after a body are skipped without being looked at.
        pos = end.checked_add(2)?;
        if pos > buf.len() {
            return None;
        }
    }
    // Second pass: slice the arguments out of one split.
    let request = buf.split_to(pos).freeze();
    let mut next = first;
    let mut span = |i: usize| {
        let (body, end) = spans.get(i).copied().unwrap_or_else(|| {
            let (len, body) = plain_header(&request, next, b'$').expect("validated by the first pass");
            (body, body + len as usize)
        });
        next = end + 2;
        (body, end)
    };
    let mut args = std::mem::take(spare);
    args.reserve(count);
    for i in 0..count - 1 {
        let (body, end) = span(i);
        args.push(request.slice(body..end));
    }
    // The last argument is the request itself, cut down: one reference count update fewer.
    let (body, end) = span(count - 1);
    let mut last = request;
    last.truncate(end);
    last.advance(body);
    args.push(last);
    Some(args)
}

/// `<marker><digits>\r<any byte>` at `at`: the number and the index after the header. Only the
/// plain form (no sign, no leading zero, at most 18 digits) — anything else is for the slow path.
fn plain_header(b: &[u8], at: usize, marker: u8) -> Option<(i64, usize)> {
    let (&first, line) = b.get(at..)?.split_first()?;
    if first != marker {
        return None;
    }
    let mut n: i64 = 0;
    for (k, &c) in line.iter().enumerate() {
        match c {
            b'\r' => {
                // Digits present, no leading zero, and the byte after `\r` already in `b`.
                let after = at + 1 + k + 2;
                let ok = k > 0 && !(k > 1 && line[0] == b'0') && after <= b.len();
                return ok.then_some((n, after));
            }
            b'0'..=b'9' if k < 18 => n = n * 10 + (c - b'0') as i64,
            _ => return None,
        }
    }
    None
}

/// What one step at a request boundary produced.
enum Step {
    NeedMore,
    /// Something was consumed (a skipped empty request, or a multibulk header); go on.
    Continue,
    Request(Vec<Bytes>),
}

/// `Protocol error: expected '$', got '%c'`. Redis's error replies turn `\r` and `\n` into
/// spaces. A byte above 0x7f is sent raw by Redis; a `String` cannot hold it, so it is shown as
/// the Latin-1 character of the same value.
fn unexpected_byte(byte: u8) -> ProtocolError {
    let shown = match byte {
        b'\r' | b'\n' => ' ',
        b => b as char,
    };
    ProtocolError::new(format!("expected '$', got '{shown}'"))
}

/// Redis's `string2ll`: strict decimal, as Redis accepts it in protocol headers. An optional `-`,
/// then digits with no leading zero (except `0` itself); no `+`, no spaces, no `-0`, no empty
/// string, and the value must fit in an i64.
fn string2ll(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some(_) => (false, s),
        None => return None,
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // A magnitude of up to 2^63 (i64::MIN) fits.
        0i64.checked_sub_unsigned(v)
    } else {
        i64::try_from(v).ok()
    }
}

/// C's `isspace` in the "C" locale, which `sdssplitargs` uses to skip blanks and to accept what
/// follows a closing quote.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Redis's `sdssplitargs`: splits an inline request (or config file) line into arguments, or `None` for
/// unbalanced quotes (which includes a closing quote not followed by a blank).
///
/// Quirks copied from Redis: blanks between arguments are anything `isspace` accepts, but an
/// unquoted argument ends only at space, tab, `\r` or `\n` (so `\v` and `\f` inside a word belong
/// to it). A quote in the middle of a word opens a quoted section, so `a"b c"` is the single
/// argument `ab c`. In double quotes an unknown escape stands for the escaped byte itself (`\xZZ`
/// is `xZZ`).
///
/// The line never contains NUL (see the module docs), so its end plays the role of C's `\0`.
/// Arguments without quotes are zero-copy slices of `line`.
pub fn split_args(line: &Bytes) -> Option<Vec<Bytes>> {
    let s: &[u8] = line;
    // C-string view: reading past the end gives the terminating NUL.
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let closes_ok = |i: usize| at(i) == 0 || is_c_space(at(i));
    let mut args = Vec::new();
    let mut word = Vec::new();
    let mut p = 0;
    loop {
        while p < s.len() && is_c_space(s[p]) {
            p += 1;
        }
        if p == s.len() {
            return Some(args);
        }
        let start = p;
        let mut quoted = false;
        word.clear();
        // `p` is left just past the argument's terminator; `end` is where its bytes stop.
        let end = loop {
            match at(p) {
                b' ' | b'\n' | b'\r' | b'\t' => {
                    p += 1;
                    break p - 1;
                }
                0 => break p,
                b'"' => {
                    quoted = true;
                    p += 1;
                    loop {
                        match (at(p), at(p + 1)) {
                            (b'\\', b'x') if at(p + 2).is_ascii_hexdigit() && at(p + 3).is_ascii_hexdigit() => {
                                word.push(hex_value(at(p + 2)) << 4 | hex_value(at(p + 3)));
                                p += 4;
                            }
                            (b'\\', e) if e != 0 => {
                                word.push(match e {
                                    b'n' => b'\n',
                                    b'r' => b'\r',
                                    b't' => b'\t',
                                    b'b' => 0x08,
                                    b'a' => 0x07,
                                    other => other,
                                });
                                p += 2;
                            }
                            (b'"', _) => break,
                            (0, _) => return None,
                            (c, _) => {
                                word.push(c);
                                p += 1;
                            }
                        }
                    }
                    if !closes_ok(p + 1) {
                        return None;
                    }
                    // Past the quote; the word ends here (what follows is a blank or the end).
                    p += 1;
                    break p;
                }
                b'\'' => {
                    quoted = true;
                    p += 1;
                    loop {
                        match (at(p), at(p + 1)) {
                            (b'\\', b'\'') => {
                                word.push(b'\'');
                                p += 2;
                            }
                            (b'\'', _) => break,
                            (0, _) => return None,
                            (c, _) => {
                                word.push(c);
                                p += 1;
                            }
                        }
                    }
                    if !closes_ok(p + 1) {
                        return None;
                    }
                    p += 1;
                    break p;
                }
                c => {
                    word.push(c);
                    p += 1;
                }
            }
        };
        args.push(if quoted { Bytes::copy_from_slice(&word) } else { line.slice(start..end) });
    }
}

fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

#[cfg(test)]
mod tests;

/// Gives each argument an allocation of its own (see [`RequestParser::detach_args`]).
fn detach(args: &mut [Bytes]) {
    for a in args {
        *a = Bytes::copy_from_slice(a);
    }
}
