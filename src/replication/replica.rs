//! Replicating a primary (`REPLICAOF host port`, or `replicaof` in the config): one task per
//! primary, which connects, shakes hands as a Redis 7.0 replica does, syncs, applies the
//! stream, and on a dropped link reconnects every second and asks to continue.
//!
//! Handshake: `PING`, `AUTH [masteruser] masterauth` when set, `REPLCONF listening-port`,
//! `REPLCONF ip-address` when announced, `REPLCONF capa eof capa psync2`, then
//! `PSYNC <replid> <offset+1>` when there is a history to continue (else `PSYNC ? -1`).
//!
//! A full sync is written to a temporary file while clients are still served the old data
//! (`replica-serve-stale-data`), then loaded in one go with `-LOADING` answered meanwhile,
//! so nobody sees a half-loaded dataset. Commands from the primary are applied as they come,
//! relayed to our own replicas byte for byte, and acknowledged every second and whenever
//! the primary asks (`REPLCONF GETACK`).

use crate::client::Client;
use crate::server::Shared;
use bytes::{Buf, Bytes, BytesMut};
use ferrocache_protocol::{Limits, RequestParser};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Where the link is, as ROLE names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    Connect = 0,
    Connecting = 1,
    Handshake = 2,
    Sync = 3,
    Connected = 4,
}

impl LinkState {
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// The link to our primary, as INFO and ROLE see it.
#[derive(Debug)]
pub struct MasterLink {
    pub host: String,
    pub port: u16,
    /// Cancelled by REPLICAOF NO ONE / another REPLICAOF: the task ends.
    pub cancel: CancellationToken,
    state: AtomicU8,
    /// Unix ms of the last byte from the primary.
    pub last_io_ms: AtomicU64,
    /// Unix ms since when the link is down (0 while up).
    pub down_since_ms: AtomicU64,
    /// Bytes of the snapshot being transferred (-1 while unknown: a diskless payload).
    pub transfer_size: AtomicI64,
    pub transfer_read: AtomicU64,
    /// The offset read from the primary (`slave_read_repl_offset`), ahead of the applied one
    /// by what is buffered.
    pub read_offset: AtomicU64,
    /// The database the primary's stream has selected (an RDB's `repl-stream-db`).
    pub stream_db: AtomicUsize,
    /// Set by FAILOVER: the first PSYNC carries `FAILOVER` (the target promotes itself), and
    /// its outcome is reported here.
    pub failover: parking_lot::Mutex<Option<tokio::sync::oneshot::Sender<Result<(), String>>>>,
}

impl MasterLink {
    pub fn new(host: String, port: u16, stream_db: usize) -> MasterLink {
        MasterLink {
            host,
            port,
            cancel: CancellationToken::new(),
            state: AtomicU8::new(LinkState::Connect as u8),
            last_io_ms: AtomicU64::new(0),
            down_since_ms: AtomicU64::new(crate::store::system_now_ms()),
            transfer_size: AtomicI64::new(-1),
            transfer_read: AtomicU64::new(0),
            read_offset: AtomicU64::new(0),
            stream_db: AtomicUsize::new(stream_db),
            failover: parking_lot::Mutex::new(None),
        }
    }

    pub fn state(&self) -> LinkState {
        match self.state.load(Ordering::Relaxed) {
            0 => LinkState::Connect,
            1 => LinkState::Connecting,
            2 => LinkState::Handshake,
            3 => LinkState::Sync,
            _ => LinkState::Connected,
        }
    }

    fn set_state(&self, s: LinkState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    pub fn is_up(&self) -> bool {
        self.state() == LinkState::Connected
    }

    fn touch(&self) {
        self.last_io_ms.store(crate::store::system_now_ms(), Ordering::Relaxed);
    }
}

/// Why a session with the primary ended.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Protocol(String),
}

/// Replicates the primary of `link` until the link is cancelled.
pub async fn run(shared: Arc<Shared>, link: Arc<MasterLink>) {
    tracing::info!("Connecting to MASTER {}:{}", link.host, link.port);
    let mut master = Client::replayer();
    master.select(link.stream_db.load(Ordering::Relaxed));
    loop {
        link.set_state(LinkState::Connecting);
        let session = session(&shared, &link, &mut master);
        let ended = tokio::select! {
            r = session => r,
            _ = link.cancel.cancelled() => Ok(()),
            _ = shared.shutdown.cancelled() => Ok(()),
        };
        link.set_state(LinkState::Connect);
        let _ =
            link.down_since_ms.compare_exchange(0, crate::store::system_now_ms(), Ordering::Relaxed, Ordering::Relaxed);
        // A transaction cut short by the drop is not applied (Redis discards it too).
        master.multi = None;
        if link.cancel.is_cancelled() || shared.shutdown.is_cancelled() {
            return;
        }
        if let Err(e) = ended {
            tracing::warn!("Connection with master lost: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = link.cancel.cancelled() => return,
            _ = shared.shutdown.cancelled() => return,
        }
        tracing::info!("Connecting to MASTER {}:{}", link.host, link.port);
    }
}

/// A connection to the primary with its read buffer.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
}

impl Conn {
    async fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut out = Vec::new();
        crate::persistence::aof::encode_command(&mut out, args);
        self.stream.write_all(&out).await
    }

    /// One reply line without its CRLF; at most 64 KB (a primary sends short lines here).
    async fn line(&mut self, link: &MasterLink) -> Result<String, LinkError> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(end + 1);
                let text = String::from_utf8_lossy(&line[..end]).trim_end_matches('\r').to_string();
                return Ok(text);
            }
            if self.buf.len() > 64 * 1024 {
                return Err(LinkError::Protocol("the master sent an over-long line".into()));
            }
            self.read_more(link).await?;
        }
    }

    /// A reply line, skipping the empty lines a primary sends to keep the link alive.
    async fn reply(&mut self, link: &MasterLink) -> Result<String, LinkError> {
        loop {
            let line = self.line(link).await?;
            if !line.is_empty() {
                return Ok(line);
            }
        }
    }

    async fn read_more(&mut self, link: &MasterLink) -> Result<usize, LinkError> {
        self.buf.reserve(16 * 1024);
        let n = tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf))
            .await
            .map_err(|_| LinkError::Protocol("Timeout connecting to the MASTER...".into()))??;
        if n == 0 {
            return Err(LinkError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the master closed the connection",
            )));
        }
        link.touch();
        Ok(n)
    }
}

/// One connection to the primary: handshake, sync, stream, until it fails.
async fn session(shared: &Arc<Shared>, link: &Arc<MasterLink>, master: &mut Client) -> Result<(), LinkError> {
    let (timeout, auth, user, announce_ip, announce_port) = {
        let c = shared.config.read();
        (
            Duration::from_secs(c.repl_timeout),
            c.masterauth.clone(),
            c.masteruser.clone(),
            c.replica_announce_ip.clone(),
            c.replica_announce_port,
        )
    };
    let stream = tokio::time::timeout(timeout, TcpStream::connect((link.host.as_str(), link.port)))
        .await
        .map_err(|_| LinkError::Protocol("Timeout connecting to the MASTER...".into()))??;
    let _ = stream.set_nodelay(true);
    tracing::info!("MASTER <-> REPLICA sync started");
    link.set_state(LinkState::Handshake);
    link.touch();
    let mut conn = Conn { stream, buf: BytesMut::with_capacity(16 * 1024), timeout };
    conn.send(&[b"PING"]).await?;
    let pong = conn.reply(link).await?;
    // An error other than an authentication one means the primary is unusable (Redis too).
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(LinkError::Protocol(format!("Error reply to PING from master: '{pong}'")));
    }
    tracing::info!("Master replied to PING, replication can continue...");
    if !auth.is_empty() {
        if user.is_empty() {
            conn.send(&[b"AUTH", auth.as_bytes()]).await?;
        } else {
            conn.send(&[b"AUTH", user.as_bytes(), auth.as_bytes()]).await?;
        }
        let reply = conn.reply(link).await?;
        if reply.starts_with('-') {
            return Err(LinkError::Protocol(format!("Unable to AUTH to MASTER: {reply}")));
        }
    }
    let port = if announce_port != 0 { announce_port } else { shared.port() };
    conn.send(&[b"REPLCONF", b"listening-port", port.to_string().as_bytes()]).await?;
    let reply = conn.reply(link).await?;
    if reply.starts_with('-') {
        tracing::info!("(Non critical) Master does not understand REPLCONF listening-port: {reply}");
    }
    if !announce_ip.is_empty() {
        conn.send(&[b"REPLCONF", b"ip-address", announce_ip.as_bytes()]).await?;
        let reply = conn.reply(link).await?;
        if reply.starts_with('-') {
            tracing::info!("(Non critical) Master does not understand REPLCONF ip-address: {reply}");
        }
    }
    conn.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]).await?;
    let reply = conn.reply(link).await?;
    if reply.starts_with('-') {
        tracing::info!("(Non critical) Master does not understand REPLCONF capa: {reply}");
    }
    let target = shared.repl.psync_target();
    let failover = link.failover.lock().take();
    let (id, offset) = match &target {
        Some((id, offset)) => {
            tracing::info!("Trying a partial resynchronization (request {id}:{offset}).");
            (id.clone(), offset.to_string())
        }
        None => {
            tracing::info!("Partial resynchronization not possible (no cached master)");
            ("?".to_string(), "-1".to_string())
        }
    };
    if failover.is_some() {
        conn.send(&[b"PSYNC", id.as_bytes(), offset.as_bytes(), b"FAILOVER"]).await?;
    } else {
        conn.send(&[b"PSYNC", id.as_bytes(), offset.as_bytes()]).await?;
    }
    let reply = conn.reply(link).await?;
    if let Some(done) = failover {
        let outcome = if reply.starts_with('-') { Err(format!("PSYNC FAILOVER refused: {reply}")) } else { Ok(()) };
        let _ = done.send(outcome);
    }
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut words = rest.split_whitespace();
        let (Some(id), Some(offset)) = (words.next(), words.next().and_then(|o| o.parse::<u64>().ok())) else {
            return Err(LinkError::Protocol(format!("Master replied with wrong +FULLRESYNC syntax: {reply}")));
        };
        tracing::info!("Full resync from master: {id}:{offset}");
        link.set_state(LinkState::Sync);
        // Our replicas' history is about to be replaced: they must sync again.
        shared.disconnect_replicas();
        full_sync(shared, link, &mut conn, id, offset, master).await?;
        tracing::info!("MASTER <-> REPLICA sync: Finished with success");
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = rest.trim();
        if !new_id.is_empty() {
            let old = shared.repl.ids().replid;
            if old != new_id {
                shared.repl.switch_replid(new_id);
                tracing::info!("Master replication ID changed to {new_id}");
                shared.disconnect_replicas();
            }
        }
        tracing::info!("Successful partial resynchronization with master.");
        tracing::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(LinkError::Protocol(format!(
            "Master is currently unable to PSYNC but should be in the future: {reply}"
        )));
    } else {
        return Err(LinkError::Protocol(format!("Unexpected reply to PSYNC from master: {reply}")));
    }
    link.set_state(LinkState::Connected);
    link.down_since_ms.store(0, Ordering::Relaxed);
    apply_stream(shared, link, conn, master).await
}

/// Receives the snapshot into a temporary file (clients are served the old data meanwhile),
/// then loads it in one go.
async fn full_sync(
    shared: &Arc<Shared>,
    link: &MasterLink,
    conn: &mut Conn,
    replid: &str,
    offset: u64,
    master: &mut Client,
) -> Result<(), LinkError> {
    let header = conn.reply(link).await?;
    if header.starts_with('-') {
        return Err(LinkError::Protocol(format!("MASTER aborted replication with an error: {header}")));
    }
    let Some(spec) = header.strip_prefix('$') else {
        return Err(LinkError::Protocol(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
        )));
    };
    let (dir, load_mode) = {
        let c = shared.config.read();
        (c.dir.clone(), c.repl_diskless_load.clone())
    };
    let from_socket = load_mode == "swapdb" || (load_mode == "on-empty-db" && shared.store.logical_used() == 0);
    let loaded = if from_socket {
        load_from_socket(shared, link, conn, spec, load_mode == "swapdb").await?
    } else {
        let temp =
            Path::new(&dir).join(format!("temp-{}.{}.rdb", crate::store::system_now_ms() / 1000, std::process::id()));
        let mut sink = PayloadSink::File(std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&temp)?));
        let received = match receive_payload(link, conn, spec, &mut sink).await {
            Ok(()) => sink.finish().map_err(LinkError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = received {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        tracing::info!("MASTER <-> REPLICA sync: Flushing old data");
        tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory");
        let loader = shared.clone();
        tokio::task::spawn_blocking(move || loader.load_from_primary(&temp)).await.map_err(io::Error::other)?.map_err(
            |e| LinkError::Protocol(format!("Failed trying to load the MASTER synchronization DB from disk: {e}")),
        )?
    };
    // The snapshot's bytes, as received, are replication input too.
    let received = link.transfer_read.load(Ordering::Relaxed);
    shared.stats.total_net_repl_input_bytes.fetch_add(received, Ordering::Relaxed);
    let backlog_size = shared.config.read().repl_backlog_size;
    shared.repl.reset_to_primary(replid, offset, backlog_size);
    link.read_offset.store(offset, Ordering::Relaxed);
    master.select(loaded.unwrap_or(0));
    master.multi = None;
    // The primary waits for this first ACK before streaming after a diskless payload.
    send_ack(conn, offset).await?;
    Ok(())
}

/// Where a snapshot from the primary goes: a temporary file (loaded afterwards), or the
/// loader reading it as it arrives (`repl-diskless-load`).
enum PayloadSink {
    File(std::io::BufWriter<std::fs::File>),
    Loader(tokio::sync::mpsc::Sender<Bytes>),
}

impl PayloadSink {
    async fn put(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            PayloadSink::File(f) => f.write_all(data),
            PayloadSink::Loader(tx) => tx
                .send(Bytes::copy_from_slice(data))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the loader stopped")),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            PayloadSink::File(f) => f.into_inner().map_err(|e| e.into_error())?.sync_all(),
            PayloadSink::Loader(_) => Ok(()),
        }
    }
}

/// Reads the `$<len>` or `$EOF:<mark>` payload into `sink`.
async fn receive_payload(
    link: &MasterLink,
    conn: &mut Conn,
    spec: &str,
    sink: &mut PayloadSink,
) -> Result<(), LinkError> {
    link.transfer_read.store(0, Ordering::Relaxed);
    if let Some(mark) = spec.strip_prefix("EOF:") {
        let mark = mark.as_bytes().to_vec();
        if mark.len() != 40 {
            return Err(LinkError::Protocol(format!("Bad EOF mark from MASTER: '{spec}'")));
        }
        link.transfer_size.store(-1, Ordering::Relaxed);
        // What arrived with the header is payload too (all of it, for a small snapshot).
        link.transfer_read.store(conn.buf.len() as u64, Ordering::Relaxed);
        tracing::info!("MASTER <-> REPLICA sync: receiving streamed RDB from master");
        // Everything but the last 40 bytes is surely payload; the transfer ends when the
        // bytes received end with the mark (the primary sends nothing after it until we ACK).
        loop {
            if conn.buf.len() >= 40 && conn.buf.ends_with(&mark) {
                let body = conn.buf.len() - 40;
                sink.put(&conn.buf[..body]).await?;
                conn.buf.clear();
                break;
            }
            if conn.buf.len() > 40 + (1 << 16) {
                let body = conn.buf.len() - 40;
                sink.put(&conn.buf[..body]).await?;
                conn.buf.advance(body);
            }
            let n = conn.read_more(link).await?;
            link.transfer_read.fetch_add(n as u64, Ordering::Relaxed);
        }
    } else {
        let len: u64 =
            spec.parse().map_err(|_| LinkError::Protocol(format!("Bad payload length from MASTER: '{spec}'")))?;
        link.transfer_size.store(len as i64, Ordering::Relaxed);
        tracing::info!("MASTER <-> REPLICA sync: receiving {len} bytes from master");
        let mut left = len;
        loop {
            let take = (conn.buf.len() as u64).min(left) as usize;
            sink.put(&conn.buf[..take]).await?;
            conn.buf.advance(take);
            left -= take as u64;
            link.transfer_read.store(len - left, Ordering::Relaxed);
            if left == 0 {
                break;
            }
            conn.read_more(link).await?;
        }
    }
    Ok(())
}

/// `repl-diskless-load on-empty-db | swapdb`: the snapshot is loaded as it arrives, with no
/// file. `swap`: into a store aside while clients are served the old data, swapped in once
/// complete (a failed transfer leaves the old data); otherwise into the (empty) store behind
/// `-LOADING`.
async fn load_from_socket(
    shared: &Arc<Shared>,
    link: &MasterLink,
    conn: &mut Conn,
    spec: &str,
    swap: bool,
) -> Result<Option<usize>, LinkError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let loader = {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || {
            let input = std::io::BufReader::with_capacity(1 << 16, ChannelReader { rx, chunk: Bytes::new() });
            shared.load_streamed_from_primary(input, swap)
        })
    };
    let how = if swap { "swapdb" } else { "on-empty-db" };
    tracing::info!("MASTER <-> REPLICA sync: Loading DB in memory from the socket ({how})");
    let mut sink = PayloadSink::Loader(tx);
    let fed = receive_payload(link, conn, spec, &mut sink).await;
    drop(sink);
    let loaded = loader.await.map_err(io::Error::other)?;
    fed?;
    loaded.map_err(|e| {
        LinkError::Protocol(format!("Failed trying to load the MASTER synchronization DB from socket: {e}"))
    })
}

/// An `io::Read` over the chunks a connection task hands over.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.chunk = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

async fn send_ack(conn: &mut Conn, offset: u64) -> io::Result<()> {
    conn.send(&[b"REPLCONF", b"ACK", offset.to_string().as_bytes()]).await
}

/// Applies the primary's stream until the link fails: each complete command is executed
/// as the primary's client (never refused, expired keys kept: the primary's DELs decide),
/// then relayed byte for byte to our own replicas and counted in our offset.
async fn apply_stream(
    shared: &Arc<Shared>,
    link: &Arc<MasterLink>,
    mut conn: Conn,
    master: &mut Client,
) -> Result<(), LinkError> {
    let mut parser = RequestParser::new();
    // The bytes of the commands being parsed, as received (the parser consumes its input).
    let mut raw = BytesMut::from(&conn.buf[..]);
    let mut input = std::mem::take(&mut conn.buf);
    let mut consumed = 0usize;
    let mut ack_tick = tokio::time::interval(Duration::from_secs(1));
    ack_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = conn.timeout;
    let mut read_buf = BytesMut::with_capacity(16 * 1024);
    let mut last_read = tokio::time::Instant::now();
    link.read_offset.store(shared.repl.offset() + raw.len() as u64, Ordering::Relaxed);
    // The complete commands of one read, with their bytes: applied in order, each one's key
    // prefetched a few commands ahead (a replica's lookups otherwise wait on memory one by one).
    let mut batch: Vec<(Vec<Bytes>, Bytes)> = Vec::new();
    loop {
        let limits =
            Limits { max_bulk_len: shared.hot.proto_max_bulk_len.load(Ordering::Relaxed) as i64, authenticated: true };
        loop {
            let before = input.len();
            let parsed = parser.parse(&mut input, &limits);
            consumed += before - input.len();
            match parsed {
                Ok(Some(args)) => {
                    batch.push((args, raw.split_to(consumed).freeze()));
                    consumed = 0;
                }
                Ok(None) => break,
                Err(e) => return Err(LinkError::Protocol(format!("Protocol error from MASTER: {}", e.reason()))),
            }
        }
        for i in 0..batch.len() {
            if let Some((ahead, _)) = batch.get(i + PREFETCH_AHEAD) {
                prefetch_key(shared, master.db, ahead);
            }
            let (args, bytes) = std::mem::take(&mut batch[i]);
            if is_getack(&args) {
                // The ACK counts what was applied before this request, as Redis's does.
                send_ack(&mut conn, shared.repl.offset()).await?;
                shared.repl.append_raw(&bytes);
                continue;
            }
            apply_one(shared, master, args, &bytes);
        }
        batch.clear();
        link.stream_db.store(master.db, Ordering::Relaxed);
        tokio::select! {
            // The timeout counts from the last byte received, not from this pass (the ACK
            // tick ends a pass every second).
            read = tokio::time::timeout_at(last_read + timeout, conn.stream.read_buf(&mut read_buf)) => {
                let n = read.map_err(|_| LinkError::Protocol("MASTER timeout: no data nor PING received...".into()))??;
                last_read = tokio::time::Instant::now();
                if n == 0 {
                    return Err(LinkError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "the master closed the connection")));
                }
                link.touch();
                raw.extend_from_slice(&read_buf);
                input.extend_from_slice(&read_buf);
                read_buf.clear();
                link.read_offset.fetch_add(n as u64, Ordering::Relaxed);
                shared.stats.total_net_repl_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            _ = ack_tick.tick() => send_ack(&mut conn, shared.repl.offset()).await?,
        }
    }
}

/// How many commands ahead of the one being applied its key's index lines are fetched.
const PREFETCH_AHEAD: usize = 4;

/// Starts loading the index lines of a command's first argument (the key of the writes a
/// primary sends, nearly always) in `db`; a hint only.
fn prefetch_key(shared: &Shared, db: usize, args: &[Bytes]) {
    if let Some(key) = args.get(1) {
        shared.store.prefetch(db, crate::store::key_hash(key));
    }
}

fn is_getack(args: &[Bytes]) -> bool {
    args.len() >= 2 && args[0].eq_ignore_ascii_case(b"replconf") && args[1].eq_ignore_ascii_case(b"getack")
}

/// Executes one command from the primary and relays its bytes, the relay done while the
/// command's shards are still held so a snapshot's cut never sees one without the other.
fn apply_one(shared: &Shared, master: &mut Client, args: Vec<Bytes>, bytes: &Bytes) {
    let name = String::from_utf8_lossy(&args[0]).into_owned();
    if let Err(e) = crate::commands::apply_replicated(shared, master, args, || shared.repl.append_raw(bytes)) {
        tracing::warn!("Error from a command sent by the master ('{name}'): {e}");
    }
}

impl Shared {
    /// Replaces the dataset with the snapshot in `temp` from our primary: `-LOADING` while it
    /// loads; expired keys are kept (the primary's DELs will come). The file becomes our
    /// RDB file, as Redis keeps it. Returns the stream's database (`repl-stream-db`).
    pub fn load_from_primary(&self, temp: &PathBuf) -> Result<Option<usize>, String> {
        let path = self.rdb_path();
        std::fs::rename(temp, &path)
            .map_err(|e| format!("Failed trying to rename the temp DB into {}: {e}", path.display()))?;
        let file = std::fs::File::open(&path).map_err(|e| format!("Can't open {}: {e}", path.display()))?;
        self.load_streamed_from_primary(std::io::BufReader::with_capacity(1 << 16, file), false)
    }

    /// Loads a snapshot from the socket (see `load_from_socket`) or its temporary file;
    /// returns the stream's database (`repl-stream-db`).
    pub fn load_streamed_from_primary(
        &self,
        input: impl std::io::BufRead,
        swap: bool,
    ) -> Result<Option<usize>, String> {
        let options = {
            let c = self.config.read();
            crate::persistence::rdb_file::LoadOptions {
                verify_checksum: c.rdbchecksum,
                key_delay_us: c.key_load_delay,
                keep_expired: true,
                limits: self.hot.encoding.thresholds(),
            }
        };
        let started = std::time::Instant::now();
        let load = |store: &crate::store::Store, input| {
            crate::persistence::rdb_file::load_from(store, input, 0, options, |_, _| {}).map_err(|e| e.to_string())
        };
        let stats = if swap {
            let aside =
                crate::store::Store::new(self.store.databases(), self.store.shard_count(), self.store.clock.clone());
            aside.set_eviction_policy(self.store.eviction_policy());
            let stats = load(&aside, input)?;
            self.store.lock_all().replace_all_from(&aside);
            stats
        } else {
            self.persistence.set_loading(true);
            self.flush_everything();
            let result = load(&self.store, input);
            if result.is_err() {
                self.flush_everything();
            }
            self.persistence.set_loading(false);
            result?
        };
        self.record_load(&stats, started);
        if self.aof_enabled() {
            // The AOF restarts from the new dataset, as Redis's `restartAOFAfterSYNC`.
            self.bgrewriteaof();
        }
        Ok(stats.repl.map(|r| r.stream_db))
    }

    fn flush_everything(&self) {
        let mut ks = self.store.lock_all();
        for db in 0..self.store.databases() {
            ks.flush_db(db, true);
        }
    }

    /// Disconnects every replica of ours (their history is about to change).
    pub fn disconnect_replicas(&self) {
        for peer in self.repl.replicas() {
            if let Some(info) = self.clients.get(peer.client_id) {
                info.kill();
            }
        }
    }
}

impl Shared {
    /// Becomes a replica of `host:port` (REPLICAOF, or `replicaof` at start-up): local
    /// effects stop feeding the stream, keys stop expiring on their own, our replicas are
    /// dropped (they reconnect and continue with the new history), and the link's task starts.
    pub fn replicate(&self, host: String, port: u16) {
        let link = self.become_replica(host, port);
        self.start_link(link);
    }

    /// [`replicate`](Self::replicate) without starting the link (start-up: the dataset loads
    /// first, but nobody may see us as a primary meanwhile).
    pub fn become_replica(&self, host: String, port: u16) -> Arc<MasterLink> {
        let stream_db =
            self.repl.link().map_or(self.repl.restored_stream_db(), |l| l.stream_db.load(Ordering::Relaxed));
        let link = Arc::new(MasterLink::new(host.clone(), port, stream_db));
        if let Some(old) = self.repl.demote(link.clone()) {
            old.cancel.cancel();
        }
        self.store.set_replica_mode(true);
        self.refresh_effects();
        self.disconnect_replicas();
        self.config.write().replicaof = Some((host, port));
        // A replica is the class `oom-score-adj-values` kills first (Redis's role change).
        let _ = crate::server::daemon::apply_oom_score_adj(&self.config.read(), true);
        link
    }

    /// Starts the task replicating `link`'s primary.
    pub fn start_link(&self, link: Arc<MasterLink>) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(run(self.arc(), link));
            }
            Err(_) => tracing::warn!("No runtime to replicate from: the link will not start"),
        }
    }

    /// `REPLICAOF NO ONE`: stops replicating and becomes a primary whose history continues
    /// the old one (`replid2`), so replicas of the old primary can continue with us.
    pub fn stop_replicating(&self) {
        if let Some(link) = self.repl.take_link() {
            link.cancel.cancel();
        }
        self.repl.promote();
        self.store.set_replica_mode(false);
        self.refresh_effects();
        // Our replicas must learn the new id; they continue from where they were.
        self.disconnect_replicas();
        self.config.write().replicaof = None;
        let _ = crate::server::daemon::apply_oom_score_adj(&self.config.read(), false);
    }

    /// The cron's replication duties: PING the replicas every `repl-ping-replica-period`,
    /// trim the backlog, free it after `repl-backlog-ttl` alone.
    pub fn replication_cron(&self) {
        let (period, size, ttl) = {
            let c = self.config.read();
            (c.repl_ping_replica_period, c.repl_backlog_size, c.repl_backlog_ttl)
        };
        self.repl.ping_if_due(period);
        self.repl.trim(size);
        self.repl.expire_backlog(ttl);
        if !self.repl.feeding() {
            self.refresh_effects();
        }
    }
}
