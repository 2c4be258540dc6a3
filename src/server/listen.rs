//! Listening sockets and file descriptors: Redis's `adjustOpenFilesLimit`,
//! `checkTcpBacklogSettings`, `listenToPort` and `acceptTcpHandler`.
//!
//! Descriptors run out in two layers:
//! - At start-up the soft `RLIMIT_NOFILE` is raised to `maxclients` + 32; when it cannot be,
//!   `maxclients` is lowered to fit ([`adjust_open_files_limit`]). Connections beyond
//!   `maxclients` are then accepted while descriptors remain, told
//!   `-ERR max number of clients reached` and closed, as Redis does.
//! - If accept still fails for lack of descriptors (EMFILE/ENFILE: the 32 spare ones taken by
//!   files and outgoing sockets, or `maxclients` raised by CONFIG SET beyond the limit), the
//!   loop releases a descriptor it keeps open on `/dev/null`, accepts the waiting connection,
//!   tells it the same error, closes it and re-opens the spare: no client is left in the
//!   backlog without an answer. Redis has no such fallback (its event loop retries the
//!   accept on every tick); ours answers instead. When even the spare cannot help, the loop
//!   backs off (10 ms doubling to 1 s) instead of spinning, and logs at most once a second.
//!
//! The TCP listeners are a [`TcpListeners`] set that CONFIG SET `port` / `bind` replaces
//! whole, as Redis's `changeListenPort` / `changeBindAddr`: the new addresses are all bound
//! before the old listeners close, so a failure leaves the server listening where it was.

use super::{connection, Shared};
use parking_lot::Mutex;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Descriptors kept for everything but clients: listeners, log, RDB/AOF files, MIGRATE and
/// cluster sockets (Redis's `CONFIG_MIN_RESERVED_FDS`).
pub const MIN_RESERVED_FDS: u64 = 32;

/// Connections taken from the backlog per wake-up (Redis's `MAX_ACCEPTS_PER_CALL`): enough to
/// drain a connect storm in one go, few enough that other tasks on the worker still run.
pub const MAX_ACCEPTS_PER_CALL: usize = 1000;

/// Raises the soft descriptor limit to `maxclients` + [`MIN_RESERVED_FDS`], or lowers
/// `maxclients` to what the limit allows, logging what Redis logs. Idempotent: once raised,
/// a second call finds the limit sufficient. Errs (Redis exits) when not even the reserved
/// descriptors fit.
#[cfg(unix)]
pub fn adjust_open_files_limit(config: &mut crate::Config) -> Result<(), String> {
    let maxfiles = u64::from(config.maxclients) + MIN_RESERVED_FDS;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == -1 {
        tracing::warn!(
            "Unable to obtain the current NOFILE limit ({}), assuming 1024 and setting the max clients configuration accordingly.",
            os_error_text(&io::Error::last_os_error())
        );
        config.maxclients = (1024 - MIN_RESERVED_FDS) as u32;
        return Ok(());
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
    let old = limit.rlim_cur as u64;
    if old >= maxfiles {
        return Ok(());
    }
    // The highest limit the OS grants, from `maxfiles` down in steps of 16 (as Redis). Only
    // the soft limit is lowered back; the hard one is raised when that is allowed (root).
    let mut best = maxfiles;
    let mut error = None;
    while best > old {
        let want = libc::rlimit { rlim_cur: best as libc::rlim_t, rlim_max: limit.rlim_max.max(best as libc::rlim_t) };
        // SAFETY: `want` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            break;
        }
        error = Some(io::Error::last_os_error());
        best = best.saturating_sub(16);
    }
    let best = best.max(old);
    if best >= maxfiles {
        tracing::info!("Increased maximum number of open files to {maxfiles} (it was originally set to {old}).");
        return Ok(());
    }
    if best <= MIN_RESERVED_FDS {
        let text = format!(
            "Your current 'ulimit -n' of {old} is not enough for the server to start. Please increase your open file limit to at least {maxfiles}. Exiting."
        );
        tracing::warn!("{text}");
        return Err(text);
    }
    let requested = config.maxclients;
    config.maxclients = (best - MIN_RESERVED_FDS) as u32;
    let why = error.as_ref().map(os_error_text).unwrap_or_default();
    tracing::warn!("You requested maxclients of {requested} requiring at least {maxfiles} max file descriptors.");
    tracing::warn!("Server can't set maximum open files to {maxfiles} because of OS error: {why}.");
    tracing::warn!(
        "Current maximum open files is {best}. maxclients has been reduced to {} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
        config.maxclients
    );
    Ok(())
}

#[cfg(not(unix))]
pub fn adjust_open_files_limit(_config: &mut crate::Config) -> Result<(), String> {
    Ok(())
}

/// `strerror`'s text, without std's " (os error N)" suffix, as Redis's logs show it.
fn os_error_text(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Warns, in Redis's words, when the kernel will cap `tcp-backlog` (`checkTcpBacklogSettings`).
pub fn check_tcp_backlog(backlog: u32) {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") else { return };
    let Ok(somaxconn) = text.trim().parse::<i64>() else { return };
    if somaxconn > 0 && somaxconn < i64::from(backlog) {
        tracing::warn!(
            "WARNING: The TCP backlog setting of {backlog} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {somaxconn}."
        );
    }
}

/// A listening socket on `addr` with `backlog`, as Redis's `anetTcpServer` makes one:
/// SO_REUSEADDR, and IPV6_V6ONLY for IPv6 so that `bind ::` and `bind 0.0.0.0` are two
/// sockets that can share a port. Needs a tokio runtime.
pub fn bind_listener(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog_arg(backlog))?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

/// `listen(2)` takes an int; the kernel caps it at `somaxconn` anyway.
pub(super) fn backlog_arg(backlog: u32) -> i32 {
    backlog.min(i32::MAX as u32) as i32
}

/// Binds every address of `bind` (Redis's forms: `*`, `::*`, and a leading `-` for an address
/// that may fail) on `port`, as Redis's `listenToPort`. An error names the address that
/// failed, as Redis's log line does.
pub async fn bind_all(bind: &[String], port: u16, backlog: u32) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for host in bind {
        let (host, optional) = match host.strip_prefix('-') {
            Some(h) => (h, true),
            None => (host.as_str(), false),
        };
        let host = match host {
            "*" => "0.0.0.0",
            "::*" => "::",
            host => host,
        };
        let addr = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        match bind_first(&addr, backlog).await {
            Ok(l) => listeners.push(l),
            Err(e) if optional => tracing::warn!("Could not create server TCP listening socket {addr}: {e}"),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("Could not create server TCP listening socket {addr}: {e}"),
                ))
            }
        }
    }
    Ok(listeners)
}

/// Listens on the first address `addr` resolves to that can be bound (Redis's
/// `_anetTcpServer` walks `getaddrinfo`'s list the same way).
async fn bind_first(addr: &str, backlog: u32) -> io::Result<TcpListener> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        match bind_listener(a, backlog) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
}

/// The TCP listeners being served: one accept task each.
#[derive(Default)]
pub struct TcpListeners {
    accepting: Mutex<Vec<JoinHandle<()>>>,
}

impl TcpListeners {
    /// Serves `listeners` in place of the current ones, which close.
    pub(super) fn replace(&self, listeners: Vec<TcpListener>, shared: &Arc<Shared>) {
        let accepting = listeners.into_iter().map(|l| tokio::spawn(accept_loop(l, shared.clone()))).collect();
        for old in std::mem::replace(&mut *self.accepting.lock(), accepting) {
            old.abort();
        }
    }

    /// Stops accepting: the accept tasks, to be awaited (each listener closes with its task).
    pub(super) fn take(&self) -> Vec<JoinHandle<()>> {
        let accepting = std::mem::take(&mut *self.accepting.lock());
        for a in &accepting {
            a.abort();
        }
        accepting
    }
}

/// CONFIG SET `port` / `bind`: listens on `new`'s `bind` × `port` instead of `old`'s (the
/// values about to be published and the current ones; the caller holds the config's
/// upgradable lock), or answers Redis's error and listens where it did. `port 0`: no TCP
/// listener, as in Redis. As Redis's `changeBindAddr`, the old listeners close first (a new
/// set may take one of the same addresses again) and come back if the new ones cannot bind.
/// Runs on a worker thread in a command: binding is quick, but a name in `bind` needs a
/// lookup, so the thread is handed over meanwhile.
pub fn rebind(
    shared: &Arc<Shared>,
    old: &crate::Config,
    new: &crate::Config,
    port_changed: bool,
) -> Result<(), &'static str> {
    let closing = shared.listeners.take();
    let bound = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(async {
            for task in closing {
                let _ = task.await; // its listener closes with it
            }
            match listen_on(new).await {
                Ok(listeners) => Ok(listeners),
                Err(e) => {
                    tracing::warn!("{e}");
                    tracing::warn!("Failed to bind, trying to restore old listening sockets.");
                    let restored = listen_on(old).await.unwrap_or_else(|e| {
                        tracing::warn!("Failed to restore old listening sockets: {e}");
                        Vec::new()
                    });
                    Err(restored)
                }
            }
        })
    });
    let (listeners, result) = match bound {
        Ok(listeners) => (listeners, Ok(())),
        // Redis's texts (`updatePort`, `updateBindAddr`).
        Err(restored) if port_changed => (restored, Err("Unable to listen on this port. Check server logs.")),
        Err(restored) => (restored, Err("Failed to bind to specified addresses.")),
    };
    if let Some(port) = listeners.first().and_then(|l| l.local_addr().ok()).map(|a| a.port()) {
        shared.set_port(port);
    } else if result.is_ok() {
        shared.set_port(new.port);
    }
    shared.listeners.replace(listeners, shared);
    result
}

/// The TCP listeners `config` asks for (`port 0`: none).
async fn listen_on(config: &crate::Config) -> io::Result<Vec<TcpListener>> {
    match config.port {
        0 => Ok(Vec::new()),
        port => bind_all(&config.bind, port, config.tcp_backlog).await,
    }
}

/// Accepts connections on `listener` until the task is aborted.
pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut spare = SpareFd::open();
    let mut backoff = Backoff::default();
    loop {
        let Err(e) = std::future::poll_fn(|cx| poll_accept_batch(&listener, cx, &shared)).await else {
            backoff.reset();
            continue;
        };
        if matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
        ) {
            // That one connection is gone; the next may be fine.
            backoff.log.warn(&e);
            continue;
        }
        if out_of_descriptors(&e) && spare.reject_one(&listener, &shared).await {
            backoff.log.warn(&e);
            continue;
        }
        backoff.wait(&e).await;
        spare.reopen();
    }
}

/// Admits up to [`MAX_ACCEPTS_PER_CALL`] connections already waiting (each as it is
/// accepted, so refused ones give their descriptor back at once), or waits for the first.
/// tokio's cooperative budget may end a batch sooner; the next poll continues it.
fn poll_accept_batch(listener: &TcpListener, cx: &mut Context<'_>, shared: &Arc<Shared>) -> Poll<io::Result<()>> {
    let mut accepted = 0;
    while accepted < MAX_ACCEPTS_PER_CALL {
        match listener.poll_accept(cx) {
            Poll::Ready(Ok((stream, addr))) => {
                admit(stream, addr, shared);
                accepted += 1;
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => break,
        }
    }
    if accepted == 0 {
        Poll::Pending
    } else {
        Poll::Ready(Ok(()))
    }
}

/// Serves `stream` on its own task, or refuses it when `maxclients` are connected. The slot
/// is taken here, not when the task registers the client, so a burst of connects cannot
/// overshoot the limit.
fn admit(stream: TcpStream, addr: SocketAddr, shared: &Arc<Shared>) {
    let Some(slot) = take_slot(shared) else {
        refuse(&stream, shared);
        return;
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        let _slot = slot;
        connection::handle(stream, addr, shared).await
    });
}

/// A connection slot under `maxclients`, or None when all are taken.
fn take_slot(shared: &Arc<Shared>) -> Option<ConnectionSlot> {
    let maxclients = shared.hot.maxclients.load(Ordering::Relaxed) as usize;
    let taken =
        shared.connections.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < maxclients).then_some(n + 1));
    taken.ok().map(|_| ConnectionSlot(shared.clone()))
}

/// Best effort, as Redis: one non-blocking write of the error, then close.
fn refuse(stream: &impl std::os::fd::AsFd, shared: &Shared) {
    use crate::commands::errors;
    let error = if shared.cluster().is_some() { errors::MAX_CLIENTS_CLUSTER } else { errors::MAX_CLIENTS };
    let _ = socket2::SockRef::from(stream).send(format!("-{error}\r\n").as_bytes());
    shared.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
}

/// The `unixsocket` listener, as Redis's `initServer` and `anetUnixServer` make it: a stale
/// socket file is removed first, and `unixsocketperm` (when not 0) applied to the new one.
#[cfg(unix)]
pub fn bind_unix(path: &str, perm: u32, backlog: u32) -> io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    socket.listen(backlog_arg(backlog))?;
    if perm != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))?;
    }
    socket.set_nonblocking(true)?;
    let std_listener = std::os::unix::net::UnixListener::from(std::os::fd::OwnedFd::from(socket));
    tokio::net::UnixListener::from_std(std_listener)
}

/// The unix socket's file, removed when the server stops however it stops (Redis's
/// `prepareForShutdown`).
pub struct SocketFile(pub String);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Accepts clients on the unix socket until the task is aborted, under the same
/// `maxclients` as TCP.
#[cfg(unix)]
pub(super) async fn accept_unix_loop(listener: tokio::net::UnixListener, shared: Arc<Shared>) {
    let mut backoff = Backoff::default();
    let path: Arc<str> = shared.config.read().unixsocket.as_str().into();
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                backoff.reset();
                let Some(slot) = take_slot(&shared) else {
                    refuse(&stream, &shared);
                    continue;
                };
                let (shared, path) = (shared.clone(), path.clone());
                tokio::spawn(async move {
                    let _slot = slot;
                    connection::handle_unix(stream, path, shared).await
                });
            }
            Err(e) => backoff.wait(&e).await,
        }
    }
}

/// One of `Shared::connections`, given back when the connection's task ends.
struct ConnectionSlot(Arc<Shared>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// A descriptor held only to be given up when accept runs out of them.
struct SpareFd(Option<std::fs::File>);

impl SpareFd {
    fn open() -> SpareFd {
        SpareFd(std::fs::File::open("/dev/null").ok())
    }

    fn reopen(&mut self) {
        if self.0.is_none() {
            *self = SpareFd::open();
        }
    }

    /// Frees the spare, accepts one waiting connection, refuses it and takes the spare
    /// back. False if there was no spare or the accept failed anyway (another thread took
    /// the freed descriptor first).
    async fn reject_one(&mut self, listener: &TcpListener, shared: &Shared) -> bool {
        if self.0.take().is_none() {
            self.reopen();
            return false;
        }
        let accepted = std::future::poll_fn(|cx| match listener.poll_accept(cx) {
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => Poll::Ready(None),
        })
        .await;
        let refused = match accepted {
            Some(Ok((stream, _))) => {
                refuse(&stream, shared);
                true
            }
            // Nothing waiting after all: not a failure.
            None => true,
            Some(Err(_)) => false,
        };
        self.reopen();
        refused
    }
}

/// The accept loop's pause after a failure it cannot answer, and its rate-limited log.
struct Backoff {
    delay: Duration,
    log: RateLimitedLog,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { delay: Backoff::MIN, log: RateLimitedLog::default() }
    }
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    fn reset(&mut self) {
        self.delay = Backoff::MIN;
    }

    async fn wait(&mut self, e: &io::Error) {
        self.log.warn(e);
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(Backoff::MAX);
    }
}

/// Redis's "Accepting client connection: …" warning, at most once a second, saying how many
/// more failures the quiet period hid.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    const PERIOD: Duration = Duration::from_secs(1);

    fn warn(&mut self, e: &io::Error) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < RateLimitedLog::PERIOD) {
            self.suppressed += 1;
            return;
        }
        let text = os_error_text(e);
        match std::mem::take(&mut self.suppressed) {
            0 => tracing::warn!("Accepting client connection: {text}"),
            n => tracing::warn!("Accepting client connection: {text} ({n} more failures in the last second)"),
        }
        self.last = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_text_is_strerror() {
        assert_eq!(os_error_text(&io::Error::from_raw_os_error(libc::EMFILE)), "Too many open files");
    }

    #[test]
    fn the_log_says_once_a_second_how_many_it_hid() {
        let mut log = RateLimitedLog::default();
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        for _ in 0..1000 {
            log.warn(&e);
        }
        assert_eq!(log.suppressed, 999);
    }
}
