//! Replication commands: REPLICAOF / SLAVEOF, ROLE, SYNC, PSYNC, REPLCONF, WAIT, FAILOVER,
//! and INFO's replication section. The work happens in [`crate::replication`]; these parse,
//! check and answer as Redis 7.0 does.

use super::table::{CommandSpec, Flags};
use super::{args, errors, Ctx};
use crate::client::Blocked;
use crate::replication::primary::{Handshake, SyncRequest};
use crate::replication::PeerState;
use crate::server::Shared;
use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("replicaof", 3, replicaof)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::STALE).or(Flags::NO_ASYNC_LOADING))
        .doc("server", "5.0.0", "Configures a server as replica of another, or promotes it to a master.", "host port")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("slaveof", 3, replicaof)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::STALE).or(Flags::NO_ASYNC_LOADING))
        .doc("server", "1.0.0", "Sets a Redis server as a replica of another, or promotes it to being a master.", "host port")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("role", 1, role)
        .flags(Flags::NOSCRIPT.or(Flags::LOADING).or(Flags::STALE).or(Flags::FAST))
        .doc("server", "2.8.12", "Returns the replication role.", "")
        .acl(&["admin", "fast", "dangerous"]),
    CommandSpec::new("sync", 1, sync)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::NO_MULTI).or(Flags::NO_ASYNC_LOADING))
        .doc("server", "1.0.0", "An internal command used in replication.", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("psync", -3, psync)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::NO_MULTI).or(Flags::NO_ASYNC_LOADING))
        .doc("server", "2.8.0", "An internal command used in replication.", "replicationid offset")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("replconf", -1, replconf)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::LOADING).or(Flags::STALE).or(Flags::ALLOW_BUSY))
        .doc("server", "3.0.0", "An internal command for configuring the replication stream.", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("wait", 3, wait)
        .flags(Flags::NOSCRIPT)
        .doc(
            "generic",
            "3.0.0",
            "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
            "numreplicas timeout",
        )
        .acl(&["slow", "connection"]),
    CommandSpec::new("failover", -1, failover)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::STALE))
        .doc(
            "server",
            "6.2.0",
            "Starts a coordinated failover from a server to one of its replicas.",
            "[TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]",
        )
        .acl(&["admin", "slow", "dangerous"]),
];

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// `REPLICAOF host port` / `REPLICAOF NO ONE` (and `SLAVEOF`).
fn replicaof(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let shared = ctx.shared;
    if shared.cluster().is_some() {
        return Reply::err("ERR REPLICAOF not allowed in cluster mode.");
    }
    if is(&args[1], "no") && is(&args[2], "one") {
        if shared.repl.is_replica() {
            shared.stop_replicating();
            tracing::info!("MASTER MODE enabled (user request from '{}')", ctx.client.info.list_line());
        }
        return Reply::OK;
    }
    let port = match args::int(&args[2]) {
        Ok(p) if (0..=65535).contains(&p) => p as u16,
        _ => return Reply::err("ERR Invalid master port"),
    };
    let host = args::lossy(&args[1]);
    if let Some(link) = shared.repl.link() {
        if link.host.eq_ignore_ascii_case(&host) && link.port == port {
            tracing::info!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            return Reply::simple("OK Already connected to specified master");
        }
    }
    shared.replicate(host.clone(), port);
    tracing::info!("REPLICAOF {host}:{port} enabled (user request from '{}')", ctx.client.info.list_line());
    Reply::OK
}

/// `ROLE`: `master offset [[ip port offset]…]`, or `slave host port state offset`.
fn role(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let repl = &ctx.shared.repl;
    if let (true, Some(link)) = (repl.is_replica(), repl.link()) {
        let offset = if link.is_up() { repl.offset() as i64 } else { -1 };
        return Reply::Array(vec![
            Reply::bulk(Bytes::from_static(b"slave")),
            Reply::bulk(link.host.clone()),
            Reply::Integer(link.port as i64),
            Reply::bulk(Bytes::from_static(link.state().role_name().as_bytes())),
            Reply::Integer(offset),
        ]);
    }
    let replicas = repl
        .replicas()
        .iter()
        .filter(|r| r.state() == PeerState::Online)
        .map(|r| {
            Reply::Array(vec![
                Reply::bulk(r.ip.clone()),
                Reply::bulk(r.port.to_string()),
                Reply::bulk(r.ack_offset.load(Ordering::Relaxed).to_string()),
            ])
        })
        .collect();
    Reply::Array(vec![
        Reply::bulk(Bytes::from_static(b"master")),
        Reply::Integer(repl.offset() as i64),
        Reply::Array(replicas),
    ])
}

/// Refuses to serve a sync while our own primary is not connected (a replica's data may be
/// arbitrarily stale then).
fn sync_refused(shared: &Shared) -> Option<Reply> {
    if shared.repl.failover_state() != crate::replication::FailoverState::None {
        return Some(Reply::err("NOMASTERLINK Can't SYNC while failing over"));
    }
    let link_down = shared.repl.is_replica() && !shared.repl.link().is_some_and(|l| l.is_up());
    link_down.then(|| Reply::err("NOMASTERLINK Can't SYNC while not connected with my master"))
}

/// Nothing on the wire: the connection writes the payload itself.
fn no_reply() -> Reply {
    Reply::Raw(Bytes::new())
}

/// `SYNC`: a full sync in the pre-PSYNC protocol.
fn sync(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if ctx.client.is_master {
        return no_reply();
    }
    if let Some(refused) = sync_refused(ctx.shared) {
        return refused;
    }
    ctx.client.sync_request = Some(SyncRequest::Sync);
    no_reply()
}

/// `PSYNC replid offset [FAILOVER]`.
fn psync(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.client.is_master {
        return no_reply();
    }
    let replid = args::lossy(&args[1]);
    if args.len() > 3 && is(&args[3], "failover") {
        // Our primary hands over to us (its FAILOVER): promote, then continue it as our replica.
        if replid != ctx.shared.repl.ids().replid {
            return Reply::err("ERR PSYNC FAILOVER replid must match my replid.");
        }
        ctx.shared.stop_replicating();
        tracing::info!("MASTER MODE enabled (failover request from '{}')", ctx.client.info.list_line());
    }
    if let Some(refused) = sync_refused(ctx.shared) {
        return refused;
    }
    let offset = match args::int(&args[2]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    ctx.client.sync_request = Some(SyncRequest::Psync { replid, offset });
    no_reply()
}

/// `REPLCONF option value …`: what a replica tells us before syncing; `ACK` / `GETACK`
/// (handled on the replication link itself) get no reply elsewhere, as in Redis.
fn replconf(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len().is_multiple_of(2) {
        return Reply::err(errors::SYNTAX);
    }
    let mut handshake = ctx.client.repl_handshake.take().map(|h| *h).unwrap_or_default();
    let reply = replconf_options(&mut handshake, args);
    ctx.client.repl_handshake = Some(Box::new(handshake));
    reply
}

fn replconf_options(h: &mut Handshake, args: &[Bytes]) -> Reply {
    for pair in args[1..].chunks(2) {
        let (option, value) = (&pair[0], &pair[1]);
        if is(option, "listening-port") {
            match args::int(value) {
                Ok(p) => h.listening_port = p.clamp(0, 65535) as u16,
                Err(e) => return e,
            }
        } else if is(option, "ip-address") {
            // Redis's NET_HOST_STR_LEN: the address is kept and shown in INFO.
            if value.len() >= 256 {
                return Reply::error(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    value.len()
                ));
            }
            h.ip_address = Some(args::lossy(value));
        } else if is(option, "capa") {
            if is(value, "eof") {
                h.capa_eof = true;
            } else if is(value, "psync2") {
                h.capa_psync2 = true;
            }
        } else if is(option, "ack") || is(option, "getack") {
            return no_reply();
        } else if is(option, "rdb-only") {
            match args::int(value) {
                Ok(v @ 0..=1) => h.rdb_only = v == 1,
                Ok(_) => return Reply::err("ERR value is out of range, value must between 0 and 1"),
                Err(e) => return e,
            }
        } else if is(option, "rdb-filter-only") {
            for word in args::lossy(value).split_whitespace() {
                if word.eq_ignore_ascii_case("functions") {
                    h.functions_only = true;
                } else {
                    return Reply::error(format!("ERR Unsupported rdb-filter-only option: {word}"));
                }
            }
        } else {
            return Reply::error(format!("ERR Unrecognized REPLCONF option: {}", args::lossy(option)));
        }
    }
    Reply::OK
}

/// `WAIT numreplicas timeout`: how many replicas acknowledged this client's last write,
/// waiting up to `timeout` ms (0: forever) for `numreplicas` of them.
fn wait(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.shared.repl.is_replica() {
        return Reply::err("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
    }
    let wanted = match args::int(&args[1]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let timeout = match args::int(&args[2]) {
        Ok(t) if t < 0 => return Reply::err("ERR timeout is negative"),
        Ok(t) => t as u64,
        Err(_) => return Reply::err("ERR timeout is not an integer or out of range"),
    };
    let offset = ctx.client.repl_woff;
    let acked = ctx.shared.repl.acked_at_least(offset);
    // Inside MULTI nothing blocks: the count as it is.
    if acked as i64 >= wanted || ctx.client.in_exec {
        return Reply::Integer(acked as i64);
    }
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout));
    ctx.client.blocked = Some(Blocked::Replicas { offset, replicas: wanted.max(0) as usize, deadline });
    ctx.shared.repl.request_acks();
    no_reply()
}

/// Waits out a [`Blocked::Replicas`] and returns WAIT's reply.
pub async fn wait_for_replicas(shared: &Shared, offset: u64, replicas: usize, deadline: Option<Instant>) -> Reply {
    loop {
        let acked = shared.repl.acked.notified();
        tokio::pin!(acked);
        acked.as_mut().enable();
        let count = shared.repl.acked_at_least(offset);
        if count >= replicas {
            return Reply::Integer(count as i64);
        }
        match deadline {
            Some(d) => {
                if tokio::time::timeout_at(d.into(), acked).await.is_err() {
                    return Reply::Integer(shared.repl.acked_at_least(offset) as i64);
                }
            }
            None => acked.await,
        }
    }
}

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]`, its checks in Redis 7.0's
/// order; the hand-over itself runs in the background ([`crate::replication::failover`]).
fn failover(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.shared.cluster().is_some() {
        return Reply::err("ERR FAILOVER not allowed in cluster mode.");
    }
    let repl = &ctx.shared.repl;
    // ABORT stands alone.
    if args.len() == 2 && is(&args[1], "abort") {
        if !repl.abort_failover() {
            return Reply::err("ERR No failover in progress.");
        }
        return Reply::OK;
    }
    let (mut to, mut force, mut timeout) = (None, false, 0i64);
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if is(a, "timeout") && i + 1 < args.len() && timeout == 0 {
            timeout = match args::int(&args[i + 1]) {
                Ok(t) if t > 0 => t,
                Ok(_) => return Reply::err("ERR FAILOVER timeout must be greater than 0"),
                Err(e) => return e,
            };
            i += 2;
        } else if is(a, "to") && i + 2 < args.len() && to.is_none() {
            let port = match args::int(&args[i + 2]) {
                Ok(p) => p,
                Err(e) => return e,
            };
            to = Some((args::lossy(&args[i + 1]), port));
            i += 3;
        } else if is(a, "force") && !force {
            force = true;
            i += 1;
        } else {
            return Reply::err(errors::SYNTAX);
        }
    }
    if repl.failover_state() != crate::replication::FailoverState::None {
        return Reply::err("ERR FAILOVER already in progress.");
    }
    if repl.is_replica() {
        return Reply::err("ERR FAILOVER is not valid when server is a replica.");
    }
    let replicas = repl.replicas();
    if replicas.is_empty() {
        return Reply::err("ERR FAILOVER requires connected replicas.");
    }
    if force && (to.is_none() || timeout == 0) {
        return Reply::err("ERR FAILOVER with force option requires both a timeout and target HOST and IP.");
    }
    if let Some((host, port)) = &to {
        // (A replica reconnecting may briefly be listed twice.)
        let mut matching =
            replicas.iter().filter(|r| r.ip.eq_ignore_ascii_case(host) && r.port as i64 == *port).peekable();
        if matching.peek().is_none() {
            return Reply::err("ERR FAILOVER target HOST and PORT is not a replica.");
        }
        if !matching.any(|r| r.state() == PeerState::Online) {
            return Reply::err("ERR FAILOVER target replica is not online.");
        }
    }
    let to = to.map(|(host, port)| (host, port as u16));
    let abort_token = tokio_util::sync::CancellationToken::new();
    if !repl.begin_failover(abort_token.clone()) {
        return Reply::err("ERR FAILOVER already in progress.");
    }
    let timeout = (timeout > 0).then(|| Duration::from_millis(timeout as u64));
    tracing::info!("FAILOVER requested by {}", ctx.client.info.list_line());
    ctx.shared.start_failover(crate::replication::failover::FailoverRequest { to, force, timeout }, abort_token);
    Reply::OK
}

/// INFO's `# Replication` section, field for field as Redis 7.0 prints it.
pub fn info_section(shared: &Shared, out: &mut String) {
    let repl = &shared.repl;
    macro_rules! w {
        ($k:expr, $v:expr) => {{
            let _ = write!(out, "{}:{}\r\n", $k, $v);
        }};
    }
    out.push_str("# Replication\r\n");
    let link = repl.link().filter(|_| repl.is_replica());
    let replicas = repl.replicas();
    match &link {
        Some(link) => {
            let now = crate::store::system_now_ms();
            w!("role", "slave");
            w!("master_host", link.host);
            w!("master_port", link.port);
            w!("master_link_status", if link.is_up() { "up" } else { "down" });
            let last_io = link.last_io_ms.load(Ordering::Relaxed);
            let last_io_secs = if last_io == 0 { -1 } else { (now.saturating_sub(last_io) / 1000) as i64 };
            w!("master_last_io_seconds_ago", last_io_secs);
            let syncing = link.state() == crate::replication::replica::LinkState::Sync;
            w!("master_sync_in_progress", syncing as u8);
            w!("slave_read_repl_offset", link.read_offset.load(Ordering::Relaxed).max(repl.offset()));
            w!("slave_repl_offset", repl.offset());
            if syncing {
                let total = link.transfer_size.load(Ordering::Relaxed);
                let read = link.transfer_read.load(Ordering::Relaxed);
                w!("master_sync_total_bytes", total);
                w!("master_sync_read_bytes", read);
                w!("master_sync_left_bytes", if total < 0 { -1 } else { total - read as i64 });
                let perc = if total > 0 { read as f64 * 100.0 / total as f64 } else { 0.0 };
                w!("master_sync_perc", format!("{perc:.2}"));
                w!("master_sync_last_io_seconds_ago", last_io_secs);
            }
            if !link.is_up() {
                let since = link.down_since_ms.load(Ordering::Relaxed);
                w!(
                    "master_link_down_since_seconds",
                    if since == 0 { -1 } else { (now.saturating_sub(since) / 1000) as i64 }
                );
            }
            let c = shared.config.read();
            w!("slave_priority", c.replica_priority);
            w!("slave_read_only", c.replica_read_only as u8);
            w!("replica_announced", c.replica_announced as u8);
        }
        None => w!("role", "master"),
    }
    w!("connected_slaves", replicas.len());
    let (min_to_write, max_lag) = {
        let c = shared.config.read();
        (c.min_replicas_to_write, c.min_replicas_max_lag)
    };
    if min_to_write > 0 && max_lag > 0 {
        w!("min_slaves_good_slaves", repl.good_replicas(max_lag));
    }
    for (i, r) in replicas.iter().enumerate() {
        let state = match r.state() {
            PeerState::WaitBgsave => "wait_bgsave",
            PeerState::SendBulk => "send_bulk",
            PeerState::Online => "online",
        };
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state={state},offset={},lag={}\r\n",
            r.ip,
            r.port,
            r.ack_offset.load(Ordering::Relaxed),
            r.lag_secs()
        );
    }
    let ids = repl.ids();
    w!("master_failover_state", repl.failover_state().name());
    w!("master_replid", ids.replid);
    w!("master_replid2", ids.replid2);
    w!("master_repl_offset", repl.offset());
    w!("second_repl_offset", ids.second_offset);
    match repl.backlog_info() {
        Some((size, first, histlen)) => {
            w!("repl_backlog_active", 1);
            w!("repl_backlog_size", size);
            w!("repl_backlog_first_byte_offset", first);
            w!("repl_backlog_histlen", histlen);
        }
        None => {
            w!("repl_backlog_active", 0);
            w!("repl_backlog_size", shared.config.read().repl_backlog_size);
            w!("repl_backlog_first_byte_offset", 0);
            w!("repl_backlog_histlen", 0);
        }
    }
}
