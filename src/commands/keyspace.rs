//! Keyspace commands: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY, RENAME, RENAMENX,
//! COPY, MOVE, SWAPDB, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME,
//! PEXPIRETIME, PERSIST, TOUCH, OBJECT, DBSIZE, FLUSHDB, FLUSHALL.
//!
//! Replies and error texts follow Redis 7.0 (`db.c`, `expire.c`, `object.c`).

use super::args::{self, is};
use super::table::{CommandSpec, Flags};
use super::{errors, Ctx};
use crate::glob::{self, Case};
use crate::store::{idle_ms, lfu_counter, Entry, EvictionPolicy, Locked, Value, PREFETCH_CHUNK};
use bytes::Bytes;
use ferrocache_protocol::Reply;
use rand::Rng;
use std::sync::atomic::Ordering;

const RO_FAST: Flags = Flags::READONLY.or(Flags::FAST);
const W_FAST: Flags = Flags::WRITE.or(Flags::FAST);
const EXPIRE_SYNTAX: &str = "key seconds [NX|XX|GT|LT]";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, del)
        .flags(Flags::WRITE)
        .keys(1, -1, 1)
        .doc("generic", "1.0.0", "Deletes one or more keys.", "key [key ...]")
        .acl(&["keyspace", "write", "slow"]),
    CommandSpec::new("unlink", -2, del)
        .flags(W_FAST)
        .keys(1, -1, 1)
        .doc("generic", "4.0.0", "Asynchronously deletes one or more keys.", "key [key ...]")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("exists", -2, exists)
        .flags(RO_FAST)
        .keys(1, -1, 1)
        .doc("generic", "1.0.0", "Determines whether one or more keys exist.", "key [key ...]")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("type", 2, type_cmd)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("generic", "1.0.0", "Determines the type of value stored at a key.", "key")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("keys", 2, keys)
        .flags(Flags::READONLY.or(Flags::WALKS_SHARDS))
        .doc("generic", "1.0.0", "Returns all key names that match a pattern.", "pattern")
        .acl(&["keyspace", "read", "slow", "dangerous"]),
    CommandSpec::new("scan", -2, scan)
        .flags(Flags::READONLY.or(Flags::WALKS_SHARDS))
        .doc(
            "generic",
            "2.8.0",
            "Iterates over the key names in the database.",
            "cursor [MATCH pattern] [COUNT count] [TYPE type]",
        )
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("randomkey", 1, randomkey)
        .flags(Flags::READONLY.or(Flags::ALL_SHARDS))
        .doc("generic", "1.0.0", "Returns a random key name from the database.", "")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("rename", 3, rename)
        .flags(Flags::WRITE)
        .keys(1, 2, 1)
        .doc("generic", "1.0.0", "Renames a key and overwrites the destination.", "key newkey")
        .acl(&["keyspace", "write", "slow"]),
    CommandSpec::new("renamenx", 3, renamenx)
        .flags(W_FAST)
        .keys(1, 2, 1)
        .doc("generic", "1.0.0", "Renames a key only when the target key name doesn't exist.", "key newkey")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("copy", -3, copy)
        .flags(Flags::WRITE.or(Flags::DENYOOM))
        .keys(1, 2, 1)
        .doc(
            "generic",
            "6.2.0",
            "Copies the value of a key to a new key.",
            "source destination [DB destination-db] [REPLACE]",
        )
        .acl(&["keyspace", "write", "slow"]),
    CommandSpec::new("move", 3, move_cmd)
        .flags(W_FAST)
        .keys(1, 1, 1)
        .doc("generic", "1.0.0", "Moves a key to another database.", "key db")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("swapdb", 3, swapdb)
        .flags(W_FAST.or(Flags::ALL_SHARDS))
        .doc("server", "4.0.0", "Swaps two Redis databases.", "index1 index2")
        .acl(&["keyspace", "write", "fast", "dangerous"]),
    CommandSpec::new("expire", -3, expire)
        .flags(W_FAST)
        .keys(1, 1, 1)
        .doc("generic", "1.0.0", "Sets the expiration time of a key in seconds.", EXPIRE_SYNTAX)
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("pexpire", -3, pexpire)
        .flags(W_FAST)
        .keys(1, 1, 1)
        .doc("generic", "2.6.0", "Sets the expiration time of a key in milliseconds.", "key milliseconds [NX|XX|GT|LT]")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("expireat", -3, expireat)
        .flags(W_FAST)
        .keys(1, 1, 1)
        .doc(
            "generic",
            "1.2.0",
            "Sets the expiration time of a key to a Unix timestamp.",
            "key unix-time-seconds [NX|XX|GT|LT]",
        )
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("pexpireat", -3, pexpireat)
        .flags(W_FAST)
        .keys(1, 1, 1)
        .doc(
            "generic",
            "2.6.0",
            "Sets the expiration time of a key to a Unix milliseconds timestamp.",
            "key unix-time-milliseconds [NX|XX|GT|LT]",
        )
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("ttl", 2, ttl)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("generic", "1.0.0", "Returns the expiration time in seconds of a key.", "key")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("pttl", 2, pttl)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("generic", "2.6.0", "Returns the expiration time in milliseconds of a key.", "key")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("expiretime", 2, expiretime)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("generic", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", "key")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("pexpiretime", 2, pexpiretime)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("generic", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "key")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("persist", 2, persist)
        .flags(W_FAST)
        .keys(1, 1, 1)
        .doc("generic", "2.2.0", "Removes the expiration time of a key.", "key")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("touch", -2, touch)
        .flags(RO_FAST)
        .keys(1, -1, 1)
        .doc(
            "generic",
            "3.2.1",
            "Returns the number of existing keys out of those specified after updating the time they were last \
             accessed.",
            "key [key ...]",
        )
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("object", -2, super::connection::container_help)
        .doc("generic", "2.2.3", "A container for object introspection commands.", "")
        .acl(&["slow"])
        .subcommands(OBJECT_SUBCOMMANDS),
    CommandSpec::new("dbsize", 1, dbsize)
        .flags(RO_FAST.or(Flags::ALL_SHARDS))
        .doc("server", "1.0.0", "Returns the number of keys in the database.", "")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("flushdb", -1, flushdb)
        .flags(Flags::WRITE.or(Flags::ALL_SHARDS))
        .doc("server", "1.0.0", "Remove all keys from the current database.", "[ASYNC|SYNC]")
        .acl(&["keyspace", "write", "slow", "dangerous"]),
    CommandSpec::new("flushall", -1, flushall)
        .flags(Flags::WRITE.or(Flags::ALL_SHARDS))
        .doc("server", "1.0.0", "Removes all keys from all databases.", "[ASYNC|SYNC]")
        .acl(&["keyspace", "write", "slow", "dangerous"]),
];

const OBJECT_KEY: Flags = Flags::READONLY;

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("encoding", 3, object_encoding)
        .flags(OBJECT_KEY)
        .keys(2, 2, 1)
        .parent("object")
        .doc("generic", "2.2.3", "Returns the internal encoding of a Redis object.", "key")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("freq", 3, object_freq)
        .flags(OBJECT_KEY)
        .keys(2, 2, 1)
        .parent("object")
        .doc("generic", "4.0.0", "Returns the logarithmic access frequency counter of a Redis object.", "key")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("idletime", 3, object_idletime)
        .flags(OBJECT_KEY)
        .keys(2, 2, 1)
        .parent("object")
        .doc("generic", "2.2.3", "Returns the time since the last access to a Redis object.", "key")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("refcount", 3, object_refcount)
        .flags(OBJECT_KEY)
        .keys(2, 2, 1)
        .parent("object")
        .doc("generic", "2.2.3", "Returns the reference count of a value of a key.", "key")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("help", 2, object_help)
        .flags(Flags::LOADING.or(Flags::STALE))
        .parent("object")
        .doc("generic", "6.2.0", "Returns helpful text about the different subcommands.", "")
        .acl(&["keyspace", "slow"]),
];

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A database index argument (`getIntFromObjectOrReply` + `selectDb`).
fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, Reply> {
    let n = args::int(arg)?;
    if n < i32::MIN as i64 || n > i32::MAX as i64 {
        return Err(Reply::err(errors::INT_RANGE));
    }
    if n < 0 || n as usize >= ctx.shared.store.databases() {
        return Err(Reply::err(errors::DB_INDEX));
    }
    Ok(n as usize)
}

/// Stores `entry` under `key`, keeping its TTL and access data: Redis's RENAME and MOVE move
/// the object itself, so its LFU counter survives (the write lookup has just touched it, so
/// OBJECT IDLETIME reads 0 afterwards, as in Redis).
fn put_moved(ks: &mut Locked, db: usize, key: &[u8], (entry, expire_at): (Entry, u64)) {
    let access = entry.access;
    ks.insert(db, key, entry.value, expire_at);
    if let Some(e) = ks.get_for_write(db, key) {
        e.access = access;
    }
}

// ---------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TYPE, TOUCH
// ---------------------------------------------------------------------------------------

/// How many of `keys` (a key named twice counts twice) `found` holds for, looking them up in
/// chunks whose cache misses overlap ([`Locked::prefetch_keys`]).
fn count_keys(ctx: &mut Ctx, keys: &[Bytes], mut found: impl FnMut(&mut Locked, usize, &Bytes) -> bool) -> i64 {
    let db = ctx.db();
    let mut n = 0;
    for chunk in keys.chunks(PREFETCH_CHUNK) {
        ctx.ks.prefetch_keys(db, chunk.iter());
        n += chunk.iter().filter(|k| found(ctx.ks, db, k)).count();
    }
    n as i64
}

/// `DEL key [key ...]` and `UNLINK key [key ...]` (values are freed in place either way).
fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Integer(count_keys(ctx, &args[1..], |ks, db, k| ks.delete(db, k)))
}

/// `EXISTS key [key ...]`: a key named twice counts twice.
fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Integer(count_keys(ctx, &args[1..], |ks, db, k| ks.peek_counted(db, k).is_some()))
}

/// `TYPE key`: the type name, or `none`.
fn type_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    match ctx.ks.peek_counted(db, &args[1]) {
        Some(e) => Reply::simple(e.value.type_name()),
        None => Reply::simple("none"),
    }
}

/// `TOUCH key [key ...]`: updates access data; counts existing keys (duplicates included).
fn touch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    Reply::Integer(count_keys(ctx, &args[1..], |ks, db, k| ks.get(db, k).is_some()))
}

// ---------------------------------------------------------------------------------------
// KEYS, SCAN, RANDOMKEY, DBSIZE
// ---------------------------------------------------------------------------------------

/// `KEYS pattern`: every live key of the database matching the glob.
///
/// Walks one shard at a time, off the async worker: other clients wait at most one shard's
/// walk, not the whole keyspace's. Unlike Redis's, the answer is not a single cut: a key
/// written during the walk may or may not be in it (keys present throughout are all there,
/// once each). Expired keys are skipped, not deleted (a read-only walk holds shared data).
fn keys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let pattern = &args[1][..];
    let all = pattern == b"*";
    let now = ctx.now();
    let ks = &mut *ctx.ks;
    let out = crate::blocking::offload(|| {
        let mut out = Vec::new();
        ks.for_each_table(db, |table| {
            for (k, _) in table.iter() {
                if !table.is_expired(k, now) && (all || glob::matches(pattern, k, Case::Sensitive)) {
                    out.push(Reply::Bulk(k.to_bytes()));
                }
            }
        });
        out
    });
    Reply::Array(out)
}

/// Bits of a SCAN cursor that hold the shard position (shards are at most 65536).
const CURSOR_SHARD_BITS: u32 = 16;
const CURSOR_SHARD_MASK: u64 = (1 << CURSOR_SHARD_BITS) - 1;

/// Redis's `parseScanCursorOrReply` (`strtoull`): optional sign, digits, no spaces, no
/// overflow; the empty string is cursor 0 and a negative number wraps.
pub(crate) fn parse_cursor(arg: &[u8]) -> Option<u64> {
    // strtoul reads a C string: `SCAN "5\x00x"` is cursor 5, and `SCAN "\x00"` cursor 0.
    let arg = args::c_str(arg);
    if arg.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().try_fold(0u64, |v, &d| v.checked_mul(10)?.checked_add((d - b'0') as u64))?;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
///
/// Each shard's table is walked from its highest index down to 0. Tables delete with
/// `swap_remove`, which moves the *last* element into the hole: since we walk downward, the
/// last element has already been visited (or was added after the walk of that shard began),
/// so an element not yet visited never moves to an index we have passed, and every key
/// present for the whole scan is returned at least once. Insertions append at the end.
///
/// Cursor encoding (u64): `remaining << 16 | shard`. `shard` is the position of the shard
/// being walked; `remaining` is the number of indices `[0, remaining)` still to visit in it,
/// where 0 means "start this shard afresh from its current top". So cursor 0 is "shard 0,
/// fresh": the start. The returned cursor is 0 once the last shard is done.
fn scan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = parse_cursor(&args[1]) else {
        return Reply::err(errors::INVALID_CURSOR);
    };
    let mut count: u64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "count") && more {
            match args::int(&args[i + 1]) {
                Ok(n) if n >= 1 => count = n as u64,
                Ok(_) => return Reply::err(errors::SYNTAX),
                Err(e) => return e,
            }
        } else if is(&args[i], "match") && more {
            pattern = (&args[i + 1][..] != b"*").then_some(&args[i + 1][..]);
        } else if is(&args[i], "type") && more {
            type_name = Some(&args[i + 1][..]);
        } else {
            return Reply::err(errors::SYNTAX);
        }
        i += 2;
    }

    let db = ctx.db();
    let shards = ctx.shared.store.shard_count();
    let mut shard = (cursor & CURSOR_SHARD_MASK) as usize;
    let mut remaining = (cursor >> CURSOR_SHARD_BITS) as usize;
    let mut fresh = remaining == 0;
    let mut budget = count;
    let mut found = Vec::new();
    // One shard locked at a time (a COUNT of millions walks as long as KEYS), offloaded.
    let ks = &mut *ctx.ks;
    let next = crate::blocking::offload(|| loop {
        if shard >= shards {
            break 0;
        }
        remaining = ks.with_shard(shard, |ks, pos| {
            let now = ks.now();
            let table = ks.table(pos, db);
            let mut remaining = if fresh { table.len() } else { remaining.min(table.len()) };
            let mut expired = Vec::new();
            while remaining > 0 && budget > 0 {
                remaining -= 1;
                budget -= 1;
                let (k, e) = table.get_index(remaining).expect("index below len");
                if table.is_expired(k, now) {
                    expired.push(k.clone());
                    continue;
                }
                if pattern.is_some_and(|p| !glob::matches(p, k, Case::Sensitive)) {
                    continue;
                }
                if type_name.is_some_and(|t| !t.eq_ignore_ascii_case(e.value.type_name().as_bytes())) {
                    continue;
                }
                found.push(Reply::Bulk(k.to_bytes()));
            }
            // Expired keys met on the way are deleted, as Redis's scan callback does. They
            // were all visited already, so their removal only moves visited elements.
            for k in expired {
                ks.remove(db, &k);
            }
            remaining
        });
        if remaining > 0 {
            break (remaining as u64) << CURSOR_SHARD_BITS | shard as u64;
        }
        shard += 1;
        fresh = true;
        if shard >= shards {
            break 0;
        }
        if budget == 0 {
            break shard as u64;
        }
    });
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(found)])
}

/// `RANDOMKEY`: a random live key, or nil. Expired keys drawn are deleted and the draw repeats.
fn randomkey(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let now = ctx.now();
    let shards = ctx.ks.locked_shard_count();
    let mut rng = rand::thread_rng();
    loop {
        let total: usize = (0..shards).map(|s| ctx.ks.table(s, db).len()).sum();
        if total == 0 {
            return Reply::Null;
        }
        let mut pick = rng.gen_range(0..total);
        let mut chosen = None;
        for s in 0..shards {
            let table = ctx.ks.table(s, db);
            if pick < table.len() {
                let (k, _) = table.get_index(pick).expect("index below len");
                chosen = Some((k.clone(), table.is_expired(k, now)));
                break;
            }
            pick -= table.len();
        }
        let (key, is_expired) = chosen.expect("pick below total");
        if !is_expired {
            return Reply::Bulk(key.to_bytes());
        }
        // Deleting it guarantees progress: each round returns or removes one key.
        ctx.ks.remove(db, &key);
    }
}

/// `DBSIZE`.
fn dbsize(ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    let db = ctx.db();
    Reply::Integer(ctx.ks.dbsize(db) as i64)
}

// ---------------------------------------------------------------------------------------
// RENAME, RENAMENX, COPY, MOVE, SWAPDB
// ---------------------------------------------------------------------------------------

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, true)
}

/// `RENAME` / `RENAMENX` (`renameGenericCommand`): the value keeps its TTL.
fn rename_generic(ctx: &mut Ctx, args: &[Bytes], nx: bool) -> Reply {
    let db = ctx.db();
    let (src, dst) = (&args[1], &args[2]);
    if ctx.ks.get_for_write(db, src).is_none() {
        return Reply::err(errors::NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { Reply::Integer(0) } else { Reply::OK };
    }
    if nx && ctx.ks.get_for_write(db, dst).is_some() {
        return Reply::Integer(0);
    }
    let moved = ctx.ks.remove_with_expiry(db, src).expect("looked up above");
    put_moved(ctx.ks, db, dst, moved);
    if nx {
        Reply::Integer(1)
    } else {
        Reply::OK
    }
}

/// `COPY source destination [DB destination-db] [REPLACE]`: the copy keeps the TTL.
fn copy(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            dst_db = match db_index(ctx, &args[i + 1]) {
                Ok(n) => n,
                Err(e) => return e,
            };
            i += 1;
        } else {
            return Reply::err(errors::SYNTAX);
        }
        i += 1;
    }
    let (src, dst) = (&args[1], &args[2]);
    if src_db == dst_db && src == dst {
        return Reply::err(errors::SAME_OBJECT);
    }
    let Some(e) = ctx.ks.get(src_db, src) else {
        return Reply::Integer(0);
    };
    let value: Value = e.value.clone();
    let expire_at = ctx.ks.expire_at(src_db, src).unwrap_or(0);
    if ctx.ks.get_for_write(dst_db, dst).is_some() {
        if !replace {
            return Reply::Integer(0);
        }
        ctx.ks.remove(dst_db, dst);
    }
    ctx.ks.insert(dst_db, dst, value, expire_at);
    Reply::Integer(1)
}

/// `MOVE key db`: 1 if moved, 0 if the key is missing or exists in the target database.
fn move_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.shared.cluster().is_some() {
        return Reply::err("ERR MOVE is not allowed in cluster mode");
    }
    let src_db = ctx.db();
    let dst_db = match db_index(ctx, &args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if src_db == dst_db {
        return Reply::err(errors::SAME_OBJECT);
    }
    let key = &args[1];
    if ctx.ks.get_for_write(src_db, key).is_none() || ctx.ks.get_for_write(dst_db, key).is_some() {
        return Reply::Integer(0);
    }
    let moved = ctx.ks.remove_with_expiry(src_db, key).expect("looked up above");
    put_moved(ctx.ks, dst_db, key, moved);
    Reply::Integer(1)
}

/// `SWAPDB index1 index2`.
fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if ctx.shared.cluster().is_some() {
        return Reply::err("ERR SWAPDB is not allowed in cluster mode");
    }
    let parse = |arg: &[u8], err: &'static str| match args::int(arg) {
        Ok(n) if n >= i32::MIN as i64 && n <= i32::MAX as i64 => Ok(n),
        _ => Err(Reply::err(err)),
    };
    let a = match parse(&args[1], errors::INVALID_FIRST_DB) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let b = match parse(&args[2], errors::INVALID_SECOND_DB) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let dbs = ctx.shared.store.databases() as i64;
    if a < 0 || a >= dbs || b < 0 || b >= dbs {
        return Reply::err(errors::DB_INDEX);
    }
    if a != b {
        ctx.ks.swap_db(a as usize, b as usize);
        // Clients blocked in either database may now find their keys (`scanDatabaseForReadyKeys`).
        for db in [a as usize, b as usize] {
            for key in super::blocking::waited_keys(ctx.shared, db) {
                ctx.ks.signal_ready(db, &key);
            }
        }
    }
    Reply::OK
}

// ---------------------------------------------------------------------------------------
// EXPIRE family, TTL family, PERSIST
// ---------------------------------------------------------------------------------------

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now() as i64;
    expire_generic(ctx, args, "expire", now, true)
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let now = ctx.now() as i64;
    expire_generic(ctx, args, "pexpire", now, false)
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, "expireat", 0, true)
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, "pexpireat", 0, false)
}

/// `expireGenericCommand`: options NX XX GT LT, then the time, then the key. A time already
/// past deletes the key (reply 1). A key without TTL counts as an infinite TTL for GT/LT.
fn expire_generic(ctx: &mut Ctx, args: &[Bytes], name: &str, basetime: i64, seconds: bool) -> Reply {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &args[3..] {
        if is(opt, "nx") {
            nx = true;
        } else if is(opt, "xx") {
            xx = true;
        } else if is(opt, "gt") {
            gt = true;
        } else if is(opt, "lt") {
            lt = true;
        } else {
            return Reply::error(format!("ERR Unsupported option {}", args::lossy(args::c_str(opt))));
        }
    }
    if nx && (xx || gt || lt) {
        return Reply::err(errors::EXPIRE_NX_INCOMPATIBLE);
    }
    if gt && lt {
        return Reply::err(errors::EXPIRE_GT_LT_INCOMPATIBLE);
    }
    let mut when = match args::int(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    if seconds {
        when = match when.checked_mul(1000) {
            Some(ms) => ms,
            None => return Reply::error(errors::invalid_expire(name)),
        };
    }
    when = match when.checked_add(basetime) {
        Some(t) => t,
        None => return Reply::error(errors::invalid_expire(name)),
    };

    let db = ctx.db();
    let key = &args[1];
    if ctx.ks.get_for_write(db, key).is_none() {
        return Reply::Integer(0);
    }
    let current = ctx.ks.expire_at(db, key).filter(|&at| at != 0).map(|at| at as i64);
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && !matches!(current, Some(c) if c < when))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        return Reply::Integer(0);
    }
    // Effects as Redis 7.0 propagates them: DEL for a time already past, else PEXPIREAT.
    if when <= ctx.now() as i64 {
        ctx.ks.remove(db, key);
        ctx.propagate_one(&[b"DEL", key]);
    } else {
        ctx.ks.set_expire(db, key, when as u64);
        if name != "pexpireat" {
            ctx.propagate_one(&[b"PEXPIREAT", key, itoa::Buffer::new().format(when).as_bytes()]);
        }
    }
    Reply::Integer(1)
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, false, false)
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, true, false)
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    ttl_generic(ctx, args, true, true)
}

/// `ttlGenericCommand`: -2 missing, -1 no TTL; seconds are rounded to the nearest.
fn ttl_generic(ctx: &mut Ctx, args: &[Bytes], ms: bool, absolute: bool) -> Reply {
    let db = ctx.db();
    let now = ctx.now() as i64;
    if ctx.ks.peek_counted(db, &args[1]).is_none() {
        return Reply::Integer(-2);
    }
    let at = ctx.ks.expire_at(db, &args[1]).unwrap_or(0);
    if at == 0 {
        return Reply::Integer(-1);
    }
    let t = if absolute { at as i64 } else { at as i64 - now }.max(0) as u64;
    // Unsigned, as what Redis 7.0 prints: its `(ttl+500)/1000` on a long long overflows for a
    // time within 500 ms of LLONG_MAX, and the compiler (knowing ttl >= 0) divides it unsigned,
    // so `PEXPIREAT k 9223372036854775807` then EXPIRETIME answers 9223372036854776.
    Reply::Integer(if ms { t as i64 } else { ((t + 500) / 1000) as i64 })
}

/// `PERSIST key`: 1 if a TTL was removed.
fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let had_ttl =
        ctx.ks.get_for_write(db, &args[1]).is_some() && ctx.ks.expire_at(db, &args[1]).is_some_and(|at| at != 0);
    if had_ttl {
        ctx.ks.set_expire(db, &args[1], 0);
    }
    Reply::Integer(had_ttl as i64)
}

// ---------------------------------------------------------------------------------------
// OBJECT
// ---------------------------------------------------------------------------------------

/// `OBJECT ENCODING key`.
fn object_encoding(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    match ctx.ks.peek_counted(db, &args[2]) {
        Some(e) => Reply::bulk(e.value.encoding()),
        None => Reply::Null,
    }
}

/// `OBJECT FREQ key`: only under an LFU policy.
fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let now = ctx.ks.store().coarse_now_ms();
    let store = ctx.ks.store();
    let Some(e) = ctx.ks.peek_counted(db, &args[2]) else {
        return Reply::Null;
    };
    if !store.eviction_policy().is_lfu() {
        return Reply::err(errors::LFU_NOT_SELECTED);
    }
    Reply::Integer(lfu_counter(e.access, now, store.lfu_params()) as i64)
}

/// `OBJECT IDLETIME key`: seconds since the last access; not under an LFU policy.
fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let now = ctx.ks.store().coarse_now_ms();
    let store = ctx.ks.store();
    let Some(e) = ctx.ks.peek_counted(db, &args[2]) else {
        return Reply::Null;
    };
    if store.eviction_policy().is_lfu() {
        return Reply::err(errors::LFU_SELECTED);
    }
    Reply::Integer((idle_ms(e.access, now) / 1000) as i64)
}

/// Redis's `OBJ_SHARED_REFCOUNT` (INT_MAX): what shared integer objects report.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// `OBJ_SHARED_INTEGERS`: integers 0..10000 are shared objects in Redis.
const SHARED_INTEGERS: i64 = 10_000;

/// `OBJECT REFCOUNT key`: Redis shares small integers unless an LRU/LFU maxmemory policy
/// is in force (`MAXMEMORY_FLAG_NO_SHARED_INTEGERS`); every other value has one reference.
fn object_refcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let maxmemory = ctx.shared.hot.maxmemory.load(Ordering::Relaxed);
    let policy = ctx.ks.store().eviction_policy();
    let no_sharing = maxmemory != 0
        && matches!(
            policy,
            EvictionPolicy::AllKeysLru
                | EvictionPolicy::VolatileLru
                | EvictionPolicy::AllKeysLfu
                | EvictionPolicy::VolatileLfu
        );
    match ctx.ks.peek_counted(db, &args[2]) {
        None => Reply::Null,
        Some(Entry { value: Value::Int(n), .. }) if (0..SHARED_INTEGERS).contains(n) && !no_sharing => {
            Reply::Integer(SHARED_REFCOUNT)
        }
        Some(_) => Reply::Integer(1),
    }
}

/// `OBJECT HELP`, word for word as Redis 7.0.
fn object_help(_ctx: &mut Ctx, _args: &[Bytes]) -> Reply {
    const LINES: &[&str] = &[
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(LINES.iter().map(|l| Reply::simple(l)).collect())
}

// ---------------------------------------------------------------------------------------
// FLUSHDB, FLUSHALL
// ---------------------------------------------------------------------------------------

/// `[ASYNC|SYNC]` of FLUSHDB / FLUSHALL (`getFlushCommandFlags`): `None` for a syntax error,
/// else whether ASYNC was asked for.
fn flush_is_async(args: &[Bytes]) -> Option<bool> {
    match args.len() {
        1 => Some(false),
        2 if is(&args[1], "async") => Some(true),
        2 if is(&args[1], "sync") => Some(false),
        _ => None,
    }
}

/// Empties `dbs` and schedules the rest of a flush for after the unlock: the tables are freed
/// before the reply (SYNC) or on a thread of their own (ASYNC, as Redis's lazyfree), and after a
/// flush without ASYNC the freed pages go back to the OS before the reply, as Redis does:
/// otherwise they would leave during the traffic that follows (see `memory::purge`).
fn flush(ctx: &mut Ctx, dbs: std::ops::Range<usize>, is_async: bool) {
    for db in dbs {
        ctx.ks.flush_db(db, is_async);
    }
    if !is_async {
        ctx.ks.after_unlock(|| {
            crate::memory::purge();
        });
    }
    // Even an empty database's flush is propagated, as Redis forces it.
    ctx.propagation = super::Propagation::Forced;
}

/// `FLUSHDB [ASYNC|SYNC]`.
fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(is_async) = flush_is_async(args) else {
        return Reply::err(errors::SYNTAX);
    };
    let db = ctx.db();
    flush(ctx, db..db + 1, is_async);
    Reply::OK
}

/// `FLUSHALL [ASYNC|SYNC]`.
fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(is_async) = flush_is_async(args) else {
        return Reply::err(errors::SYNTAX);
    };
    flush(ctx, 0..ctx.shared.store.databases(), is_async);
    if let Some(save) = ctx.shared.save_empty_after_flushall() {
        ctx.ks.after_unlock(save);
    }
    Reply::OK
}

#[cfg(test)]
mod tests {
    use super::super::testing::Harness;
    use super::*;

    fn int(n: i64) -> Reply {
        Reply::Integer(n)
    }

    fn bulk(s: &str) -> Reply {
        Reply::bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn err(s: &str) -> Reply {
        Reply::error(s.to_string())
    }

    fn sorted_keys(r: Reply) -> Vec<String> {
        let Reply::Array(items) = r else { panic!("not an array: {r:?}") };
        let mut v: Vec<String> = items
            .into_iter()
            .map(|i| match i {
                Reply::Bulk(b) => String::from_utf8(b.to_vec()).expect("utf8"),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect();
        v.sort();
        v
    }

    /// One SCAN call: (next cursor, keys).
    fn scan_once(h: &mut Harness, args: &[&str]) -> (String, Vec<String>) {
        let Reply::Array(mut parts) = h.run(args) else { panic!("scan reply") };
        let keys = sorted_keys(parts.pop().expect("keys"));
        let Some(Reply::Bulk(c)) = parts.pop() else { panic!("cursor") };
        (String::from_utf8(c.to_vec()).expect("utf8"), keys)
    }

    #[test]
    fn del_unlink_exists_touch_type() {
        let mut h = Harness::new();
        h.run(&["set", "a", "1"]);
        h.run(&["set", "b", "x"]);
        assert_eq!(h.run(&["exists", "a", "a", "b", "nokey"]), int(3));
        assert_eq!(h.run(&["touch", "a", "a", "nokey"]), int(2));
        assert_eq!(h.run(&["type", "a"]), Reply::simple("string"));
        assert_eq!(h.run(&["type", "nokey"]), Reply::simple("none"));
        assert_eq!(h.run(&["del", "a", "a", "nokey"]), int(1));
        assert_eq!(h.run(&["unlink", "b", "b"]), int(1));
        assert_eq!(h.run(&["exists", "a", "b"]), int(0));
        assert_eq!(h.run(&["del"]), err("ERR wrong number of arguments for 'del' command"));
        assert_eq!(h.run(&["unlink"]), err("ERR wrong number of arguments for 'unlink' command"));
    }

    /// DEL, EXISTS and TOUCH prefetch their keys in chunks: counts must not depend on where a
    /// chunk ends (40 keys present, every one named twice, 10 missing: 90 names in all).
    #[test]
    fn multi_key_counts_span_prefetch_chunks() {
        let mut h = Harness::new();
        for i in 0..40 {
            h.run(&["set", &format!("k{i}"), "v"]);
        }
        let names: Vec<String> = (0..40).chain(0..40).chain(100..110).map(|i| format!("k{i}")).collect();
        let with =
            |cmd: &'static str| -> Vec<&str> { std::iter::once(cmd).chain(names.iter().map(String::as_str)).collect() };
        assert_eq!(h.run(&with("exists")), int(80));
        assert_eq!(h.run(&with("touch")), int(80));
        assert_eq!(h.run(&with("del")), int(40));
        assert_eq!(h.run(&with("exists")), int(0));
    }

    #[test]
    fn keys_matches_globs_and_skips_expired() {
        let mut h = Harness::new();
        for k in ["hello", "hallo", "hxllo", "world", "h[x]"] {
            h.run(&["set", k, "v"]);
        }
        assert_eq!(sorted_keys(h.run(&["keys", "h?llo"])), ["hallo", "hello", "hxllo"]);
        assert_eq!(sorted_keys(h.run(&["keys", "h[ae]llo"])), ["hallo", "hello"]);
        assert_eq!(sorted_keys(h.run(&["keys", "h\\[x\\]"])), ["h[x]"]);
        assert_eq!(sorted_keys(h.run(&["keys", "*"])).len(), 5);
        h.run(&["pexpire", "world", "10"]);
        h.advance(10);
        assert_eq!(sorted_keys(h.run(&["keys", "w*"])), Vec::<String>::new());
        assert_eq!(h.run(&["keys"]), err("ERR wrong number of arguments for 'keys' command"));
    }

    #[test]
    fn expire_family_and_ttls_follow_the_clock() {
        let mut h = Harness::new();
        let now = 1_700_000_000_000i64;
        h.run(&["set", "k", "v"]);
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        assert_eq!(h.run(&["pttl", "k"]), int(-1));
        assert_eq!(h.run(&["expiretime", "k"]), int(-1));
        assert_eq!(h.run(&["ttl", "nokey"]), int(-2));
        assert_eq!(h.run(&["pexpiretime", "nokey"]), int(-2));
        assert_eq!(h.run(&["expire", "k", "100"]), int(1));
        assert_eq!(h.run(&["ttl", "k"]), int(100));
        assert_eq!(h.run(&["pttl", "k"]), int(100_000));
        assert_eq!(h.run(&["expiretime", "k"]), int(now / 1000 + 100));
        assert_eq!(h.run(&["pexpiretime", "k"]), int(now + 100_000));
        h.advance(40_400);
        assert_eq!(h.run(&["ttl", "k"]), int(60)); // 59.6 s rounds to 60
        assert_eq!(h.run(&["pttl", "k"]), int(59_600));
        assert_eq!(h.run(&["pexpire", "k", "1500"]), int(1));
        assert_eq!(h.run(&["ttl", "k"]), int(2));
        h.advance(1499);
        assert_eq!(h.run(&["pttl", "k"]), int(1));
        h.advance(1);
        assert_eq!(h.run(&["exists", "k"]), int(0));
        assert_eq!(h.run(&["ttl", "k"]), int(-2));

        let now = now as u64 + 40_400 + 1500;
        h.run(&["set", "k", "v"]);
        let at = (now / 1000 + 10).to_string();
        assert_eq!(h.run(&["expireat", "k", &at]), int(1));
        assert_eq!(h.run(&["expiretime", "k"]), int(now as i64 / 1000 + 10));
        let pat = (now + 5000).to_string();
        assert_eq!(h.run(&["pexpireat", "k", &pat]), int(1));
        assert_eq!(h.run(&["pexpiretime", "k"]), int(now as i64 + 5000));
        assert_eq!(h.run(&["persist", "k"]), int(1));
        assert_eq!(h.run(&["persist", "k"]), int(0));
        assert_eq!(h.run(&["persist", "nokey"]), int(0));
        assert_eq!(h.run(&["ttl", "k"]), int(-1));
        assert_eq!(h.run(&["expire", "nokey", "10"]), int(0));

        // Rounding to seconds near i64::MAX does not overflow (Redis 7.0's replies).
        for (pat, secs) in [(i64::MAX, 9_223_372_036_854_776), (i64::MAX - 499, 9_223_372_036_854_775)] {
            assert_eq!(h.run(&["pexpireat", "k", &pat.to_string()]), int(1));
            assert_eq!(h.run(&["expiretime", "k"]), int(secs));
            assert_eq!(h.run(&["pexpiretime", "k"]), int(pat));
        }
    }

    #[test]
    fn expire_in_the_past_deletes() {
        let mut h = Harness::new();
        for args in [
            &["expire", "k", "0"][..],
            &["expire", "k", "-5"],
            &["pexpire", "k", "-9223372036854775808"],
            &["expireat", "k", "1"],
            &["pexpireat", "k", "1700000000000"],
        ] {
            h.run(&["set", "k", "v"]);
            assert_eq!(h.run(args), int(1), "{args:?}");
            assert_eq!(h.run(&["exists", "k"]), int(0), "{args:?}");
        }
    }

    #[test]
    fn expire_options() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        // No TTL: XX and GT refuse, NX and LT accept.
        assert_eq!(h.run(&["expire", "k", "100", "xx"]), int(0));
        assert_eq!(h.run(&["expire", "k", "100", "gt"]), int(0));
        assert_eq!(h.run(&["expire", "k", "100", "NX"]), int(1));
        assert_eq!(h.run(&["expire", "k", "200", "nx"]), int(0));
        assert_eq!(h.run(&["expire", "k", "200", "xx"]), int(1));
        assert_eq!(h.run(&["expire", "k", "100", "gt"]), int(0));
        assert_eq!(h.run(&["expire", "k", "200", "gt"]), int(0)); // equal is not greater
        assert_eq!(h.run(&["expire", "k", "300", "gt", "xx"]), int(1));
        assert_eq!(h.run(&["expire", "k", "300", "lt"]), int(0));
        assert_eq!(h.run(&["expire", "k", "50", "lt", "lt"]), int(1));
        assert_eq!(h.run(&["ttl", "k"]), int(50));
        h.run(&["persist", "k"]);
        assert_eq!(h.run(&["expire", "k", "20", "lt"]), int(1));
        assert_eq!(h.run(&["ttl", "k"]), int(20));
        assert_eq!(h.run(&["expire", "k", "0", "gt"]), int(0));
        assert_eq!(h.run(&["exists", "k"]), int(1));
        assert_eq!(h.run(&["expire", "k", "0", "lt"]), int(1));
        assert_eq!(h.run(&["exists", "k"]), int(0));
    }

    #[test]
    fn expire_errors() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
        assert_eq!(h.run(&["expire", "k", "10", "nx", "xx"]), err(nx));
        assert_eq!(h.run(&["expire", "k", "10", "nx", "gt"]), err(nx));
        assert_eq!(h.run(&["pexpire", "k", "10", "lt", "nx"]), err(nx));
        let gtlt = "ERR GT and LT options at the same time are not compatible";
        assert_eq!(h.run(&["expireat", "k", "10", "gt", "lt"]), err(gtlt));
        assert_eq!(h.run(&["expire", "k", "10", "foo"]), err("ERR Unsupported option foo"));
        assert_eq!(h.run(&["expire", "nokey", "abc", "foo"]), err("ERR Unsupported option foo"));
        assert_eq!(h.run(&["expire", "k", "abc"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["expire", "k", "1.5"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["expire", "k", "99999999999999999"]), err("ERR invalid expire time in 'expire' command"));
        assert_eq!(h.run(&["expire", "k", "-9223372036854775808"]), err("ERR invalid expire time in 'expire' command"));
        assert_eq!(
            h.run(&["pexpire", "k", "9223372036854775807"]),
            err("ERR invalid expire time in 'pexpire' command")
        );
        assert_eq!(
            h.run(&["expireat", "k", "9223372036854775807"]),
            err("ERR invalid expire time in 'expireat' command")
        );
        assert_eq!(h.run(&["pexpireat", "k", "9223372036854775807"]), int(1));
        assert_eq!(h.run(&["expire", "k"]), err("ERR wrong number of arguments for 'expire' command"));
        assert_eq!(h.run(&["ttl"]), err("ERR wrong number of arguments for 'ttl' command"));
        assert_eq!(h.run(&["ttl", "a", "b"]), err("ERR wrong number of arguments for 'ttl' command"));
    }

    #[test]
    fn rename_and_renamenx() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["rename", "nokey", "x"]), err("ERR no such key"));
        assert_eq!(h.run(&["rename", "nokey", "nokey"]), err("ERR no such key"));
        assert_eq!(h.run(&["renamenx", "nokey", "x"]), err("ERR no such key"));
        h.run(&["set", "a", "1"]);
        assert_eq!(h.run(&["rename", "a", "a"]), Reply::OK);
        assert_eq!(h.run(&["renamenx", "a", "a"]), int(0));
        h.run(&["expire", "a", "100"]);
        assert_eq!(h.run(&["rename", "a", "b"]), Reply::OK);
        assert_eq!(h.run(&["exists", "a"]), int(0));
        assert_eq!(h.run(&["get", "b"]), bulk("1"));
        assert_eq!(h.run(&["ttl", "b"]), int(100));
        h.run(&["set", "c", "3"]);
        assert_eq!(h.run(&["renamenx", "b", "c"]), int(0));
        assert_eq!(h.run(&["get", "c"]), bulk("3"));
        assert_eq!(h.run(&["rename", "c", "b"]), Reply::OK);
        assert_eq!(h.run(&["get", "b"]), bulk("3"));
        assert_eq!(h.run(&["ttl", "b"]), int(-1)); // the source had no TTL
        assert_eq!(h.run(&["renamenx", "b", "d"]), int(1));
        assert_eq!(h.run(&["get", "d"]), bulk("3"));
        // An expired source is missing.
        h.run(&["pexpire", "d", "5"]);
        h.advance(5);
        assert_eq!(h.run(&["rename", "d", "e"]), err("ERR no such key"));
    }

    #[test]
    fn copy_with_db_and_replace() {
        let mut h = Harness::new();
        let same = "ERR source and destination objects are the same";
        assert_eq!(h.run(&["copy", "nokey", "nokey"]), err(same));
        assert_eq!(h.run(&["copy", "nokey", "x"]), int(0));
        h.run(&["set", "a", "hello"]);
        h.run(&["expire", "a", "50"]);
        assert_eq!(h.run(&["copy", "a", "a"]), err(same));
        assert_eq!(h.run(&["copy", "a", "a", "db", "0"]), err(same));
        assert_eq!(h.run(&["copy", "a", "b", "db", "16"]), err("ERR DB index is out of range"));
        assert_eq!(h.run(&["copy", "a", "b", "db", "-1"]), err("ERR DB index is out of range"));
        assert_eq!(h.run(&["copy", "a", "b", "db", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["copy", "a", "b", "db"]), err("ERR syntax error"));
        assert_eq!(h.run(&["copy", "a", "b", "foo"]), err("ERR syntax error"));
        assert_eq!(h.run(&["copy", "a"]), err("ERR wrong number of arguments for 'copy' command"));
        assert_eq!(h.run(&["copy", "a", "b"]), int(1));
        assert_eq!(h.run(&["get", "b"]), bulk("hello"));
        assert_eq!(h.run(&["ttl", "b"]), int(50));
        h.run(&["set", "c", "other"]);
        assert_eq!(h.run(&["copy", "a", "c"]), int(0));
        assert_eq!(h.run(&["get", "c"]), bulk("other"));
        assert_eq!(h.run(&["copy", "a", "c", "REPLACE"]), int(1));
        assert_eq!(h.run(&["get", "c"]), bulk("hello"));
        assert_eq!(h.run(&["copy", "a", "a", "db", "1"]), int(1));
        assert_eq!(h.run(&["copy", "a", "a", "db", "1"]), int(0));
        assert_eq!(h.run(&["copy", "a", "a", "replace", "db", "1"]), int(1));
        h.run(&["select", "1"]);
        assert_eq!(h.run(&["get", "a"]), bulk("hello"));
        assert_eq!(h.run(&["ttl", "a"]), int(50));
        // The copy is independent of the source.
        h.run(&["select", "0"]);
        h.run(&["set", "a", "changed"]);
        assert_eq!(h.run(&["get", "b"]), bulk("hello"));
    }

    #[test]
    fn move_between_databases() {
        let mut h = Harness::new();
        let same = "ERR source and destination objects are the same";
        assert_eq!(h.run(&["move", "nokey", "0"]), err(same));
        assert_eq!(h.run(&["move", "nokey", "1"]), int(0));
        h.run(&["set", "a", "1"]);
        assert_eq!(h.run(&["move", "a", "0"]), err(same));
        assert_eq!(h.run(&["move", "a", "16"]), err("ERR DB index is out of range"));
        assert_eq!(h.run(&["move", "a", "-1"]), err("ERR DB index is out of range"));
        assert_eq!(h.run(&["move", "a", "x"]), err("ERR value is not an integer or out of range"));
        let range = "ERR value is out of range, value must between -2147483648 and 2147483647";
        assert_eq!(h.run(&["move", "a", "99999999999"]), err(range));
        assert_eq!(h.run(&["copy", "a", "b", "db", "-99999999999"]), err(range));
        h.run(&["expire", "a", "30"]);
        assert_eq!(h.run(&["move", "a", "1"]), int(1));
        assert_eq!(h.run(&["exists", "a"]), int(0));
        h.run(&["set", "a", "2"]);
        assert_eq!(h.run(&["move", "a", "1"]), int(0)); // exists in the target
        assert_eq!(h.run(&["get", "a"]), bulk("2"));
        h.run(&["select", "1"]);
        assert_eq!(h.run(&["get", "a"]), bulk("1"));
        assert_eq!(h.run(&["ttl", "a"]), int(30));
    }

    #[test]
    fn swapdb_and_errors() {
        let mut h = Harness::new();
        h.run(&["set", "a", "in0"]);
        h.run(&["select", "2"]);
        h.run(&["set", "b", "in2"]);
        assert_eq!(h.run(&["swapdb", "0", "2"]), Reply::OK);
        assert_eq!(h.run(&["get", "a"]), bulk("in0"));
        assert_eq!(h.run(&["exists", "b"]), int(0));
        assert_eq!(h.run(&["swapdb", "1", "1"]), Reply::OK);
        assert_eq!(h.run(&["swapdb", "x", "1"]), err("ERR invalid first DB index"));
        assert_eq!(h.run(&["swapdb", "99999999999", "1"]), err("ERR invalid first DB index"));
        assert_eq!(h.run(&["swapdb", "1", "x"]), err("ERR invalid second DB index"));
        assert_eq!(h.run(&["swapdb", "x", "y"]), err("ERR invalid first DB index"));
        assert_eq!(h.run(&["swapdb", "1", "16"]), err("ERR DB index is out of range"));
        assert_eq!(h.run(&["swapdb", "-1", "0"]), err("ERR DB index is out of range"));
        assert_eq!(h.run(&["swapdb", "0"]), err("ERR wrong number of arguments for 'swapdb' command"));
    }

    #[test]
    fn dbsize_flushdb_flushall() {
        let mut h = Harness::new();
        h.run(&["set", "a", "1"]);
        h.run(&["set", "b", "1"]);
        h.run(&["select", "3"]);
        h.run(&["set", "c", "1"]);
        assert_eq!(h.run(&["dbsize"]), int(1));
        assert_eq!(h.run(&["dbsize", "x"]), err("ERR wrong number of arguments for 'dbsize' command"));
        assert_eq!(h.run(&["flushdb", "x"]), err("ERR syntax error"));
        assert_eq!(h.run(&["flushdb", "sync", "async"]), err("ERR syntax error"));
        assert_eq!(h.run(&["flushdb", "ASYNC"]), Reply::OK);
        assert_eq!(h.run(&["dbsize"]), int(0));
        h.run(&["select", "0"]);
        assert_eq!(h.run(&["dbsize"]), int(2));
        h.run(&["set", "c", "1"]);
        assert_eq!(h.run(&["flushdb", "sync"]), Reply::OK);
        assert_eq!(h.run(&["dbsize"]), int(0));
        h.run(&["set", "a", "1"]);
        h.run(&["select", "5"]);
        h.run(&["set", "b", "1"]);
        assert_eq!(h.run(&["flushall", "foo"]), err("ERR syntax error"));
        assert_eq!(h.run(&["flushall", "async", "sync"]), err("ERR syntax error"));
        assert_eq!(h.run(&["dbsize"]), int(1));
        assert_eq!(h.run(&["flushall"]), Reply::OK);
        assert_eq!(h.run(&["dbsize"]), int(0));
        h.run(&["select", "0"]);
        assert_eq!(h.run(&["dbsize"]), int(0));
        h.run(&["set", "a", "1"]);
        assert_eq!(h.run(&["flushall", "Sync"]), Reply::OK);
        assert_eq!(h.run(&["dbsize"]), int(0));
    }

    #[test]
    fn randomkey_returns_live_keys_or_nil() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["randomkey"]), Reply::Null);
        h.run(&["set", "only", "1"]);
        assert_eq!(h.run(&["randomkey"]), bulk("only"));
        for i in 0..50 {
            h.run(&["set", &format!("gone{i}"), "1"]);
            h.run(&["pexpire", &format!("gone{i}"), "1"]);
        }
        h.advance(1);
        for _ in 0..20 {
            assert_eq!(h.run(&["randomkey"]), bulk("only"));
        }
        h.run(&["pexpire", "only", "1"]);
        h.advance(1);
        assert_eq!(h.run(&["randomkey"]), Reply::Null);
        assert_eq!(h.run(&["randomkey", "x"]), err("ERR wrong number of arguments for 'randomkey' command"));
    }

    #[test]
    fn object_subcommands() {
        let mut h = Harness::new();
        h.run(&["set", "int", "123"]);
        h.run(&["set", "big", "99999"]);
        h.run(&["set", "emb", "hello"]);
        h.run(&["set", "raw", &"x".repeat(45)]);
        assert_eq!(h.run(&["object", "encoding", "int"]), bulk("int"));
        assert_eq!(h.run(&["OBJECT", "ENCODING", "emb"]), bulk("embstr"));
        assert_eq!(h.run(&["object", "encoding", "raw"]), bulk("raw"));
        assert_eq!(h.run(&["object", "refcount", "int"]), int(2147483647));
        assert_eq!(h.run(&["object", "refcount", "big"]), int(1));
        assert_eq!(h.run(&["object", "refcount", "emb"]), int(1));
        for sub in ["encoding", "freq", "idletime", "refcount"] {
            assert_eq!(h.run(&["object", sub, "nokey"]), Reply::Null, "{sub}");
        }
        assert_eq!(h.run(&["object", "idletime", "emb"]), int(0));
        h.advance(12_000);
        assert_eq!(h.run(&["object", "idletime", "emb"]), int(12));
        h.run(&["get", "emb"]);
        assert_eq!(h.run(&["object", "idletime", "emb"]), int(0));
        h.advance(3_000);
        // RENAME's write lookup touches the key, as Redis's lookupKeyWrite does.
        h.run(&["rename", "emb", "emb2"]);
        assert_eq!(h.run(&["object", "idletime", "emb2"]), int(0));
        assert_eq!(
            h.run(&["object", "freq", "int"]),
            err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when \
                 switching between policies at runtime LRU and LFU data will take some time to adjust.")
        );
        h.shared.store.set_eviction_policy(EvictionPolicy::AllKeysLfu);
        h.run(&["set", "f", "v"]);
        assert_eq!(h.run(&["object", "freq", "f"]), int(5));
        assert_eq!(
            h.run(&["object", "idletime", "f"]),
            err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching \
                 between policies at runtime LRU and LFU data will take some time to adjust.")
        );
        assert_eq!(h.run(&["object", "freq", "nokey"]), Reply::Null);
        assert_eq!(h.run(&["object"]), err("ERR wrong number of arguments for 'object' command"));
        assert_eq!(h.run(&["object", "encoding"]), err("ERR wrong number of arguments for 'object|encoding' command"));
        assert_eq!(h.run(&["object", "foo"]), err("ERR unknown subcommand 'foo'. Try OBJECT HELP."));
        let Reply::Array(help) = h.run(&["object", "help"]) else { panic!("help") };
        assert_eq!(help.len(), 15);
        assert_eq!(help[14], Reply::simple("    Prints this help."));
    }

    #[test]
    fn refcount_is_not_shared_under_lru_with_maxmemory() {
        let mut h = Harness::new();
        h.run(&["set", "int", "1"]);
        h.shared.hot.maxmemory.store(1 << 40, Ordering::Relaxed);
        h.shared.store.set_eviction_policy(EvictionPolicy::AllKeysLru);
        assert_eq!(h.run(&["object", "refcount", "int"]), int(1));
    }

    #[test]
    fn scan_arguments_and_errors() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["scan", "abc"]), err("ERR invalid cursor"));
        assert_eq!(h.run(&["scan", " 1"]), err("ERR invalid cursor"));
        assert_eq!(h.run(&["scan", "18446744073709551616"]), err("ERR invalid cursor"));
        assert_eq!(h.run(&["scan", "0", "count", "0"]), err("ERR syntax error"));
        assert_eq!(h.run(&["scan", "0", "count", "-1"]), err("ERR syntax error"));
        assert_eq!(h.run(&["scan", "0", "count", "x"]), err("ERR value is not an integer or out of range"));
        assert_eq!(h.run(&["scan", "0", "match"]), err("ERR syntax error"));
        assert_eq!(h.run(&["scan", "0", "foo", "bar"]), err("ERR syntax error"));
        assert_eq!(h.run(&["scan"]), err("ERR wrong number of arguments for 'scan' command"));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"+"), None);
        // An out-of-range cursor ends the scan, as Redis's does.
        assert_eq!(scan_once(&mut h, &["scan", "-1"]), ("0".to_string(), vec![]));
        h.run(&["set", "a", "1"]);
        assert_eq!(scan_once(&mut h, &["scan", ""]), ("0".to_string(), vec!["a".to_string()]));
    }

    #[test]
    fn scan_filters_by_match_and_type() {
        let mut h = Harness::new();
        for i in 0..30 {
            h.run(&["set", &format!("user:{i}"), "v"]);
            h.run(&["set", &format!("item:{i}"), "v"]);
        }
        h.run(&["pexpire", "user:0", "1"]);
        h.advance(1);
        let full = |h: &mut Harness, extra: &[&str]| {
            let mut cursor = "0".to_string();
            let mut all = Vec::new();
            loop {
                let mut args = vec!["scan", cursor.as_str()];
                args.extend_from_slice(extra);
                let (next, keys) = scan_once(h, &args);
                all.extend(keys);
                if next == "0" {
                    break;
                }
                cursor = next;
            }
            all.sort();
            all.dedup();
            all
        };
        let users = full(&mut h, &["match", "user:*", "count", "7"]);
        assert_eq!(users.len(), 29);
        assert!(users.iter().all(|k| k.starts_with("user:")));
        assert_eq!(full(&mut h, &["type", "STRING", "count", "1000"]).len(), 59);
        assert_eq!(full(&mut h, &["type", "hash"]).len(), 0);
        assert_eq!(full(&mut h, &["type", "hash", "type", "string"]).len(), 59);
        assert_eq!(full(&mut h, &["match", "*"]).len(), 59);
        // The expired key met on the way was deleted.
        assert_eq!(h.run(&["dbsize"]), int(59));
    }

    #[test]
    fn scan_returns_every_surviving_key_despite_deletions_and_insertions() {
        let mut h = Harness::new();
        let n = 2000;
        for i in 0..n {
            h.run(&["set", &format!("k{i}"), "v"]);
        }
        // Keys k0..k999 stay for the whole scan; odd keys of the rest are deleted as we go,
        // and new keys keep arriving.
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        let mut deleted = 1000;
        let mut added = 0;
        let mut calls = 0;
        loop {
            let (next, keys) = scan_once(&mut h, &["scan", &cursor, "count", "25"]);
            seen.extend(keys);
            calls += 1;
            for _ in 0..10 {
                if deleted < n {
                    h.run(&["del", &format!("k{deleted}")]);
                    deleted += 1;
                }
            }
            h.run(&["set", &format!("new{added}"), "v"]);
            added += 1;
            if next == "0" {
                break;
            }
            cursor = next;
        }
        assert!(calls > 10, "the scan took several calls ({calls})");
        for i in 0..1000 {
            assert!(seen.contains(&format!("k{i}")), "k{i} was never returned");
        }
    }

    #[test]
    fn scan_cursor_walks_shards_downward() {
        let mut h = Harness::new();
        for i in 0..500 {
            h.run(&["set", &format!("k{i}"), "v"]);
        }
        let (cursor, keys) = scan_once(&mut h, &["scan", "0", "count", "3"]);
        assert_eq!(keys.len(), 3);
        let c: u64 = cursor.parse().expect("numeric cursor");
        assert_ne!(c, 0);
        // The cursor names a shard and the indices still to visit in it.
        assert!(c & CURSOR_SHARD_MASK < h.shared.store.shard_count() as u64);
        let mut total = keys.len();
        let mut cursor = cursor;
        while cursor != "0" {
            let (next, keys) = scan_once(&mut h, &["scan", &cursor, "count", "3"]);
            total += keys.len();
            cursor = next;
        }
        assert_eq!(total, 500, "no deletions, no duplicates");
    }

    #[test]
    fn keyspace_commands_lock_what_they_touch() {
        for name in ["randomkey", "dbsize", "flushdb", "flushall", "swapdb"] {
            let spec = crate::commands::lookup(name.as_bytes()).expect("registered");
            assert!(spec.flags.has(Flags::ALL_SHARDS), "{name}");
        }
        for name in ["keys", "scan"] {
            let spec = crate::commands::lookup(name.as_bytes()).expect("registered");
            assert!(spec.flags.has(Flags::WALKS_SHARDS) && !spec.flags.has(Flags::ALL_SHARDS), "{name}");
        }
        for name in ["rename", "renamenx", "copy"] {
            let spec = crate::commands::lookup(name.as_bytes()).expect("registered");
            assert_eq!(spec.key_positions(3).collect::<Vec<_>>(), vec![1, 2], "{name}");
        }
    }
}
