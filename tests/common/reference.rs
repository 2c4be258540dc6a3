//! Ferrocache beside a real redis-server 7.0, for the tests that compare their replies byte
//! for byte (`differential.rs` runs the corpus, `fuzz_differential.rs` random commands): a
//! RESP reply reader for every RESP2/RESP3 type, raw connections, the comparison modes, and
//! both servers.

use super::process::free_port;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------------
// RESP reply reader
// ---------------------------------------------------------------------------------------------

/// One parsed reply. `head` is the complete bytes of a scalar, or the header line of an
/// aggregate; `children` holds an aggregate's elements (for `|` attributes, the attribute's
/// pairs followed by the reply it decorates).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    pub head: Vec<u8>,
    pub children: Vec<Node>,
}

impl Node {
    pub fn kind(&self) -> u8 {
        self.head[0]
    }

    pub fn is_aggregate(&self) -> bool {
        matches!(self.kind(), b'*' | b'~' | b'%' | b'>' | b'|') && !self.is_null_aggregate()
    }

    pub fn is_null_aggregate(&self) -> bool {
        self.head.starts_with(b"*-1")
    }

    pub fn to_bytes(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        for c in &self.children {
            c.to_bytes(out);
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.to_bytes(&mut v);
        v
    }

    /// The type skeleton used by `!shape`.
    pub fn shape(&self) -> String {
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
    pub fn sorted(mut self) -> Node {
        self.children = self.children.into_iter().map(Node::sorted).collect();
        if self.is_aggregate() && self.children.iter().all(|c| !c.is_aggregate()) && self.kind() != b'%' {
            self.children.sort();
        }
        self
    }
}

pub fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?.windows(2).position(|w| w == b"\r\n").map(|p| p + from)
}

/// Parses one complete reply starting at `at`. `Ok(None)`: more bytes are needed.
pub fn parse_node(buf: &[u8], at: usize) -> Result<Option<(Node, usize)>, String> {
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
pub enum Outcome {
    Reply(Node),
    /// The server closed the connection; any bytes it sent before that which do not form a reply.
    Closed(Vec<u8>),
    /// Nothing (complete) arrived in time.
    Timeout(Vec<u8>),
    Error(String),
}

impl Outcome {
    pub fn describe(&self, mode: Compare) -> String {
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

    pub fn is_protocol_error(&self) -> bool {
        matches!(self, Outcome::Reply(n) if n.head.starts_with(b"-ERR Protocol error"))
    }
}

pub struct RespConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RespConn {
    pub fn connect(addr: SocketAddr) -> std::io::Result<RespConn> {
        let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(RespConn { stream, buf: Vec::new() })
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads exactly one complete reply (keeping any bytes after it for the next call).
    pub fn read_reply(&mut self) -> Outcome {
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
    pub fn read_until_close(&mut self) -> Result<Vec<u8>, Vec<u8>> {
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
    pub fn call(&mut self, args: &[&[u8]]) -> Outcome {
        if let Err(e) = self.send(&multibulk(args)) {
            return Outcome::Error(e.to_string());
        }
        self.read_reply()
    }
}

pub fn multibulk<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
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
pub fn escape(bytes: &[u8]) -> String {
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

// ---------------------------------------------------------------------------------------------
// Comparing
// ---------------------------------------------------------------------------------------------

/// How two replies are compared. Errors are always compared exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Exact,
    /// Only the RESP type skeleton (type bytes, aggregate sizes, recursively).
    Shape,
    /// Every aggregate made only of scalars sorted first (KEYS, SCAN keys, …).
    Sorted,
    /// Only the reply's type byte (an error, or not, and which).
    Kind,
    /// Integers that are both >= 0 may differ by up to this much (a TTL read a moment later
    /// on one server than on the other); negative ones (-1, -2) and other replies are exact.
    Near(u64),
    /// A DUMP payload: exact, except that a hash-table-encoded set or hash (RDB types 2 and
    /// 4) lists its elements in each server's own table order, so only its length is compared.
    Payload,
}

impl Node {
    /// The contents of a bulk string reply.
    pub fn bulk(&self) -> Option<&[u8]> {
        let (_, rest) = self.head.strip_prefix(b"$")?.split_at(find_crlf(&self.head, 0)? - 1);
        rest.strip_prefix(b"\r\n")?.strip_suffix(b"\r\n")
    }

    /// The value of an integer reply.
    pub fn integer(&self) -> Option<i64> {
        let text = self.head.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
        std::str::from_utf8(text).ok()?.parse().ok()
    }
}

/// Whether two replies agree under `mode`.
pub fn same_node(x: &Node, y: &Node, mode: Compare) -> bool {
    match mode {
        _ if x.kind() == b'-' || y.kind() == b'-' => x == y,
        Compare::Exact => x == y,
        Compare::Shape => x.shape() == y.shape(),
        Compare::Kind => x.kind() == y.kind(),
        Compare::Sorted => x.clone().sorted() == y.clone().sorted(),
        Compare::Near(tolerance) => match (x.integer(), y.integer()) {
            (Some(a), Some(b)) if a >= 0 && b >= 0 => a.abs_diff(b) <= tolerance,
            _ => x == y,
        },
        Compare::Payload => match (x.bulk(), y.bulk()) {
            (Some(a), Some(b)) if a.first() == b.first() && matches!(a.first(), Some(2 | 4)) => a.len() == b.len(),
            _ => x == y,
        },
    }
}

pub fn same(a: &Outcome, b: &Outcome, mode: Compare) -> bool {
    match (a, b) {
        (Outcome::Reply(x), Outcome::Reply(y)) => same_node(x, y, mode),
        (Outcome::Closed(x), Outcome::Closed(y)) => x == y,
        (Outcome::Timeout(x), Outcome::Timeout(y)) => x == y,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// A redis-server child process, killed on drop.
pub struct RedisServer {
    child: Child,
    pub addr: SocketAddr,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let port = free_port();
        // SORT ALPHA compares with strcoll in the locale Redis finds: C, as ours compares.
        let child = Command::new(&bin)
            .env("LC_ALL", "C")
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
pub struct Ferrocache {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub addr: SocketAddr,
}

impl Ferrocache {
    pub fn start() -> Ferrocache {
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
pub enum Server {
    Redis(RedisServer),
    Ferro(Ferrocache),
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Redis(r) => r.addr,
            Server::Ferro(f) => f.addr,
        }
    }
}

/// Bounded retry of connect + PING with a short backoff. `check` may panic (e.g. child died).
pub fn wait_ready(addr: SocketAddr, mut check: impl FnMut()) {
    let mut backoff = Duration::from_millis(5);
    for _ in 0..100 {
        check();
        if let Ok(mut c) = RespConn::connect(addr) {
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
