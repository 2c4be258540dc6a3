//! # Differential test: Ferrocache against real redis-server 7.0
//!
//! Runs every corpus file in `tests/corpus/*.redis` against a real `redis-server` and an
//! in-process Ferrocache, and compares the replies **byte for byte**. Every mismatch of the run
//! is collected and printed (file:line, the command, both replies escaped); the test fails at
//! the end if there was any.
//!
//! ## Running
//!
//! ```text
//! cargo test --test differential                              # whole corpus
//! DIFFTEST_FILTER=strings cargo test --test differential      # only files whose name contains "strings"
//! DIFFTEST_VERBOSE=1 cargo test --test differential -- --nocapture   # print every exchange
//! DIFFTEST_AGAINST=redis cargo test --test differential       # redis vs a second redis: validates
//!                                                              # that the corpus is deterministic
//! ```
//!
//! `redis-server` must be on `PATH` (or named by `REDIS_SERVER`); if it is missing the test
//! fails (it never skips): `apt-get install -y redis-server`.
//!
//! ## Servers
//!
//! redis-server runs with `--save '' --appendonly no --bind 127.0.0.1 --port N` on a free port
//! (found by binding a listener to port 0 and dropping it) and is killed when the test ends.
//! Ferrocache runs in-process on `127.0.0.1:0` with `Config::default()` and the same `save ""`.
//!
//! ## Corpus format
//!
//! One command per line, split like redis-cli / inline commands (`ferrocache_protocol::split_args`:
//! `"double quotes"` with `\n \r \t \xHH` escapes, `'single quotes'`), sent to both servers as a
//! RESP multibulk. Blank lines and lines starting with `#` are ignored. Every file runs on a fresh
//! connection to each server after `FLUSHALL` and `SELECT 0` (fresh connections speak RESP2); the
//! setup replies must be `+OK` on both, otherwise that is reported as a mismatch at line 0.
//!
//! A line may start with directives (several may be combined, each is one word):
//!
//! | directive     | meaning |
//! |---------------|---------|
//! | `!raw TEXT`   | send TEXT as raw bytes (escapes `\r \n \t \\ \xHH` decoded); must be last |
//! | `!shape`      | compare only the reply's RESP type skeleton (type bytes, aggregate sizes, recursively); errors are still compared exactly. For values that legitimately differ: ids, times, INFO, CLIENT LIST… |
//! | `!sorted`     | sort the elements of every array/set made only of scalars before comparing (KEYS, SCAN keys, …) |
//! | `!replies=N`  | read N replies instead of one (pipelines in `!raw`; `N=0` for CLIENT REPLY OFF/SKIP) |
//! | `!close`      | after the replies, both servers must close the connection (QUIT, …) |
//!
//! A reply that is a `-ERR Protocol error…` implies `!close`. After a close (expected or not),
//! or when one server did not answer within the timeout, the harness reads until the connection
//! closes (or times out), compares what both sides did, and reconnects both (the new connection
//! is in db 0, RESP2, no MULTI). Each corpus file documents its exceptions at the top.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const READ_TIMEOUT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------------
// RESP reply reader
// ---------------------------------------------------------------------------------------------

/// One parsed reply. `head` is the complete bytes of a scalar, or the header line of an
/// aggregate; `children` holds an aggregate's elements (for `|` attributes, the attribute's
/// pairs followed by the reply it decorates).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Node {
    head: Vec<u8>,
    children: Vec<Node>,
}

impl Node {
    fn kind(&self) -> u8 {
        self.head[0]
    }

    fn is_aggregate(&self) -> bool {
        matches!(self.kind(), b'*' | b'~' | b'%' | b'>' | b'|') && !self.is_null_aggregate()
    }

    fn is_null_aggregate(&self) -> bool {
        self.head.starts_with(b"*-1")
    }

    fn to_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        for c in &self.children {
            c.to_bytes(out);
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.to_bytes(&mut v);
        v
    }

    /// The type skeleton used by `!shape`.
    fn shape(&self) -> String {
        let k = self.kind() as char;
        if self.is_aggregate() {
            let inner: Vec<String> = self.children.iter().map(Node::shape).collect();
            format!("{k}{}[{}]", self.children.len(), inner.join(" "))
        } else if self.is_null_aggregate() || self.head.starts_with(b"$-1") {
            format!("{k}null")
        } else {
            k.to_string()
        }
    }

    /// `!sorted`: sorts every aggregate whose elements are all scalars.
    fn sorted(mut self) -> Node {
        self.children = self.children.into_iter().map(Node::sorted).collect();
        if self.is_aggregate() && self.children.iter().all(|c| !c.is_aggregate()) && self.kind() != b'%' {
            self.children.sort();
        }
        self
    }
}

fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|p| p + from)
}

/// Parses one complete reply starting at `at`. `Ok(None)`: more bytes are needed.
fn parse_node(buf: &[u8], at: usize) -> Result<Option<(Node, usize)>, String> {
    let Some(&kind) = buf.get(at) else { return Ok(None) };
    let Some(eol) = find_crlf(buf, at) else { return Ok(None) };
    let line_end = eol + 2;
    let text = String::from_utf8_lossy(&buf[at + 1..eol]).into_owned();
    let number = || text.parse::<i64>().map_err(|_| format!("bad length {text:?} in reply type '{}'", kind as char));
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
            Ok(Some((Node { head: buf[at..line_end].to_vec(), children: vec![] }, line_end)))
        }
        b'$' | b'!' | b'=' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some((Node { head: buf[at..line_end].to_vec(), children: vec![] }, line_end)));
            }
            let end = line_end + n as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(format!("bulk of length {n} not followed by CRLF"));
            }
            Ok(Some((Node { head: buf[at..end].to_vec(), children: vec![] }, end)))
        }
        b'*' | b'~' | b'%' | b'>' | b'|' => {
            let n = number()?;
            let head = buf[at..line_end].to_vec();
            if n < 0 {
                return Ok(Some((Node { head, children: vec![] }, line_end)));
            }
            let mut count = if matches!(kind, b'%' | b'|') { 2 * n } else { n };
            if kind == b'|' {
                count += 1; // the attribute decorates the reply that follows it
            }
            let mut children = Vec::with_capacity(count as usize);
            let mut pos = line_end;
            for _ in 0..count {
                match parse_node(buf, pos)? {
                    None => return Ok(None),
                    Some((child, next)) => {
                        children.push(child);
                        pos = next;
                    }
                }
            }
            Ok(Some((Node { head, children }, pos)))
        }
        other => Err(format!("unknown reply type byte {:?}", escape(&[other]))),
    }
}

/// What reading one reply produced.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Reply(Node),
    /// The server closed the connection; any bytes it sent before that which do not form a reply.
    Closed(Vec<u8>),
    /// Nothing (complete) arrived in time.
    Timeout(Vec<u8>),
    Error(String),
}

impl Outcome {
    fn describe(&self, mode: Compare) -> String {
        match self {
            Outcome::Reply(n) => {
                let s = escape(&n.bytes());
                if mode == Compare::Shape {
                    format!("{s}   (shape {})", n.shape())
                } else {
                    s
                }
            }
            Outcome::Closed(rest) if rest.is_empty() => "<connection closed>".into(),
            Outcome::Closed(rest) => format!("<connection closed after partial bytes {}>", escape(rest)),
            Outcome::Timeout(rest) if rest.is_empty() => "<no reply (timeout)>".into(),
            Outcome::Timeout(rest) => format!("<incomplete reply (timeout): {}>", escape(rest)),
            Outcome::Error(e) => format!("<error: {e}>"),
        }
    }

    fn is_protocol_error(&self) -> bool {
        matches!(self, Outcome::Reply(n) if n.head.starts_with(b"-ERR Protocol error"))
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::new() })
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads exactly one complete reply (keeping any bytes after it for the next call).
    fn read_reply(&mut self) -> Outcome {
        loop {
            match parse_node(&self.buf, 0) {
                Err(e) => return Outcome::Error(format!("{e}; bytes: {}", escape(&self.buf))),
                Ok(Some((node, used))) => {
                    self.buf.drain(..used);
                    return Outcome::Reply(node);
                }
                Ok(None) => {}
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Outcome::Closed(std::mem::take(&mut self.buf)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Outcome::Timeout(std::mem::take(&mut self.buf))
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Outcome::Closed(std::mem::take(&mut self.buf))
                }
                Err(e) => return Outcome::Error(e.to_string()),
            }
        }
    }

    /// Reads until the peer closes. Returns the bytes received meanwhile, or `Err` with them on
    /// timeout (the connection stayed open).
    fn read_until_close(&mut self) -> Result<Vec<u8>, Vec<u8>> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(std::mem::take(&mut self.buf)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(std::mem::take(&mut self.buf)),
                Err(_) => return Err(std::mem::take(&mut self.buf)),
            }
        }
    }

    /// Sends one command (built from args) and reads its reply.
    fn call(&mut self, args: &[&[u8]]) -> Outcome {
        if let Err(e) = self.send(&multibulk(args)) {
            return Outcome::Error(e.to_string());
        }
        self.read_reply()
    }
}

fn multibulk<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Printable ASCII as is; `\r \n \t \\ "` and everything else escaped (`\xHH`).
fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Decodes a `!raw` payload: `\r \n \t \\ \xHH`; any other backslash is kept literally.
fn unescape_raw(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = s.get(i + 2..i + 4).ok_or("truncated \\x escape")?;
                    out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad \\x escape {hex:?}"))?);
                    i += 4;
                    continue;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Exact,
    Shape,
    Sorted,
}

#[derive(Debug)]
struct Step {
    line: usize,
    /// The corpus text (for the report).
    text: String,
    bytes: Vec<u8>,
    compare: Compare,
    replies: usize,
    close: bool,
}

fn parse_corpus(path: &Path) -> Vec<Step> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let content = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut steps = Vec::new();
    for (i, raw_line) in content.lines().enumerate() {
        let line = i + 1;
        let mut rest = raw_line.trim_start();
        if rest.is_empty() || rest.starts_with('#') {
            continue;
        }
        let bad = |why: String| -> ! { panic!("corpus error at {name}:{line}: {why}\n  {raw_line}") };
        let mut compare = Compare::Exact;
        let mut replies = 1;
        let mut close = false;
        let mut raw = None;
        while let Some(d) = rest.strip_prefix('!') {
            let (word, after) = d.split_once(' ').unwrap_or((d, ""));
            rest = after.trim_start();
            match word {
                "raw" => {
                    // The payload is everything after "!raw " exactly (leading blanks included).
                    let payload = &d["raw".len()..];
                    let payload = payload.strip_prefix(' ').unwrap_or(payload);
                    raw = Some(unescape_raw(payload).unwrap_or_else(|e| bad(e)));
                    break;
                }
                "shape" => compare = Compare::Shape,
                "sorted" => compare = Compare::Sorted,
                "close" => close = true,
                w if w.starts_with("replies=") => {
                    replies = w["replies=".len()..].parse().unwrap_or_else(|_| bad(format!("bad directive {w}")))
                }
                w => bad(format!("unknown directive !{w}")),
            }
        }
        let bytes = match raw {
            Some(b) => b,
            None => {
                let args = ferrocache_protocol::split_args(&bytes::Bytes::copy_from_slice(rest.as_bytes()))
                    .unwrap_or_else(|| bad("unbalanced quotes".into()));
                if args.is_empty() {
                    bad("no command".into());
                }
                multibulk(&args)
            }
        };
        steps.push(Step { line, text: raw_line.trim().to_string(), bytes, compare, replies, close });
    }
    steps
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let filter = std::env::var("DIFFTEST_FILTER").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "redis"))
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(&filter))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {} (filter {filter:?})", dir.display());
    files
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

/// A redis-server child process, killed on drop.
struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

impl RedisServer {
    fn start() -> RedisServer {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let port = free_port();
        let child = Command::new(&bin)
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--daemonize", "no"])
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "`{bin}` not found on PATH: the differential test needs real Redis 7.0.\n\
                 install redis-server: apt-get install -y redis-server"
            ),
            Err(e) => panic!("starting {bin}: {e}"),
        };
        let mut server = RedisServer { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) };
        wait_ready(server.addr, || {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("redis-server exited during start-up ({status}); is port {port} taken?");
            }
        });
        server
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ferrocache on its own tokio runtime; shut down on drop.
struct Ferrocache {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    addr: SocketAddr,
}

impl Ferrocache {
    fn start() -> Ferrocache {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind ferrocache");
        let addr = listener.local_addr().unwrap();
        // No saves, and no dump to load: a stray dump.rdb in the working directory must not
        // leak into the comparison.
        let config = ferrocache::Config {
            save: String::new(),
            dir: std::env::temp_dir().to_string_lossy().into_owned(),
            dbfilename: format!("ferrocache-differential-{}-never-written.rdb", std::process::id()),
            ..ferrocache::Config::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        runtime.spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = ferrocache::run(listener, config, shutdown).await {
                eprintln!("ferrocache::run failed: {e}");
            }
        });
        wait_ready(addr, || {});
        Ferrocache { runtime: Some(runtime), stop: Some(stop), addr }
    }
}

impl Drop for Ferrocache {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Either kind of server under test.
enum Server {
    Redis(RedisServer),
    Ferro(Ferrocache),
}

impl Server {
    fn addr(&self) -> SocketAddr {
        match self {
            Server::Redis(r) => r.addr,
            Server::Ferro(f) => f.addr,
        }
    }
}

/// Bounded retry of connect + PING with a short backoff. `check` may panic (e.g. child died).
fn wait_ready(addr: SocketAddr, mut check: impl FnMut()) {
    let mut backoff = Duration::from_millis(5);
    for _ in 0..100 {
        check();
        if let Ok(mut c) = Conn::connect(addr) {
            if let Outcome::Reply(n) = c.call(&[b"PING"]) {
                if n.head == b"+PONG\r\n" {
                    return;
                }
            }
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_millis(100));
    }
    panic!("server at {addr} did not answer PING");
}

// ---------------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------------

struct Mismatch {
    location: String,
    command: String,
    redis: String,
    ours: String,
    note: &'static str,
}

fn same(a: &Outcome, b: &Outcome, mode: Compare) -> bool {
    match (a, b) {
        (Outcome::Reply(x), Outcome::Reply(y)) => match mode {
            _ if x.kind() == b'-' || y.kind() == b'-' => x == y,
            Compare::Exact => x == y,
            Compare::Shape => x.shape() == y.shape(),
            Compare::Sorted => x.clone().sorted() == y.clone().sorted(),
        },
        (Outcome::Closed(x), Outcome::Closed(y)) => x == y,
        (Outcome::Timeout(x), Outcome::Timeout(y)) => x == y,
        _ => false,
    }
}

struct Pair {
    redis_addr: SocketAddr,
    ours_addr: SocketAddr,
    redis: Conn,
    ours: Conn,
}

impl Pair {
    fn connect(redis_addr: SocketAddr, ours_addr: SocketAddr) -> Pair {
        let redis = Conn::connect(redis_addr).expect("connect to redis-server");
        let ours = Conn::connect(ours_addr).expect("connect to the server under test");
        Pair { redis_addr, ours_addr, redis, ours }
    }

    fn reconnect(&mut self) {
        *self = Pair::connect(self.redis_addr, self.ours_addr);
    }
}

/// Runs one corpus file; returns the number of steps run.
fn run_file(path: &Path, redis_addr: SocketAddr, ours_addr: SocketAddr, out: &mut Vec<Mismatch>) -> usize {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let verbose = std::env::var_os("DIFFTEST_VERBOSE").is_some();
    let steps = parse_corpus(path);
    let mut pair = Pair::connect(redis_addr, ours_addr);

    for setup in [&["FLUSHALL"][..], &["SELECT", "0"][..]] {
        let args: Vec<&[u8]> = setup.iter().map(|s| s.as_bytes()).collect();
        let r = pair.redis.call(&args);
        let o = pair.ours.call(&args);
        let ok = |x: &Outcome| matches!(x, Outcome::Reply(n) if n.head == b"+OK\r\n");
        if !ok(&r) || !ok(&o) {
            out.push(Mismatch {
                location: format!("{name}:0"),
                command: format!("<setup> {}", setup.join(" ")),
                redis: r.describe(Compare::Exact),
                ours: o.describe(Compare::Exact),
                note: "setup must reply +OK on both",
            });
        }
    }

    for step in &steps {
        let location = format!("{name}:{}", step.line);
        let r_sent = pair.redis.send(&step.bytes);
        let o_sent = pair.ours.send(&step.bytes);
        if r_sent.is_err() || o_sent.is_err() {
            out.push(Mismatch {
                location,
                command: step.text.clone(),
                redis: format!("{r_sent:?}"),
                ours: format!("{o_sent:?}"),
                note: "write failed; reconnected",
            });
            pair.reconnect();
            continue;
        }
        let mut desync = false;
        let mut close = step.close;
        for k in 0..step.replies {
            let r = pair.redis.read_reply();
            let o = pair.ours.read_reply();
            if verbose {
                println!(
                    "{location} [{k}] {}\n    redis: {}\n    ours:  {}",
                    step.text,
                    r.describe(step.compare),
                    o.describe(step.compare)
                );
            }
            if !same(&r, &o, step.compare) {
                out.push(Mismatch {
                    location: if step.replies > 1 { format!("{location} (reply {})", k + 1) } else { location.clone() },
                    command: step.text.clone(),
                    redis: r.describe(step.compare),
                    ours: o.describe(step.compare),
                    note: match step.compare {
                        Compare::Exact => "",
                        Compare::Shape => "compared by shape",
                        Compare::Sorted => "compared sorted",
                    },
                });
            }
            if !matches!(r, Outcome::Reply(_)) || !matches!(o, Outcome::Reply(_)) {
                desync = true;
                break;
            }
            if r.is_protocol_error() || o.is_protocol_error() {
                close = true;
            }
        }
        if close {
            let r = pair.redis.read_until_close();
            let o = pair.ours.read_until_close();
            let show = |x: &Result<Vec<u8>, Vec<u8>>| match x {
                Ok(b) if b.is_empty() => "<closed>".to_string(),
                Ok(b) => format!("<closed after extra bytes {}>", escape(b)),
                Err(b) => format!("<still open after {READ_TIMEOUT:?}; extra bytes {:?}>", escape(b)),
            };
            if r != o {
                out.push(Mismatch {
                    location: location.clone(),
                    command: step.text.clone(),
                    redis: show(&r),
                    ours: show(&o),
                    note: "connection close",
                });
            }
            pair.reconnect();
        } else if desync {
            pair.reconnect();
        }
    }

    // Catches replies one side sent and the other did not (e.g. after CLIENT REPLY OFF).
    let r = pair.redis.call(&[b"ECHO", b"end-of-file"]);
    let o = pair.ours.call(&[b"ECHO", b"end-of-file"]);
    if !same(&r, &o, Compare::Exact) {
        out.push(Mismatch {
            location: format!("{name}:EOF"),
            command: "ECHO end-of-file (sync check)".into(),
            redis: r.describe(Compare::Exact),
            ours: o.describe(Compare::Exact),
            note: "connections out of step at end of file",
        });
    }
    steps.len()
}

#[test]
fn differential_against_redis() {
    let redis = RedisServer::start();
    let ours = match std::env::var("DIFFTEST_AGAINST").as_deref() {
        Ok("redis") => Server::Redis(RedisServer::start()),
        Ok(other) if !other.is_empty() => panic!("DIFFTEST_AGAINST={other}: only `redis` is supported"),
        _ => Server::Ferro(Ferrocache::start()),
    };
    let ours_name = if matches!(ours, Server::Redis(_)) { "redis#2" } else { "ferrocache" };

    let mut mismatches = Vec::new();
    let mut total = 0;
    let mut per_file = Vec::new();
    for file in corpus_files() {
        let before = mismatches.len();
        let n = run_file(&file, redis.addr, ours.addr(), &mut mismatches);
        total += n;
        per_file.push((file.file_name().unwrap().to_string_lossy().into_owned(), n, mismatches.len() - before));
    }

    let mut report = String::new();
    for m in &mismatches {
        report.push_str(&format!("MISMATCH {}  {}\n", m.location, m.command));
        if !m.note.is_empty() {
            report.push_str(&format!("    ({})\n", m.note));
        }
        report.push_str(&format!("    redis:      {}\n    {:<11} {}\n", m.redis, format!("{ours_name}:"), m.ours));
    }
    report.push_str(&format!("\ndifferential summary vs {ours_name}:\n"));
    for (f, n, bad) in &per_file {
        report.push_str(&format!("  {f:<24} {n:>4} commands  {bad:>4} mismatches\n"));
    }
    report.push_str(&format!("  {:<24} {total:>4} commands  {:>4} mismatches\n", "TOTAL", mismatches.len()));
    if !mismatches.is_empty() {
        let mut by_cmd: std::collections::BTreeMap<String, usize> = Default::default();
        for m in &mismatches {
            let cmd = m.command.split_whitespace().find(|w| !w.starts_with('!')).unwrap_or("").to_uppercase();
            *by_cmd.entry(cmd).or_default() += 1;
        }
        let list: Vec<String> = by_cmd.iter().map(|(c, n)| format!("{c}({n})")).collect();
        report.push_str(&format!("  mismatches by command: {}\n", list.join(" ")));
    }
    println!("{report}");
    drop(ours);
    drop(redis);
    assert!(mismatches.is_empty(), "{} differential mismatch(es); see the report above", mismatches.len());
}

#[test]
fn reply_reader_handles_every_type() {
    let cases: &[&[u8]] = &[
        b"+OK\r\n",
        b"-ERR x\r\n",
        b":12\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"$3\r\na\r\n\r\n",
        b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
        b"%1\r\n+k\r\n~2\r\n_\r\n,1.5\r\n",
        b"#t\r\n",
        b"(123456789012345678901234567890\r\n",
        b"=7\r\ntxt:abc\r\n",
        b"!3\r\nerr\r\n",
        b">2\r\n+message\r\n:1\r\n",
        b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
        b"*0\r\n",
    ];
    for case in cases {
        let (node, used) = parse_node(case, 0).unwrap().unwrap_or_else(|| panic!("incomplete: {}", escape(case)));
        assert_eq!(used, case.len(), "{}", escape(case));
        assert_eq!(node.bytes(), *case);
        for cut in 0..case.len() {
            assert!(parse_node(&case[..cut], 0).unwrap().is_none(), "prefix {cut} of {}", escape(case));
        }
    }
    let keys = parse_node(b"*2\r\n$1\r\n0\r\n*3\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n", 0).unwrap().unwrap().0;
    assert_eq!(keys.sorted().bytes(), b"*2\r\n$1\r\n0\r\n*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    assert_eq!(unescape_raw(r"a\r\n\x41\\").unwrap(), b"a\r\nA\\");
}
