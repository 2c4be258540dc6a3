//! MIGRATE: move keys to another server with DUMP payloads and RESTORE, as Redis 7.0's
//! `migrateCommand` does — the building block of `redis-cli --cluster reshard`.
//!
//! Like Redis, the command replies once the target has answered, waiting at most `timeout` ms
//! per step. Unlike Redis, it does not stop anyone else meanwhile: the payloads are made under
//! the keys' shard locks, then the locks are released for the DNS lookup, connect and socket
//! I/O (offloaded from the async worker, `Locked::unlocked_while`), and taken again to delete
//! what the target stored. The keys are WATCHed across the transfer: one written meanwhile is
//! not deleted but sent again in its new version (with REPLACE: the target holds our older
//! copy), so a MIGRATE still ends as if it had moved the keys at one instant. After
//! `UNLOCKED_TRIES` transfers that each saw a write, the last is made with the locks held, as
//! Redis makes every transfer. Connections are cached per `host:port` for ten seconds, with
//! the database last selected on them, as Redis caches them, so a reshard's thousands of
//! MIGRATEs do not each pay a connect.

use super::args::{self, is};
use super::table::{CommandSpec, Flags};
use super::{errors, Ctx};
use crate::persistence::dump::dump_payload;
use crate::persistence::rdb_file::rdb_value;
use crate::store::WatchFlag;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("migrate", -6, migrate)
    .flags(Flags::WRITE)
    .keys(3, 3, 1)
    .movable_keys(migrate_keys)
    .doc(
        "generic",
        "2.6.0",
        "Atomically transfer a key from a Redis instance to another one.",
        "host port key|\"\" destination-db timeout [COPY] [REPLACE] [AUTH password|AUTH2 username password] [KEYS key [key ...]]",
    )
    .acl(&["keyspace", "write", "slow", "dangerous"])];

/// How long an idle cached connection is kept (`MIGRATE_SOCKET_CACHE_TTL`).
const SOCKET_TTL: Duration = Duration::from_secs(10);
/// At most this many cached connections (`MIGRATE_SOCKET_CACHE_ITEMS`).
const SOCKET_CACHE_ITEMS: usize = 64;
/// Transfers made with the keys unlocked before one is made holding them (keys written
/// during every one of them are hot: stop racing their writers).
const UNLOCKED_TRIES: usize = 3;

/// The keys of a MIGRATE request: `key`, or with an empty `key` those after the last `KEYS`
/// token (Redis 7.0's key spec searches for the keyword from the end).
fn migrate_keys(args: &[Bytes]) -> Vec<usize> {
    if !args[3].is_empty() {
        return vec![3];
    }
    (6..args.len().saturating_sub(1))
        .rev()
        .find(|&i| is(&args[i], "keys"))
        .map_or_else(Vec::new, |i| (i + 1..args.len()).collect())
}

/// Connections to MIGRATE targets, by `host:port`.
#[derive(Default)]
pub struct MigrateSockets(Mutex<HashMap<String, CachedSocket>>);

struct CachedSocket {
    conn: BufReader<TcpStream>,
    /// The database last selected on this connection (None: unknown, SELECT again).
    db: Option<i64>,
    last_use: Instant,
}

impl std::fmt::Debug for MigrateSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateSockets").field("cached", &self.0.lock().len()).finish()
    }
}

impl MigrateSockets {
    /// Connections cached and not yet past their idle time (`migrate_cached_sockets`; Redis's
    /// cron closes the idle ones, here the next MIGRATE does).
    pub fn cached(&self) -> usize {
        self.0.lock().values().filter(|s| s.last_use.elapsed() < SOCKET_TTL).count()
    }

    /// A cached connection (taken out of the cache while in use), or a new one.
    fn take(&self, target: &str, timeout: Duration) -> Result<(CachedSocket, bool), Reply> {
        {
            let mut cache = self.0.lock();
            cache.retain(|_, s| s.last_use.elapsed() < SOCKET_TTL);
            if let Some(s) = cache.remove(target) {
                if s.peer_still_there() {
                    return Ok((s, true));
                }
            }
        }
        let connect_error = || Reply::err("IOERR error or timeout connecting to the client");
        let addr = target.to_socket_addrs().map_err(|_| connect_error())?.next().ok_or_else(connect_error)?;
        let stream = match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => s,
            // Redis connects without blocking and finds a refused connection when it writes.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(write_error()),
            Err(_) => return Err(connect_error()),
        };
        let _ = stream.set_nodelay(true);
        Ok((CachedSocket { conn: BufReader::new(stream), db: None, last_use: Instant::now() }, false))
    }

    fn put_back(&self, target: String, mut socket: CachedSocket) {
        socket.last_use = Instant::now();
        let mut cache = self.0.lock();
        if cache.len() < SOCKET_CACHE_ITEMS || cache.contains_key(&target) {
            cache.insert(target, socket);
        }
    }
}

impl CachedSocket {
    /// False when the target closed this idle connection (it was restarted, or timed the
    /// client out): an idle target has nothing to say, so a readable socket means EOF, a reset,
    /// or stray bytes that would be taken for the next replies. Such a connection takes the
    /// request without a write error and then gives no reply, so the write-error retry below
    /// does not catch it and MIGRATE answered `IOERR`, failing a reshard whose target had been
    /// restarted in the last ten seconds; Redis's MIGRATE answers `+OK` there (checked against
    /// redis-server 7.0), and so do we now, with a fresh connection.
    fn peer_still_there(&self) -> bool {
        if !self.conn.buffer().is_empty() {
            return false;
        }
        let stream = self.conn.get_ref();
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let idle = matches!(stream.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        stream.set_nonblocking(false).is_ok() && idle
    }
}

fn write_error() -> Reply {
    Reply::err("IOERR error or timeout writing to target instance")
}

fn read_error() -> Reply {
    Reply::err("IOERR error or timeout reading to target instance")
}

/// `MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS key …]`
fn migrate(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<Vec<Bytes>> = None;
    let mut first_key = 3;
    let mut num_keys = 1;
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - j - 1;
        if is(&args[j], "copy") {
            copy = true;
        } else if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "auth") && more >= 1 {
            auth = Some(vec![args[j + 1].clone()]);
            j += 1;
        } else if is(&args[j], "auth2") && more >= 2 {
            auth = Some(vec![args[j + 1].clone(), args[j + 2].clone()]);
            j += 2;
        } else if is(&args[j], "keys") {
            if !args[3].is_empty() {
                return Reply::err(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                );
            }
            first_key = j + 1;
            num_keys = args.len() - j - 1;
            break;
        } else {
            return Reply::err(errors::SYNTAX);
        }
        j += 1;
    }
    let dbid = match args::int(&args[4]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let timeout_ms = match args::int(&args[5]) {
        Ok(n) if n <= 0 => 1000,
        Ok(n) => n,
        Err(e) => return e,
    };
    let timeout = Duration::from_millis(timeout_ms as u64);

    let target = format!("{}:{}", args::lossy(&args[1]), args::lossy(&args[2]));
    let mut request = Request {
        target,
        timeout,
        auth,
        dbid,
        // In a cluster the target is importing the slot: RESTORE-ASKING gets past its redirect.
        restore: if ctx.shared.cluster().is_some() { b"RESTORE-ASKING" } else { b"RESTORE" },
        replace,
        keys: Vec::new(),
        gone: Vec::new(),
    };
    let db = ctx.db();
    let mut pending: Vec<Bytes> = args[first_key..first_key + num_keys].to_vec();
    let mut deleted: Vec<Bytes> = Vec::new();
    let mut tries = 0;
    let reply = loop {
        tries += 1;
        let (found, missing) = match dump_keys(ctx, pending) {
            Ok(dumped) => dumped,
            Err(e) => break e,
        };
        request.keys = found;
        // On a retry, a key deleted (or expired) during the last transfer must not live on in
        // the copy the target stored.
        request.gone = if tries == 1 { Vec::new() } else { missing };
        if request.keys.is_empty() && request.gone.is_empty() {
            break Reply::simple("NOKEY");
        }
        let hold_locks = tries > UNLOCKED_TRIES;
        // Raised by any write to a key while the transfer runs unlocked.
        let written: Vec<WatchFlag> = if copy || hold_locks {
            Vec::new()
        } else {
            request.keys.iter().map(|_| Arc::new(AtomicBool::new(false))).collect()
        };
        for ((key, _, _), flag) in request.keys.iter().zip(&written) {
            ctx.ks.watch(db, key, flag);
        }
        let sockets = &ctx.shared.migrate_sockets;
        let outcome = if hold_locks {
            crate::blocking::offload(|| request.transfer(sockets))
        } else {
            ctx.ks.unlocked_while(|| request.transfer(sockets))
        };
        for ((key, _, _), flag) in request.keys.iter().zip(&written) {
            ctx.ks.unwatch(db, key, flag);
        }
        let mut transfer = match outcome {
            Ok(t) => t,
            Err(e) => break e,
        };
        // Deletes each key the target stored (unless COPY); one written meanwhile goes again.
        let mut rewritten = Vec::new();
        for (i, (key, _, _)) in request.keys.iter().enumerate().take(transfer.stored.len()) {
            if !transfer.stored[i] || copy {
                continue;
            }
            if written.get(i).is_some_and(|w| w.load(Ordering::Acquire)) {
                rewritten.push(i);
            } else if ctx.ks.remove(db, key).is_some() {
                deleted.push(key.clone());
            }
        }
        if transfer.read_failed {
            // The connection's state is unknown: drop it.
            break read_error();
        }
        transfer.socket.db = if transfer.first_error.is_some() { None } else { Some(request.dbid) };
        let first_error = transfer.first_error.clone();
        ctx.shared.migrate_sockets.put_back(request.target.clone(), transfer.socket);
        if let Some(e) = first_error {
            break Reply::error(format!(
                "ERR Target instance replied with error: {}",
                String::from_utf8_lossy(&e[1..])
            ));
        }
        if rewritten.is_empty() {
            break Reply::OK;
        }
        // The target holds our older copy of these: replace it.
        request.replace = true;
        pending = rewritten.iter().map(|&i| request.keys[i].0.clone()).collect();
    };
    // Replays as the deletions it made.
    if deleted.is_empty() {
        ctx.propagate_nothing();
    } else if ctx.propagating() {
        let mut del = vec![Bytes::from_static(b"DEL")];
        del.extend(deleted);
        ctx.propagate_as(vec![del]);
    }
    reply
}

/// The keys that exist (read lookups, as Redis's), each with its remaining TTL in ms (0:
/// none) and DUMP payload; and those that do not. An error for a value DUMP cannot encode.
fn dump_keys(ctx: &mut Ctx, keys: Vec<Bytes>) -> Result<(Vec<Dumped>, Vec<Bytes>), Reply> {
    let (db, now) = (ctx.db(), ctx.now());
    let compress = ctx.shared.config.read().rdbcompression;
    let (mut found, mut missing) = (Vec::new(), Vec::new());
    for key in keys {
        let Some(entry) = ctx.ks.get(db, &key) else {
            missing.push(key);
            continue;
        };
        let payload = dump_payload(rdb_value(&entry.value), compress);
        let ttl = match ctx.ks.expire_at(db, &key) {
            Some(at) if at != 0 => at.saturating_sub(now).max(1),
            _ => 0,
        };
        found.push((key, ttl, payload));
    }
    Ok((found, missing))
}

/// A key to send: its name, TTL in ms (0: none) and DUMP payload.
type Dumped = (Bytes, u64, Vec<u8>);

/// One MIGRATE's request to its target: everything a transfer needs, none of it borrowed
/// from the locked keyspace, so it can run with the shards unlocked.
struct Request {
    target: String,
    timeout: Duration,
    auth: Option<Vec<Bytes>>,
    dbid: i64,
    restore: &'static [u8],
    replace: bool,
    keys: Vec<Dumped>,
    /// Keys the target got from an earlier try that have since been deleted here: DEL there
    /// (after ASKING in a cluster, where the target is importing their slot).
    gone: Vec<Bytes>,
}

/// What the target answered.
struct Transfer {
    socket: CachedSocket,
    /// Per key, in order, whether its RESTORE succeeded (fewer if the replies stopped).
    stored: Vec<bool>,
    first_error: Option<Vec<u8>>,
    read_failed: bool,
}

impl Request {
    /// Sends AUTH / SELECT as needed and a RESTORE per key in one write, and reads the
    /// replies in order, as `migrateCommand` does. Blocking socket I/O: the caller offloads it.
    fn transfer(&self, sockets: &MigrateSockets) -> Result<Transfer, Reply> {
        let mut may_retry = true;
        loop {
            let (mut socket, cached) = sockets.take(&self.target, self.timeout)?;
            let select = socket.db != Some(self.dbid);
            let mut out = Vec::with_capacity(self.keys.iter().map(|(_, _, p)| p.len() + 64).sum());
            if let Some(auth) = &self.auth {
                let mut cmd: Vec<&[u8]> = vec![b"AUTH"];
                cmd.extend(auth.iter().map(|a| &a[..]));
                encode(&mut out, &cmd);
            }
            if select {
                encode(&mut out, &[b"SELECT", itoa::Buffer::new().format(self.dbid).as_bytes()]);
            }
            for (key, ttl, payload) in &self.keys {
                let ttl = itoa::Buffer::new().format(*ttl).to_string();
                let mut cmd: Vec<&[u8]> = vec![self.restore, key, ttl.as_bytes(), payload];
                if self.replace {
                    cmd.push(b"REPLACE");
                }
                encode(&mut out, &cmd);
            }
            for key in &self.gone {
                if self.asking() {
                    encode(&mut out, &[b"ASKING"]);
                }
                encode(&mut out, &[b"DEL", key]);
            }
            let stream = socket.conn.get_mut();
            let _ = stream.set_write_timeout(Some(self.timeout));
            let _ = stream.set_read_timeout(Some(self.timeout));
            if stream.write_all(&out).is_err() {
                // A cached connection the target closed meanwhile: one fresh try, as Redis.
                if cached && may_retry {
                    may_retry = false;
                    continue;
                }
                return Err(write_error());
            }
            return self.read_replies(socket, select);
        }
    }

    /// Reads the target's replies: AUTH's and SELECT's, then one per RESTORE.
    fn read_replies(&self, mut socket: CachedSocket, sent_select: bool) -> Result<Transfer, Reply> {
        let mut line = Vec::new();
        let mut read_line = |socket: &mut CachedSocket| -> Option<Vec<u8>> {
            line.clear();
            match socket.conn.read_until(b'\n', &mut line) {
                Ok(n) if n > 0 && line.ends_with(b"\r\n") => Some(line[..line.len() - 2].to_vec()),
                _ => None,
            }
        };
        let mut first_error: Option<Vec<u8>> = None;
        // A refused AUTH or SELECT means no RESTORE counts, even one that said OK (it ran
        // unauthenticated or in the wrong database).
        let mut setup_failed = false;
        for sent in [self.auth.is_some(), sent_select] {
            if !sent {
                continue;
            }
            let Some(reply) = read_line(&mut socket) else { return Err(read_error()) };
            if reply.first() == Some(&b'-') {
                setup_failed = true;
                first_error.get_or_insert(reply);
            }
        }
        let mut stored = Vec::with_capacity(self.keys.len());
        let mut read_failed = false;
        for _ in &self.keys {
            let Some(reply) = read_line(&mut socket) else {
                read_failed = true;
                break;
            };
            let ok = reply.first() != Some(&b'-') && !setup_failed;
            if !ok {
                first_error.get_or_insert(reply);
            }
            stored.push(ok);
        }
        let replies_per_deletion = if self.asking() { 2 } else { 1 };
        for _ in 0..self.gone.len() * replies_per_deletion {
            if read_failed {
                break;
            }
            match read_line(&mut socket) {
                Some(reply) if reply.first() == Some(&b'-') => {
                    first_error.get_or_insert(reply);
                }
                Some(_) => {}
                None => read_failed = true,
            }
        }
        Ok(Transfer { socket, stored, first_error, read_failed })
    }

    /// In a cluster the target is importing the keys' slot and redirects plain commands.
    fn asking(&self) -> bool {
        self.restore == b"RESTORE-ASKING"
    }
}

fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    crate::persistence::aof::encode_command(out, args);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(parts: &[&str]) -> Vec<Bytes> {
        parts.iter().map(|p| Bytes::copy_from_slice(p.as_bytes())).collect()
    }

    #[test]
    fn keys_are_the_key_or_those_after_the_last_keys_token() {
        assert_eq!(migrate_keys(&b(&["migrate", "h", "1", "k", "0", "10"])), vec![3]);
        assert_eq!(migrate_keys(&b(&["migrate", "h", "1", "", "0", "10", "keys", "a", "b"])), vec![7, 8]);
        assert_eq!(migrate_keys(&b(&["migrate", "h", "1", "", "0", "10", "auth", "pw", "KEYS", "a"])), vec![9]);
        assert_eq!(migrate_keys(&b(&["migrate", "h", "1", "", "0", "10"])), Vec::<usize>::new());
        assert_eq!(migrate_keys(&b(&["migrate", "h", "1", "", "0", "10", "keys"])), Vec::<usize>::new());
    }
}
