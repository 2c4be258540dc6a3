//! # Jepsen-style: no `WAIT 1`-acknowledged write is lost to a failover
//!
//! Six Ferrocache nodes as processes (three primaries with one replica each, created by
//! `redis-cli --cluster create --cluster-replicas 1`, `cluster-node-timeout 1000`), four writer
//! threads and a nemesis (the test's own thread).
//!
//! **Writers.** Each writer owns 32 keys (`jepsen:<writer>:<n>`, spread over all slots) and
//! APPENDs unique tokens (`<writer>.<seq>,`) to them in turn, each APPEND followed by `WAIT 1 500`
//! on the same connection. A write is *acknowledged* when APPEND answered an integer and WAIT
//! answered at least 1. Writers follow MOVED, retry the same token after an answer that says it
//! was not applied (CLUSTERDOWN, TRYAGAIN, LOADING, a refused connection) with a short backoff,
//! and refresh their slot map (CLUSTER NODES from the next node that answers) when a node is
//! unreachable. A token whose fate is unknown (the connection died or timed out after it was
//! sent) is never sent again, so every token is in the data at most once.
//!
//! **Nemesis.** One fault at a time; after each, it waits until the cluster is healthy again
//! (every running node `cluster_state:ok`, every slot served by a running master, all nodes
//! agreeing on slots and roles, no `fail`/`fail?` flag, each primary with an online replica, each
//! replica's link up) and the writers have had more writes acknowledged:
//!
//! 1. `kill -9` of a primary; once its replica is promoted everywhere, the node is started again
//!    from its directory (no persistence: it comes back empty) and must come back as a replica of
//!    the promoted one.
//! 2. SIGSTOP of a primary until its replica is promoted everywhere (beyond the node timeout),
//!    then SIGCONT: it must become a replica of the promoted one.
//! 3. A network partition isolating a primary (root only, see below): the majority must promote
//!    its replica, the isolated primary must go to `cluster_state:fail` and refuse writes with
//!    `-CLUSTERDOWN`; once healed it must become a replica.
//! 4. `CLUSTER FAILOVER` on a replica.
//!
//! A demoted primary must then refuse writes for its old slots (MOVED, or CLUSTERDOWN while its
//! own `cluster_state` is still `fail`). Two rounds of the four faults: the second hits the
//! masters the first promoted (whose replicas are the nodes that failed), holds the pause and the
//! partition 1.6 s longer than needed (past the writers' 1.5 s read timeout, so some writes end
//! in doubt), and uses `CLUSTER FAILOVER FORCE`.
//!
//! **Checks.** Every key is read from its owner through MOVED: every acknowledged token must be
//! there; no token twice; no token that was never sent; each key's tokens in the order they were
//! sent (one writer per key, one write at a time). Then every replica must hold its primary's
//! values once caught up, and no node may have panicked.
//!
//! **Partitions on one machine.** Each node runs under its own uid (the nodes' directories are
//! chowned to it) and the writers bind their sockets to 127.0.0.9. iptables' `owner` match then
//! isolates a node in both directions while the test can still talk to it: a chain drops every
//! packet the isolated node's uid sends except to 127.0.0.9, and every packet any node's uid
//! sends to the isolated node's ports (client and bus). The chain is named after the test's pid,
//! the uids are derived from it, and the chain is removed on drop (also on panic). Without root
//! or a working `iptables` the test fails, unless `FERROCACHE_TEST_NO_PARTITION=1` asks to skip
//! the partition step (it then says so on stderr). (So the
//! test starts its nodes itself rather than through `ServerProcess::ferrocache_on`: same binary
//! and base flags, plus a uid.) A failure keeps every node's whole log under `target/tmp`.

mod common;

use common::cluster::{port_pair, redis_cli};
use common::process::ServerProcess;
use common::TempDir;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: usize = 6;
const NODE_TIMEOUT_MS: u64 = 1000;
const WRITERS: usize = 4;
const KEYS_PER_WRITER: u64 = 32;
const SLOTS: usize = 16384;
/// The source address of every connection the test makes after `--cluster create`: the one
/// address an isolated node may still answer.
const CLIENT_IP: [u8; 4] = [127, 0, 0, 9];
/// How long the nemesis waits for a failover, a node's new role, or health.
const WITHIN: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------
// A small RESP client that reports failures instead of panicking.

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// Why a call failed: nothing was sent (no connection), or the command may have run.
#[derive(Debug)]
enum CallError {
    Connect(io::Error),
    Io(io::Error),
}

struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    /// A connection from [`CLIENT_IP`] to 127.0.0.1:`port`; `timeout` bounds the connect and
    /// every read and write.
    fn connect(port: u16, timeout: Duration) -> io::Result<Client> {
        use socket2::{Domain, Protocol, Socket, Type};
        use std::os::fd::AsRawFd;
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        // The local port is chosen at connect time (by the whole 4-tuple), so the many short
        // connections of slot-map refreshes do not use up ephemeral ports.
        let one: libc::c_int = 1;
        // SAFETY: setsockopt on a socket this function owns, with a valid c_int and its size.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        socket.bind(&SocketAddr::from((CLIENT_IP, 0)).into())?;
        socket.connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)).into(), timeout)?;
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Client { reader: BufReader::new(stream) })
    }

    fn call(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.reader.get_mut().write_all(&common::resp(args))?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> io::Result<Reply> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if line.len() < 3 || !line.ends_with(b"\r\n") {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-reply"));
        }
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("bad reply line {text:?}"));
        let number = || text.parse::<i64>().map_err(|_| bad());
        Ok(match line[0] {
            b'+' => Reply::Status(text.clone()),
            b'-' => Reply::Error(text.clone()),
            b':' => Reply::Int(number()?),
            b'$' => match number()? {
                n if n < 0 => Reply::Bulk(None),
                n => {
                    let mut body = vec![0; n as usize + 2];
                    self.reader.read_exact(&mut body)?;
                    body.truncate(n as usize);
                    Reply::Bulk(Some(body))
                }
            },
            b'*' => match number()? {
                n if n < 0 => Reply::Array(None),
                n => Reply::Array(Some((0..n).map(|_| self.read_reply()).collect::<io::Result<_>>()?)),
            },
            _ => return Err(bad()),
        })
    }
}

/// One cached connection per port; a connection that failed is dropped.
struct Pool {
    conns: HashMap<u16, Client>,
    timeout: Duration,
}

impl Pool {
    fn new(timeout: Duration) -> Pool {
        Pool { conns: HashMap::new(), timeout }
    }

    fn call(&mut self, port: u16, args: &[&[u8]]) -> Result<Reply, CallError> {
        if !self.conns.contains_key(&port) {
            let client = Client::connect(port, self.timeout).map_err(CallError::Connect)?;
            self.conns.insert(port, client);
        }
        let result = self.conns.get_mut(&port).expect("just inserted").call(args);
        result.map_err(|e| {
            self.conns.remove(&port);
            CallError::Io(e)
        })
    }

    /// A command as words: its reply, or what went wrong as text.
    fn query(&mut self, port: u16, words: &[&str]) -> Result<Reply, String> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.call(port, &args).map_err(|e| format!("{words:?} to :{port}: {e:?}"))
    }

    /// A command whose reply is text (status or bulk); an error reply is an `Err`.
    fn text(&mut self, port: u16, words: &[&str]) -> Result<String, String> {
        match self.query(port, words)? {
            Reply::Status(s) => Ok(s),
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            other => Err(format!("{words:?} to :{port}: {other:?}")),
        }
    }

    fn forget(&mut self, port: u16) {
        self.conns.remove(&port);
    }
}

fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':'))).map(|v| v.trim().to_string())
}

// ---------------------------------------------------------------------------------------
// CLUSTER NODES

#[derive(Debug, Clone, PartialEq, Eq)]
struct NodeLine {
    id: String,
    port: u16,
    flags: Vec<String>,
    primary: Option<String>,
    slots: Vec<(usize, usize)>,
}

impl NodeLine {
    fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    fn is_master(&self) -> bool {
        self.has("master")
    }

    fn owns(&self, slot: usize) -> bool {
        self.slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
    }
}

/// Node id → its primary's id (`None`: a master).
type Roles = BTreeMap<String, Option<String>>;

/// One node's CLUSTER NODES.
struct View(Vec<NodeLine>);

impl View {
    fn parse(text: &str) -> Result<View, String> {
        let mut nodes = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split(' ').collect();
            let bad = || format!("bad CLUSTER NODES line {line:?}");
            if f.len() < 8 {
                return Err(bad());
            }
            let addr = f[1].split([',', '@']).next().ok_or_else(bad)?;
            let port = addr.rsplit(':').next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
            let mut slots = Vec::new();
            for range in f[8..].iter().filter(|r| !r.starts_with('[')) {
                let (a, b) = range.split_once('-').unwrap_or((range, range));
                slots.push((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?));
            }
            nodes.push(NodeLine {
                id: f[0].to_string(),
                port,
                flags: f[2].split(',').map(str::to_string).collect(),
                primary: (f[3] != "-").then(|| f[3].to_string()),
                slots,
            });
        }
        Ok(View(nodes))
    }

    fn myself(&self) -> Option<&NodeLine> {
        self.0.iter().find(|n| n.has("myself"))
    }

    fn by_id(&self, id: &str) -> Option<&NodeLine> {
        self.0.iter().find(|n| n.id == id)
    }

    /// The client port serving each slot (0: none).
    fn owners(&self) -> Vec<u16> {
        let mut owners = vec![0u16; SLOTS];
        for n in self.0.iter().filter(|n| n.is_master()) {
            for &(a, b) in &n.slots {
                owners[a..=b.min(SLOTS - 1)].fill(n.port);
            }
        }
        owners
    }

    /// Each node's role: `None` for a master, its primary's id for a replica.
    fn roles(&self) -> Roles {
        self.0.iter().map(|n| (n.id.clone(), if n.is_master() { None } else { n.primary.clone() })).collect()
    }
}

// ---------------------------------------------------------------------------------------
// Writers

fn key_name(writer: usize, key: u64) -> String {
    format!("jepsen:{writer}:{key}")
}

fn token(writer: usize, seq: u64) -> String {
    format!("{writer}.{seq},")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// APPEND applied and WAIT 1 answered ≥ 1: must survive.
    Acked,
    /// APPEND applied, WAIT answered 0 or failed: may or may not survive.
    Unacked,
    /// The connection failed after APPEND was sent: may or may not have been applied.
    Unknown,
    /// Refused every time (never applied) until the writers were stopped.
    Failed,
}

struct Attempt {
    key: u64,
    seq: u64,
    outcome: Outcome,
    /// The node that answered last.
    port: u16,
}

#[derive(Default)]
struct WriterLog {
    writer: usize,
    attempts: Vec<Attempt>,
    /// Error replies and connection failures seen, by text.
    errors: BTreeMap<String, u64>,
    redirects: u64,
}

/// A slot map refreshed from whichever node answers, starting with a different node each time.
struct Router {
    ports: Vec<u16>,
    owners: Vec<u16>,
    next: usize,
}

impl Router {
    fn new(ports: Vec<u16>) -> Router {
        let mut router = Router { ports, owners: vec![0; SLOTS], next: 0 };
        router.refresh();
        router
    }

    fn refresh(&mut self) {
        for _ in 0..self.ports.len() {
            let port = self.ports[self.next % self.ports.len()];
            self.next += 1;
            let Ok(mut client) = Client::connect(port, Duration::from_millis(300)) else { continue };
            let Ok(Reply::Bulk(Some(text))) = client.call(&[b"CLUSTER", b"NODES"]) else { continue };
            let Ok(view) = View::parse(&String::from_utf8_lossy(&text)) else { continue };
            let owners = view.owners();
            if owners.iter().all(|&p| p != 0) {
                self.owners = owners;
                return;
            }
        }
    }

    fn moved(&mut self, slot: usize, error: &str) {
        if let Some(port) = error.rsplit(':').next().and_then(|p| p.trim().parse().ok()) {
            self.owners[slot] = port;
        }
    }
}

/// An answer that says the command was not applied and may work if retried.
fn retryable(error: &str) -> bool {
    ["CLUSTERDOWN", "TRYAGAIN", "LOADING", "MASTERDOWN", "ASK "].iter().any(|p| error.starts_with(p))
}

fn count(errors: &mut BTreeMap<String, u64>, what: String) {
    *errors.entry(what).or_default() += 1;
}

/// One token: APPEND (retried while refused), then WAIT 1 500 on the same connection.
fn write_token(
    router: &mut Router,
    pool: &mut Pool,
    stop: &AtomicBool,
    log: &mut WriterLog,
    key: &str,
    token: &str,
) -> (Outcome, u16) {
    let slot = ferrocache_cluster::key_slot(key.as_bytes()) as usize;
    let mut tries = 0u64;
    loop {
        if router.owners[slot] == 0 {
            router.refresh();
        }
        let port = router.owners[slot];
        match pool.call(port, &[b"APPEND", key.as_bytes(), token.as_bytes()]) {
            Ok(Reply::Int(_)) => {
                return match pool.call(port, &[b"WAIT", b"1", b"500"]) {
                    Ok(Reply::Int(n)) if n >= 1 => (Outcome::Acked, port),
                    Ok(Reply::Int(_)) => (Outcome::Unacked, port),
                    Ok(other) => {
                        count(&mut log.errors, format!("WAIT: {other:?}"));
                        (Outcome::Unacked, port)
                    }
                    Err(e) => {
                        count(&mut log.errors, format!("WAIT: {e:?}").chars().take(80).collect());
                        router.refresh();
                        (Outcome::Unacked, port)
                    }
                };
            }
            Ok(Reply::Error(e)) if e.starts_with("MOVED ") => {
                log.redirects += 1;
                router.moved(slot, &e);
                // Two nodes may redirect to each other for a moment while a change applies.
                if tries >= 5 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            Ok(Reply::Error(e)) if retryable(&e) => {
                count(&mut log.errors, e);
                if tries % 5 == 4 {
                    router.refresh();
                }
                std::thread::sleep(Duration::from_millis(10 * (tries + 1).min(10)));
            }
            Ok(other) => {
                // Any other answer to APPEND: nothing a cluster client retries (e.g. READONLY from
                // a replica being promoted, which Redis never answers); reported, not retried. Not
                // applied if an error (the verdict checks that), unknown otherwise.
                count(&mut log.errors, format!("APPEND on :{port}: {other:?}"));
                let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                eprintln!(
                    "[cluster_jepsen] APPEND {key} on :{port} answered {other:?} (unix time {:.3})",
                    at.as_secs_f64()
                );
                let outcome = if matches!(other, Reply::Error(_)) { Outcome::Failed } else { Outcome::Unknown };
                return (outcome, port);
            }
            Err(CallError::Connect(e)) => {
                count(&mut log.errors, format!("connect: {:?}", e.kind()));
                router.refresh();
                std::thread::sleep(Duration::from_millis(10 * (tries + 1).min(10)));
            }
            Err(CallError::Io(e)) => {
                count(&mut log.errors, format!("APPEND sent, then: {:?}", e.kind()));
                router.refresh();
                return (Outcome::Unknown, port);
            }
        }
        tries += 1;
        if stop.load(Ordering::Relaxed) {
            return (Outcome::Failed, port);
        }
    }
}

fn writer(writer: usize, ports: Vec<u16>, stop: Arc<AtomicBool>, acked: Arc<AtomicU64>) -> WriterLog {
    let mut router = Router::new(ports);
    let mut pool = Pool::new(Duration::from_millis(1500));
    let mut log = WriterLog { writer, ..WriterLog::default() };
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let key = seq % KEYS_PER_WRITER;
        let (outcome, port) =
            write_token(&mut router, &mut pool, &stop, &mut log, &key_name(writer, key), &token(writer, seq));
        if outcome == Outcome::Acked {
            acked.fetch_add(1, Ordering::Relaxed);
        }
        log.attempts.push(Attempt { key, seq, outcome, port });
    }
    log
}

/// Sets the flag when dropped: writers stop when the nemesis panics too.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------
// Partitions

/// The uid node `i` runs as when partitions are possible: derived from the test's pid, so
/// concurrent runs never match each other's rules.
fn node_uid(i: usize) -> u32 {
    200_000 + std::process::id() * 8 + i as u32
}

/// An iptables chain of this test's own, jumped to from OUTPUT on lo; removed on drop.
struct Firewall {
    chain: String,
}

fn iptables(args: &[&str]) -> Result<(), String> {
    let out = Command::new("iptables").arg("-w").args(args).output().map_err(|e| format!("iptables: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("iptables {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Firewall {
    /// Why partitions cannot be made here, if they cannot: the test must be root, a node must be
    /// able to run the binary under another uid, and iptables must take an owner-match rule.
    fn unavailable() -> Option<String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("not root (nodes cannot run as their own users, iptables needs root)".to_string());
        }
        let uid = node_uid(0);
        let ran = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
            .arg("--version")
            .uid(uid)
            .gid(uid)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !matches!(ran, Ok(status) if status.success()) {
            return Some(format!("the binary does not run as uid {uid} (is its path readable by all?): {ran:?}"));
        }
        let chain = format!("fcjprobe-{}", std::process::id());
        let probe = iptables(&["-N", &chain]).and_then(|()| {
            let rule = ["-A", &chain, "-p", "tcp", "-m", "owner", "--uid-owner", "1-2", "-m", "multiport"];
            iptables(&[&rule[..], &["--dports", "1,2", "-j", "DROP"]].concat())
        });
        let _ = iptables(&["-F", &chain]);
        let _ = iptables(&["-X", &chain]);
        probe.err()
    }

    fn install() -> Firewall {
        let chain = format!("fcjepsen-{}", std::process::id());
        let _ = iptables(&["-D", "OUTPUT", "-o", "lo", "-j", &chain]);
        let _ = iptables(&["-F", &chain]);
        let _ = iptables(&["-X", &chain]);
        iptables(&["-N", &chain]).unwrap();
        let firewall = Firewall { chain };
        iptables(&["-I", "OUTPUT", "-o", "lo", "-j", &firewall.chain]).unwrap();
        firewall
    }

    /// Cuts the node running as `uid` on `ports` off from every node (`uids`), both ways, but
    /// not from the test's clients.
    fn isolate(&self, uid: u32, uids: (u32, u32), ports: [u16; 2]) {
        let (uid, range) = (uid.to_string(), format!("{}-{}", uids.0, uids.1));
        let client = std::net::Ipv4Addr::from(CLIENT_IP).to_string();
        let dports = format!("{},{}", ports[0], ports[1]);
        iptables(&["-A", &self.chain, "-m", "owner", "--uid-owner", &uid, "!", "-d", &client, "-j", "DROP"]).unwrap();
        iptables(&[
            "-A",
            &self.chain,
            "-p",
            "tcp",
            "-m",
            "owner",
            "--uid-owner",
            &range,
            "-m",
            "multiport",
            "--dports",
            &dports,
            "-j",
            "DROP",
        ])
        .unwrap();
    }

    fn heal(&self) {
        iptables(&["-F", &self.chain]).unwrap();
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        let _ = iptables(&["-D", "OUTPUT", "-o", "lo", "-j", &self.chain]);
        let _ = iptables(&["-F", &self.chain]);
        let _ = iptables(&["-X", &self.chain]);
    }
}

// ---------------------------------------------------------------------------------------
// The cluster and the nemesis

/// One node; its process goes before its directory (fields drop in order).
struct Node {
    process: Option<ServerProcess>,
    dir: TempDir,
    port: u16,
    /// The uid the node runs as (root only: for partitions).
    uid: Option<u32>,
    stopped: bool,
}

struct Cluster {
    nodes: Vec<Node>,
    /// The node cut off by the firewall, if any.
    isolated: Option<usize>,
    pool: Pool,
    started: Instant,
    timeline: Vec<String>,
}

impl Cluster {
    fn start(name: &str, own_users: bool) -> Cluster {
        let nodes = (0..NODES)
            .map(|i| {
                let dir = TempDir::new(&format!("{name}-node{i}"));
                let uid = own_users.then_some(node_uid(i));
                if let Some(uid) = uid {
                    std::os::unix::fs::chown(&dir.0, Some(uid), Some(uid)).expect("chown a node's directory");
                }
                Node { process: None, dir, port: port_pair(), uid, stopped: false }
            })
            .collect();
        let mut cluster = Cluster {
            nodes,
            isolated: None,
            pool: Pool::new(Duration::from_secs(2)),
            started: Instant::now(),
            timeline: Vec::new(),
        };
        for i in 0..NODES {
            cluster.spawn(i);
        }
        cluster
    }

    /// Starts node `i` from its directory, ready when it answers PING.
    fn spawn(&mut self, i: usize) {
        let node = &self.nodes[i];
        let log = node.dir.0.join("ferrocache.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.0.join("ferrocache.stderr"))
            .expect("open ferrocache.stderr");
        let port = node.port.to_string();
        let timeout = NODE_TIMEOUT_MS.to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
        cmd.args(["--bind", "127.0.0.1", "--port", &port, "--threads", "2"])
            .arg("--dir")
            .arg(&node.dir.0)
            .arg("--logfile")
            .arg(&log)
            .args(["--cluster-enabled", "yes", "--save", "", "--cluster-node-timeout", &timeout])
            .args(["--repl-diskless-sync-delay", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(uid) = node.uid {
            cmd.uid(uid).gid(uid);
        }
        let child = cmd.spawn().expect("spawn the ferrocache binary");
        let mut process = ServerProcess { child, addr: SocketAddr::from(([127, 0, 0, 1], node.port)), log };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("node{i} exited during start-up ({status}):\n{}", process.log_text());
            }
            let pong = Client::connect(node.port, Duration::from_millis(500)).and_then(|mut c| c.call(&[b"PING"]));
            if matches!(pong, Ok(Reply::Status(ref s)) if s == "PONG") {
                break;
            }
            assert!(Instant::now() < deadline, "node{i} did not answer PING:\n{}", process.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
        self.nodes[i].process = Some(process);
    }

    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Nodes running and not paused.
    fn running(&self) -> Vec<usize> {
        (0..NODES).filter(|&i| self.nodes[i].process.is_some() && !self.nodes[i].stopped).collect()
    }

    fn index_of_port(&self, port: u16) -> usize {
        self.nodes.iter().position(|n| n.port == port).unwrap_or_else(|| self.fail(&format!("no node on :{port}")))
    }

    fn note(&mut self, what: String) {
        let line = format!("{:>6.2}s {what}", self.started.elapsed().as_secs_f64());
        eprintln!("[cluster_jepsen] {line}");
        self.timeline.push(line);
    }

    /// The last lines of every node's log and its stderr.
    fn logs(&self) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let state = match (&node.process, node.stopped) {
                (None, _) => "down",
                (Some(_), true) => "stopped",
                (Some(_), false) => "running",
            };
            out.push_str(&format!("--- node{i} :{} ({state}) ---\n", node.port));
            let text = std::fs::read_to_string(node.dir.0.join("ferrocache.log")).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(|l| l.chars().take(300).collect()).collect();
            out.push_str(&lines[lines.len().saturating_sub(40)..].join("\n"));
            let stderr = std::fs::read_to_string(node.dir.0.join("ferrocache.stderr")).unwrap_or_default();
            if !stderr.trim().is_empty() {
                out.push_str(&format!("\n--- node{i} stderr ---\n{stderr}"));
            }
            out.push('\n');
        }
        out
    }

    /// Panics with `what`, the timeline and the logs' tails; the whole logs are kept under
    /// `target/tmp` (the nodes' directories go with the test).
    fn fail(&self, what: &str) -> ! {
        let kept =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cluster_jepsen-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&kept);
        for (i, node) in self.nodes.iter().enumerate() {
            for file in ["ferrocache.log", "ferrocache.stderr"] {
                let _ = std::fs::copy(node.dir.0.join(file), kept.join(format!("node{i}-{file}")));
            }
        }
        panic!(
            "{what}\n--- timeline ---\n{}\n{}\n(whole logs kept in {})",
            self.timeline.join("\n"),
            self.logs(),
            kept.display()
        )
    }

    /// Polls `check` every 20 ms until it holds; fails with its last complaint after `within`.
    fn wait<T>(&mut self, what: &str, within: Duration, mut check: impl FnMut(&mut Cluster) -> Result<T, String>) -> T {
        let deadline = Instant::now() + within;
        loop {
            match check(self) {
                Ok(v) => return v,
                Err(why) if Instant::now() > deadline => {
                    self.fail(&format!("timed out after {within:?} waiting for {what}: {why}"))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn view(&mut self, i: usize) -> Result<View, String> {
        let port = self.nodes[i].port;
        View::parse(&self.pool.text(port, &["CLUSTER", "NODES"])?)
    }

    fn info(&mut self, i: usize, section: &str) -> Result<String, String> {
        let port = self.nodes[i].port;
        self.pool.text(port, &["INFO", section])
    }

    fn cluster_state(&mut self, i: usize) -> Result<String, String> {
        let port = self.nodes[i].port;
        let info = self.pool.text(port, &["CLUSTER", "INFO"])?;
        info_field(&info, "cluster_state").ok_or_else(|| format!("no cluster_state from node{i}"))
    }

    /// Healthy: see the module docs; with `redis_cli_check`, `redis-cli --cluster check` too.
    fn health(&mut self, redis_cli_check: bool) -> Result<(), String> {
        let running = self.running();
        let ports: Vec<u16> = running.iter().map(|&i| self.nodes[i].port).collect();
        let mut agreed: Option<(usize, Vec<u16>, Roles)> = None;
        for &i in &running {
            let state = self.cluster_state(i)?;
            if state != "ok" {
                return Err(format!("node{i}: cluster_state:{state}"));
            }
            let view = self.view(i)?;
            if let Some(n) = view.0.iter().find(|n| ["fail", "fail?", "handshake", "noaddr"].iter().any(|f| n.has(f))) {
                return Err(format!("node{i} flags :{} {:?}", n.port, n.flags));
            }
            let owners = view.owners();
            if let Some(slot) = owners.iter().position(|&p| p == 0) {
                return Err(format!("node{i}: slot {slot} not served"));
            }
            if let Some(port) = owners.iter().find(|p| !ports.contains(p)) {
                return Err(format!("node{i}: slots served by :{port}, which is not running"));
            }
            let roles = view.roles();
            match &agreed {
                None => agreed = Some((i, owners, roles)),
                Some((j, o, r)) if *o != owners || *r != roles => {
                    return Err(format!("node{i} and node{j} disagree: roles {roles:?} vs {r:?}"));
                }
                Some(_) => {}
            }
            let me = view.myself().ok_or_else(|| format!("node{i}: no myself line"))?.clone();
            let repl = self.info(i, "replication")?;
            let role = info_field(&repl, "role").unwrap_or_default();
            if me.is_master() {
                if role != "master" {
                    return Err(format!("node{i} is a master in CLUSTER NODES but role:{role}"));
                }
                if me.slots.is_empty() {
                    return Err(format!("node{i} is a master without slots"));
                }
                let replicas: Vec<&NodeLine> =
                    view.0.iter().filter(|n| n.primary.as_deref() == Some(me.id.as_str())).collect();
                for r in replicas {
                    let online = repl.lines().any(|l| {
                        l.starts_with("slave")
                            && l.contains(&format!(",port={},", r.port))
                            && l.contains("state=online")
                    });
                    if !online {
                        return Err(format!("node{i}: its replica :{} is not online:\n{repl}", r.port));
                    }
                }
            } else {
                let primary = me.primary.as_deref().and_then(|p| view.by_id(p)).map(|p| p.port);
                let link = info_field(&repl, "master_link_status").unwrap_or_default();
                let master_port = info_field(&repl, "master_port").and_then(|p| p.parse().ok());
                if role != "slave" || link != "up" || master_port != primary {
                    return Err(format!(
                        "node{i}: replica of {primary:?} in CLUSTER NODES, role:{role} master_port:{master_port:?} \
                         master_link_status:{link}"
                    ));
                }
            }
        }
        let masters = agreed.map(|(_, _, r)| r.values().filter(|p| p.is_none()).count()).unwrap_or(0);
        if masters != 3 {
            return Err(format!("{masters} masters"));
        }
        if redis_cli_check {
            let (ok, out) = redis_cli(&["--cluster", "check", &format!("127.0.0.1:{}", ports[0])]);
            let clean = out.contains("[OK] All nodes agree about slots configuration.")
                && out.contains("[OK] All 16384 slots covered.")
                && !out.contains("[ERR]")
                && !out.contains("[WARNING]");
            if !(ok && clean) {
                return Err(format!("redis-cli --cluster check:\n{out}"));
            }
        }
        Ok(())
    }

    fn wait_healthy(&mut self, redis_cli_check: bool) {
        let t = Instant::now();
        self.wait("a healthy cluster", WITHIN, |c| c.health(redis_cli_check));
        self.note(format!("healthy after {:.2}s", t.elapsed().as_secs_f64()));
    }

    /// The primary serving `slot` and its replica, as a running node sees them: (index, id) each.
    fn pair_for(&mut self, slot: usize) -> ((usize, String), (usize, String)) {
        let i = self.running()[0];
        let view = self.view(i).unwrap_or_else(|e| self.fail(&e));
        let master = view.0.iter().find(|n| n.is_master() && n.owns(slot)).cloned();
        let master = master.unwrap_or_else(|| self.fail(&format!("no master for slot {slot}")));
        let replica = view.0.iter().find(|n| n.primary.as_deref() == Some(master.id.as_str())).cloned();
        let replica = replica.unwrap_or_else(|| self.fail(&format!("no replica of {}", master.id)));
        ((self.index_of_port(master.port), master.id), (self.index_of_port(replica.port), replica.id))
    }

    /// Every running node but `except` sees `id` as the master serving `slot`.
    fn promoted(&mut self, id: &str, slot: usize, except: usize) -> Result<(), String> {
        for i in self.running().into_iter().filter(|&i| i != except) {
            let view = self.view(i)?;
            match view.by_id(id) {
                Some(n) if n.is_master() && n.owns(slot) => {}
                other => return Err(format!("node{i} sees {other:?}")),
            }
        }
        Ok(())
    }

    /// Node `i` calls itself a replica of `master` and replicates it.
    fn replica_of(&mut self, i: usize, master: usize, master_id: &str) -> Result<(), String> {
        let view = self.view(i)?;
        let me = view.myself().ok_or("no myself line")?;
        if me.is_master() || me.primary.as_deref() != Some(master_id) {
            return Err(format!("node{i} is {:?} (primary {:?})", me.flags, me.primary));
        }
        let repl = self.info(i, "replication")?;
        let (role, port) = (info_field(&repl, "role"), info_field(&repl, "master_port"));
        if role.as_deref() != Some("slave") || port != Some(self.nodes[master].port.to_string()) {
            return Err(format!("node{i}: role {role:?}, master_port {port:?}"));
        }
        Ok(())
    }

    /// A write for `slot` sent to node `i` directly (no redirect followed): its answer.
    fn probe_write(&mut self, i: usize, slot: usize) -> Result<Reply, String> {
        let key = (0u64..)
            .map(|n| format!("jepsen:probe:{n}"))
            .find(|k| ferrocache_cluster::key_slot(k.as_bytes()) as usize == slot);
        let key = key.expect("a key for every slot");
        let port = self.nodes[i].port;
        self.pool.query(port, &["SET", &key, "probe"])
    }

    /// Node `i` no longer takes writes for `slot`: it answers MOVED to `owner`, or CLUSTERDOWN
    /// while its own `cluster_state` is still `fail` (a restarted node's first two seconds; Redis
    /// checks the state before the slot too).
    fn assert_refuses_writes(&mut self, i: usize, slot: usize, owner: usize) {
        let reply = self.probe_write(i, slot).unwrap_or_else(|e| self.fail(&e));
        let moved = format!("MOVED {slot} 127.0.0.1:{}", self.nodes[owner].port);
        match reply {
            Reply::Error(e) if e == moved || e.starts_with("CLUSTERDOWN") => {}
            other => self.fail(&format!("node{i}, a replica now, answered a write for slot {slot} with {other:?}")),
        }
    }

    /// Fault 1: kill -9 of the primary of `slot`, restarted once its replica took over.
    fn kill_primary(&mut self, slot: usize) {
        let ((victim, victim_id), (replica, replica_id)) = self.pair_for(slot);
        self.note(format!("kill -9 node{victim} (primary of slot {slot}; its replica is node{replica})"));
        let port = self.nodes[victim].port;
        self.nodes[victim].process.take().expect("running").kill9();
        self.pool.forget(port);
        let t = Instant::now();
        self.wait("the replica of the killed primary to be promoted", WITHIN, |c| {
            c.promoted(&replica_id, slot, victim)
        });
        self.note(format!("node{replica} promoted {:.2}s after the kill", t.elapsed().as_secs_f64()));
        self.spawn(victim);
        self.note(format!("node{victim} restarted (empty: no persistence)"));
        self.wait("the restarted node to be a replica of the promoted one", WITHIN, |c| {
            c.replica_of(victim, replica, &replica_id)
        });
        self.note(format!("node{victim} ({victim_id}) is a replica of node{replica}"));
        self.assert_refuses_writes(victim, slot, replica);
        self.wait_healthy(false);
    }

    fn signal(&self, i: usize, signal: libc::c_int) {
        let pid = self.nodes[i].process.as_ref().expect("running").child.id();
        // SAFETY: kill(2) on our own child, not yet reaped (its Child is held).
        let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal})");
    }

    /// Fault 2: SIGSTOP of the primary of `slot` until its replica took over and `hold` more
    /// (the fault's length, not a synchronisation), then SIGCONT.
    fn pause_primary(&mut self, slot: usize, hold: Duration) {
        let ((victim, _), (replica, replica_id)) = self.pair_for(slot);
        self.note(format!("SIGSTOP node{victim} (primary of slot {slot}; its replica is node{replica})"));
        self.signal(victim, libc::SIGSTOP);
        self.nodes[victim].stopped = true;
        self.pool.forget(self.nodes[victim].port);
        let t = Instant::now();
        self.wait("the replica of the paused primary to be promoted", WITHIN, |c| {
            c.promoted(&replica_id, slot, victim)
        });
        self.note(format!("node{replica} promoted {:.2}s after SIGSTOP", t.elapsed().as_secs_f64()));
        std::thread::sleep(hold);
        self.note(format!("SIGCONT node{victim}"));
        self.signal(victim, libc::SIGCONT);
        self.nodes[victim].stopped = false;
        let t = Instant::now();
        self.wait("the resumed primary to become a replica", WITHIN, |c| c.replica_of(victim, replica, &replica_id));
        self.note(format!(
            "node{victim} is a replica of node{replica} {:.2}s after SIGCONT",
            t.elapsed().as_secs_f64()
        ));
        self.assert_refuses_writes(victim, slot, replica);
        self.wait_healthy(false);
    }

    /// Fault 3: the primary of `slot` cut off from every other node (not from the test) until
    /// its replica took over and it sees the cluster down, and `hold` more.
    fn isolate_primary(&mut self, slot: usize, firewall: &Firewall, hold: Duration) {
        let ((victim, _), (replica, replica_id)) = self.pair_for(slot);
        let uids = (self.nodes[0].uid.expect("own uids"), self.nodes[NODES - 1].uid.expect("own uids"));
        let port = self.nodes[victim].port;
        self.note(format!("partition: node{victim} (primary of slot {slot}) cut off; its replica is node{replica}"));
        firewall.isolate(self.nodes[victim].uid.expect("own uid"), uids, [port, port + 10000]);
        self.isolated = Some(victim);
        let t = Instant::now();
        self.wait("the majority to promote the isolated primary's replica", WITHIN, |c| {
            c.promoted(&replica_id, slot, victim)
        });
        self.note(format!("node{replica} promoted {:.2}s after the partition", t.elapsed().as_secs_f64()));
        self.wait("the isolated primary to see the cluster down", WITHIN, |c| match c.cluster_state(victim)? {
            s if s == "fail" => Ok(()),
            s => Err(format!("node{victim}: cluster_state:{s}")),
        });
        self.note(format!("node{victim} cluster_state:fail {:.2}s after the partition", t.elapsed().as_secs_f64()));
        match self.probe_write(victim, slot) {
            Ok(Reply::Error(e)) if e.starts_with("CLUSTERDOWN") => {}
            other => self.fail(&format!("the isolated node{victim} answered a write with {other:?}, not CLUSTERDOWN")),
        }
        std::thread::sleep(hold);
        match self.probe_write(victim, slot) {
            Ok(Reply::Error(e)) if e.starts_with("CLUSTERDOWN") => {}
            other => self.fail(&format!("the isolated node{victim} answered a write with {other:?}, not CLUSTERDOWN")),
        }
        firewall.heal();
        self.isolated = None;
        self.note("partition healed".to_string());
        let t = Instant::now();
        self.wait("the formerly isolated primary to become a replica", WITHIN, |c| {
            c.replica_of(victim, replica, &replica_id)
        });
        self.note(format!(
            "node{victim} is a replica of node{replica} {:.2}s after healing",
            t.elapsed().as_secs_f64()
        ));
        self.assert_refuses_writes(victim, slot, replica);
        self.wait_healthy(false);
    }

    /// Fault 4: `CLUSTER FAILOVER [option]` on the replica of the primary of `slot`.
    fn manual_failover(&mut self, slot: usize, option: Option<&str>) {
        let ((master, master_id), (replica, replica_id)) = self.pair_for(slot);
        let command: Vec<&str> = ["CLUSTER", "FAILOVER"].into_iter().chain(option).collect();
        self.note(format!("{} on node{replica}, replica of node{master} (slot {slot})", command.join(" ")));
        let port = self.nodes[replica].port;
        match self.pool.query(port, &command) {
            Ok(Reply::Status(s)) if s == "OK" => {}
            other => self.fail(&format!("CLUSTER FAILOVER answered {other:?}")),
        }
        let t = Instant::now();
        self.wait("the manual failover", WITHIN, |c| {
            c.promoted(&replica_id, slot, NODES)?;
            c.replica_of(master, replica, &replica_id)
        });
        self.note(format!(
            "node{replica} promoted, node{master} ({master_id}) its replica, in {:.2}s",
            t.elapsed().as_secs_f64()
        ));
        self.assert_refuses_writes(master, slot, replica);
        self.wait_healthy(false);
    }

    /// Waits until the writers have had `more` writes acknowledged (the cluster works again).
    fn wait_progress(&mut self, acked: &AtomicU64, more: u64) {
        let target = acked.load(Ordering::Relaxed) + more;
        self.wait("writers to make progress", WITHIN, |_| {
            let now = acked.load(Ordering::Relaxed);
            if now >= target {
                Ok(())
            } else {
                Err(format!("{now} acknowledged writes so far, waiting for {target}"))
            }
        });
    }

    /// GET `key` from its owner, following MOVED, retrying while refused (bounded).
    fn read(&mut self, router: &mut Router, key: &str) -> Option<String> {
        let slot = ferrocache_cluster::key_slot(key.as_bytes()) as usize;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = String::new();
        while Instant::now() < deadline {
            let port = router.owners[slot];
            match self.pool.call(port, &[b"GET", key.as_bytes()]) {
                Ok(Reply::Bulk(v)) => return v.map(|v| String::from_utf8_lossy(&v).into_owned()),
                Ok(Reply::Error(e)) if e.starts_with("MOVED ") => router.moved(slot, &e),
                other => {
                    last = format!("{other:?}");
                    router.refresh();
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        self.fail(&format!("cannot read {key}: {last}"))
    }

    /// Every replica holds its primary's value of every key, once caught up.
    fn check_replicas(&mut self, keys: &BTreeMap<String, Option<String>>) {
        for r in self.running() {
            let view = self.view(r).unwrap_or_else(|e| self.fail(&e));
            let me = view.myself().cloned().unwrap_or_else(|| self.fail("no myself line"));
            let Some(primary) = me.primary.as_deref().and_then(|p| view.by_id(p)).cloned() else { continue };
            let m = self.index_of_port(primary.port);
            self.wait("a replica to catch up", WITHIN, |c| {
                let target = info_field(&c.info(m, "replication")?, "master_repl_offset");
                let at = info_field(&c.info(r, "replication")?, "slave_repl_offset");
                if target.is_some() && at == target {
                    Ok(())
                } else {
                    Err(format!("node{r} at {at:?}, its primary node{m} at {target:?}"))
                }
            });
            let mut replica = Client::connect(self.nodes[r].port, Duration::from_secs(2))
                .unwrap_or_else(|e| self.fail(&format!("connect to node{r}: {e}")));
            match replica.call(&[b"READONLY"]) {
                Ok(Reply::Status(s)) if s == "OK" => {}
                other => self.fail(&format!("READONLY on node{r}: {other:?}")),
            }
            for (key, value) in
                keys.iter().filter(|(k, _)| primary.owns(ferrocache_cluster::key_slot(k.as_bytes()) as usize))
            {
                let got = match replica.call(&[b"GET", key.as_bytes()]) {
                    Ok(Reply::Bulk(v)) => v.map(|v| String::from_utf8_lossy(&v).into_owned()),
                    other => self.fail(&format!("GET {key} on replica node{r}: {other:?}")),
                };
                if got != *value {
                    self.fail(&format!(
                        "replica node{r} of node{m} holds {key} = {got:?}, its primary {value:?} (both caught up)"
                    ));
                }
            }
        }
    }

    fn assert_no_panics(&self) {
        for (i, node) in self.nodes.iter().enumerate() {
            let stderr = std::fs::read_to_string(node.dir.0.join("ferrocache.stderr")).unwrap_or_default();
            if stderr.contains("panicked") {
                self.fail(&format!("node{i} panicked"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The history's verdict

#[derive(Default)]
struct Verdict {
    attempted: usize,
    acked: usize,
    unacked: usize,
    unknown: usize,
    failed: usize,
    /// Tokens present that were not acknowledged (applied, WAIT unsure or connection lost).
    present_unacked: usize,
    lost: Vec<String>,
    phantom: Vec<String>,
    duplicated: Vec<String>,
    reordered: Vec<String>,
}

impl Verdict {
    fn judge(logs: &[WriterLog], values: &BTreeMap<String, Option<String>>) -> Verdict {
        let mut v = Verdict::default();
        for log in logs {
            let mut by_key: BTreeMap<u64, Vec<&Attempt>> = BTreeMap::new();
            for a in &log.attempts {
                by_key.entry(a.key).or_default().push(a);
                v.attempted += 1;
                match a.outcome {
                    Outcome::Acked => v.acked += 1,
                    Outcome::Unacked => v.unacked += 1,
                    Outcome::Unknown => v.unknown += 1,
                    Outcome::Failed => v.failed += 1,
                }
            }
            for (key, attempts) in by_key {
                let name = key_name(log.writer, key);
                let value = values.get(&name).cloned().flatten().unwrap_or_default();
                let sent: HashMap<u64, &Attempt> =
                    attempts.iter().filter(|a| a.outcome != Outcome::Failed).map(|a| (a.seq, *a)).collect();
                let mut seen = HashSet::new();
                let mut last = 0;
                for t in value.split(',').filter(|t| !t.is_empty()) {
                    let seq = t
                        .split_once('.')
                        .filter(|(w, _)| *w == log.writer.to_string())
                        .and_then(|(_, s)| s.parse().ok());
                    let Some(seq) = seq.filter(|s| sent.contains_key(s)) else {
                        v.phantom.push(format!("{name}: {t:?} never sent"));
                        continue;
                    };
                    if !seen.insert(seq) {
                        v.duplicated.push(format!("{name}: {t} twice"));
                    }
                    if seq < last {
                        v.reordered.push(format!("{name}: {t} after {}.{last}", log.writer));
                    }
                    last = last.max(seq);
                    if sent[&seq].outcome != Outcome::Acked {
                        v.present_unacked += 1;
                    }
                }
                for a in attempts.iter().filter(|a| a.outcome == Outcome::Acked && !seen.contains(&a.seq)) {
                    v.lost.push(format!("{name}: {}.{} (acknowledged by :{})", log.writer, a.seq, a.port));
                }
            }
        }
        v
    }

    fn summary(&self) -> String {
        format!(
            "attempted {}, acknowledged {}, applied-unacknowledged {}, unknown {}, refused {}; present though not \
             acknowledged {}; lost {}, never-sent {}, duplicated {}, out of order {}",
            self.attempted,
            self.acked,
            self.unacked,
            self.unknown,
            self.failed,
            self.present_unacked,
            self.lost.len(),
            self.phantom.len(),
            self.duplicated.len(),
            self.reordered.len()
        )
    }

    fn problems(&self) -> Vec<String> {
        let first = |what: &str, list: &Vec<String>| {
            (!list.is_empty()).then(|| format!("{} {what}, first: {:?}", list.len(), &list[..list.len().min(10)]))
        };
        [
            first("acknowledged writes lost", &self.lost),
            first("tokens never sent", &self.phantom),
            first("tokens twice", &self.duplicated),
            first("tokens out of order", &self.reordered),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[test]
fn wait_acknowledged_writes_survive_kills_pauses_partitions_and_failovers() {
    // Partitions need root and iptables (`.ci/run` installs it). Skipping them takes an
    // explicit FERROCACHE_TEST_NO_PARTITION=1, never a missing tool alone.
    let no_partition = Firewall::unavailable();
    if let (Some(why), false) = (&no_partition, std::env::var_os("FERROCACHE_TEST_NO_PARTITION").is_some()) {
        panic!(
            "cannot partition nodes: {why}; run as root with iptables installed, or set FERROCACHE_TEST_NO_PARTITION=1"
        );
    }
    let mut cluster = Cluster::start("jepsen", no_partition.is_none());
    let addrs: Vec<String> = cluster.ports().iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut create = vec!["--cluster", "create"];
    create.extend(addrs.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "1", "--cluster-yes"]);
    let (ok, out) = redis_cli(&create);
    if !(ok && out.contains("[OK] All 16384 slots covered.")) {
        cluster.fail(&format!("redis-cli --cluster create failed:\n{out}"));
    }
    let ports: Vec<String> = cluster.ports().iter().enumerate().map(|(i, p)| format!("node{i}=:{p}")).collect();
    cluster.note(format!("created: 3 primaries, 3 replicas ({})", ports.join(" ")));
    cluster.wait_healthy(true);

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let _stop_writers = StopOnDrop(stop.clone());
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (ports, stop, acked) = (cluster.ports(), stop.clone(), acked.clone());
            std::thread::spawn(move || writer(w, ports, stop, acked))
        })
        .collect();
    cluster.wait_progress(&acked, 200);

    // Each round: one fault per shard, then a manual failover on the first (see the module docs).
    for round in 0..2 {
        let shard = |n: usize| ((round + n) % 3) * 5461 + 100;
        let hold = Duration::from_millis(1600 * round as u64);
        cluster.kill_primary(shard(0));
        cluster.wait_progress(&acked, 100);
        cluster.pause_primary(shard(1), hold);
        cluster.wait_progress(&acked, 100);
        match &no_partition {
            None => {
                let firewall = Firewall::install();
                cluster.isolate_primary(shard(2), &firewall, hold);
                drop(firewall);
            }
            Some(why) => cluster.note(format!("partition SKIPPED: {why}")),
        }
        cluster.wait_progress(&acked, 100);
        cluster.manual_failover(shard(0), (round == 1).then_some("FORCE"));
        cluster.wait_progress(&acked, 100);
    }

    stop.store(true, Ordering::Relaxed);
    let logs: Vec<WriterLog> = writers.into_iter().map(|w| w.join().expect("a writer panicked")).collect();
    cluster.note("writers stopped".to_string());
    cluster.wait_healthy(true);

    let mut router = Router::new(cluster.ports());
    let mut values = BTreeMap::new();
    for w in 0..WRITERS {
        for k in 0..KEYS_PER_WRITER {
            let key = key_name(w, k);
            let value = cluster.read(&mut router, &key);
            values.insert(key, value);
        }
    }
    let verdict = Verdict::judge(&logs, &values);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for log in &logs {
        for (e, n) in &log.errors {
            *errors.entry(e.clone()).or_default() += n;
        }
    }
    let redirects: u64 = logs.iter().map(|l| l.redirects).sum();
    cluster.note(format!("{}; {redirects} MOVED followed; errors seen: {errors:?}", verdict.summary()));
    let problems = verdict.problems();
    if !problems.is_empty() {
        cluster.fail(&format!("{}\n{}", verdict.summary(), problems.join("\n")));
    }
    cluster.check_replicas(&values);
    cluster.assert_no_panics();
}

/// The verdict itself, on a made-up history: writer 0's key 1 got tokens 1 (acked), 2 (acked),
/// 3 (unacked), 4 (acked), 5 (refused: never sent).
#[test]
fn the_verdict_flags_lost_unsent_duplicated_and_reordered_tokens() {
    let attempt = |seq, outcome| Attempt { key: 1, seq, outcome, port: 7000 };
    let log = WriterLog {
        writer: 0,
        attempts: vec![
            attempt(1, Outcome::Acked),
            attempt(2, Outcome::Acked),
            attempt(3, Outcome::Unacked),
            attempt(4, Outcome::Acked),
            attempt(5, Outcome::Failed),
        ],
        ..WriterLog::default()
    };
    let judge = |value: &str| {
        let values = BTreeMap::from([(key_name(0, 1), Some(value.to_string()))]);
        let v = Verdict::judge(std::slice::from_ref(&log), &values);
        (v.lost.len(), v.phantom.len(), v.duplicated.len(), v.reordered.len(), v.present_unacked)
    };
    assert_eq!(judge("0.1,0.2,0.4,"), (0, 0, 0, 0, 0));
    assert_eq!(judge("0.1,0.2,0.3,0.4,"), (0, 0, 0, 0, 1));
    assert_eq!(judge("0.1,0.4,"), (1, 0, 0, 0, 0));
    assert_eq!(judge("0.1,0.2,0.4,0.5,1.1,x,"), (0, 3, 0, 0, 0));
    assert_eq!(judge("0.1,0.2,0.2,0.4,"), (0, 0, 1, 0, 0));
    assert_eq!(judge("0.2,0.1,0.4,"), (0, 0, 0, 1, 0));
    let values = BTreeMap::from([(key_name(0, 1), None)]);
    assert_eq!(Verdict::judge(std::slice::from_ref(&log), &values).lost.len(), 3);
}
