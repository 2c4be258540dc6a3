//! Keyspace commands: DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, RANDOMKEY, RENAME, RENAMENX,
//! COPY, MOVE, SWAPDB, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, TTL, PTTL, EXPIRETIME,
//! PEXPIRETIME, PERSIST, TOUCH, OBJECT, DBSIZE, FLUSHDB, FLUSHALL.
//!
//! Replies and error texts follow Redis 7.0 (`db.c`, `expire.c`, `object.c`).

use super::args::{self, is};
use super::table::{CommandSpec, Flags};
use super::{errors, Ctx};
use crate::config::glob_match;
use crate::store::{idle_ms, lfu_counter, Entry, EvictionPolicy, Locked, Value};
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
        .flags(Flags::READONLY.or(Flags::ALL_SHARDS))
        .doc("generic", "1.0.0", "Returns all key names that match a pattern.", "pattern")
        .acl(&["keyspace", "read", "slow", "dangerous"]),
    CommandSpec::new("scan", -2, scan)
        .flags(Flags::READONLY.or(Flags::ALL_SHARDS))
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

/// A read lookup that does not touch the key's access data but counts a keyspace hit or
/// miss (`lookupKeyReadWithFlags(LOOKUP_NOTOUCH)`: EXISTS, TYPE, TTL, OBJECT).
fn peek_counted<'a>(ks: &'a mut Locked, db: usize, key: &[u8]) -> Option<&'a Entry> {
    let stats = &ks.store().stats;
    let found = ks.peek(db, key);
    let counter = if found.is_some() { &stats.keyspace_hits } else { &stats.keyspace_misses };
    counter.fetch_add(1, Ordering::Relaxed);
    found
}

/// A database index argument (`getIntFromObjectOrReply` + `selectDb`).
fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, Reply> {
    let n = args::int(arg)?;
    if n < i32::MIN as i64 || n > i32::MAX as i64 {
        return Err(Reply::err(errors::NOT_INTEGER));
    }
    if n < 0 || n as usize >= ctx.shared.store.databases() {
        return Err(Reply::err(errors::DB_INDEX));
    }
    Ok(n as usize)
}

/// Stores `entry` under `key`, keeping its TTL and access data (the object moves, as in
/// Redis's RENAME and MOVE, so OBJECT IDLETIME/FREQ survive).
fn put_moved(ks: &mut Locked, db: usize, key: &[u8], entry: Entry) {
    let access = entry.access;
    ks.insert(db, key, entry.value, entry.expire_at);
    if let Some(e) = ks.get_for_write(db, key) {
        e.access = access;
    }
}

// ---------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TYPE, TOUCH
// ---------------------------------------------------------------------------------------

/// `DEL key [key ...]` and `UNLINK key [key ...]` (values are freed in place either way).
fn del(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let n = args[1..].iter().filter(|k| ctx.ks.remove(db, k).is_some()).count();
    Reply::Integer(n as i64)
}

/// `EXISTS key [key ...]`: a key named twice counts twice.
fn exists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let n = args[1..].iter().filter(|k| peek_counted(ctx.ks, db, k).is_some()).count();
    Reply::Integer(n as i64)
}

/// `TYPE key`: the type name, or `none`.
fn type_cmd(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    match peek_counted(ctx.ks, db, &args[1]) {
        Some(e) => Reply::simple(e.value.type_name()),
        None => Reply::simple("none"),
    }
}

/// `TOUCH key [key ...]`: updates access data; counts existing keys (duplicates included).
fn touch(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let n = args[1..].iter().filter(|k| ctx.ks.get(db, k).is_some()).count();
    Reply::Integer(n as i64)
}

// ---------------------------------------------------------------------------------------
// KEYS, SCAN, RANDOMKEY, DBSIZE
// ---------------------------------------------------------------------------------------

/// `KEYS pattern`: every live key of the database matching the glob.
fn keys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let pattern = &args[1][..];
    let all = pattern == b"*";
    let now = ctx.now();
    let mut out = Vec::new();
    for s in 0..ctx.ks.locked_shard_count() {
        for (k, e) in ctx.ks.table(s, db).iter() {
            if !e.is_expired(now) && (all || glob_match(pattern, k, false)) {
                out.push(Reply::Bulk(k.clone()));
            }
        }
    }
    Reply::Array(out)
}

/// Bits of a SCAN cursor that hold the shard position (shards are at most 65536).
const CURSOR_SHARD_BITS: u32 = 16;
const CURSOR_SHARD_MASK: u64 = (1 << CURSOR_SHARD_BITS) - 1;

/// Redis's `parseScanCursorOrReply` (`strtoull`): optional sign, digits, no spaces, no
/// overflow; the empty string is cursor 0 and a negative number wraps.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
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
    let now = ctx.now();
    let shards = ctx.ks.locked_shard_count();
    let mut shard = (cursor & CURSOR_SHARD_MASK) as usize;
    let mut remaining = (cursor >> CURSOR_SHARD_BITS) as usize;
    let mut fresh = remaining == 0;
    let mut budget = count;
    let mut found = Vec::new();
    let mut expired = Vec::new();
    let next = loop {
        if shard >= shards {
            break 0;
        }
        let table = ctx.ks.table(shard, db);
        remaining = if fresh { table.len() } else { remaining.min(table.len()) };
        while remaining > 0 && budget > 0 {
            remaining -= 1;
            budget -= 1;
            let (k, e) = table.get_index(remaining).expect("index below len");
            if e.is_expired(now) {
                expired.push(k.clone());
                continue;
            }
            if pattern.is_some_and(|p| !glob_match(p, k, false)) {
                continue;
            }
            if type_name.is_some_and(|t| !t.eq_ignore_ascii_case(e.value.type_name().as_bytes())) {
                continue;
            }
            found.push(Reply::Bulk(k.clone()));
        }
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
    };
    // Expired keys met on the way are deleted, as Redis's scan callback does. They were
    // all visited already, so their removal only moves visited elements.
    for k in expired {
        ctx.ks.remove(db, &k);
    }
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
                let (k, e) = table.get_index(pick).expect("index below len");
                chosen = Some((k.clone(), e.is_expired(now)));
                break;
            }
            pick -= table.len();
        }
        let (key, is_expired) = chosen.expect("pick below total");
        if !is_expired {
            return Reply::Bulk(key);
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
    let entry = ctx.ks.remove(db, src).expect("looked up above");
    put_moved(ctx.ks, db, dst, entry);
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
    let (value, expire_at): (Value, u64) = (e.value.clone(), e.expire_at);
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
    let entry = ctx.ks.remove(src_db, key).expect("looked up above");
    put_moved(ctx.ks, dst_db, key, entry);
    Reply::Integer(1)
}

/// `SWAPDB index1 index2`.
fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
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
            return Reply::error(format!("ERR Unsupported option {}", args::lossy(opt)));
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
    let Some(entry) = ctx.ks.get_for_write(db, key) else {
        return Reply::Integer(0);
    };
    let current = entry.ttl().map(|t| t as i64);
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.map_or(true, |c| when <= c))
        || (lt && current.is_some_and(|c| when >= c));
    if refused {
        return Reply::Integer(0);
    }
    if when <= ctx.now() as i64 {
        ctx.ks.remove(db, key);
    } else {
        ctx.ks.set_expire(db, key, when as u64);
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
    let Some(e) = peek_counted(ctx.ks, db, &args[1]) else {
        return Reply::Integer(-2);
    };
    let Some(at) = e.ttl() else {
        return Reply::Integer(-1);
    };
    let t = if absolute { at as i64 } else { (at as i64 - now).max(0) };
    Reply::Integer(if ms { t } else { (t + 500) / 1000 })
}

/// `PERSIST key`: 1 if a TTL was removed.
fn persist(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let had_ttl = ctx.ks.get_for_write(db, &args[1]).is_some_and(|e| e.expire_at != 0);
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
    match peek_counted(ctx.ks, db, &args[2]) {
        Some(e) => Reply::bulk(e.value.encoding()),
        None => Reply::Null,
    }
}

/// `OBJECT FREQ key`: only under an LFU policy.
fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let now = ctx.now();
    let store = ctx.ks.store();
    let Some(e) = peek_counted(ctx.ks, db, &args[2]) else {
        return Reply::Null;
    };
    if !store.eviction_policy().is_lfu() {
        return Reply::err(errors::LFU_NOT_SELECTED);
    }
    Reply::Integer(lfu_counter(e, now, store.lfu_params()) as i64)
}

/// `OBJECT IDLETIME key`: seconds since the last access; not under an LFU policy.
fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let now = ctx.now();
    let store = ctx.ks.store();
    let Some(e) = peek_counted(ctx.ks, db, &args[2]) else {
        return Reply::Null;
    };
    if store.eviction_policy().is_lfu() {
        return Reply::err(errors::LFU_SELECTED);
    }
    Reply::Integer((idle_ms(e, now) / 1000) as i64)
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
    match peek_counted(ctx.ks, db, &args[2]) {
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

/// `[ASYNC|SYNC]` of FLUSHDB / FLUSHALL (`getFlushCommandFlags`). Both run synchronously.
fn flush_flags_ok(args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 => is(&args[1], "async") || is(&args[1], "sync"),
        _ => false,
    }
}

/// `FLUSHDB [ASYNC|SYNC]`.
fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !flush_flags_ok(args) {
        return Reply::err(errors::SYNTAX);
    }
    let db = ctx.db();
    ctx.ks.flush_db(db);
    Reply::OK
}

/// `FLUSHALL [ASYNC|SYNC]`.
fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if !flush_flags_ok(args) {
        return Reply::err(errors::SYNTAX);
    }
    for db in 0..ctx.shared.store.databases() {
        ctx.ks.flush_db(db);
    }
    Reply::OK
}
