//! Serving one replica on the connection it sent `SYNC` / `PSYNC` on (Redis's
//! `syncCommand` and the replica's life as a client after it).
//!
//! 1. `PSYNC <replid> <offset>` that the backlog can serve: `+CONTINUE <replid>`, then the
//!    stream from that offset.
//! 2. Otherwise (or `SYNC`): a snapshot cut now, `+FULLRESYNC <replid> <offset>` (not for
//!    `SYNC`), the RDB: diskless (`$EOF:<mark>` … `<mark>`, written while it is produced) when
//!    `repl-diskless-sync yes` and the replica said `capa eof`, else saved to `dbfilename`
//!    first and sent as `$<len>`. Newlines keep the link alive while the replica waits. The
//!    primary keeps serving writes meanwhile: they go to the backlog, which keeps them for
//!    this replica (see [`backlog`](super::backlog)).
//! 3. The stream, as it grows. `REPLCONF ACK <offset>` from the replica is read meanwhile;
//!    a replica silent for `repl-timeout` is dropped.

use super::{PeerState, ReplicaPeer};
use crate::client::Client;
use crate::config::ClientClass;
use crate::server::{OutputLimitCheck, Shared};
use bytes::{Bytes, BytesMut};
use ferrocache_protocol::{Limits, RequestParser};
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// What the replica said about itself with `REPLCONF` before syncing.
#[derive(Debug, Default, Clone)]
pub struct Handshake {
    pub listening_port: u16,
    pub ip_address: Option<String>,
    /// Understands diskless payloads (`$EOF:<mark>`).
    pub capa_eof: bool,
    /// Understands `+CONTINUE <replid>`.
    pub capa_psync2: bool,
    /// `redis-cli --rdb`: only the snapshot, no stream after it.
    pub rdb_only: bool,
    /// `REPLCONF rdb-filter-only functions` (`redis-cli --functions-rdb`): no keys.
    pub functions_only: bool,
}

/// How the replica asked to sync.
#[derive(Debug, Clone)]
pub enum SyncRequest {
    /// The old protocol: always a full sync, no `+FULLRESYNC` line.
    Sync,
    Psync {
        replid: String,
        offset: i64,
    },
}

/// Serves a replica until it disconnects (or is dropped). `input` holds what the connection
/// read after the `PSYNC` (the replica's first ACKs may already be there).
pub async fn serve(
    shared: Arc<Shared>,
    stream: &mut TcpStream,
    client: &mut Client,
    input: BytesMut,
    request: SyncRequest,
) -> io::Result<()> {
    let handshake = client.repl_handshake.take().map(|h| *h).unwrap_or_default();
    let ip = handshake.ip_address.clone().unwrap_or_else(|| client.info.addr.ip().to_canonical().to_string());
    let peer = Arc::new(ReplicaPeer::new(client.id, ip, handshake.listening_port));
    client.info.meta.lock().flags = "S".into();
    if shared.config.read().repl_disable_tcp_nodelay {
        let _ = stream.set_nodelay(false);
    }
    if !handshake.rdb_only {
        shared.repl.add_replica(peer.clone());
    }
    let result = sync_then_stream(&shared, stream, client, &peer, &handshake, input, request).await;
    shared.repl.remove_replica(client.id);
    match &result {
        Ok(()) => tracing::info!("Connection with replica {}:{} lost.", peer.ip, peer.port),
        Err(e) => tracing::warn!("Connection with replica {}:{} lost: {e}", peer.ip, peer.port),
    }
    result
}

async fn sync_then_stream(
    shared: &Arc<Shared>,
    stream: &mut TcpStream,
    client: &Client,
    peer: &Arc<ReplicaPeer>,
    handshake: &Handshake,
    input: BytesMut,
    request: SyncRequest,
) -> io::Result<()> {
    let who = format!("{}:{}", peer.ip, peer.port);
    let continued = match &request {
        SyncRequest::Psync { replid, offset } if !handshake.rdb_only => {
            let id = shared.repl.can_continue(replid, *offset, peer);
            if id.is_none() && replid != "?" {
                shared.repl.stats.partial_err.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    "Partial resynchronization not accepted: Replication ID mismatch or offset out of range (Replica asked for '{replid}' offset {offset})"
                );
            }
            id.map(|id| (id, *offset as u64))
        }
        _ => None,
    };
    let (from, diskless) = match continued {
        Some((id, from)) => {
            shared.repl.stats.partial_ok.fetch_add(1, Ordering::Relaxed);
            let line = if handshake.capa_psync2 { format!("+CONTINUE {id}\r\n") } else { "+CONTINUE\r\n".into() };
            stream.write_all(line.as_bytes()).await?;
            tracing::info!(
                "Partial resynchronization request from {who} accepted. Sending {} bytes of backlog starting from offset {from}.",
                shared.repl.offset() + 1 - from
            );
            (from, false)
        }
        None => {
            tracing::info!("Replica {who} asks for synchronization: full resync");
            let psync = matches!(request, SyncRequest::Psync { .. });
            let (offset, diskless) = full_sync(shared, stream, peer, handshake, psync).await?;
            (offset + 1, diskless)
        }
    };
    if handshake.rdb_only {
        tracing::info!("Snapshot sent to {who} (rdb-only): closing the connection");
        return Ok(());
    }
    peer.set_state(PeerState::Online);
    peer.ack_time_ms.store(crate::store::system_now_ms(), Ordering::Relaxed);
    tracing::info!("Synchronization with replica {who} succeeded");
    // After a diskless payload the replica finds its end by the mark being the last bytes it
    // read, so the stream waits for its first ACK (Redis's `repl_start_cmd_stream_on_ack`).
    stream_to(shared, stream, client, peer, from, input, diskless).await
}

/// The snapshot part of a full sync; returns the offset it is as of.
async fn full_sync(
    shared: &Arc<Shared>,
    stream: &mut TcpStream,
    peer: &Arc<ReplicaPeer>,
    handshake: &Handshake,
    psync: bool,
) -> io::Result<(u64, bool)> {
    shared.repl.stats.full.fetch_add(1, Ordering::Relaxed);
    let (diskless, delay, max_waiting, backlog_size) = {
        let c = shared.config.read();
        (
            c.repl_diskless_sync && handshake.capa_eof,
            c.repl_diskless_sync_delay,
            c.repl_diskless_sync_max_replicas,
            c.repl_backlog_size,
        )
    };
    if handshake.functions_only {
        return Ok((send_functions_only(shared, stream, psync).await?, false));
    }
    if diskless && delay > 0 && !handshake.rdb_only {
        // Redis waits this long for more replicas to share one transfer; ours each get their
        // own, but the wait is what users configured (and what the replica expects).
        // `repl-diskless-sync-max-replicas`: as many waiting as that, and the wait ends early.
        let enough_waiting = || {
            max_waiting > 0
                && shared.repl.replicas().iter().filter(|r| r.state() == PeerState::WaitBgsave).count() as u64
                    >= max_waiting
        };
        for _ in 0..delay {
            if enough_waiting() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            stream.write_all(b"\n").await?;
        }
    }
    let (at_tx, at_rx) = tokio::sync::oneshot::channel();
    let (chunk_tx, mut chunk_rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let job = {
        let shared = shared.clone();
        let peer = peer.clone();
        let rdb_only = handshake.rdb_only;
        tokio::task::spawn_blocking(move || -> io::Result<Option<std::path::PathBuf>> {
            let mut at_tx = Some(at_tx);
            // Under every shard lock: the snapshot and the stream meet at this offset.
            let at_cut = || {
                let at = if rdb_only {
                    (shared.repl.ids().replid, shared.repl.offset())
                } else {
                    let at = shared.repl.attach_at_cut(&peer, backlog_size);
                    shared.refresh_effects();
                    at
                };
                if let Some(tx) = at_tx.take() {
                    let _ = tx.send(at);
                }
            };
            if !diskless {
                return shared.save_for_sync(at_cut).map(Some);
            }
            let cut = shared.store.cut(at_cut);
            let snapshot = cut.finish(&shared.store);
            let options = shared.save_options_for_sync();
            let out = ChunkWriter { buf: Vec::with_capacity(CHUNK), tx: chunk_tx };
            crate::persistence::rdb_file::write_to(&snapshot, out, &options)?.finish()?;
            Ok(None)
        })
    };
    let (replid, offset) = match at_rx.await {
        Ok(at) => at,
        Err(_) => {
            let failed = job.await.map_err(io::Error::other)?;
            return Err(failed.err().unwrap_or_else(|| io::Error::other("snapshot failed")));
        }
    };
    peer.set_state(PeerState::WaitBgsave);
    tracing::info!("Starting BGSAVE for SYNC with target: {}", if diskless { "replicas sockets" } else { "disk" });
    if psync {
        stream.write_all(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes()).await?;
    }
    if diskless {
        peer.set_state(PeerState::SendBulk);
        let mark = super::random_replid();
        stream.write_all(format!("$EOF:{mark}\r\n").as_bytes()).await?;
        while let Some(chunk) = chunk_rx.recv().await {
            stream.write_all(&chunk).await?;
            shared.stats.total_net_repl_output_bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        job.await.map_err(io::Error::other)??;
        stream.write_all(mark.as_bytes()).await?;
    } else {
        // Newlines every second while the file is written, so the replica's timeout does
        // not fire (`replicationCron`).
        tokio::pin!(job);
        let path = loop {
            tokio::select! {
                done = &mut job => break done.map_err(io::Error::other)??.expect("a disk sync saves a file"),
                _ = tokio::time::sleep(Duration::from_secs(1)) => stream.write_all(b"\n").await?,
            }
        };
        peer.set_state(PeerState::SendBulk);
        let mut file = tokio::fs::File::open(&path).await?;
        let len = file.metadata().await?.len();
        stream.write_all(format!("${len}\r\n").as_bytes()).await?;
        let copied = tokio::io::copy(&mut (&mut file).take(len), stream).await?;
        shared.stats.total_net_repl_output_bytes.fetch_add(copied, Ordering::Relaxed);
        if copied != len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the RDB file shrank while being sent"));
        }
    }
    Ok((offset, diskless))
}

/// `redis-cli --functions-rdb`: an RDB of the functions only, which is one with no keys
/// (there are no functions here).
async fn send_functions_only(shared: &Arc<Shared>, stream: &mut TcpStream, psync: bool) -> io::Result<u64> {
    let (replid, offset) = (shared.repl.ids().replid, shared.repl.offset());
    let options = shared.save_options_for_sync();
    let rdb = crate::persistence::rdb_file::write_to(&crate::store::Snapshot::default(), Vec::new(), &options)?;
    if psync {
        stream.write_all(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes()).await?;
    }
    stream.write_all(format!("${}\r\n", rdb.len()).as_bytes()).await?;
    stream.write_all(&rdb).await?;
    shared.stats.total_net_repl_output_bytes.fetch_add(rdb.len() as u64, Ordering::Relaxed);
    Ok(offset)
}

const CHUNK: usize = 64 * 1024;

/// An `io::Write` handing 64 KB chunks to the connection task (a diskless transfer).
struct ChunkWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "replica gone"))
    }

    fn finish(mut self) -> io::Result<()> {
        self.send()
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends the stream from offset `from` as it grows, and reads the replica's ACKs, until
/// either side fails, the replica is killed or the server shuts down. With
/// `wait_first_ack`, nothing is sent before the replica's first ACK.
async fn stream_to(
    shared: &Arc<Shared>,
    stream: &mut TcpStream,
    client: &Client,
    peer: &Arc<ReplicaPeer>,
    mut from: u64,
    mut input: BytesMut,
    wait_first_ack: bool,
) -> io::Result<()> {
    let acked_once = Notify::new();
    let (mut rd, mut wr) = stream.split();
    let reader = async {
        let mut parser = RequestParser::new();
        let limits = Limits { max_bulk_len: 1 << 20, authenticated: true };
        loop {
            while let Some(args) = parser.parse(&mut input, &limits).map_err(|e| io::Error::other(e.reply_text()))? {
                if handle_from_replica(shared, peer, &args) {
                    acked_once.notify_one();
                }
            }
            if input.len() > 1 << 20 {
                return Err(io::Error::other("replica sent an oversized request"));
            }
            input.reserve(4096);
            if rd.read_buf(&mut input).await? == 0 {
                return Ok(());
            }
        }
    };
    let writer = async {
        if wait_first_ack {
            acked_once.notified().await;
        }
        let mut chunks = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut limit_check = OutputLimitCheck::default();
        // `client-output-buffer-limit replica` over the stream not yet sent (`from` is its
        // first byte), before every write and every second, also while a write waits on a
        // replica that stopped reading; and, every second, `repl-timeout` since its last ACK.
        let mut check = |from: u64, tick: bool| -> io::Result<()> {
            let unsent = (shared.repl.offset() + 1).saturating_sub(from);
            if limit_check.over(unsent as usize, shared.hot.output_limit(ClientClass::Replica)) {
                return Err(over_output_limit(client));
            }
            if tick && peer.lag_secs() > shared.config.read().repl_timeout {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "Disconnecting timedout replica"));
            }
            Ok(())
        };
        loop {
            // Let the clients this worker is serving add their writes first, so the stream
            // leaves in fewer, larger writes (Redis writes to replicas once per event loop).
            tokio::task::yield_now().await;
            let grown = shared.repl.grown();
            tokio::pin!(grown);
            grown.as_mut().enable();
            shared.repl.mark_sender_sleeping();
            chunks.clear();
            check(from, false)?;
            // Past the hard limit the backlog no longer holds what the replica needs.
            let next = shared.repl.read_from(from, &mut chunks).map_err(|_| over_output_limit(client))?;
            if !chunks.is_empty() {
                let total: usize = chunks.iter().map(Bytes::len).sum();
                shared.stats.total_net_repl_output_bytes.fetch_add(total as u64, Ordering::Relaxed);
                let write = write_chunks(&mut wr, &chunks, total);
                tokio::pin!(write);
                loop {
                    tokio::select! {
                        written = &mut write => break written?,
                        _ = tick.tick() => check(from, true)?,
                    }
                }
                from = next;
                peer.next_offset.store(from, Ordering::Relaxed);
                shared.repl.trim(shared.config.read().repl_backlog_size);
                continue;
            }
            tokio::select! {
                _ = &mut grown => {}
                _ = tick.tick() => check(from, true)?,
            }
        }
    };
    let info = &client.info;
    tokio::select! {
        r = reader => r,
        w = writer => w,
        _ = info.kill.notified() => Ok(()),
        _ = shared.shutdown.cancelled() => Ok(()),
    }
}

/// Redis's line for a replica over `client-output-buffer-limit replica`, and the error that
/// ends its stream.
fn over_output_limit(client: &Client) -> io::Error {
    tracing::warn!(
        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
        client.info.list_line()
    );
    io::Error::other("the replica passed its output buffer limit (client-output-buffer-limit replica)")
}

/// Writes the stream's pieces: one write for many small ones (a replica far behind gets big
/// pieces as they are).
/// (`total`: their bytes together.)
async fn write_chunks(wr: &mut (impl AsyncWriteExt + Unpin), chunks: &[Bytes], total: usize) -> io::Result<()> {
    if chunks.len() == 1 || total > 1 << 20 {
        for c in chunks {
            wr.write_all(c).await?;
        }
        return Ok(());
    }
    let mut joined = BytesMut::with_capacity(total);
    for c in chunks {
        joined.extend_from_slice(c);
    }
    wr.write_all(&joined).await
}

/// What a replica sends after its sync: `REPLCONF ACK <offset> [FACK <aof offset>]`;
/// anything else is ignored, as Redis's replies to a replica go nowhere.
/// True for an ACK.
fn handle_from_replica(shared: &Shared, peer: &ReplicaPeer, args: &[Bytes]) -> bool {
    if args.len() >= 3 && args[0].eq_ignore_ascii_case(b"replconf") && args[1].eq_ignore_ascii_case(b"ack") {
        if let Some(offset) = std::str::from_utf8(&args[2]).ok().and_then(|s| s.parse::<u64>().ok()) {
            peer.ack_offset.fetch_max(offset, Ordering::Relaxed);
            peer.ack_time_ms.store(crate::store::system_now_ms(), Ordering::Relaxed);
            shared.repl.acked.notify_waiters();
            return true;
        }
    }
    false
}
