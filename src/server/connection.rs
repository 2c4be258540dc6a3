//! One client connection: read → parse every complete request → dispatch each → encode all
//! replies into one buffer → one write. Framing errors reply and close; command errors reply
//! and keep the connection.

use super::lookahead::Lookahead;
use super::monitor::MonitorEvent;
use super::Shared;
use crate::client::{Blocked, Client, ClientInfo, ReplyMode};
use crate::commands;
use bytes::BytesMut;
use ferrocache_protocol::{encode, Limits, Reply, RequestParser};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_CHUNK: usize = 16 * 1024;

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
pub trait ClientStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {
    fn tcp(&mut self) -> Option<&mut TcpStream>;
    #[cfg(unix)]
    fn raw_fd(&self) -> i64;
}

impl ClientStream for TcpStream {
    fn tcp(&mut self) -> Option<&mut TcpStream> {
        Some(self)
    }
    #[cfg(unix)]
    fn raw_fd(&self) -> i64 {
        std::os::fd::AsRawFd::as_raw_fd(self) as i64
    }
}

#[cfg(unix)]
impl ClientStream for tokio::net::UnixStream {
    fn tcp(&mut self) -> Option<&mut TcpStream> {
        None
    }
    fn raw_fd(&self) -> i64 {
        std::os::fd::AsRawFd::as_raw_fd(self) as i64
    }
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
}

async fn serve_client<S: ClientStream>(stream: &mut S, shared: &Shared, client: &mut Client) -> std::io::Result<()> {
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut output = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = RequestParser::new();
    // Held while this client monitors (MONITOR until RESET or the end).
    let mut monitor = None;
    let info = client.info.clone();
    let mut lookahead = Lookahead::default();
    loop {
        let turn_started = super::busy_poll::turn_start();
        // Execute every complete request already buffered.
        let mut executed = false;
        loop {
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
                    parser.recycle(args);
                    if let Some(blocked) = client.blocked.take() {
                        // Earlier replies first; nothing after this request runs until it is answered.
                        stream.write_all(&output).await?;
                        output.clear();
                        let Some(reply) = wait_blocked(shared, client, blocked).await else { return Ok(()) };
                        write_reply(client, &reply, &mut output);
                        continue;
                    }
                    if let Some(request) = client.sync_request.take() {
                        // The connection is a replica's from here on.
                        stream.write_all(&output).await?;
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
                        stream.write_all(&output).await?;
                        return Ok(());
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // Redis logs the protocol error, replies, then closes.
                    tracing::debug!(client = client.id, "{e}");
                    encode(&Reply::error(e.reply_text()), client.resp, &mut output);
                    stream.write_all(&output).await?;
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
        if !output.is_empty() {
            shared.stats.total_net_output_bytes.fetch_add(output.len() as u64, Ordering::Relaxed);
            stream.write_all(&output).await?;
            output.clear();
        }
        // A request larger than client-query-buffer-limit: Redis closes without replying.
        let limit = shared.hot.client_query_buffer_limit.load(Ordering::Relaxed) as usize;
        if input.len() > limit {
            tracing::warn!(client = client.id, "closing client that reached max query buffer length");
            return Ok(());
        }
        if executed {
            // How much of this worker's time connections take: the busy-poll lead's gauge.
            super::busy_poll::add_busy(turn_started);
        }
        if input.capacity() - input.len() < READ_CHUNK / 4 {
            input.reserve(READ_CHUNK);
        }
        let idle = shared.hot.timeout_secs.load(Ordering::Relaxed);
        let idle_timeout = async {
            if idle == 0 || client.monitor {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(idle)).await
            }
        };
        tokio::select! {
            read = stream.read_buf(&mut input) => {
                let n = read?;
                if n == 0 {
                    return Ok(());
                }
                shared.stats.total_net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            event = next_monitor_event(&monitor) => match event {
                MonitorEvent::Lines(lines) => {
                    let m = monitor.as_ref().map(|s| s.monitor.clone()).expect("lines come from a monitor");
                    // A monitor that stops reading must not hold this task in the write
                    // past its limit: it is closed then.
                    tokio::select! {
                        written = stream.write_all(&lines) => written?,
                        _ = m.overflowed() => {
                            close_overflowed(client);
                            return Ok(());
                        }
                        _ = info.kill.notified() => return Ok(()),
                        _ = shared.shutdown.cancelled() => return Ok(()),
                    }
                }
                MonitorEvent::Overflowed => {
                    close_overflowed(client);
                    return Ok(());
                }
            },
            _ = info.kill.notified() => return Ok(()),
            _ = shared.shutdown.cancelled() => return Ok(()),
            _ = idle_timeout => return Ok(()),
        }
        if info.killed.load(Ordering::Acquire) {
            return Ok(());
        }
    }
}

/// Waits out what a command blocked on; None if the client is killed or the server stops
/// meanwhile.
async fn wait_blocked(shared: &Shared, client: &mut Client, blocked: Blocked) -> Option<Reply> {
    let info = client.info.clone();
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
                    Some(again) => Box::pin(wait_blocked(shared, client, again)).await.unwrap_or(reply),
                    None => reply,
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

async fn next_monitor_event(monitor: &Option<super::monitor::Subscription<'_>>) -> MonitorEvent {
    match monitor {
        None => std::future::pending().await,
        Some(sub) => sub.monitor.next().await,
    }
}

/// Redis's line for a client closed over its output buffer limit.
fn close_overflowed(client: &Client) {
    tracing::warn!(
        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
        client.info.list_line()
    );
}
