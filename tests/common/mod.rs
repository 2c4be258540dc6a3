//! Shared test support: start a Ferrocache server in-process on an ephemeral port, and talk to
//! it with raw bytes.
#![allow(dead_code)]

pub mod cluster;
pub mod http;
pub mod keyspace;
pub mod openapi;
pub mod process;
pub mod reference;
pub mod replication;

use ferrocache::store::Clock;
use ferrocache::Config;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tokio::sync::oneshot;

/// A server running on its own runtime thread; stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The server's `dir` when the test did not choose one, removed after the server stops.
    own_dir: Option<TempDir>,
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ferrocache-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        TempDir(path)
    }

    pub fn path_str(&self) -> String {
        self.0.to_str().expect("utf-8 temp path").to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(Config::default(), Clock::System)
    }

    pub fn with_config(f: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::default();
        f(&mut config);
        Self::start_with(config, Clock::System)
    }

    /// Binds 127.0.0.1:0 before returning, so the server is ready to accept at once. Unless
    /// the test chose a `dir`, the server gets a fresh one, so no test reads or leaves a
    /// dump.rdb in the working directory.
    pub fn start_with(config: Config, clock: Clock) -> TestServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Self::start_on(listener, config, clock)
    }

    /// [`TestServer::start_with`] on a listener the test made (another address family,
    /// socket options).
    pub fn start_on(listener: std::net::TcpListener, mut config: Config, clock: Clock) -> TestServer {
        let own_dir = (config.dir == ".").then(|| TempDir::new("server"));
        if let Some(d) = &own_dir {
            config.dir = d.path_str();
        }
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                ferrocache::run_with_clock(listener, config, clock, async {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().expect("server thread bound its listener");
        TestServer { addr, stop: Some(stop_tx), thread: Some(thread), own_dir }
    }

    pub fn connect(&self) -> Conn {
        Conn::new(self.addr)
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Waits until the server thread has finished (after SHUTDOWN).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // A test that failed may have left the server unable to make its final save, and a
        // server that cannot save keeps running (as Redis does): tell it not to save.
        if std::thread::panicking() {
            if let Ok(mut s) = TcpStream::connect(self.addr) {
                let _ = s.write_all(&resp(&[b"SHUTDOWN", b"NOSAVE"]));
                let _ = s.read(&mut [0u8; 1]);
            }
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A raw connection: write bytes, read exactly the reply bytes expected.
pub struct Conn {
    pub stream: TcpStream,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a command as RESP multibulk.
    pub fn cmd(&mut self, args: &[&[u8]]) {
        self.send(&resp(args));
    }

    /// Reads exactly `expected.len()` bytes and asserts they are `expected`.
    pub fn expect(&mut self, expected: &[u8]) {
        let mut buf = vec![0; expected.len()];
        self.stream
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("reading {:?}: {e}", String::from_utf8_lossy(expected)));
        assert_eq!(String::from_utf8_lossy(&buf), String::from_utf8_lossy(expected));
    }

    /// Sends a command and asserts the reply bytes.
    pub fn roundtrip(&mut self, args: &[&[u8]], expected: &[u8]) {
        self.cmd(args);
        self.expect(expected);
    }

    /// Reads one CRLF-terminated line (for replies whose content varies).
    pub fn read_line(&mut self) -> String {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\r\n") {
            self.stream.read_exact(&mut b).unwrap();
            out.push(b[0]);
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends a command and returns its reply as text, exactly as sent (nested arrays included).
    pub fn call_text(&mut self, args: &[&[u8]]) -> String {
        self.cmd(args);
        self.read_reply_text()
    }

    /// Reads one whole reply (any RESP2/RESP3 type) and returns its bytes as text.
    pub fn read_reply_text(&mut self) -> String {
        let line = self.read_line();
        let count = |l: &str| l[1..].trim_end().parse::<i64>().unwrap_or(-1);
        match line.as_bytes().first() {
            Some(b'$' | b'=' | b'!') if count(&line) >= 0 => {
                let mut body = vec![0; count(&line) as usize + 2];
                self.stream.read_exact(&mut body).unwrap();
                format!("{line}{}", String::from_utf8_lossy(&body))
            }
            Some(b'*' | b'~' | b'>') if count(&line) > 0 => {
                let items: String = (0..count(&line)).map(|_| self.read_reply_text()).collect();
                format!("{line}{items}")
            }
            Some(b'%') if count(&line) > 0 => {
                let items: String = (0..2 * count(&line)).map(|_| self.read_reply_text()).collect();
                format!("{line}{items}")
            }
            _ => line,
        }
    }

    /// Asserts the server closes the connection (EOF or reset) with nothing more to read.
    pub fn expect_closed(&mut self) {
        let mut buf = [0u8; 64];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("expected close, got {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected close, got error {e}"),
        }
    }
}

pub fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}
