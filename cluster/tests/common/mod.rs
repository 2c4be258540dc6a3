//! Real redis-server processes in cluster mode, and a raw RESP client that returns a reply's
//! exact bytes, for comparing this crate's output with the reference byte for byte.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A free port whose +10000 cluster bus port is free too.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if port <= 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ferrocache-cluster-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `redis-server --cluster-enabled yes` on a free port, killed on drop.
pub struct RedisNode {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
}

impl RedisNode {
    pub fn start() -> RedisNode {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> RedisNode {
        Self::start_at(free_port(), TempDir::new("node"), extra)
    }

    /// A node on `port` working in `dir` (where a nodes.conf may be waiting).
    pub fn start_at(port: u16, dir: TempDir, extra: &[&str]) -> RedisNode {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_string());
        let child = Command::new(&bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir.0)
            .arg("--logfile")
            .arg(dir.0.join("redis.log"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting `{bin}` ({e}): apt-get install -y redis-server"));
        let mut node = RedisNode { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("redis-server exited ({status}): {}", node.log());
            }
            if let Ok(mut c) = RawClient::connect(port) {
                if c.call(&["PING"]) == b"+PONG\r\n" {
                    return node;
                }
            }
            assert!(Instant::now() < deadline, "redis-server not ready: {}", node.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("redis.log")).unwrap_or_default()
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port).unwrap()
    }

    /// A command's reply as text (bulk, verbatim body, status or error line).
    pub fn text(&self, args: &[&str]) -> String {
        let raw = self.client().call(args);
        reply_text(&raw)
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text inside a raw reply: the body of a bulk or verbatim string, or the line of a
/// status / error / integer without its type byte.
pub fn reply_text(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw).into_owned();
    match raw.first() {
        Some(b'$') | Some(b'=') => {
            let body = &text[text.find("\r\n").unwrap() + 2..text.len() - 2];
            if raw[0] == b'=' {
                body[4..].to_string()
            } else {
                body.to_string()
            }
        }
        Some(b'+') | Some(b'-') | Some(b':') => text[1..].trim_end_matches("\r\n").to_string(),
        _ => text.trim_end_matches("\r\n").to_string(),
    }
}

/// A blocking RESP connection returning every reply's exact bytes.
pub struct RawClient {
    reader: BufReader<TcpStream>,
}

impl RawClient {
    pub fn connect(port: u16) -> std::io::Result<RawClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(RawClient { reader: BufReader::new(stream) })
    }

    pub fn call(&mut self, args: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.call_raw(&out)
    }

    /// Sends bytes already encoded and reads one reply.
    pub fn call_raw(&mut self, request: &[u8]) -> Vec<u8> {
        self.reader.get_mut().write_all(request).unwrap();
        let mut reply = Vec::new();
        read_value(&mut self.reader, &mut reply);
        reply
    }
}

/// Reads one RESP2/RESP3 value, appending its bytes to `out`.
fn read_value(r: &mut BufReader<TcpStream>, out: &mut Vec<u8>) {
    let start = out.len();
    r.read_until(b'\n', out).unwrap();
    let line = String::from_utf8_lossy(&out[start..]).trim_end().to_string();
    let (kind, rest) = line.split_at(1);
    let n: i64 = rest.parse().unwrap_or(0);
    match kind {
        "$" | "=" | "!" if n >= 0 => {
            let mut body = vec![0u8; n as usize + 2];
            r.read_exact(&mut body).unwrap();
            out.extend_from_slice(&body);
        }
        "*" | "~" | ">" => (0..n.max(0)).for_each(|_| read_value(r, out)),
        "%" | "|" => (0..2 * n.max(0)).for_each(|_| read_value(r, out)),
        _ => {}
    }
}
