//! Server commands: INFO, CONFIG, TIME, MEMORY, MONITOR, SAVE, BGSAVE, LASTSAVE, SHUTDOWN.

use super::args::{self, is};
use super::connection::{help_reply, REDIS_COMPAT_VERSION};
use super::table::{CommandSpec, Flags};
use super::{errors, Ctx};
use crate::config::{all_names, lookup};
use crate::glob::{self, Case};
use crate::server::{BgsaveOutcome, RewriteOutcome, SaveError};
use crate::store::{entry_size, system_now_us};
use bytes::Bytes;
use ferrocache_protocol::Reply;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("info", -1, info)
        .flags(Flags::LOADING.or(Flags::STALE).or(Flags::ALL_SHARDS))
        .doc("server", "1.0.0", "Returns information and statistics about the server.", "[section [section ...]]")
        .acl(&["slow", "dangerous"]),
    CommandSpec::new("config", -2, super::connection::container_help)
        .doc("server", "2.0.0", "A container for server configuration commands.", "")
        .acl(&["slow"])
        .subcommands(CONFIG_SUBCOMMANDS),
    CommandSpec::new("time", 1, time)
        .flags(Flags::LOADING.or(Flags::STALE).or(Flags::FAST))
        .doc("server", "2.6.0", "Returns the server time.", "")
        .acl(&["fast"]),
    CommandSpec::new("memory", -2, super::connection::container_help)
        .doc("server", "4.0.0", "A container for memory diagnostics commands.", "")
        .acl(&["slow"])
        .subcommands(MEMORY_SUBCOMMANDS),
    CommandSpec::new("monitor", 1, monitor)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::LOADING).or(Flags::STALE))
        .doc("server", "1.0.0", "Listens for all requests received by the server in real-time.", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("save", 1, save)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::NO_MULTI).or(Flags::NO_ASYNC_LOADING))
        .doc("server", "1.0.0", "Synchronously save the dataset to disk", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("bgsave", -1, bgsave)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::NO_ASYNC_LOADING))
        .doc("server", "1.0.0", "Asynchronously save the dataset to disk", "[SCHEDULE]")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("bgrewriteaof", 1, bgrewriteaof)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::NO_ASYNC_LOADING))
        .doc("server", "1.0.0", "Asynchronously rewrite the append-only file", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("debug", -2, debug)
        .flags(Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::LOADING).or(Flags::STALE))
        .undeclared_keys(debug_keys)
        .doc("server", "1.0.0", "A container for debugging commands", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("lastsave", 1, lastsave)
        .flags(Flags::LOADING.or(Flags::STALE).or(Flags::FAST))
        .doc("server", "1.0.0", "Get the UNIX time stamp of the last successful save to disk", "")
        .acl(&["admin", "fast", "dangerous"]),
    CommandSpec::new("shutdown", -1, shutdown)
        .flags(
            Flags::ADMIN
                .or(Flags::NOSCRIPT)
                .or(Flags::LOADING)
                .or(Flags::STALE)
                .or(Flags::NO_MULTI)
                .or(Flags::ALLOW_BUSY),
        )
        .doc(
            "server",
            "1.0.0",
            "Synchronously saves the database(s) to disk and shuts down the Redis server.",
            "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
        )
        .acl(&["admin", "slow", "dangerous"]),
];

const CONFIG_FLAGS: Flags = Flags::ADMIN.or(Flags::NOSCRIPT).or(Flags::LOADING).or(Flags::STALE);

static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", -3, config_get)
        .flags(CONFIG_FLAGS)
        .parent("config")
        .doc(
            "server",
            "2.0.0",
            "Returns the effective values of configuration parameters.",
            "parameter [parameter ...]",
        )
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("set", -4, config_set)
        .flags(CONFIG_FLAGS)
        .parent("config")
        .doc("server", "2.0.0", "Sets configuration parameters in-flight.", "parameter value [parameter value ...]")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("resetstat", 2, config_resetstat)
        .flags(CONFIG_FLAGS)
        .parent("config")
        .doc("server", "2.0.0", "Resets the server's statistics.", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("rewrite", 2, config_rewrite)
        .flags(CONFIG_FLAGS)
        .parent("config")
        .doc("server", "2.8.0", "Persists the effective configuration to file.", "")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("help", 2, config_help)
        .flags(Flags::LOADING.or(Flags::STALE))
        .parent("config")
        .doc("server", "5.0.0", "Returns helpful text about the different subcommands.", "")
        .acl(&["slow"]),
];

static MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("doctor", 2, super::memory::doctor)
        .flags(Flags::WALKS_SHARDS)
        .parent("memory")
        .doc("server", "4.0.0", "Outputs memory problems report", "")
        .acl(&["slow"]),
    CommandSpec::new("malloc-stats", 2, super::memory::malloc_stats_reply)
        .parent("memory")
        .doc("server", "4.0.0", "Show allocator internal stats", "")
        .acl(&["slow"]),
    CommandSpec::new("stats", 2, super::memory::stats)
        .flags(Flags::WALKS_SHARDS)
        .parent("memory")
        .doc("server", "4.0.0", "Show memory usage details", "")
        .acl(&["slow"]),
    CommandSpec::new("usage", -3, memory_usage)
        .flags(Flags::READONLY)
        .keys(2, 2, 1)
        .parent("memory")
        .doc("server", "4.0.0", "Estimates the memory usage of a key.", "key [SAMPLES count]")
        .acl(&["read", "slow"]),
    CommandSpec::new("purge", 2, memory_purge)
        .parent("memory")
        .doc("server", "4.0.0", "Ask the allocator to release memory", "")
        .acl(&["slow"]),
    CommandSpec::new("help", 2, memory_help)
        .flags(Flags::LOADING.or(Flags::STALE))
        .parent("memory")
        .doc("server", "4.0.0", "Returns helpful text about the different subcommands.", "")
        .acl(&["slow"]),
];

/// `TIME`: seconds and microseconds, as two bulk strings.
fn time(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let us = system_now_us();
    Reply::Array(vec![Reply::bulk_int((us / 1_000_000) as i64), Reply::bulk_int((us % 1_000_000) as i64)])
}

/// `CONFIG GET parameter [parameter …]`: glob patterns, each match once. As Redis 7.0, an
/// alias (`slave-read-only`) is an entry of its own, and hidden test knobs answer only to
/// their exact name.
fn config_get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let config = ctx.shared.config.read();
    let mut seen = HashSet::new();
    let mut pairs = Vec::new();
    for pattern in &args[2..] {
        let has_glob = pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        // An exact name is echoed as typed (`CONFIG GET MAXMEMORY` answers `MAXMEMORY`), a
        // pattern lists the directives' own names, as Redis 7.0 does.
        let matches: Vec<_> = if has_glob {
            all_names()
                .filter(|(name, d)| !d.hidden() && glob::matches(pattern, name.as_bytes(), Case::Insensitive))
                .map(|(name, d)| (name, d, None))
                .collect()
        } else {
            lookup(&args::lossy(pattern)).into_iter().map(|(d, name)| (name, d, Some(pattern.clone()))).collect()
        };
        for (name, d, typed) in matches {
            if seen.insert(name) {
                let shown = typed.unwrap_or_else(|| Bytes::from_static(name.as_bytes()));
                pairs.push((Reply::Bulk(shown), Reply::bulk(d.get(&config))));
            }
        }
    }
    Reply::Map(pairs)
}

/// `CONFIG SET parameter value [parameter value …]`: all or nothing, checked in Redis's
/// order: every name (unknown, immutable, protected, duplicate) before any value.
fn config_set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !args.len().is_multiple_of(2) {
        return Reply::err(errors::SYNTAX);
    }
    // One CONFIG SET at a time, from its read to its last effect: two concurrent ones each
    // editing their own copy would lose one's change. Readers are not held up (an upgradable
    // read excludes only writers and other upgradable reads).
    let current = ctx.shared.config.upgradable_read();
    let fail = |name: &str, why: &str| {
        Reply::error(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"))
    };
    let mut targets = Vec::new();
    let mut seen = HashSet::new();
    for pair in args[2..].chunks(2) {
        let typed = args::lossy(&pair[0]);
        let Some((d, name)) = lookup(&typed) else {
            return Reply::error(format!("ERR Unknown option or number of arguments for CONFIG SET - '{typed}'"));
        };
        if !d.mutable() {
            return fail(&typed, "can't set immutable config");
        }
        if d.protected() && !current.protected_configs_allowed(ctx.client.info.addr) {
            return fail(&typed, "can't set protected config");
        }
        if d.deny_loading() && ctx.shared.persistence.loading() {
            return Reply::err(errors::LOADING);
        }
        if !seen.insert(name) {
            return fail(&typed, "duplicate parameter");
        }
        targets.push((d, name, args::lossy(&pair[1])));
    }
    let mut candidate = current.clone();
    for (d, name, value) in &targets {
        if let Err(why) = d.set_from_value(&mut candidate, value) {
            return fail(name, &why);
        }
    }
    // Applied before the new values are published, so a failure leaves the old ones (Redis
    // restores them).
    if let Some((_, name, _)) = targets.iter().find(|(d, ..)| d.name.starts_with("oom-score-adj")) {
        if let Err(why) = crate::server::daemon::apply_oom_score_adj(&candidate, ctx.shared.repl.is_replica()) {
            return fail(name, &why);
        }
    }
    // Listening anew on a changed `port` or `bind`, before the values are published: Redis
    // binds the new sockets first and keeps the old ones if that fails.
    let listen_changed = |n: &str| targets.iter().find(|(_, name, _)| *name == n).map(|(_, name, _)| *name);
    if let Some(name) = listen_changed("port").or_else(|| listen_changed("bind")) {
        if candidate.cluster_enabled {
            // The cluster's topology holds each node's port: other nodes would keep sending
            // clients to the old one.
            return fail(name, "can't change the listening address of a cluster node");
        }
        let port_changed = listen_changed("port").is_some();
        if let Err(why) = crate::server::rebind(&ctx.shared.arc(), &current, &candidate, port_changed) {
            return fail(name, why);
        }
    }
    let mut config = parking_lot::RwLockUpgradableReadGuard::upgrade(current);
    *config = candidate;
    let _serialised = parking_lot::RwLockWriteGuard::downgrade_to_upgradable(config);
    ctx.shared.apply_config();
    ctx.shared.apply_appendonly();
    Reply::OK
}

fn config_resetstat(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    ctx.shared.stats.reset();
    let ks = &ctx.shared.store.stats;
    for c in [
        &ks.expired_keys,
        &ks.evicted_keys,
        &ks.expire_cycle_cpu_ms,
        &ks.expired_time_cap_reached,
        &ks.expired_stale_perc,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    ctx.shared.store.reset_keyspace_hits_misses();
    ctx.shared.store.lazyfree.freed.store(0, Ordering::Relaxed);
    for spec in super::table::all() {
        for s in std::iter::once(spec).chain(spec.subcommands.iter()) {
            ctx.shared.command_stats.get(s).reset();
        }
    }
    Reply::OK
}

/// `CONFIG REWRITE`: writes the running configuration back to the file it came from.
fn config_rewrite(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let config = ctx.shared.config.read().clone();
    let Some(path) = config.config_file.clone() else {
        return Reply::err("ERR The server is running without a config file");
    };
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let tmp = format!("{path}.tmp-{}", std::process::id());
    let result = std::fs::write(&tmp, config.rewrite_text(&old)).and_then(|_| std::fs::rename(&tmp, &path));
    match result {
        Ok(()) => Reply::OK,
        Err(e) => {
            tracing::warn!("CONFIG REWRITE failed: {e}");
            let _ = std::fs::remove_file(&tmp);
            Reply::error(format!("ERR Rewriting config file: {e}"))
        }
    }
}

fn config_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "config",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}

/// `MEMORY USAGE key [SAMPLES count]`: bytes the key costs, by the store's own account.
fn memory_usage(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    // Left to right as Redis parses: SAMPLES may repeat, and the first bad word or value
    // decides the error (`SAMPLES x 1 2` is not-an-integer, not a syntax error).
    let mut j = 3;
    while j < args.len() {
        if !(is(&args[j], "samples") && j + 1 < args.len()) {
            return Reply::err(errors::SYNTAX);
        }
        match args::int(&args[j + 1]) {
            Ok(n) if n < 0 => return Reply::err(errors::SYNTAX),
            Ok(_) => {}
            Err(e) => return e,
        }
        j += 2;
    }
    let db = ctx.db();
    match ctx.ks.peek(db, &args[2]) {
        Some(e) => Reply::Integer(entry_size(&args[2], e)),
        None => Reply::Null,
    }
}

/// `MEMORY PURGE`: freed pages go back to the OS now instead of after their decay time.
fn memory_purge(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if crate::memory::purge() {
        Reply::OK
    } else {
        Reply::err("ERR Error purging dirty pages")
    }
}

fn memory_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    help_reply(
        "memory",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

/// `MONITOR`: this connection receives every command from now on.
fn monitor(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    if !ctx.client.monitor {
        ctx.client.monitor = true;
        ctx.client.info.meta.lock().flags = "O".into();
    }
    Reply::OK
}

/// `SAVE`: writes the RDB file now, blocking this client (and, for the copy, multi-key writers).
fn save(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    // Seconds of disk I/O: offloaded, so only this client waits for it (in Redis, everyone).
    let shared = ctx.shared;
    match crate::blocking::offload(|| shared.save_now()) {
        Ok(()) => Reply::OK,
        Err(SaveError::BgsaveInProgress) => Reply::err("ERR Background save already in progress"),
        // Redis replies a bare `-ERR` and leaves the reason to the log.
        Err(SaveError::Io(_)) => Reply::err("ERR"),
    }
}

/// `DEBUG <subcommand>`, allowed by `enable-debug-command` (checked by the dispatcher, before
/// auth, as Redis's `CMD_PROTECTED`): SLEEP, OBJECT, DIGEST, DIGEST-VALUE, RELOAD,
/// SET-ACTIVE-EXPIRE, CHANGE-REPL-ID, QUICKLIST-PACKED-THRESHOLD and HELP. Redis's other subcommands are not
/// implemented and answer as unknown ones. In Redis SLEEP stops the whole server; here it
/// stops only the calling client (the wait is offloaded).
fn debug(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let sub = |name: &str, arity: usize| is(&args[1], name) && args.len() == arity;
    if sub("help", 2) {
        return help_reply(
            "debug",
            &[
                "CHANGE-REPL-ID",
                "    Change the replication IDs of the instance.",
                "    Dangerous: should be used only for testing the replication subsystem.",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "OBJECT <key>",
                "    Show low level info about `key` and associated value.",
                "RELOAD [option ...]",
                "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
                "    * NOSAVE: the database will be loaded from an existing RDB file.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "QUICKLIST-PACKED-THRESHOLD <size>",
                "    Sets the threshold for elements to be inserted as plain vs packed nodes",
                "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
            ],
        );
    }
    if is(&args[1], "digest-value") {
        return digest_values(ctx, &args[2..]);
    }
    if sub("sleep", 3) {
        // `strtod` of the argument: its longest numeric prefix, 0 if none, as Redis reads it.
        let seconds = float_prefix(&args[2]);
        if seconds > 0.0 {
            let wait = std::time::Duration::try_from_secs_f64(seconds).unwrap_or(std::time::Duration::MAX);
            crate::blocking::offload(|| std::thread::sleep(wait));
        }
        return Reply::OK;
    }
    if sub("object", 3) {
        return debug_object(ctx, &args[2]);
    }
    if sub("digest", 2) {
        // Every key is read: off this worker, one shard at a time (every shard inside EXEC).
        let ks = &mut *ctx.ks;
        let databases = ctx.shared.store.databases();
        return crate::blocking::offload(|| dataset_digest(ks, databases));
    }
    if is(&args[1], "reload") {
        return debug_reload(ctx, &args[2..]);
    }
    if sub("set-active-expire", 3) {
        // `atoi`: anything that does not start with a non-zero number turns it off.
        ctx.shared.active_expire.store(float_prefix(&args[2]) as i64 != 0, Ordering::Relaxed);
        return Reply::OK;
    }
    if sub("change-repl-id", 2) {
        ctx.shared.repl.change_ids();
        return Reply::OK;
    }
    if sub("quicklist-packed-threshold", 3) {
        // Lists do not exist here, so the threshold has nothing to act on; the argument is
        // still checked as Redis checks it.
        let valid = crate::config::parse_memory(&args::lossy(&args[2])).is_some_and(|n| n <= (1 << 32) - (1 << 20));
        if !valid {
            return Reply::err("ERR argument must be a memory value bigger than 1 and smaller than 4gb");
        }
        return Reply::OK;
    }
    Reply::error(errors::subcommand_syntax(&args[1], "debug"))
}

/// `DEBUG RELOAD [NOSAVE]`: saves the RDB file (unless NOSAVE), loads it aside, and swaps it
/// in for the whole keyspace at once, so no client sees it empty or half loaded (Redis stops
/// everyone instead). Writes that land between the save and the swap are lost, as the file
/// does not have them. MERGE and NOFLUSH are refused; so is RELOAD inside MULTI, whose locks
/// the save would wait for.
fn debug_reload(ctx: &mut Ctx, options: &[Bytes]) -> Reply {
    let mut save = true;
    for opt in options {
        if is(opt, "nosave") {
            save = false;
        } else if is(opt, "merge") || is(opt, "noflush") {
            return Reply::err("ERR DEBUG RELOAD MERGE and NOFLUSH are not supported");
        } else {
            return Reply::err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
        }
    }
    if ctx.client.in_exec {
        return Reply::err("ERR DEBUG RELOAD is not supported inside MULTI");
    }
    let shared = ctx.shared;
    crate::blocking::offload(|| {
        if save && shared.save_now().is_err() {
            // Redis replies a bare `-ERR` and leaves the reason to the log, as SAVE.
            return Reply::err("ERR");
        }
        let store = &shared.store;
        let aside = crate::store::Store::new(store.databases(), store.shard_count(), store.clock.clone());
        aside.set_eviction_policy(store.eviction_policy());
        let options = {
            let c = shared.config.read();
            crate::persistence::rdb_file::LoadOptions {
                verify_checksum: c.rdbchecksum,
                key_delay_us: 0,
                keep_expired: false,
                limits: shared.hot.encoding.thresholds(),
            }
        };
        if let Err(e) = crate::persistence::rdb_file::load(&aside, &shared.rdb_path(), options, |_, _| {}) {
            tracing::warn!("DEBUG RELOAD could not load the RDB file: {e}");
            return Reply::err("ERR Error trying to load the RDB dump, check server logs.");
        }
        store.lock_all().replace_all_from(&aside);
        tracing::warn!("DB reloaded by DEBUG RELOAD");
        Reply::OK
    })
}

/// `DEBUG OBJECT key`: Redis's line about the value; the address is the entry's in our store.
fn debug_object(ctx: &mut Ctx, key: &[u8]) -> Reply {
    let db = ctx.db();
    let now = ctx.ks.store().coarse_now_ms();
    let compress = ctx.shared.config.read().rdbcompression;
    let shared_ints = ctx.shared.hot.maxmemory.load(Ordering::Relaxed) == 0
        || !(ctx.ks.store().eviction_policy().is_lfu() || ctx.ks.store().eviction_policy().is_lru());
    let Some(e) = ctx.ks.peek(db, key) else { return Reply::err("ERR no such key") };
    let refcount = match e.value {
        crate::store::Value::Int(n) if (0..10_000).contains(&n) && shared_ints => i32::MAX as i64,
        _ => 1,
    };
    // `rdbSavedObjectLen`: the value as the RDB file writes it (no type byte, no footer).
    let serialized_len = {
        let mut out = Vec::new();
        let value = crate::persistence::rdb_file::rdb_value(&e.value);
        crate::persistence::rdb::write_object(&mut out, value, compress).expect("writing to a Vec cannot fail");
        out.len()
    };
    // A quicklist's shape, as Redis appends it (`ql_*`), for the nodes 7.0 would have.
    let extra = match &e.value {
        crate::store::Value::List(list) => {
            let (nodes, bytes) = crate::persistence::rdb::object::quicklist_shape(list);
            let avg = list.len() as f64 / nodes.max(1) as f64;
            format!(
                " ql_nodes:{nodes} ql_avg_node:{avg:.2} ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:{bytes}"
            )
        }
        _ => String::new(),
    };
    Reply::Simple(
        format!(
            "Value at:{:p} refcount:{refcount} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}{extra}",
            e as *const _,
            e.value.encoding(),
            serialized_len,
            e.access & ((1 << 24) - 1),
            crate::store::idle_ms(e.access, now) / 1000,
        )
        .into(),
    )
}

/// `DEBUG DIGEST`: Redis's `computeDatasetDigest` — per non-empty database its number mixed
/// in, then the SHA-1 of each key's digest (the key mixed, then its value as DIGEST-VALUE
/// makes it) XORed in, so the order keys are visited in does not matter. 40 zeros for no
/// keys. Outside EXEC it is not a consistent cut (see `Locked::for_each_table`).
fn dataset_digest(ks: &mut crate::store::Locked, databases: usize) -> Reply {
    let mut digest = [0u8; 20];
    for db in 0..databases {
        let mut db_digest = [0u8; 20];
        let mut keys = 0;
        ks.for_each_table(db, |table| {
            for (key, entry) in table.iter() {
                let mut one = [0u8; 20];
                mix_digest(&mut one, key);
                mix_value_digest(&mut one, &entry.value, table.expire_at(key) != 0);
                xor_digest(&mut db_digest, &one);
                keys += 1;
            }
        });
        if keys > 0 {
            // `mixDigest(final, db)` then `xorDigest(final, key digest)` for each key: the
            // XORs commute with nothing before them, so they can be gathered first.
            mix_digest(&mut digest, &(db as u32).to_be_bytes());
            digest.iter_mut().zip(db_digest).for_each(|(d, k)| *d ^= k);
        }
    }
    hex_reply(digest)
}

/// Redis's `xorObjectDigest` of a value into `digest` (debug.c): the type number (`OBJ_STRING`
/// 0, `OBJ_LIST` 1, `OBJ_SET` 2, `OBJ_ZSET` 3, `OBJ_HASH` 4) mixed in, then the contents —
/// a string or each list element mixed in order; each set member XORed in; each hash
/// (field, value) and sorted-set (member, `%.17g` score) pair digested on its own, and that
/// digest's SHA-1 XORed in (`xorDigest(digest, eledigest, 20)`), so only lists depend on order — then an expire marker.
fn mix_value_digest(digest: &mut [u8; 20], value: &crate::store::Value, expires: bool) {
    use crate::store::Value;
    let type_number: u32 = match value {
        Value::Int(_) | Value::Str(_) | Value::Raw(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
    };
    mix_digest(digest, &type_number.to_be_bytes());
    match value {
        Value::List(list) => list.for_each(|item| mix_digest(digest, item)),
        Value::Set(set) => set.iter().for_each(|member| xor_digest(digest, member)),
        Value::Hash(hash) => {
            hash.for_each(|field, value| {
                let mut pair = [0u8; 20];
                mix_digest(&mut pair, field);
                mix_digest(&mut pair, value);
                xor_digest(digest, &pair);
            });
        }
        Value::ZSet(zset) => {
            for (member, score) in zset.iter() {
                let mut pair = [0u8; 20];
                mix_digest(&mut pair, member);
                mix_digest(&mut pair, score_digest_text(score).as_bytes());
                xor_digest(digest, &pair);
            }
        }
        _ => {
            if let Some(bytes) = value.as_bytes() {
                mix_digest(digest, &bytes);
            }
        }
    }
    if expires {
        xor_digest(digest, b"!!expire!!");
    }
}

/// A score as Redis 7.0's DEBUG DIGEST prints it: `snprintf("%.17g")`.
fn score_digest_text(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 { "inf" } else { "-inf" }.into();
    }
    crate::persistence::rdb::format_g17(score)
}

fn hex_reply(digest: [u8; 20]) -> Reply {
    let mut hex = String::with_capacity(40);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Reply::Simple(hex.into())
}

/// `DEBUG DIGEST-VALUE key …`: each key's digest as Redis's `xorObjectDigest` makes it (SHA-1
/// mixes of the type, the value and an expire marker), 40 zeros for a missing key.
/// `redis-cli --cluster fix` compares them when it finds a key on two nodes.
fn digest_values(ctx: &mut Ctx, keys: &[Bytes]) -> Reply {
    let db = ctx.db();
    // Their shards are held ([`debug_keys`]).
    Reply::Array(keys.iter().map(|key| value_digest(ctx.ks, db, key)).collect())
}

/// The keys DEBUG reads (DIGEST-VALUE's, OBJECT's), locked for it but not declared: Redis's DEBUG has
/// none, so cluster mode never redirects it (`--cluster fix` asks a node that is not the
/// slot's owner).
fn debug_keys(args: &[Bytes]) -> Vec<usize> {
    if args.len() > 2 && is(&args[1], "digest-value") {
        (2..args.len()).collect()
    } else if args.len() == 3 && is(&args[1], "object") {
        vec![2]
    } else {
        Vec::new()
    }
}

/// One key's [`digest_values`] entry.
fn value_digest(ks: &mut crate::store::Locked, db: usize, key: &[u8]) -> Reply {
    let mut digest = [0u8; 20];
    // The expiry first: no clone of a big collection to end the borrow.
    let expires = ks.expire_at(db, key).is_some_and(|at| at != 0);
    if let Some(e) = ks.peek(db, key) {
        mix_value_digest(&mut digest, &e.value, expires);
    }
    hex_reply(digest)
}

/// Redis's `xorDigest`: XORs the SHA-1 of `data` into `digest`.
fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    let hash = sha1_smol::Sha1::from(data).digest().bytes();
    digest.iter_mut().zip(hash).for_each(|(d, h)| *d ^= h);
}

/// Redis's `mixDigest`: [`xor_digest`], then `digest` becomes its own SHA-1 (order matters).
fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1_smol::Sha1::from(&digest[..]).digest().bytes();
}

/// The value of the longest prefix of `arg` that parses as a decimal float (C's `strtod`
/// without hex floats, infinities or NaN), 0 when there is none.
fn float_prefix(arg: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(arg);
    let text = text.trim_start();
    (1..=text.len().min(64))
        .rev()
        .filter(|&n| text.is_char_boundary(n))
        .find_map(|n| text[..n].parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// `BGSAVE [SCHEDULE]`: writes the RDB file from a background thread. SCHEDULE only matters
/// while another background job runs, which is never the case here without AOF rewrites.
fn bgsave(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() > 2 || args.get(1).is_some_and(|a| !is(a, "schedule")) {
        return Reply::err(errors::SYNTAX);
    }
    match ctx.shared.bgsave(ctx.client.in_exec) {
        BgsaveOutcome::Started => Reply::simple("Background saving started"),
        BgsaveOutcome::Scheduled => Reply::simple("Background saving scheduled"),
        BgsaveOutcome::AlreadyInProgress => Reply::err("ERR Background save already in progress"),
    }
}

/// `BGREWRITEAOF`: a new AOF base from a snapshot, written from a background thread.
fn bgrewriteaof(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    match ctx.shared.bgrewriteaof() {
        RewriteOutcome::Started => Reply::simple("Background append only file rewriting started"),
        RewriteOutcome::AlreadyInProgress => {
            Reply::err("ERR Background append only file rewriting already in progress")
        }
    }
}

fn lastsave(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    Reply::Integer(ctx.shared.persistence.lastsave() as i64)
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`
fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut save, mut nosave, mut abort, mut force) = (false, false, false, false);
    for a in &args[1..] {
        if is(a, "nosave") {
            nosave = true;
        } else if is(a, "save") {
            save = true;
        } else if is(a, "force") {
            force = true;
        } else if is(a, "now") {
            // NOW skips waiting for lagging replicas; there are none to wait for.
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Reply::err(errors::SYNTAX);
        }
    }
    if (save && nosave) || (abort && args.len() > 2) {
        return Reply::err(errors::SYNTAX);
    }
    if abort {
        return Reply::err("ERR No shutdown in progress.");
    }
    tracing::warn!("User requested shutdown...");
    if !nosave {
        let shared = ctx.shared;
        if let Err(e) = crate::blocking::offload(|| shared.final_save(save)) {
            tracing::warn!("Error trying to save the DB, can't exit: {e}");
            if !force {
                return Reply::err("ERR Errors trying to SHUTDOWN. Check logs.");
            }
        }
    }
    ctx.shared.shutdown.cancel();
    ctx.client.close_after_reply = true;
    // Redis closes the connection without a reply when the shutdown succeeds.
    Reply::Raw(Bytes::new())
}

/// Every INFO section in Redis's print order, and whether `INFO` / `INFO default` includes it
/// (`all` and `everything` add the others).
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// `INFO [section …]`: names are case-insensitive, may repeat, unknown ones print nothing.
fn info(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let mut wanted = HashSet::new();
    let requested: Vec<String> = args[1..].iter().map(|a| args::lossy(a).to_ascii_lowercase()).collect();
    for name in if requested.is_empty() { vec!["default".to_string()] } else { requested } {
        match name.as_str() {
            "default" => wanted.extend(SECTIONS.iter().filter(|(_, default)| *default).map(|(s, _)| *s)),
            "all" | "everything" => wanted.extend(SECTIONS.iter().map(|(s, _)| *s)),
            other => {
                if let Some((s, _)) = SECTIONS.iter().find(|(s, _)| *s == other) {
                    wanted.insert(*s);
                }
            }
        }
    }
    let mut out = String::new();
    for (section, _) in SECTIONS.iter().filter(|(s, _)| wanted.contains(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        info_section(ctx, section, &mut out);
    }
    Reply::Verbatim("txt", Bytes::from(out))
}

/// INFO's `os`: `uname`'s system, release and machine, as Redis prints them.
fn os_name() -> String {
    // SAFETY: uname fills the zeroed struct it is given; its fields are NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine))
}

fn info_section(ctx: &mut Ctx, section: &str, out: &mut String) {
    let shared = ctx.shared;
    let config = shared.config.read().clone();
    let stats = &shared.stats;
    let ks = &shared.store.stats;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    macro_rules! w {
        ($k:expr, $v:expr) => {{
            let _ = write!(out, "{}:{}\r\n", $k, $v);
        }};
    }
    match section {
        "server" => {
            out.push_str("# Server\r\n");
            let up = shared.started.elapsed().as_secs();
            w!("redis_version", &REDIS_COMPAT_VERSION);
            w!("ferrocache_version", &env!("CARGO_PKG_VERSION"));
            w!("redis_git_sha1", &"00000000");
            w!("redis_git_dirty", &0);
            w!("redis_build_id", &"0");
            w!("redis_mode", &super::connection::mode_name(config.cluster_enabled));
            w!("os", &os_name());
            w!("arch_bits", &(usize::BITS));
            // Instant is clock_gettime(CLOCK_MONOTONIC); Rust's atomics are C11's.
            w!("monotonic_clock", &"POSIX clock_gettime");
            w!("multiplexing_api", &"tokio");
            w!("atomicvar_api", &"c11-builtin");
            // What a Redis built by another compiler than GCC prints.
            w!("gcc_version", &"0.0.0");
            w!("process_id", &std::process::id());
            w!("process_supervised", &crate::server::daemon::supervisor_name());
            w!("run_id", &shared.run_id);
            w!("tcp_port", &shared.port());
            w!("server_time_usec", &system_now_us());
            w!("uptime_in_seconds", &up);
            w!("uptime_in_days", &(up / 86400));
            w!("hz", &config.hz);
            w!("configured_hz", &config.hz);
            w!("lru_clock", &((shared.store.now_ms() / 1000) & ((1 << 24) - 1)));
            w!("executable", &std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default());
            w!("config_file", &config.config_file.as_deref().unwrap_or(""));
            w!("io_threads_active", &0);
        }
        "clients" => {
            out.push_str("# Clients\r\n");
            w!("connected_clients", &shared.clients.count());
            // Redis 7.0's getClusterConnectionsCount: two bus links per other known node.
            let bus_links = shared.cluster().map_or(0, |n| n.state.read().nodes().len().saturating_sub(1) * 2);
            w!("cluster_connections", &bus_links);
            w!("maxclients", &config.maxclients);
            let (max_input, max_output) = shared.client_memory.recent_max();
            w!("client_recent_max_input_buffer", &max_input);
            w!("client_recent_max_output_buffer", &max_output);
            w!("blocked_clients", &crate::commands::blocking::blocked(shared));
            w!("tracking_clients", &0);
            w!("clients_in_timeout_table", &0);
        }
        "memory" => crate::memory::report::Overhead::gather(shared, ctx.ks).write_info(shared, out),
        "persistence" => {
            out.push_str("# Persistence\r\n");
            let rdb = shared.rdb_info();
            w!("loading", &(rdb.loading as u8));
            w!("async_loading", &0);
            w!("current_cow_peak", &0);
            w!("current_cow_size", &0);
            w!("current_cow_size_age", &0);
            w!("current_fork_perc", &"0.00");
            w!("current_save_keys_processed", &0);
            w!("current_save_keys_total", &0);
            w!("rdb_changes_since_last_save", &rdb.changes_since_last_save);
            w!("rdb_bgsave_in_progress", &(rdb.bgsave_in_progress as u8));
            w!("rdb_last_save_time", &rdb.last_save_time);
            w!("rdb_last_bgsave_status", &if rdb.last_bgsave_ok { "ok" } else { "err" });
            w!("rdb_last_bgsave_time_sec", &rdb.last_bgsave_time_sec);
            w!("rdb_current_bgsave_time_sec", &rdb.current_bgsave_time_sec);
            w!("rdb_saves", &rdb.saves);
            // No fork, so no copy-on-write: the snapshot's copy is counted in used_memory.
            w!("rdb_last_cow_size", &0);
            w!("rdb_last_load_keys_expired", &rdb.last_load_keys_expired);
            w!("rdb_last_load_keys_loaded", &rdb.last_load_keys_loaded);
            let aof = shared.aof_info();
            let status = |ok: bool| if ok { "ok" } else { "err" };
            w!("aof_enabled", &(aof.enabled as u8));
            w!("aof_rewrite_in_progress", &(aof.rewrite_in_progress as u8));
            w!("aof_rewrite_scheduled", &(aof.rewrite_scheduled as u8));
            w!("aof_last_rewrite_time_sec", &aof.last_rewrite_time_sec);
            w!("aof_current_rewrite_time_sec", &aof.current_rewrite_time_sec);
            w!("aof_last_bgrewrite_status", &status(aof.last_bgrewrite_ok));
            w!("aof_rewrites", &aof.rewrites);
            w!("aof_rewrites_consecutive_failures", &aof.consecutive_failures);
            w!("aof_last_write_status", &status(aof.last_write_ok));
            w!("aof_last_cow_size", &0);
            w!("module_fork_in_progress", &0);
            w!("module_fork_last_cow_size", &0);
            if aof.enabled {
                w!("aof_current_size", &aof.current_size);
                w!("aof_base_size", &aof.base_size);
                w!("aof_pending_rewrite", &0);
                w!("aof_buffer_length", &aof.buffer_length);
                w!("aof_pending_bio_fsync", &aof.pending_bio_fsync);
                w!("aof_delayed_fsync", &aof.delayed_fsync);
            }
        }
        "stats" => {
            // Redis 7.0's fields in its order, less those about what does not happen here: no
            // fork, no active defrag, no client tracking, no io-threads, no reply-buffer
            // resizing (tests/memory.rs lists them).
            out.push_str("# Stats\r\n");
            let sync = &shared.repl.stats;
            let (hits, misses) = ctx.shared.store.keyspace_hits_misses();
            let (input_kbps, output_kbps) = stats.instantaneous_kbps();
            let (repl_input_kbps, repl_output_kbps) = stats.instantaneous_repl_kbps();
            w!("total_connections_received", &get(&stats.total_connections_received));
            w!("total_commands_processed", &get(&stats.total_commands_processed));
            w!("instantaneous_ops_per_sec", &stats.instantaneous_ops());
            w!("total_net_input_bytes", &get(&stats.total_net_input_bytes));
            w!("total_net_output_bytes", &get(&stats.total_net_output_bytes));
            w!("total_net_repl_input_bytes", &get(&stats.total_net_repl_input_bytes));
            w!("total_net_repl_output_bytes", &get(&stats.total_net_repl_output_bytes));
            w!("instantaneous_input_kbps", &format!("{input_kbps:.2}"));
            w!("instantaneous_output_kbps", &format!("{output_kbps:.2}"));
            w!("instantaneous_input_repl_kbps", &format!("{repl_input_kbps:.2}"));
            w!("instantaneous_output_repl_kbps", &format!("{repl_output_kbps:.2}"));
            w!("rejected_connections", &get(&stats.rejected_connections));
            w!("sync_full", &get(&sync.full));
            w!("sync_partial_ok", &get(&sync.partial_ok));
            w!("sync_partial_err", &get(&sync.partial_err));
            w!("expired_keys", &get(&ks.expired_keys));
            let stale = f64::from_bits(get(&ks.expired_stale_perc)) * 100.0;
            w!("expired_stale_perc", &format!("{stale:.2}"));
            w!("expired_time_cap_reached_count", &get(&ks.expired_time_cap_reached));
            w!("expire_cycle_cpu_milliseconds", &get(&ks.expire_cycle_cpu_ms));
            w!("evicted_keys", &get(&ks.evicted_keys));
            w!("evicted_clients", &get(&shared.client_memory.evicted_clients));
            let (exceeded_total, exceeded_now) = stats.eviction_exceeded_ms();
            w!("total_eviction_exceeded_time", &exceeded_total);
            w!("current_eviction_exceeded_time", &exceeded_now);
            w!("keyspace_hits", &hits);
            w!("keyspace_misses", &misses);
            // No Pub/Sub: nobody can subscribe, so none of these ever counts one.
            w!("pubsub_channels", &0);
            w!("pubsub_patterns", &0);
            w!("pubsubshard_channels", &0);
            w!("migrate_cached_sockets", &shared.migrate_sockets.cached());
            w!("unexpected_error_replies", &get(&stats.unexpected_error_replies));
            w!("total_error_replies", &get(&stats.total_error_replies));
            w!("total_reads_processed", &get(&stats.total_reads_processed));
            w!("total_writes_processed", &get(&stats.total_writes_processed));
        }
        "replication" => super::replication::info_section(shared, out),
        "cpu" => {
            out.push_str("# CPU\r\n");
            let cpu = crate::server::cpu_usage();
            w!("used_cpu_sys", &format!("{:.6}", cpu.sys));
            w!("used_cpu_user", &format!("{:.6}", cpu.user));
            w!("used_cpu_sys_children", &format!("{:.6}", cpu.sys_children));
            w!("used_cpu_user_children", &format!("{:.6}", cpu.user_children));
            w!("used_cpu_sys_main_thread", &format!("{:.6}", cpu.sys_main_thread));
            w!("used_cpu_user_main_thread", &format!("{:.6}", cpu.user_main_thread));
        }
        "modules" => out.push_str("# Modules\r\n"),
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (prefix, count) in stats.errors.lock().iter() {
                let _ = write!(out, "errorstat_{prefix}:count={count}\r\n");
            }
        }
        "commandstats" => {
            out.push_str("# Commandstats\r\n");
            for spec in super::table::all() {
                for s in std::iter::once(spec).chain(spec.subcommands.iter()) {
                    let calls = get(&shared.command_stats.get(s).calls);
                    let (rejected, failed) = (
                        get(&shared.command_stats.get(s).rejected_calls),
                        get(&shared.command_stats.get(s).failed_calls),
                    );
                    if calls == 0 && rejected == 0 && failed == 0 {
                        continue;
                    }
                    let usec = get(&shared.command_stats.get(s).usec);
                    let _ = write!(
                        out,
                        "cmdstat_{}:calls={calls},usec={usec},usec_per_call={:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                        s.full_name(),
                        usec as f64 / calls.max(1) as f64
                    );
                }
            }
        }
        "latencystats" => {
            out.push_str("# Latencystats\r\n");
            super::latency::info_latencystats(shared, out);
        }
        "cluster" => {
            out.push_str("# Cluster\r\n");
            w!("cluster_enabled", &(config.cluster_enabled as u8));
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            let now = ctx.ks.now();
            for db in 0..shared.store.databases() {
                let keys = ctx.ks.dbsize(db);
                if keys == 0 {
                    continue;
                }
                let expires = ctx.ks.expires_count(db);
                let avg_ttl = average_ttl(ctx, db, now);
                let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n");
            }
        }
        _ => {}
    }
}

/// Average remaining TTL in ms over a sample of each shard's volatile keys (Redis also
/// reports an estimate, from its expiry cycle's samples).
fn average_ttl(ctx: &mut Ctx, db: usize, now: u64) -> u64 {
    let (mut sum, mut n) = (0u128, 0u128);
    for pos in 0..ctx.ks.locked_shard_count() {
        let table = ctx.ks.table(pos, db);
        for at in table.volatile_sample(16) {
            sum += at.saturating_sub(now) as u128;
            n += 1;
        }
    }
    sum.checked_div(n).unwrap_or(0) as u64
}
