//! The one dispatch function, in Redis's `processCommand` order:
//! lookup → unknown command → arity → auth → no-multi → OOM → MISCONF → LOADING → MULTI queueing
//! → lock shards → handler.

use super::table::{lookup, lookup_sub, CommandSpec, Flags};
use super::{errors, Ctx, Propagation};
use crate::client::Client;
use crate::server::Shared;
use crate::store::{system_now_us, ticks_to_ns, timer_ticks, Locked};
use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::sync::atomic::Ordering;

/// Commands that run at once even inside MULTI, instead of being queued.
fn runs_inside_multi(spec: &CommandSpec) -> bool {
    // Top-level commands only: SLOWLOG RESET and CLUSTER RESET are queued like any other.
    spec.parent.is_none() && matches!(spec.name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
}

/// Resolves `args` to a command spec (following subcommands), or the error Redis gives.
pub fn resolve(args: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    let Some(spec) = lookup(&args[0]) else {
        return Err(Reply::error(errors::unknown_command(args)));
    };
    if spec.subcommands.is_empty() || args.len() < 2 {
        return Ok(spec);
    }
    lookup_sub(spec, &args[1]).ok_or_else(|| {
        let sub = &args[1][..args[1].len().min(128)];
        Reply::error(errors::unknown_subcommand(sub, &String::from_utf8_lossy(&args[0])))
    })
}

/// Executes one request from `client`, with every check Redis makes before running it.
///
/// `args` is left empty if the request was queued (MULTI); else the caller may reuse it.
pub fn execute(shared: &Shared, client: &mut Client, args: &mut Vec<Bytes>) -> Reply {
    // ASKING covers the next command only (or a whole MULTI): `resetClient`.
    let ends_asking = client.asking && !args[0].eq_ignore_ascii_case(b"asking");
    let reply = execute_checked(shared, client, args);
    if ends_asking && client.multi.is_none() {
        client.asking = false;
    }
    reply
}

/// [`resolve`], trying the client's previous command first: a pipeline mostly repeats one
/// command, and comparing one name costs a fraction of the table lookup.
#[inline]
fn resolve_for(client: &Client, args: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    match client.last_cmd {
        // A container (CONFIG, CLIENT, …) with a subcommand given still needs the lookup.
        Some(last)
            if last.parent.is_none() && (last.subcommands.is_empty() || args.len() < 2) && last.is_named(&args[0]) =>
        {
            Ok(last)
        }
        _ => resolve(args),
    }
}

fn execute_checked(shared: &Shared, client: &mut Client, args: &mut Vec<Bytes>) -> Reply {
    let spec = match resolve_for(client, args) {
        Ok(spec) => spec,
        Err(reply) => return reject(shared, client, None, reply),
    };
    if !spec.arity_ok(args.len()) {
        return reject(shared, client, Some(spec), Reply::error(errors::arity(&spec.full_name())));
    }
    // `CMD_PROTECTED`: checked before auth, as Redis does.
    if spec.name == "debug" && !shared.config.read().debug_command_allowed(client.info.addr) {
        return reject(shared, client, Some(spec), Reply::err(errors::DEBUG_NOT_ALLOWED));
    }
    if shared.auth_required() && !client.authenticated && !spec.flags.has(Flags::NO_AUTH) {
        return reject(shared, client, Some(spec), Reply::err(errors::NOAUTH));
    }
    if client.multi.is_some() && spec.flags.has(Flags::NO_MULTI) {
        return reject(shared, client, Some(spec), Reply::err("ERR Command not allowed inside a transaction"));
    }
    let redirect = match shared.cluster() {
        Some(node) => super::cluster::redirect(shared, node, client, spec, args),
        None => None,
    };
    if let Some(reply) = redirect {
        // A redirected EXEC discards the transaction; anything else poisons it (`flagTransaction`).
        if spec.name == "exec" {
            client.multi = None;
            client.unwatch_all();
            shared.command_stats.get(spec).rejected_calls.fetch_add(1, Ordering::Relaxed);
            if let Reply::Error(e) = &reply {
                shared.stats.count_error(e);
            }
            return reply;
        }
        return reject(shared, client, Some(spec), reply);
    }
    if let Some(reply) = check_memory(shared, client, spec) {
        return reject(shared, client, Some(spec), reply);
    }
    if let Some(e) = shared.disk_error() {
        if spec.name == "ping" || is_write(client, spec) {
            return reject(shared, client, Some(spec), Reply::error(e));
        }
    }
    if let Some(reply) = check_replication(shared, client, spec) {
        return reject(shared, client, Some(spec), reply);
    }
    if !spec.flags.has(Flags::LOADING) && shared.persistence.loading() {
        return reject(shared, client, Some(spec), Reply::err(errors::LOADING));
    }
    // Writes wait while a FAILOVER hands over (Redis's client write pause): the connection
    // runs the command again once they may go on.
    if shared.repl.writes_paused() && (is_write(client, spec) || spec.flags.has(Flags::MAY_REPLICATE)) {
        client.blocked = Some(crate::client::Blocked::WritesPaused { args: std::mem::take(args) });
        return Reply::Raw(Bytes::new());
    }
    if let Some(multi) = client.multi.as_mut() {
        if !runs_inside_multi(spec) {
            multi.push(spec, std::mem::take(args));
            return Reply::simple("QUEUED");
        }
    }
    let mut ks = lock_for(shared, client, spec, args);
    call(shared, client, &mut ks, spec, args)
}

/// Runs one command read from the AOF, as Redis's fake loading client does: no auth, memory,
/// MISCONF or LOADING checks (effects are off while loading, so nothing propagates). An
/// unknown command or a wrong argument count means the file is not what we wrote.
pub fn replay(shared: &Shared, client: &mut Client, args: Vec<Bytes>) -> Result<(), String> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    if let Reply::Error(e) = run_unchecked(shared, client, args, false, || {})? {
        // Redis goes on loading, but says so and counts it.
        shared.stats.unexpected_error_replies.fetch_add(1, Ordering::Relaxed);
        let e = e.strip_prefix("ERR ").unwrap_or(&e);
        tracing::warn!(
            "== CRITICAL == This server is sending an error to its AOF-loading-client: '{e}' after processing the command '{name}'"
        );
    }
    Ok(())
}

/// Runs one command from our primary's stream (Redis's master client): no checks, as
/// for [`replay`], and keys whose TTL has passed count as present (the primary decides
/// expiry). `applied` runs while the command's shards are still held. An error reply is
/// returned as the error.
pub fn apply_replicated(
    shared: &Shared,
    client: &mut Client,
    args: Vec<Bytes>,
    applied: impl FnOnce(),
) -> Result<(), String> {
    let result = match run_unchecked(shared, client, args, true, applied) {
        Ok(Reply::Error(e)) => Err(e.into_owned()),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    };
    if result.is_err() {
        shared.stats.unexpected_error_replies.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// What [`replay`] and [`apply_replicated`] share: resolve, check the arity, queue inside
/// MULTI or run; `applied` runs once the command is done (or refused), before its shards
/// are unlocked.
fn run_unchecked(
    shared: &Shared,
    client: &mut Client,
    args: Vec<Bytes>,
    keep_expired: bool,
    applied: impl FnOnce(),
) -> Result<Reply, String> {
    let name = || String::from_utf8_lossy(&args[0]).into_owned();
    let spec = match resolve(&args) {
        Ok(spec) if spec.arity_ok(args.len()) => spec,
        Ok(_) => {
            applied();
            return Err(format!("Wrong number of arguments for '{}'", name()));
        }
        Err(_) => {
            applied();
            return Err(format!("Unknown command '{}'", name()));
        }
    };
    if let Some(multi) = client.multi.as_mut() {
        if !runs_inside_multi(spec) {
            multi.push(spec, args);
            applied();
            return Ok(Reply::simple("QUEUED"));
        }
    }
    let mut ks = lock_for(shared, client, spec, &args);
    if keep_expired {
        ks.keep_expired_keys();
    }
    let reply = call(shared, client, &mut ks, spec, &args);
    applied();
    drop(ks);
    Ok(reply)
}

/// Runs a resolved, checked command on already-locked shards: the part EXEC repeats for
/// every queued command. Counts stats and feeds MONITOR.
pub fn call(
    shared: &Shared,
    client: &mut Client,
    ks: &mut Locked,
    spec: &'static CommandSpec,
    args: &[Bytes],
) -> Reply {
    client.pending_stats.switch_to(spec, &shared.command_stats, &shared.stats.total_commands_processed);
    let start = timer_ticks();
    client.last_cmd = Some(spec);
    let changes_before = ks.changes();
    let mut ctx = Ctx { shared, client, ks, propagation: Propagation::AsRequest };
    let reply = (spec.handler)(&mut ctx, args);
    let Ctx { client, ks, propagation, .. } = ctx;
    // After the command, as Redis 7.0's `call`: EXEC follows the commands it ran, and the
    // db shown is the one the command left selected.
    if shared.monitors.active() && !spec.flags.has(Flags::SKIP_MONITOR) && !spec.flags.has(Flags::ADMIN) {
        shared.monitors.publish(system_now_us(), client.db, &client.info.monitor_id(), &redact(spec, args));
    }
    if shared.store.effects.enabled() {
        propagate(shared, client, ks.changes() != changes_before, propagation, args);
    }
    // Clients blocked on keys this command made lists or sorted sets; inside EXEC, once the
    // whole transaction has run (EXEC's own call), as Redis's `handleClientsBlockedOnKeys`.
    if ks.has_ready_keys() && !client.in_exec {
        super::blocking::serve_ready(shared, client, ks);
    }
    let failed = matches!(&reply, Reply::Error(_));
    let nanos = ticks_to_ns(start, timer_ticks());
    client.pending_stats.count(nanos, failed);
    if shared.slowlog.is_slow(nanos) {
        log_slow(shared, client, spec, args, nanos);
    }
    if shared.latency.is_spike(nanos) {
        log_latency(shared, spec, nanos);
    }
    if !spec.flags.has(Flags::FAST) {
        // Only runs of fast commands wait; INFO, CONFIG RESETSTAT and the like count at once.
        client.publish_stats(shared);
    }
    if let Reply::Error(e) = &reply {
        shared.stats.count_error(e);
    }
    reply
}

/// Puts a command into the slow log (`slowlogPushCurrentCommand`): not EXEC itself (its
/// commands are logged one by one), nor a command replayed from the AOF; secrets redacted.
#[inline(never)]
fn log_slow(shared: &Shared, client: &Client, spec: &CommandSpec, args: &[Bytes], nanos: u64) {
    if spec.flags.has(Flags::SKIP_SLOWLOG) || shared.persistence.loading() {
        return;
    }
    let name = client.info.meta.lock().name.clone().unwrap_or_default();
    shared.slowlog.push(&redact(spec, args), nanos / 1000, client.info.peer_id(), name);
}

/// Records a command slower than `latency-monitor-threshold` as Redis's `call` does: under
/// "fast-command" for a command flagged fast, else "command"; not while loading the AOF
/// (Redis's loading client does not go through `call`).
#[inline(never)]
fn log_latency(shared: &Shared, spec: &CommandSpec, nanos: u64) {
    if shared.persistence.loading() {
        return;
    }
    let event = if spec.flags.has(Flags::FAST) { "fast-command" } else { "command" };
    shared.latency.add(event, nanos / 1_000_000);
}

/// Sends a command's effect to the store's effect sink (the AOF), wrapping the effects of
/// an EXEC in MULTI … EXEC. Runs with the command's shards still locked. Out of line: the
/// common case (no AOF) must not pay for it in `call`.
#[inline(never)]
fn propagate(shared: &Shared, client: &mut Client, changed: bool, propagation: Propagation, args: &[Bytes]) {
    let commands: Vec<Vec<&[u8]>> = match &propagation {
        Propagation::AsRequest if !changed => return,
        Propagation::AsRequest | Propagation::Forced => vec![args.iter().map(|a| &a[..]).collect()],
        Propagation::Rewritten(cmds) => cmds.iter().map(|c| c.iter().map(|a| &a[..]).collect()).collect(),
    };
    if commands.is_empty() {
        return;
    }
    let effects = &shared.store.effects;
    if client.in_exec && !client.exec_propagated {
        effects.emit(client.db, &[b"MULTI"]);
        client.exec_propagated = true;
    }
    for c in &commands {
        effects.emit(client.db, c);
    }
    client.aof_upto = shared.aof.appended();
    client.repl_woff = shared.repl.offset();
}

/// Closes the MULTI that [`propagate`] opened for an EXEC, if it opened one.
pub fn end_exec_propagation(shared: &Shared, client: &mut Client) {
    if std::mem::take(&mut client.exec_propagated) {
        shared.store.effects.emit(client.db, &[b"EXEC"]);
        client.aof_upto = shared.aof.appended();
        client.repl_woff = shared.repl.offset();
    }
}

/// Locks what the command needs: every shard, its keys' shards, or nothing; for EXEC, what
/// its queue needs ([`lock_for_exec`]).
fn lock_for<'s>(shared: &'s Shared, client: &Client, spec: &CommandSpec, args: &[Bytes]) -> Locked<'s> {
    if spec.name == "exec" {
        lock_for_exec(shared, client)
    } else if spec.needs_all_shards(args) {
        shared.store.lock_all()
    } else if spec.flags.has(Flags::WALKS_SHARDS) {
        // The handler takes its shards one at a time.
        shared.store.lock_none()
    } else if let Some(find) = spec.movable_keys.or(spec.undeclared_keys) {
        shared.store.lock_keys(find(args).into_iter().map(|i| &args[i]))
    } else if spec.first_key > 0 && spec.first_key == spec.last_key {
        // The common single-key command: one shard, no sorting.
        match args.get(spec.first_key as usize) {
            Some(key) => shared.store.lock_key(key),
            None => shared.store.lock_none(),
        }
    } else if spec.first_key > 0 {
        shared.store.lock_keys(spec.key_positions(args.len()).map(|i| &args[i]))
    } else {
        shared.store.lock_none()
    }
}

/// What EXEC locks: the shards of every queued command's keys and of the watched keys, held
/// for the whole transaction so no other client's command interleaves; every shard only when
/// a queued command needs the whole keyspace. A MULTI/EXEC on two keys stops two shards, not
/// the server.
fn lock_for_exec<'s>(shared: &'s Shared, client: &Client) -> Locked<'s> {
    let Some(multi) = client.multi.as_ref().filter(|m| !m.aborted) else {
        return shared.store.lock_none();
    };
    // DEBUG DIGEST walks the keyspace as a WALKS_SHARDS command does (its other subcommands
    // do not, so the flag is not on DEBUG).
    let walks = |spec: &CommandSpec, args: &[Bytes]| {
        spec.needs_all_shards(args)
            || spec.flags.has(Flags::WALKS_SHARDS)
            || (spec.name == "debug" && args.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"digest")))
    };
    if multi.queue.iter().any(|(spec, args)| walks(spec, args)) {
        return shared.store.lock_all();
    }
    let queued = multi.queue.iter().flat_map(|(spec, args)| {
        let undeclared = spec.undeclared_keys.map(|find| find(args)).unwrap_or_default();
        spec.keys_of(args).into_iter().chain(undeclared).map(move |i| &args[i][..])
    });
    shared.store.lock_keys(queued.chain(client.watched.iter().map(|(_, key)| &key[..])))
}

/// A command refused before running: reply, count it, and poison an open MULTI the way
/// Redis's `rejectCommand` → `flagTransaction` does.
fn reject(shared: &Shared, client: &mut Client, spec: Option<&'static CommandSpec>, reply: Reply) -> Reply {
    if let Some(multi) = client.multi.as_mut() {
        multi.aborted = true;
    }
    if let Some(spec) = spec {
        shared.command_stats.get(spec).rejected_calls.fetch_add(1, Ordering::Relaxed);
    }
    // A refused EXEC discards the transaction and says why (`execCommandAbort`).
    let reply = match (spec, reply) {
        (Some(spec), Reply::Error(e)) if spec.name == "exec" => {
            client.multi = None;
            client.unwatch_all();
            let reason = e.strip_prefix("ERR ").unwrap_or(&e);
            Reply::error(format!("EXECABORT Transaction discarded because of: {reason}"))
        }
        (_, reply) => reply,
    };
    if let Reply::Error(e) = &reply {
        shared.stats.count_error(e);
    }
    reply
}

/// Replication's refusals, in Redis's order: too few good replicas for a write
/// (`min-replicas-to-write`), a write to a read-only replica, a replica whose link is down
/// and may not serve stale data.
fn check_replication(shared: &Shared, client: &Client, spec: &CommandSpec) -> Option<Reply> {
    if client.is_master {
        return None;
    }
    let min_replicas = shared.hot.min_replicas_to_write.load(Ordering::Relaxed);
    let mut replica = shared.repl.is_replica();
    if !replica && min_replicas == 0 {
        return None;
    }
    let write = is_write(client, spec);
    // A cluster replica just promoted: its state (which routing reads) may say master a moment
    // before its replication is switched over; finish the switch rather than refuse.
    if replica && write && shared.cluster().is_some_and(|n| n.state.read().myself().is_master()) {
        shared.follow_cluster_role();
        replica = shared.repl.is_replica();
        if !replica && min_replicas == 0 {
            return None;
        }
    }
    if !replica {
        let max_lag = shared.config.read().min_replicas_max_lag;
        if write && (shared.repl.good_replicas(max_lag) as u64) < min_replicas {
            return Some(Reply::err("NOREPLICAS Not enough good replicas to write."));
        }
        return None;
    }
    let (read_only, serve_stale) = {
        let c = shared.config.read();
        (c.replica_read_only, c.replica_serve_stale_data)
    };
    if write && read_only {
        return Some(Reply::err("READONLY You can't write against a read only replica."));
    }
    if !serve_stale && !spec.flags.has(Flags::STALE) && !shared.repl.link().is_some_and(|l| l.is_up()) {
        return Some(Reply::err("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."));
    }
    None
}

/// `maxmemory`: evict as the policy allows; refuse commands that may grow memory when
/// that is not enough (`performEvictions` + the `CMD_DENYOOM` check).
fn check_memory(shared: &Shared, client: &Client, spec: &CommandSpec) -> Option<Reply> {
    let limit = shared.hot.maxmemory.load(Ordering::Relaxed);
    // A replica leaves eviction to its primary, whose DELs it applies.
    if limit == 0 || (shared.repl.is_replica() && shared.config.read().replica_ignore_maxmemory) {
        return None;
    }
    let samples = shared.hot.maxmemory_samples.load(Ordering::Relaxed) as usize;
    let store = &shared.store;
    let used = |s: &crate::store::Store| shared.memory.estimate(s.logical_used()).saturating_sub(not_counted(shared));
    let start = shared.latency.start();
    let evicted = store.evict_to(limit, samples, used);
    // As `performEvictions`, a cycle counts only when memory was over the limit.
    if evicted != Ok(0) {
        shared.latency.end("eviction-cycle", start);
    }
    shared.stats.eviction_exceeded(evicted.is_err());
    if evicted.is_ok() {
        return None;
    }
    queued_or_own_flag(client, spec, Flags::DENYOOM).then(|| Reply::err(errors::OOM))
}

/// Memory eviction leaves out, as Redis's `freeMemoryGetNotCountedMemory`: what snapshots'
/// copies hold (a fork's pages would not be in `used_memory` at all) and the stream history
/// kept beyond `repl-backlog-size` for replicas that are behind (Redis's replica buffers).
pub fn not_counted(shared: &Shared) -> u64 {
    shared.store.snapshot_bytes() + shared.repl.held_beyond_size()
}

/// Whether the command has `flag`, or for EXEC, whether any queued command has it.
fn queued_or_own_flag(client: &Client, spec: &CommandSpec, flag: Flags) -> bool {
    if spec.name == "exec" {
        client.multi.as_ref().is_some_and(|m| m.queue.iter().any(|(s, _)| s.flags.has(flag)))
    } else {
        spec.flags.has(flag)
    }
}

fn is_write(client: &Client, spec: &CommandSpec) -> bool {
    queued_or_own_flag(client, spec, Flags::WRITE)
}

/// MONITOR hides passwords the way Redis does.
fn redact(spec: &CommandSpec, args: &[Bytes]) -> Vec<Bytes> {
    match spec.name {
        "auth" => {
            let mut v = vec![args[0].clone()];
            v.extend(args[1..].iter().map(|_| Bytes::from_static(b"(redacted)")));
            v
        }
        "hello" => {
            let mut v = args.to_vec();
            for i in 0..v.len() {
                if v[i].eq_ignore_ascii_case(b"auth") {
                    for j in i + 1..(i + 3).min(v.len()) {
                        v[j] = Bytes::from_static(b"(redacted)");
                    }
                }
            }
            v
        }
        // `MIGRATE host port key db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k…]`:
        // options start at 6; what follows KEYS are key names.
        "migrate" => {
            let mut v = args.to_vec();
            let mut j = 6;
            while j < v.len() {
                let secrets = if v[j].eq_ignore_ascii_case(b"auth") {
                    1
                } else if v[j].eq_ignore_ascii_case(b"auth2") {
                    2
                } else if v[j].eq_ignore_ascii_case(b"keys") {
                    break;
                } else {
                    0
                };
                for k in j + 1..(j + 1 + secrets).min(v.len()) {
                    v[k] = Bytes::from_static(b"(redacted)");
                }
                j += 1 + secrets;
            }
            v
        }
        // `CONFIG SET name value …`: the values of secrets (requirepass, masterauth, …).
        "set" if spec.parent == Some("config") => {
            let mut v = args.to_vec();
            for j in (2..v.len().saturating_sub(1)).step_by(2) {
                if crate::config::find_directive(&String::from_utf8_lossy(&v[j])).is_some_and(|d| d.sensitive()) {
                    v[j + 1] = Bytes::from_static(b"(redacted)");
                }
            }
            v
        }
        _ => args.to_vec(),
    }
}
