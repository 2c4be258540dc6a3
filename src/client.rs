//! Per-connection state: what the connection task owns (`Client`) and what other
//! connections may read about it through the registry (`ClientInfo`, for CLIENT LIST/KILL).

use crate::commands::{CommandSpec, PendingStats};
use crate::store::WatchFlag;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// CLIENT REPLY mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Suppress the reply of the next command only.
    SkipNext,
    /// Suppressing this command's reply (SkipNext after it was armed).
    Skipping,
}

/// A queued MULTI transaction.
#[derive(Default)]
pub struct MultiState {
    pub queue: Vec<(&'static CommandSpec, Vec<Bytes>)>,
    /// Bytes of the queued arguments (see [`MultiState::push`]).
    pub argv_bytes: usize,
    /// A command failed to queue (unknown, arity, …): EXEC answers EXECABORT.
    pub aborted: bool,
}

impl MultiState {
    /// Queues a command, counting its arguments for `multi-mem`.
    pub fn push(&mut self, spec: &'static CommandSpec, args: Vec<Bytes>) {
        self.argv_bytes += args.iter().map(|a| a.len() + std::mem::size_of::<Bytes>()).sum::<usize>();
        self.queue.push((spec, args));
    }

    /// What the queue holds (CLIENT LIST `multi-mem`, as Redis's `multiStateMemOverhead`).
    pub fn memory(&self) -> usize {
        self.argv_bytes + self.queue.capacity() * std::mem::size_of::<(&CommandSpec, Vec<Bytes>)>()
    }
}

/// State owned by the connection task; handlers get `&mut Client`.
pub struct Client {
    pub id: u64,
    pub db: usize,
    /// 2 or 3 (HELLO).
    pub resp: u8,
    pub authenticated: bool,
    pub info: Arc<ClientInfo>,
    pub multi: Option<MultiState>,
    /// Cluster mode: ASKING was sent (for the next command only).
    pub asking: bool,
    /// Cluster mode: READONLY is on (a replica may serve reads).
    pub readonly: bool,
    /// EXEC is running this client's queued commands.
    pub in_exec: bool,
    /// This EXEC has sent MULTI to the effect sink (so it owes an EXEC).
    pub exec_propagated: bool,
    /// Where the effect stream stood after this client's last effect not yet known to be in
    /// the AOF (0: none): its replies wait for the file to get there (`aof_flush_upto`).
    pub aof_upto: u64,
    /// Keys WATCHed (db, key) and the flag the store raises when one changes.
    pub watched: Vec<(usize, Bytes)>,
    pub watch_flag: WatchFlag,
    pub reply_mode: ReplyMode,
    /// Close the connection once this batch's replies are written (QUIT, CLIENT KILL self).
    pub close_after_reply: bool,
    pub monitor: bool,
    /// The last command executed (CLIENT LIST `cmd=`), recorded by the dispatcher.
    pub last_cmd: Option<&'static CommandSpec>,
    /// Command statistics counted but not yet published to the shared table.
    pub pending_stats: PendingStats,
    /// `master_repl_offset` after this client's last write (`WAIT` waits for replicas to
    /// acknowledge it; Redis's `c->woff`).
    pub repl_woff: u64,
    /// What this client said with `REPLCONF` before asking to sync (a replica to be).
    pub repl_handshake: Option<Box<crate::replication::primary::Handshake>>,
    /// Set by SYNC / PSYNC: the connection becomes a replica's once this batch is answered.
    pub sync_request: Option<crate::replication::primary::SyncRequest>,
    /// Set by a command that waits (WAIT): the connection waits for it before replying.
    pub blocked: Option<Blocked>,
    /// This client applies our primary's stream.
    pub is_master: bool,
}

/// What a blocked client waits for.
#[derive(Debug, Clone)]
pub enum Blocked {
    /// `WAIT`: `replicas` replicas acknowledging `offset`, until `deadline` (None: forever).
    Replicas { offset: u64, replicas: usize, deadline: Option<std::time::Instant> },
    /// A write while writes are paused (FAILOVER): run again once they may go on.
    WritesPaused { args: Vec<Bytes> },
    /// A command blocked on keys (BLPOP, BZPOPMIN, …): served once a key holds what it
    /// waits for, or its `deadline` (None: never) passes; `args` to run it again if told to
    /// (see `commands::blocking`).
    Keys { waiter: Arc<crate::commands::blocking::Waiter>, deadline: Option<std::time::Instant>, args: Vec<Bytes> },
}

impl Client {
    /// Publishes this client's pending command statistics (see [`PendingStats`]).
    pub fn publish_stats(&mut self, shared: &crate::server::Shared) {
        self.pending_stats.publish(&shared.command_stats, &shared.stats.total_commands_processed);
    }

    /// The client AOF loading runs commands as (Redis's fake client).
    pub fn replayer() -> Client {
        let nowhere: SocketAddr = ([0, 0, 0, 0], 0).into();
        Client::new(Arc::new(ClientInfo::new(0, nowhere, nowhere)), true)
    }

    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Client {
        Client {
            id: info.id,
            db: 0,
            resp: 2,
            authenticated,
            info,
            multi: None,
            in_exec: false,
            asking: false,
            readonly: false,
            exec_propagated: false,
            aof_upto: 0,
            watched: Vec::new(),
            watch_flag: Arc::new(AtomicBool::new(false)),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            monitor: false,
            last_cmd: None,
            pending_stats: PendingStats::default(),
            repl_woff: 0,
            repl_handshake: None,
            sync_request: None,
            blocked: None,
            is_master: false,
        }
    }

    /// Forgets all WATCHed keys. Registrations left in the store point at the old flag,
    /// which nobody reads any more; the store prunes them lazily.
    pub fn unwatch_all(&mut self) {
        self.watched.clear();
        self.watch_flag = Arc::new(AtomicBool::new(false));
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }
}

/// Mutable details other connections read (CLIENT LIST / INFO).
#[derive(Debug, Default, Clone)]
pub struct ClientMeta {
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    /// Name and container (`("list", Some("client"))` for CLIENT LIST) of the last command.
    pub last_cmd: Option<(&'static str, Option<&'static str>)>,
    pub resp: u8,
    pub multi: i64,
    pub flags: String,
}

/// What the registry knows about a connection.
#[derive(Debug)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    pub db: AtomicUsize,
    /// Milliseconds since `created` at the last command (idle time).
    pub last_active_ms: AtomicU64,
    pub meta: Mutex<ClientMeta>,
    pub killed: AtomicBool,
    pub kill: Notify,
    pub no_evict: AtomicBool,
    /// The socket's file descriptor, or -1 for a client without one (tests, as Redis's fake
    /// clients show).
    pub fd: std::sync::atomic::AtomicI64,
    /// The `unixsocket` path for a client connected through it (`addr` is then a loopback
    /// placeholder).
    pub unix_socket: Option<Arc<str>>,
    /// Its buffers as of its last turn (CLIENT LIST's qbuf, omem, tot-mem, …).
    pub buffers: crate::server::BufferFigures,
}

impl ClientInfo {
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            db: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            meta: Mutex::new(ClientMeta { resp: 2, multi: -1, flags: "N".into(), ..Default::default() }),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            no_evict: AtomicBool::new(false),
            fd: std::sync::atomic::AtomicI64::new(-1),
            unix_socket: None,
            buffers: Default::default(),
        }
    }

    /// A client of the unix socket at `path`: flagged `U` as Redis flags it.
    pub fn on_unix_socket(mut self, path: Arc<str>) -> ClientInfo {
        self.meta.get_mut().flags = "U".into();
        self.unix_socket = Some(path);
        self
    }

    /// Redis's peer id: `ip:port`, or `path:0` for a unix socket client (CLIENT LIST `addr`,
    /// CLIENT KILL, the slow log).
    pub fn peer_id(&self) -> String {
        match &self.unix_socket {
            Some(path) => format!("{path}:0"),
            None => self.addr.to_string(),
        }
    }

    /// CLIENT LIST's `laddr`: the listening address, or `path:0`.
    pub fn local_id(&self) -> String {
        match &self.unix_socket {
            Some(path) => format!("{path}:0"),
            None => self.laddr.to_string(),
        }
    }

    /// How MONITOR names the client: `ip:port`, or `unix:path`.
    pub fn monitor_id(&self) -> String {
        match &self.unix_socket {
            Some(path) => format!("unix:{path}"),
            None => self.addr.to_string(),
        }
    }

    pub fn touch(&self) {
        self.last_active_ms.store(self.created.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000
    }

    /// Asks the connection to close (CLIENT KILL, shutdown).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// One CLIENT LIST line (without the trailing newline), in Redis 7.2's field order
    /// (7.2 added lib-name / lib-ver, which CLIENT SETINFO fills).
    pub fn list_line(&self) -> String {
        self.list_line_running(0)
    }

    /// [`list_line`](Self::list_line) of a client running a command whose arguments take
    /// `argv_mem` bytes (the caller's own line).
    pub fn list_line_running(&self, argv_mem: usize) -> String {
        let m = self.meta.lock();
        let name = m.name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
        let lib_name = m.lib_name.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
        let lib_ver = m.lib_ver.as_ref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} {} events={} cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.peer_id(),
            self.local_id(),
            self.fd.load(Ordering::Relaxed),
            name,
            self.created.elapsed().as_secs(),
            self.idle_secs(),
            m.flags,
            self.db.load(Ordering::Relaxed),
            m.multi,
            self.buffers.list_fields(argv_mem),
            if self.buffers.pending_output.load(Ordering::Relaxed) > 0 { "rw" } else { "r" },
            match m.last_cmd {
                Some((name, Some(parent))) => format!("{parent}|{name}"),
                Some((name, None)) => name.to_string(),
                None => "NULL".to_string(),
            },
            m.resp,
            lib_name,
            lib_ver,
        )
    }
}

/// All connected clients, by id (so CLIENT LIST is in connection order).
#[derive(Default)]
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    count: AtomicUsize,
}

impl ClientRegistry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn register(&self, info: Arc<ClientInfo>) {
        self.clients.lock().insert(info.id, info);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unregister(&self, id: u64) {
        if self.clients.lock().remove(&id).is_some() {
            self.count.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// `(normal clients, their buffer bytes, replicas)`: what MEMORY STATS and DOCTOR
    /// account per client kind. A replica's stream is the shared backlog, not a buffer.
    pub fn memory(&self) -> (usize, u64, usize) {
        let clients = self.clients.lock();
        let mut normal = (0, 0);
        let mut replicas = 0;
        for c in clients.values() {
            if c.meta.lock().flags == "S" {
                replicas += 1;
            } else {
                normal.0 += 1;
                normal.1 += c.buffers.tot_mem.load(Ordering::Relaxed);
            }
        }
        (normal.0, normal.1, replicas)
    }

    pub fn snapshot(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.clients.lock().get(&id).cloned()
    }

    pub fn kill_all(&self) {
        for c in self.snapshot() {
            c.kill();
        }
    }
}
