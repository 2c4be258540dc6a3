//! One client connection: read → parse every complete request → dispatch each → encode all
//! replies into one buffer → one write. Framing errors reply and close; command errors reply
//! and keep the connection.

use super::buffers::{self, OutputLimitCheck, Resizer, READ_CHUNK};
use super::lookahead::Lookahead;
use super::monitor::MonitorEvent;
use super::Shared;
use crate::client::{Blocked, Client, ClientInfo, ReplyMode};
use crate::commands;
use crate::config::ClientClass;
use bytes::{Buf, BufMut, BytesMut};
use ferrocache_protocol::{encode, Limits, Reply, RequestParser};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// What Redis 7.0 tells a non-loopback client in protected mode, word for word.
const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

pub async fn handle(mut stream: TcpStream, addr: SocketAddr, shared: Arc<Shared>) {
    shared.stats.total_connections_received.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    let keepalive = shared.hot.tcp_keepalive_secs.load(Ordering::Relaxed);
    if keepalive > 0 {
        let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(keepalive));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&ka);
    }
    if shared.hot.protected_mode.load(Ordering::Relaxed) && !shared.auth_required() && !is_loopback(&addr) {
        let _ = stream.write_all(PROTECTED_MODE_DENIED.as_bytes()).await;
        return;
    }
    let laddr = stream.local_addr().unwrap_or(addr);
    let info = ClientInfo::new(shared.clients.next_id(), addr, laddr);
    serve_connection(stream, info, shared).await
}

/// A client on the `unixsocket` at `path`: local, as Redis counts it (protected mode and the
/// `local` settings let it in); CLIENT LIST shows it as `path:0`, flagged `U`.
#[cfg(unix)]
pub async fn handle_unix(stream: tokio::net::UnixStream, path: Arc<str>, shared: Arc<Shared>) {
    shared.stats.total_connections_received.fetch_add(1, Ordering::Relaxed);
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let info = ClientInfo::new(shared.clients.next_id(), local, local).on_unix_socket(path);
    serve_connection(stream, info, shared).await
}

/// A client's byte stream: TCP, or a unix socket (which cannot become a replica's link).
/// The readiness and non-blocking calls are both kinds' own, so that a read and a wait for
/// the socket to take output can run side by side on a shared borrow.
pub trait ClientStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync {
    fn tcp(&mut self) -> Option<&mut TcpStream>;
    #[cfg(unix)]
    fn raw_fd(&self) -> i64;
    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
    fn writable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
    fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> std::io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> std::io::Result<usize>;
}

/// Forwards the non-blocking calls to the stream type's own methods.
macro_rules! nonblocking_calls {
    ($t:ty) => {
        fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
            <$t>::readable(self)
        }
        fn writable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
            <$t>::writable(self)
        }
        fn try_read_buf<B: BufMut>(&self, buf: &mut B) -> std::io::Result<usize> {
            <$t>::try_read_buf(self, buf)
        }
        fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
            <$t>::try_write(self, buf)
        }
    };
}

impl ClientStream for TcpStream {
    fn tcp(&mut self) -> Option<&mut TcpStream> {
        Some(self)
    }
    #[cfg(unix)]
    fn raw_fd(&self) -> i64 {
        std::os::fd::AsRawFd::as_raw_fd(self) as i64
    }
    nonblocking_calls!(TcpStream);
}

#[cfg(unix)]
impl ClientStream for tokio::net::UnixStream {
    fn tcp(&mut self) -> Option<&mut TcpStream> {
        None
    }
    fn raw_fd(&self) -> i64 {
        std::os::fd::AsRawFd::as_raw_fd(self) as i64
    }
    nonblocking_calls!(tokio::net::UnixStream);
}

async fn serve_connection<S: ClientStream>(mut stream: S, info: ClientInfo, shared: Arc<Shared>) {
    let info = Arc::new(info);
    #[cfg(unix)]
    info.fd.store(stream.raw_fd(), Ordering::Relaxed);
    shared.clients.register(info.clone());
    let mut client = Client::new(info.clone(), !shared.auth_required());
    let result = serve_client(&mut stream, &shared, &mut client).await;
    client.publish_stats(&shared);
    if let Err(e) = result {
        tracing::debug!(client = client.id, "connection closed: {e}");
    }
    shared.clients.unregister(info.id);
    shared.client_memory.forget(&info);
}

/// Input a blocked client may send before it is read no more until it is unblocked.
const BLOCKED_INPUT_MAX: usize = 1 << 26;

async fn serve_client<S: ClientStream>(stream: &mut S, shared: &Shared, client: &mut Client) -> std::io::Result<()> {
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::new();
    // Held while this client monitors (MONITOR until RESET or the end).
    let mut monitor = None;
    let info = client.info.clone();
    let mut lookahead = Lookahead::default();
    let mut resizer = Resizer::new(Instant::now());
    // One timer for the buffers' looks, reset only when it fires (not once per turn).
    let resize_timer = tokio::time::sleep_until(resizer.next().into());
    tokio::pin!(resize_timer);
    let mut limit_check = OutputLimitCheck::default();
    // Bytes came in or went out since the last turn (for the buffers' idle time).
    let mut interacted = false;
    let mut last_interaction = Instant::now();
    loop {
        let turn_started = super::busy_poll::turn_start();
        let limit = shared.hot.output_limit(ClientClass::Normal);
        let cap = buffers::output_cap(limit);
        // Execute the complete requests already buffered, until their replies reach the cap:
        // the rest wait until the client has taken some.
        let mut executed = false;
        let mut paused = false;
        loop {
            if output.len() >= cap {
                paused = true;
                break;
            }
            let limits = Limits {
                max_bulk_len: shared.hot.proto_max_bulk_len.load(Ordering::Relaxed) as i64,
                authenticated: client.authenticated,
            };
            match lookahead.next(&mut parser, &mut input, &limits) {
                Ok(Some(mut args)) => {
                    executed = true;
                    lookahead.prepare(&shared.store, client, &args, &mut parser, &mut input, &limits);
                    let reply = commands::execute(shared, client, &mut args);
                    // Joined before MONITOR's +OK is written, so it misses no command run
                    // after that reply.
                    if client.monitor != monitor.is_some() {
                        monitor = client.monitor.then(|| shared.monitors.subscribe());
                    }
                    // A blocked client shows its command's arguments in CLIENT LIST meanwhile.
                    let blocked_argv_mem =
                        if client.blocked.is_some() { args.iter().map(|a| a.len()).sum() } else { 0 };
                    parser.recycle(args);
                    if let Some(blocked) = client.blocked.take() {
                        // Earlier replies first; nothing after this request runs until it is answered.
                        write_out(stream, shared, &mut output).await?;
                        // Meanwhile what the client sends is buffered, and its hanging up ends
                        // the wait (a blocked BLPOP must not outlive its client and take an
                        // element nobody will read).
                        let reply = {
                            let wait = wait_blocked(shared, client, blocked, blocked_argv_mem);
                            tokio::pin!(wait);
                            loop {
                                tokio::select! {
                                    reply = &mut wait => break reply,
                                    ready = stream.readable(), if input.len() < BLOCKED_INPUT_MAX => {
                                        ready?;
                                        match stream.try_read_buf(&mut input) {
                                            Ok(0) => return Ok(()),
                                            Ok(_) => {}
                                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                                            Err(e) => return Err(e),
                                        }
                                    }
                                }
                            }
                        };
                        let Some(reply) = reply else { return Ok(()) };
                        write_reply(client, &reply, &mut output);
                        continue;
                    }
                    if let Some(request) = client.sync_request.take() {
                        // The connection is a replica's from here on.
                        write_out(stream, shared, &mut output).await?;
                        let rest = std::mem::take(&mut input);
                        let Some(tcp) = stream.tcp() else {
                            tracing::warn!(client = client.id, "a replica cannot sync over the unix socket");
                            return Ok(());
                        };
                        return crate::replication::primary::serve(shared.arc(), tcp, client, rest, request).await;
                    }
                    write_reply(client, &reply, &mut output);
                    if let Some(sub) = &monitor {
                        sub.monitor.drain_into(&mut output);
                    }
                    if client.close_after_reply {
                        shared.aof_flush();
                        write_out(stream, shared, &mut output).await?;
                        return Ok(());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // Redis logs the protocol error, replies, then closes.
                    tracing::debug!(client = client.id, "{e}");
                    encode(&Reply::error(e.reply_text()), client.resp, &mut output);
                    write_out(stream, shared, &mut output).await?;
                    return Ok(());
                }
            }
        }
        if executed {
            // The batch's writes reach the AOF before its replies reach the client.
            if client.aof_upto != 0 {
                shared.aof_flush_upto(std::mem::take(&mut client.aof_upto));
            }
            client.publish_stats(shared);
            shared.busy_poll.after_batch(shared);
            info.touch();
            let mut meta = info.meta.lock();
            meta.last_cmd = client.last_cmd.map(|spec| (spec.name, spec.parent));
            meta.resp = client.resp;
            meta.multi = client.multi.as_ref().map_or(-1, |m| m.queue.len() as i64);
        }
        resizer.observe(&input, &output, executed || std::mem::take(&mut interacted));
        write_now(stream, shared, &mut output)?;
        if limit_check.over(buffers::omem(output.len()), limit) {
            info.buffers.pending_output.store(output.len() as u64, Ordering::Relaxed);
            close_overflowed(client);
            return Ok(());
        }
        // A request larger than client-query-buffer-limit: Redis closes without replying.
        let qbuf_limit = shared.hot.client_query_buffer_limit.load(Ordering::Relaxed) as usize;
        if input.len() > qbuf_limit {
            tracing::warn!(client = client.id, "closing client that reached max query buffer length");
            return Ok(());
        }
        if executed {
            // How much of this worker's time connections take: the busy-poll lead's gauge.
            super::busy_poll::add_busy(turn_started);
        }
        publish_buffers(shared, client, &input, &output);
        if paused && output.len() < cap {
            // The client took the output: go on with the requests already here.
            tokio::task::yield_now().await;
            continue;
        }
        // Read only while output is under the cap (and no complete request waits).
        let reading = !paused;
        let read_size = if reading { buffers::prepare_read(&parser, &mut input, qbuf_limit) } else { 0 };
        let idle = shared.hot.timeout_secs.load(Ordering::Relaxed);
        // Counted from the last read or write (Redis's `lastinteraction`), not from this turn:
        // the resize timer's turns must not keep an idle client open.
        let idle_timeout = async {
            if idle == 0 || client.monitor {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep_until((last_interaction + Duration::from_secs(idle)).into()).await
            }
        };
        let soft_deadline = limit_check.soft_deadline(limit);
        let resize_armed = resizer.wanted(&input, &output);
        tokio::select! {
            read = read_some(stream, &mut input, read_size), if reading => {
                let n = read?;
                shared.stats.total_reads_processed.fetch_add(1, Ordering::Relaxed);
                if n == 0 {
                    return Ok(());
                }
                shared.stats.total_net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                interacted = true;
                last_interaction = Instant::now();
            }
            writable = stream.writable(), if !output.is_empty() => {
                writable?;
                interacted = true;
                last_interaction = Instant::now();
            }
            event = next_monitor_event(&monitor, output.len() < cap) => match event {
                MonitorEvent::Lines(lines) => output.extend_from_slice(&lines),
                MonitorEvent::Overflowed => {
                    close_overflowed(client);
                    return Ok(());
                }
            },
            _ = sleep_until(soft_deadline) => {}
            _ = &mut resize_timer, if resize_armed => {
                if resizer.resize(Instant::now(), &parser, &mut input, &mut output) {
                    parser.detach_args();
                    lookahead.detach();
                }
                publish_buffers(shared, client, &input, &output);
                resize_timer.as_mut().reset(resizer.next().into());
            }
            _ = info.kill.notified() => return Ok(()),
            _ = shared.shutdown.cancelled() => return Ok(()),
            _ = idle_timeout => return Ok(()),
        }
        if info.killed.load(Ordering::Acquire) {
            return Ok(());
        }
    }
}

/// Reads up to `max` bytes into `input` (as `read_buf`, but borrowing the stream shared, so
/// that a wait for it to be writable can run beside it).
async fn read_some<S: ClientStream>(stream: &S, input: &mut BytesMut, max: usize) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read_buf(&mut input.limit(max)) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            read => return read,
        }
    }
}

/// Writes what the socket takes now without waiting; the rest stays in `output`.
fn write_now<S: ClientStream>(stream: &S, shared: &Shared, output: &mut BytesMut) -> std::io::Result<()> {
    while !output.is_empty() {
        match stream.try_write(output) {
            Ok(n) => {
                shared.stats.total_net_output_bytes.fetch_add(n as u64, Ordering::Relaxed);
                shared.stats.total_writes_processed.fetch_add(1, Ordering::Relaxed);
                output.advance(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    if output.is_empty() {
        // Back to the start of its allocation, for the next batch.
        output.clear();
    }
    Ok(())
}

/// Writes all of `output`, waiting for the client to take it.
async fn write_out<S: ClientStream>(stream: &mut S, shared: &Shared, output: &mut BytesMut) -> std::io::Result<()> {
    shared.stats.total_net_output_bytes.fetch_add(output.len() as u64, Ordering::Relaxed);
    shared.stats.total_writes_processed.fetch_add(1, Ordering::Relaxed);
    stream.write_all(output).await?;
    output.clear();
    Ok(())
}

/// Publishes the connection's buffer figures, and evicts clients if together they now hold
/// more than `maxmemory-clients`.
fn publish_buffers(shared: &Shared, client: &Client, input: &BytesMut, output: &BytesMut) {
    let multi_mem = client.multi.as_ref().map_or(0, |m| m.memory());
    let limit = shared.hot.maxmemory_clients.load(Ordering::Relaxed);
    let now_secs = shared.store.coarse_now_ms() / 1000;
    let figures = buffers::BufferSnapshot::of(input, output, multi_mem);
    if shared.client_memory.publish(&client.info, &figures, now_secs, limit) {
        shared.client_memory.evict(&shared.clients, limit);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Waits out what a command blocked on; None if the client is killed or the server stops
/// meanwhile.
async fn wait_blocked(shared: &Shared, client: &mut Client, blocked: Blocked, argv_mem: usize) -> Option<Reply> {
    let info = client.info.clone();
    // CLIENT LIST shows a blocked client's flags as `b` (Redis's CLIENT_BLOCKED), its command
    // and arguments, and the flags it had once it is answered.
    let in_wait = matches!(blocked, Blocked::Replicas { .. }).then_some(&shared.stats.blocked_in_wait);
    let _flagged = BlockedFlag::set(&info, client.last_cmd, argv_mem, in_wait);
    let unblocked = async {
        match blocked {
            Blocked::Replicas { offset, replicas, deadline } => {
                commands::replication::wait_for_replicas(shared, offset, replicas, deadline).await
            }
            Blocked::WritesPaused { mut args } => {
                shared.repl.wait_writes_unpaused().await;
                // Everything is checked again: after a failover the write meets a replica.
                let reply = commands::execute(shared, client, &mut args);
                match client.blocked.take() {
                    Some(again) => Box::pin(wait_blocked(shared, client, again, argv_mem)).await.unwrap_or(reply),
                    None => reply,
                }
            }
            Blocked::Keys { waiter, deadline, mut args } => {
                match commands::blocking::wait_served(shared, waiter, deadline).await {
                    commands::blocking::Outcome::Served(reply) => reply,
                    // Its move could not be made by the pusher: the command runs again.
                    commands::blocking::Outcome::Retry => {
                        let reply = commands::execute(shared, client, &mut args);
                        match client.blocked.take() {
                            Some(again) => {
                                Box::pin(wait_blocked(shared, client, again, argv_mem)).await.unwrap_or(reply)
                            }
                            None => reply,
                        }
                    }
                }
            }
        }
    };
    tokio::select! {
        reply = unblocked => Some(reply),
        _ = info.kill.notified() => None,
        _ = shared.shutdown.cancelled() => None,
    }
}

/// Shows `flags=b`, the command and its `argv-mem` in CLIENT LIST for as long as it lives,
/// and counts a WAIT in INFO `blocked_clients`.
struct BlockedFlag<'a> {
    info: &'a crate::client::ClientInfo,
    before: String,
    in_wait: Option<&'a AtomicU64>,
}

impl<'a> BlockedFlag<'a> {
    fn set(
        info: &'a crate::client::ClientInfo,
        cmd: Option<&'static commands::CommandSpec>,
        argv_mem: usize,
        in_wait: Option<&'a AtomicU64>,
    ) -> BlockedFlag<'a> {
        let before = {
            let mut meta = info.meta.lock();
            // Published after each batch otherwise; the batch is not over while it waits.
            meta.last_cmd = cmd.map(|spec| (spec.name, spec.parent));
            std::mem::replace(&mut meta.flags, "b".into())
        };
        info.buffers.blocked_argv_mem.store(argv_mem as u64, Ordering::Relaxed);
        if let Some(count) = in_wait {
            count.fetch_add(1, Ordering::Relaxed);
        }
        BlockedFlag { info, before, in_wait }
    }
}

impl Drop for BlockedFlag<'_> {
    fn drop(&mut self) {
        self.info.meta.lock().flags = std::mem::take(&mut self.before);
        self.info.buffers.blocked_argv_mem.store(0, Ordering::Relaxed);
        if let Some(count) = self.in_wait {
            count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Loopback, counting IPv4-mapped IPv6 (`::ffff:127.0.0.1`, a v4 client of a dual-stack
/// listener) as the IPv4 address it is.
fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// Appends the reply unless CLIENT REPLY silences it.
fn write_reply(client: &mut Client, reply: &Reply, output: &mut BytesMut) {
    match client.reply_mode {
        ReplyMode::On => encode(reply, client.resp, output),
        ReplyMode::Off => {}
        // Armed by CLIENT REPLY SKIP: that command's own reply is suppressed too
        // (Redis skips "CLIENT REPLY SKIP" itself and the next command).
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skipping,
        ReplyMode::Skipping => client.reply_mode = ReplyMode::On,
    }
}

/// The monitor's next lines while the connection takes more output, else only its overflow.
async fn next_monitor_event(monitor: &Option<super::monitor::Subscription<'_>>, take_lines: bool) -> MonitorEvent {
    match monitor {
        None => std::future::pending().await,
        Some(sub) if take_lines => sub.monitor.next().await,
        Some(sub) => {
            sub.monitor.overflowed().await;
            MonitorEvent::Overflowed
        }
    }
}

/// Redis's line for a client closed over its output buffer limit.
fn close_overflowed(client: &Client) {
    tracing::warn!(
        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
        client.info.list_line()
    );
}
