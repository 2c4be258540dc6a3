//! Servers as child processes: a real redis-server (the reference) and the `ferrocache`
//! binary (for what only a process shows: signals, exit codes, start-up failures).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A port for a server child process to bind, with its cluster-bus port (+10000) free too.
///
/// Not one the kernel hands out for `bind(0)`: that range (32768–60999) is also where every
/// outgoing connection takes its local port, so between our pick and the child's bind another
/// test's client could take it ("Address already in use", seen in CI). Client ports come from
/// 10000–19999 and bus ports from 20000–29999, both below the ephemeral range; a process-wide
/// counter (starting at a pid-derived offset, so concurrent test binaries rarely meet) keeps
/// two picks of this process apart, and a trial bind skips ports something else holds. Picks
/// are even: the odd port above each is left to its caller (an HTTP port one above).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 10_000;
    const PAIRS: u32 = 5_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % PAIRS,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..PAIRS {
        let port = (FIRST + 2 * (NEXT.fetch_add(1, Ordering::Relaxed) % PAIRS)) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair in 10000-19999 / 20000-29999");
}

/// `$env` if set, else `default` (so CI can point at a particular build).
pub fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_string())
}

/// A server child process, killed on drop if still running.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: std::path::PathBuf,
}

impl ServerProcess {
    /// redis-server on a free port working in `dir`, persistence off unless `extra` says
    /// otherwise (later flags win), ready when it answers PING.
    pub fn redis(dir: &Path, extra: &[&str]) -> ServerProcess {
        Self::redis_on(dir, free_port(), extra)
    }

    /// [`ServerProcess::redis`] on a chosen port (a cluster node's bus port is port + 10000,
    /// so cluster tests pick the pair); `extra` must not repeat `--port`.
    pub fn redis_on(dir: &Path, port: u16, extra: &[&str]) -> ServerProcess {
        let bin = program("REDIS_SERVER", "redis-server");
        let log = dir.join(format!("redis-{port}.log"));
        // SORT ALPHA compares with strcoll in the locale Redis finds: C, as ours compares.
        let child = Command::new(&bin)
            .env("LC_ALL", "C")
            .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--daemonize", "no"])
            .args(["--port", &port.to_string()])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting `{bin}` ({e}): install it with apt-get install -y redis-server"));
        let server = ServerProcess { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log };
        server.wait_ready()
    }

    /// The `ferrocache` binary on a free port working in `dir`, with `extra` flags, ready when
    /// it answers PING (not `-LOADING`).
    pub fn ferrocache(dir: &Path, extra: &[&str]) -> ServerProcess {
        let port = free_port();
        let log = dir.join("ferrocache.log");
        let child = Self::ferrocache_command(dir, port, &log, extra).spawn().expect("spawn the ferrocache binary");
        let server = ServerProcess { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log };
        server.wait_ready()
    }

    /// The `ferrocache` binary on a chosen port (cluster tests need the client port and its
    /// bus port +10000 both known); `extra` must not repeat `--port`.
    pub fn ferrocache_on(dir: &Path, port: u16, extra: &[&str]) -> ServerProcess {
        let log = dir.join("ferrocache.log");
        let child = Self::ferrocache_command(dir, port, &log, extra).spawn().expect("spawn the ferrocache binary");
        let server = ServerProcess { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log };
        server.wait_ready()
    }

    /// The `ferrocache` binary with its descriptor limit (soft and hard) set to `nofile` by
    /// `prlimit`, which execs it in place.
    pub fn ferrocache_with_nofile(dir: &Path, nofile: u64, extra: &[&str]) -> ServerProcess {
        let port = free_port();
        let log = dir.join("ferrocache.log");
        let inner = Self::ferrocache_command(dir, port, &log, extra);
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={nofile}:{nofile}"))
            .arg("--")
            .arg(inner.get_program())
            .args(inner.get_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("spawn prlimit (util-linux) with the ferrocache binary");
        let server = ServerProcess { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), log };
        server.wait_ready()
    }

    /// Runs the `ferrocache` binary expecting it to fail at start-up; returns its exit status
    /// and log.
    pub fn ferrocache_failing(dir: &Path, extra: &[&str]) -> (ExitStatus, String) {
        let log = dir.join("ferrocache.log");
        let mut child = Self::ferrocache_command(dir, free_port(), &log, extra).spawn().expect("spawn ferrocache");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, std::fs::read_to_string(&log).unwrap_or_default());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("ferrocache kept running: {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ferrocache_command(dir: &Path, port: u16, log: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--threads", "2"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(log)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Self::stderr_file(dir));
        cmd
    }

    /// `dir/ferrocache.stderr`, appended to: where a panic is printed (a panicking task does
    /// not stop the process, so its message is the only trace).
    fn stderr_file(dir: &Path) -> Stdio {
        match std::fs::OpenOptions::new().create(true).append(true).open(dir.join("ferrocache.stderr")) {
            Ok(file) => file.into(),
            Err(_) => Stdio::null(),
        }
    }

    /// Polls PING (bounded, backing off) until `+PONG`; panics with the log if the process
    /// exits first.
    fn wait_ready(mut self) -> ServerProcess {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut backoff = Duration::from_millis(5);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("server exited during start-up ({status}):\n{}", self.log_text());
            }
            if let Ok(mut con) = redis::Client::open(self.url()).unwrap().get_connection() {
                match redis::cmd("PING").query::<String>(&mut con) {
                    // Ours only if the process answering is the one started: a port picked
                    // free can be taken before the server binds it (by another test's server
                    // or an outgoing connection), and then that one answers while ours exits
                    // with "Address already in use", reported just above.
                    Ok(_) if self.answering_pid(&mut con) == Some(self.child.id()) => return self,
                    Ok(_) => {}
                    // Serving, behind a password.
                    Err(e) if e.code() == Some("NOAUTH") => return self,
                    Err(_) => {}
                }
            }
            assert!(Instant::now() < deadline, "server did not become ready:\n{}", self.log_text());
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(100));
        }
    }

    /// INFO's `process_id` of the server `con` reaches.
    fn answering_pid(&self, con: &mut redis::Connection) -> Option<u32> {
        let info: String = redis::cmd("INFO").arg("server").query(con).ok()?;
        info.lines().find_map(|l| l.strip_prefix("process_id:")).and_then(|p| p.trim().parse().ok())
    }

    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    pub fn connect(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().unwrap()
    }

    /// The log, and the stderr a Ferrocache process left beside it.
    pub fn log_text(&self) -> String {
        let mut text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let stderr = self.log.with_file_name("ferrocache.stderr");
        if let Ok(err) = std::fs::read_to_string(stderr) {
            if !err.is_empty() {
                text.push_str("\n--- stderr ---\n");
                text.push_str(&err);
            }
        }
        text
    }

    /// SIGKILL: no chance to flush or save anything.
    pub fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then the exit status (bounded wait).
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server ignored SIGTERM:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
