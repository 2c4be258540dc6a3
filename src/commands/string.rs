//! String and bitmap commands, with Redis 7.0's options, replies and error strings:
//! GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX MGET MSET MSETNX APPEND STRLEN GETRANGE
//! SUBSTR SETRANGE INCR DECR INCRBY DECRBY INCRBYFLOAT LCS SETBIT GETBIT BITCOUNT BITPOS.
//!
//! Each handler follows the order of checks of its counterpart in Redis's `t_string.c` /
//! `bitops.c`, because that order decides which error a client sees when several apply.

pub(crate) mod ld;
#[cfg(test)]
mod tests;

use super::table::{CommandSpec, Flags};
use super::{args, errors, Ctx};
use crate::store::{parse_i64_strict, Str, Value, PREFETCH_CHUNK};
use bytes::Bytes;
use ferrocache_protocol::Reply;
use ld::Ld;
use std::borrow::Cow;
use std::sync::atomic::Ordering;

const RW_FAST: Flags = Flags::WRITE.or(Flags::DENYOOM).or(Flags::FAST);
const RW: Flags = Flags::WRITE.or(Flags::DENYOOM);
const RO_FAST: Flags = Flags::READONLY.or(Flags::FAST);

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, get)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("string", "1.0.0", "Get the value of a key", "key")
        .acl(&["read", "string", "fast"]),
    CommandSpec::new("set", -3, set)
        .flags(RW)
        .keys(1, 1, 1)
        .doc(
            "string",
            "1.0.0",
            "Set the string value of a key",
            "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]",
        )
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("setnx", 3, setnx)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("string", "1.0.0", "Set the value of a key, only if the key does not exist", "key value")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("setex", 4, setex)
        .flags(RW)
        .keys(1, 1, 1)
        .doc("string", "2.0.0", "Set the value and expiration of a key", "key seconds value")
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("psetex", 4, psetex)
        .flags(RW)
        .keys(1, 1, 1)
        .doc("string", "2.6.0", "Set the value and expiration in milliseconds of a key", "key milliseconds value")
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("getset", 3, getset)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("string", "1.0.0", "Set the string value of a key and return its old value", "key value")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("getdel", 2, getdel)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("string", "6.2.0", "Get the value of a key and delete the key", "key")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("getex", -2, getex)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc(
            "string",
            "6.2.0",
            "Get the value of a key and optionally set its expiration",
            "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
        )
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("mget", -2, mget)
        .flags(RO_FAST)
        .keys(1, -1, 1)
        .doc("string", "1.0.0", "Get the values of all the given keys", "key [key ...]")
        .acl(&["read", "string", "fast"]),
    CommandSpec::new("mset", -3, mset)
        .flags(RW)
        .keys(1, -1, 2)
        .doc("string", "1.0.1", "Set multiple keys to multiple values", "key value [key value ...]")
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("msetnx", -3, msetnx)
        .flags(RW)
        .keys(1, -1, 2)
        .doc(
            "string",
            "1.0.1",
            "Set multiple keys to multiple values, only if none of the keys exist",
            "key value [key value ...]",
        )
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("append", 3, append)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("string", "2.0.0", "Append a value to a key", "key value")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("strlen", 2, strlen)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("string", "2.2.0", "Get the length of the value stored in a key", "key")
        .acl(&["read", "string", "fast"]),
    CommandSpec::new("getrange", 4, getrange)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("string", "2.4.0", "Get a substring of the string stored at a key", "key start end")
        .acl(&["read", "string", "slow"]),
    CommandSpec::new("substr", 4, getrange)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("string", "1.0.0", "Get a substring of the string stored at a key", "key start end")
        .acl(&["read", "string", "slow"]),
    CommandSpec::new("setrange", 4, setrange)
        .flags(RW)
        .keys(1, 1, 1)
        .doc("string", "2.2.0", "Overwrite part of a string at key starting at the specified offset", "key offset value")
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("incr", 2, incr)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("string", "1.0.0", "Increment the integer value of a key by one", "key")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("decr", 2, decr)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("string", "1.0.0", "Decrement the integer value of a key by one", "key")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("incrby", 3, incrby)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("string", "1.0.0", "Increment the integer value of a key by the given amount", "key increment")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("decrby", 3, decrby)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("string", "1.0.0", "Decrement the integer value of a key by the given number", "key decrement")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("incrbyfloat", 3, incrbyfloat)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("string", "2.6.0", "Increment the float value of a key by the given amount", "key increment")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("lcs", -3, lcs)
        .flags(Flags::READONLY)
        .keys(1, 2, 1)
        .doc("string", "7.0.0", "Find longest common substring", "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]")
        .acl(&["read", "string", "slow"]),
    CommandSpec::new("setbit", 4, setbit)
        .flags(RW)
        .keys(1, 1, 1)
        .doc("bitmap", "2.2.0", "Sets or clears the bit at offset in the string value stored at key", "key offset value")
        .acl(&["write", "bitmap", "slow"]),
    CommandSpec::new("getbit", 3, getbit)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("bitmap", "2.2.0", "Returns the bit value at offset in the string value stored at key", "key offset")
        .acl(&["read", "bitmap", "fast"]),
    CommandSpec::new("bitcount", -2, bitcount)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("bitmap", "2.6.0", "Count set bits in a string", "key [start end [BYTE|BIT]]")
        .acl(&["read", "bitmap", "slow"]),
    CommandSpec::new("bitpos", -3, bitpos)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("bitmap", "2.8.7", "Find first bit set or clear in a string", "key bit [start [end [BYTE|BIT]]]")
        .acl(&["read", "bitmap", "slow"]),
];

// ---------------------------------------------------------------------------------------
// Helpers

/// The bytes of a string value, borrowed when they are stored as bytes; `None` for other
/// types (the caller replies WRONGTYPE).
fn str_bytes(v: &Value) -> Option<Cow<'_, [u8]>> {
    match v {
        Value::Int(n) => Some(Cow::Owned(itoa::Buffer::new().format(*n).as_bytes().to_vec())),
        Value::Str(b) => Some(Cow::Borrowed(&b[..])),
        Value::Raw(r) => Some(Cow::Borrowed(&r[..])),
        Value::Hash(_) | Value::List(_) | Value::Set(_) | Value::ZSet(_) => None,
    }
}

fn wrongtype() -> Reply {
    Reply::err(errors::WRONGTYPE)
}

fn max_bulk_len(ctx: &Ctx) -> u64 {
    ctx.shared.hot.proto_max_bulk_len.load(Ordering::Relaxed)
}

/// `lookupKeyRead` + `checkType(OBJ_STRING)`: `Ok(None)` for a missing key, `Err` WRONGTYPE.
fn read_string(ctx: &mut Ctx, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    let db = ctx.db();
    match ctx.ks.get(db, key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Str(b) => Ok(Some(b.to_bytes())),
            v => str_bytes(v).map(|b| Some(Bytes::copy_from_slice(&b))).ok_or_else(wrongtype),
        },
    }
}

/// What the string value of a key is, for the write paths: missing, not a string, or its length.
enum Existing {
    Missing,
    WrongType,
    Len(usize),
}

fn existing_for_write(ctx: &mut Ctx, key: &[u8]) -> Existing {
    let db = ctx.db();
    match ctx.ks.get_for_write(db, key) {
        None => Existing::Missing,
        Some(e) if e.value.is_string() => Existing::Len(e.value.str_len()),
        Some(_) => Existing::WrongType,
    }
}

// ---------------------------------------------------------------------------------------
// SET family

/// Which expiry option was given (`OBJ_EX`, `OBJ_PX`, `OBJ_EXAT`, `OBJ_PXAT`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl ExpireKind {
    fn in_seconds(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::ExAt)
    }

    fn relative(self) -> bool {
        matches!(self, ExpireKind::Ex | ExpireKind::Px)
    }
}

/// Options of SET and GETEX, as `parseExtendedStringArgumentsOrReply` reads them.
#[derive(Default)]
struct ExtOpts<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireKind, &'a [u8])>,
}

/// Parses SET (`for_set`) or GETEX options from `args[start..]`. Repeating an option is
/// allowed (the last expiry wins); conflicting ones are a syntax error, as in Redis.
fn parse_ext_opts(args: &[Bytes], start: usize, for_set: bool) -> Result<ExtOpts<'_>, Reply> {
    let mut o = ExtOpts::default();
    let mut j = start;
    while j < args.len() {
        let opt = &args[j][..];
        let next = args.get(j + 1);
        let kind = o.expire.map(|(k, _)| k);
        let other_expire = |k: ExpireKind| kind.is_some_and(|have| have != k);
        let expire_kind = if args::is(opt, "ex") {
            Some(ExpireKind::Ex)
        } else if args::is(opt, "px") {
            Some(ExpireKind::Px)
        } else if args::is(opt, "exat") {
            Some(ExpireKind::ExAt)
        } else if args::is(opt, "pxat") {
            Some(ExpireKind::PxAt)
        } else {
            None
        };
        if for_set && args::is(opt, "nx") && !o.xx {
            o.nx = true;
        } else if for_set && args::is(opt, "xx") && !o.nx {
            o.xx = true;
        } else if for_set && args::is(opt, "get") {
            o.get = true;
        } else if for_set && args::is(opt, "keepttl") && !o.persist && kind.is_none() {
            o.keepttl = true;
        } else if !for_set && args::is(opt, "persist") && kind.is_none() && !o.keepttl {
            o.persist = true;
        } else if let (Some(k), Some(next)) = (expire_kind, next) {
            if o.keepttl || o.persist || other_expire(k) {
                return Err(Reply::err(errors::SYNTAX));
            }
            o.expire = Some((k, &next[..]));
            j += 1;
        } else {
            return Err(Reply::err(errors::SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

/// `getExpireMillisecondsOrReply`: the absolute expiry in ms, or the error Redis gives for
/// a non-positive value or one whose conversion to absolute milliseconds overflows.
fn expire_at(kind: ExpireKind, arg: &[u8], now: u64, cmd: &str) -> Result<u64, Reply> {
    let mut ms = args::int(arg)?;
    let invalid = || Reply::error(errors::invalid_expire(cmd));
    if ms <= 0 || (kind.in_seconds() && ms > i64::MAX / 1000) {
        return Err(invalid());
    }
    if kind.in_seconds() {
        ms *= 1000;
    }
    if kind.relative() {
        ms = ms.checked_add(now as i64).ok_or_else(invalid)?;
    }
    Ok(ms as u64)
}

/// `setGenericCommand`: SET and its relatives.
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    value: &[u8],
    opts: &ExtOpts,
    cmd: &str,
    ok_reply: Reply,
    abort_reply: Reply,
) -> Reply {
    // The clock is read only when an expiry option needs it.
    let at = match opts.expire {
        Some((kind, arg)) => {
            let now = ctx.now();
            match expire_at(kind, arg, now, cmd) {
                // An absolute time already past: the key is born expired, so it is simply gone.
                Ok(at) => Some((at, at <= now)),
                Err(e) => return e,
            }
        }
        None => None,
    };
    let old = if opts.get {
        match read_string(ctx, key) {
            Ok(Some(b)) => Reply::Bulk(b),
            Ok(None) => Reply::Null,
            Err(e) => return e,
        }
    } else {
        Reply::Null
    };
    let db = ctx.db();
    let found = if opts.nx || opts.xx || opts.keepttl {
        ctx.ks.get_for_write(db, key).is_some()
    } else {
        // A plain SET overwrites whatever is there; `insert` expires a stale key first.
        false
    };
    if (opts.nx && found) || (opts.xx && !found) {
        return if opts.get { old } else { abort_reply };
    }
    let stored = Value::from_set(value);
    match at {
        Some((_, true)) => {
            // Replays as what it did: the key is gone.
            if ctx.ks.remove(db, key).is_some() {
                ctx.propagate_one(&[b"DEL", key]);
            } else {
                ctx.propagate_nothing();
            }
        }
        Some((at, false)) => {
            ctx.ks.insert(db, key, stored, at);
            // A relative or second-based expiry replays as the absolute time it meant
            // (Redis 7.0 propagates `SET key value PXAT <ms>`; NX, XX and GET have done their part).
            if !matches!(opts.expire, Some((ExpireKind::PxAt, _))) {
                ctx.propagate_one(&[b"SET", key, value, b"PXAT", itoa::Buffer::new().format(at).as_bytes()]);
            }
        }
        None if opts.keepttl && found => {
            ctx.ks.update(db, key, |e| e.value = stored);
        }
        None => ctx.ks.insert(db, key, stored, 0),
    }
    if opts.get {
        old
    } else {
        ok_reply
    }
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    match ctx.ks.get(db, &args[1]) {
        None => Reply::Null,
        Some(e) => string_reply(&e.value).unwrap_or_else(wrongtype),
    }
}

/// A string value as a bulk reply without an allocation for short values (`None`: not a
/// string). Long values are shared with the reply, not copied.
fn string_reply(v: &Value) -> Option<Reply> {
    match v {
        Value::Str(s @ Str::Shared(_)) => Some(Reply::Bulk(s.to_bytes())),
        Value::Str(s) => Some(Reply::bulk_copy(s)),
        Value::Int(n) => Some(Reply::bulk_copy(itoa::Buffer::new().format(*n).as_bytes())),
        Value::Raw(r) => Some(Reply::bulk_copy(r)),
        Value::Hash(_) | Value::List(_) | Value::Set(_) | Value::ZSet(_) => None,
    }
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match parse_ext_opts(args, 3, true) {
        Ok(opts) => set_generic(ctx, &args[1], &args[2], &opts, "set", Reply::OK, Reply::Null),
        Err(e) => e,
    }
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = ExtOpts { nx: true, ..Default::default() };
    set_generic(ctx, &args[1], &args[2], &opts, "setnx", Reply::Integer(1), Reply::Integer(0))
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = ExtOpts { expire: Some((ExpireKind::Ex, &args[2])), ..Default::default() };
    set_generic(ctx, &args[1], &args[3], &opts, "setex", Reply::OK, Reply::Null)
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = ExtOpts { expire: Some((ExpireKind::Px, &args[2])), ..Default::default() };
    set_generic(ctx, &args[1], &args[3], &opts, "psetex", Reply::OK, Reply::Null)
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let old = match read_string(ctx, &args[1]) {
        Ok(Some(b)) => Reply::Bulk(b),
        Ok(None) => Reply::Null,
        Err(e) => return e,
    };
    let db = ctx.db();
    ctx.ks.insert(db, &args[1], Value::from_set(&args[2]), 0);
    old
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read_string(ctx, &args[1]) {
        Ok(Some(b)) => {
            let db = ctx.db();
            ctx.ks.remove(db, &args[1]);
            ctx.propagate_one(&[b"DEL", &args[1]]);
            Reply::Bulk(b)
        }
        Ok(None) => Reply::Null,
        Err(e) => e,
    }
}

fn getex(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let opts = match parse_ext_opts(args, 2, false) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let value = match read_string(ctx, &args[1]) {
        Ok(Some(b)) => b,
        Ok(None) => return Reply::Null,
        Err(e) => return e,
    };
    let (db, now) = (ctx.db(), ctx.now());
    match opts.expire {
        // Effects as Redis 7.0 propagates them: DEL, PEXPIREAT <ms>, PERSIST.
        Some((kind, arg)) => match expire_at(kind, arg, now, "getex") {
            Ok(at) if at <= now => {
                ctx.ks.remove(db, &args[1]);
                ctx.propagate_one(&[b"DEL", &args[1]]);
            }
            Ok(at) => {
                ctx.ks.set_expire(db, &args[1], at);
                ctx.propagate_one(&[b"PEXPIREAT", &args[1], itoa::Buffer::new().format(at).as_bytes()]);
            }
            Err(e) => return e,
        },
        None if opts.persist && ctx.ks.expire_at(db, &args[1]).is_some_and(|at| at != 0) => {
            ctx.ks.set_expire(db, &args[1], 0);
            ctx.propagate_one(&[b"PERSIST", &args[1]]);
        }
        None => {}
    }
    Reply::Bulk(value)
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut replies = Vec::with_capacity(args.len() - 1);
    for chunk in args[1..].chunks(PREFETCH_CHUNK) {
        ctx.ks.prefetch_keys(db, chunk.iter());
        replies.extend(chunk.iter().map(|k| match ctx.ks.get(db, k) {
            Some(e) => string_reply(&e.value).unwrap_or(Reply::Null),
            None => Reply::Null,
        }));
    }
    Reply::Array(replies)
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() & 1 == 0 {
        return Reply::error(errors::arity("mset"));
    }
    let db = ctx.db();
    for pairs in args[1..].chunks(2 * PREFETCH_CHUNK) {
        ctx.ks.prefetch_keys(db, pairs.iter().step_by(2));
        for pair in pairs.chunks(2) {
            ctx.ks.insert(db, &pair[0], Value::from_set(&pair[1]), 0);
        }
    }
    Reply::OK
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() & 1 == 0 {
        return Reply::error(errors::arity("msetnx"));
    }
    let db = ctx.db();
    if args[1..].iter().step_by(2).any(|k| ctx.ks.get_for_write(db, k).is_some()) {
        return Reply::Integer(0);
    }
    for pair in args[1..].chunks(2) {
        ctx.ks.insert(db, &pair[0], Value::from_set(&pair[1]), 0);
    }
    Reply::Integer(1)
}

// ---------------------------------------------------------------------------------------
// APPEND, STRLEN, GETRANGE, SETRANGE

fn append(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (db, key, tail) = (ctx.db(), &args[1], &args[2]);
    match existing_for_write(ctx, key) {
        Existing::WrongType => wrongtype(),
        Existing::Missing => {
            ctx.ks.insert(db, key, Value::from_set(tail), 0);
            Reply::Integer(tail.len() as i64)
        }
        Existing::Len(len) => {
            if (len + tail.len()) as u64 > max_bulk_len(ctx) {
                return Reply::err(errors::STRING_TOO_LONG);
            }
            let n = ctx.ks.update(db, key, |e| {
                let raw = e.value.make_raw();
                raw.extend_from_slice(tail);
                raw.len()
            });
            Reply::Integer(n.unwrap_or(0) as i64)
        }
    }
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    match ctx.ks.get(db, &args[1]) {
        None => Reply::Integer(0),
        Some(e) if e.value.is_string() => Reply::Integer(e.value.str_len() as i64),
        Some(_) => wrongtype(),
    }
}

fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let (mut start, mut end) = match (args::int(&args[2]), args::int(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let db = ctx.db();
    let entry = match ctx.ks.get(db, &args[1]) {
        None => return Reply::Bulk(Bytes::new()),
        Some(e) => e,
    };
    let Some(s) = str_bytes(&entry.value) else { return wrongtype() };
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::Bulk(Bytes::new());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0).min(len - 1);
    if start > end || len == 0 {
        return Reply::Bulk(Bytes::new());
    }
    Reply::Bulk(Bytes::copy_from_slice(&s[start as usize..=end as usize]))
}

fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = match args::int(&args[2]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    if offset < 0 {
        return Reply::err(errors::OFFSET_RANGE);
    }
    let (db, key, patch) = (ctx.db(), &args[1], &args[3]);
    let too_long =
        |ctx: &Ctx| !matches!((offset as u64).checked_add(patch.len() as u64), Some(n) if n <= max_bulk_len(ctx));
    let offset = offset as usize;
    match existing_for_write(ctx, key) {
        Existing::WrongType => wrongtype(),
        Existing::Missing => {
            if patch.is_empty() {
                return Reply::Integer(0);
            }
            if too_long(ctx) {
                return Reply::err(errors::STRING_TOO_LONG);
            }
            let mut raw = vec![0u8; offset + patch.len()];
            raw[offset..].copy_from_slice(patch);
            let len = raw.len();
            ctx.ks.insert(db, key, Value::raw(raw), 0);
            Reply::Integer(len as i64)
        }
        Existing::Len(len) => {
            if patch.is_empty() {
                return Reply::Integer(len as i64);
            }
            if too_long(ctx) {
                return Reply::err(errors::STRING_TOO_LONG);
            }
            let n = ctx.ks.update(db, key, |e| {
                let raw = e.value.make_raw();
                if raw.len() < offset + patch.len() {
                    raw.resize(offset + patch.len(), 0);
                }
                raw[offset..offset + patch.len()].copy_from_slice(patch);
                raw.len()
            });
            Reply::Integer(n.unwrap_or(0) as i64)
        }
    }
}

// ---------------------------------------------------------------------------------------
// INCR family

/// `incrDecrCommand`: adds `by` to the integer at `key` (0 if missing), keeping its TTL.
fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) -> Reply {
    let db = ctx.db();
    let (current, exists) = match ctx.ks.get_for_write(db, key) {
        None => (0, false),
        Some(e) => {
            let n = match &e.value {
                Value::Int(n) => Some(*n),
                v => match str_bytes(v) {
                    Some(b) => parse_i64_strict(&b),
                    None => return wrongtype(),
                },
            };
            match n {
                Some(n) => (n, true),
                None => return Reply::err(errors::NOT_INTEGER),
            }
        }
    };
    let Some(new) = current.checked_add(by) else { return Reply::err(errors::OVERFLOW) };
    if exists {
        ctx.ks.update(db, key, |e| e.value = Value::Int(new));
    } else {
        ctx.ks.insert(db, key, Value::Int(new), 0);
    }
    Reply::Integer(new)
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match args::int(&args[2]) {
        Ok(by) => incr_by(ctx, &args[1], by),
        Err(e) => e,
    }
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match args::int(&args[2]) {
        Ok(i64::MIN) => Reply::err(errors::DECR_OVERFLOW),
        Ok(by) => incr_by(ctx, &args[1], -by),
        Err(e) => e,
    }
}

fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let (current, exists) = match ctx.ks.get_for_write(db, &args[1]) {
        None => (Ld::from_i64(0), false),
        Some(e) => {
            let v = match &e.value {
                Value::Int(n) => Some(Ld::from_i64(*n)),
                v => match str_bytes(v) {
                    Some(b) => Ld::parse(&b),
                    None => return wrongtype(),
                },
            };
            match v {
                Some(v) => (v, true),
                None => return Reply::err(errors::NOT_FLOAT),
            }
        }
    };
    let Some(incr) = Ld::parse(&args[2]) else { return Reply::err(errors::NOT_FLOAT) };
    let sum = current.add(incr);
    if !sum.is_finite() {
        return Reply::err(errors::NAN_OR_INFINITY);
    }
    let text = Bytes::from(sum.to_human());
    // Stored as the text (embstr/raw), never int-encoded, exactly as Redis does.
    let value = Value::Str(Str::new(&text));
    if exists {
        ctx.ks.update(db, &args[1], |e| e.value = value);
    } else {
        ctx.ks.insert(db, &args[1], value, 0);
    }
    // The sum as text, so a replay does not depend on float arithmetic (Redis does the same).
    ctx.propagate_one(&[b"SET", &args[1], &text, b"KEEPTTL"]);
    Reply::Bulk(text)
}

// ---------------------------------------------------------------------------------------
// LCS

fn lcs(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut fetch = |key: &[u8]| -> Result<Vec<u8>, ()> {
        match ctx.ks.get(db, key) {
            None => Ok(Vec::new()),
            Some(e) => str_bytes(&e.value).map(|b| b.into_owned()).ok_or(()),
        }
    };
    let (a, b) = match (fetch(&args[1]), fetch(&args[2])) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Reply::err(errors::LCS_WRONGTYPE),
    };
    let (mut getlen, mut getidx, mut withmatchlen, mut minmatchlen) = (false, false, false, 0i64);
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j][..];
        let more = j + 1 < args.len();
        if args::is(opt, "idx") {
            getidx = true;
        } else if args::is(opt, "len") {
            getlen = true;
        } else if args::is(opt, "withmatchlen") {
            withmatchlen = true;
        } else if args::is(opt, "minmatchlen") && more {
            minmatchlen = match args::int(&args[j + 1]) {
                Ok(n) => n.max(0),
                Err(e) => return e,
            };
            j += 1;
        } else {
            return Reply::err(errors::SYNTAX);
        }
        j += 1;
    }
    if getidx && getlen {
        return Reply::err(errors::LCS_IDX_AND_LEN);
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1).saturating_mul(blen as u64 + 1);
    if cells.saturating_mul(4) > max_bulk_len(ctx) {
        return Reply::err(errors::LCS_TOO_BIG);
    }
    // table[i * (blen + 1) + j] = length of the LCS of a[..i] and b[..j].
    let w = blen + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * w + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[alen * w + blen];
    if getlen {
        return Reply::Integer(total as i64);
    }
    // Walk back from the end, collecting the LCS and (for IDX) the matching ranges, in
    // Redis's order: from the end of the strings towards their start.
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut ranges = Vec::new();
    let none = alen; // "no range open", as Redis signals it
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (none, 0usize, 0usize, 0usize);
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == none {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != none {
                emit = true;
            }
        }
        if emit {
            let match_len = (a_end - a_start + 1) as i64;
            if getidx && (minmatchlen == 0 || match_len >= minmatchlen) {
                let mut item = vec![
                    Reply::Array(vec![Reply::Integer(a_start as i64), Reply::Integer(a_end as i64)]),
                    Reply::Array(vec![Reply::Integer(b_start as i64), Reply::Integer(b_end as i64)]),
                ];
                if withmatchlen {
                    item.push(Reply::Integer(match_len));
                }
                ranges.push(Reply::Array(item));
            }
            a_start = none;
        }
    }
    if getidx {
        return Reply::Map(vec![
            (Reply::Bulk(Bytes::from_static(b"matches")), Reply::Array(ranges)),
            (Reply::Bulk(Bytes::from_static(b"len")), Reply::Integer(total as i64)),
        ]);
    }
    Reply::Bulk(Bytes::from(result))
}

// ---------------------------------------------------------------------------------------
// Bitmaps

/// `getBitOffsetFromArgument`: a bit offset below `proto-max-bulk-len` bytes.
fn bit_offset(ctx: &Ctx, arg: &[u8]) -> Result<u64, Reply> {
    match parse_i64_strict(arg) {
        Some(n) if n >= 0 && ((n as u64) >> 3) < max_bulk_len(ctx) => Ok(n as u64),
        _ => Err(Reply::err(errors::BIT_OFFSET)),
    }
}

fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = match bit_offset(ctx, &args[2]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let on = match parse_i64_strict(&args[3]) {
        Some(n @ (0 | 1)) => n == 1,
        _ => return Reply::err(errors::BIT_VALUE),
    };
    let (db, key) = (ctx.db(), &args[1]);
    let byte = (offset >> 3) as usize;
    let mask = 1u8 << (7 - (offset & 7));
    let flip = |raw: &mut Vec<u8>| {
        if raw.len() <= byte {
            raw.resize(byte + 1, 0);
        }
        let old = raw[byte] & mask != 0;
        if on {
            raw[byte] |= mask;
        } else {
            raw[byte] &= !mask;
        }
        Reply::Integer(old as i64)
    };
    match existing_for_write(ctx, key) {
        Existing::WrongType => wrongtype(),
        Existing::Missing => {
            let mut raw = vec![0u8; byte + 1];
            let reply = flip(&mut raw);
            ctx.ks.insert(db, key, Value::raw(raw), 0);
            reply
        }
        Existing::Len(_) => ctx.ks.update(db, key, |e| flip(e.value.make_raw())).unwrap_or(Reply::Integer(0)),
    }
}

fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let offset = match bit_offset(ctx, &args[2]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let db = ctx.db();
    let Some(entry) = ctx.ks.get(db, &args[1]) else { return Reply::Integer(0) };
    let Some(s) = str_bytes(&entry.value) else { return wrongtype() };
    let byte = (offset >> 3) as usize;
    let bit = s.get(byte).is_some_and(|b| b & (1 << (7 - (offset & 7))) != 0);
    Reply::Integer(bit as i64)
}

/// A BITCOUNT/BITPOS range resolved to bit positions `[first, last]` (inclusive) of the
/// string; `None` when empty.
fn bit_range(start: i64, end: i64, len: i64, is_bit: bool) -> Option<(u64, u64)> {
    let total = if is_bit { len * 8 } else { len };
    let (mut start, mut end) = (start, end);
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    if start > end {
        return None;
    }
    if is_bit {
        Some((start as u64, end as u64))
    } else {
        Some((start as u64 * 8, end as u64 * 8 + 7))
    }
}

fn parse_unit(arg: &[u8]) -> Result<bool, Reply> {
    if args::is(arg, "bit") {
        Ok(true)
    } else if args::is(arg, "byte") {
        Ok(false)
    } else {
        Err(Reply::err(errors::SYNTAX))
    }
}

fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let db = ctx.db();
    let Some(entry) = ctx.ks.get(db, &args[1]) else { return Reply::Integer(0) };
    let Some(s) = str_bytes(&entry.value) else { return wrongtype() };
    let len = s.len() as i64;
    let range = match args.len() {
        2 => bit_range(0, -1, len, false),
        4 | 5 => {
            let (start, end) = match (args::int(&args[2]), args::int(&args[3])) {
                (Ok(s), Ok(e)) => (s, e),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            if start < 0 && end < 0 && start > end {
                return Reply::Integer(0);
            }
            let is_bit = match args.get(4).map(|a| parse_unit(a)) {
                Some(Err(e)) => return e,
                Some(Ok(b)) => b,
                None => false,
            };
            bit_range(start, end, len, is_bit)
        }
        _ => return Reply::err(errors::SYNTAX),
    };
    let Some((first, last)) = range else { return Reply::Integer(0) };
    Reply::Integer(count_bits(&s, first, last) as i64)
}

/// Set bits in bit positions `[first, last]` of `s`.
fn count_bits(s: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let mut count: u64 = s[fb..=lb].iter().map(|b| b.count_ones() as u64).sum();
    // Remove the bits of the edge bytes that lie outside the range.
    count -= (s[fb] & !(0xffu8 >> (first & 7))).count_ones() as u64;
    if last & 7 < 7 {
        count -= (s[lb] & (0xffu8 >> ((last & 7) + 1))).count_ones() as u64;
    }
    count
}

fn bitpos(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let bit = match args::int(&args[2]) {
        Ok(b @ (0 | 1)) => b == 1,
        Ok(_) => return Reply::err(errors::BIT_ARGUMENT),
        Err(e) => return e,
    };
    let db = ctx.db();
    let Some(entry) = ctx.ks.get(db, &args[1]) else { return Reply::Integer(if bit { -1 } else { 0 }) };
    let Some(s) = str_bytes(&entry.value) else { return wrongtype() };
    let len = s.len() as i64;
    let (range, end_given) = match args.len() {
        3 => (bit_range(0, -1, len, false), false),
        4..=6 => {
            let start = match args::int(&args[3]) {
                Ok(n) => n,
                Err(e) => return e,
            };
            let is_bit = match args.get(5).map(|a| parse_unit(a)) {
                Some(Err(e)) => return e,
                Some(Ok(b)) => b,
                None => false,
            };
            let end = match args.get(4).map(|a| args::int(a)) {
                Some(Err(e)) => return e,
                Some(Ok(n)) => n,
                None => -1,
            };
            (bit_range(start, end, len, is_bit), args.len() >= 5)
        }
        _ => return Reply::err(errors::SYNTAX),
    };
    let Some((first, last)) = range else { return Reply::Integer(-1) };
    match find_bit(&s, first, last, bit) {
        Some(p) => Reply::Integer(p as i64),
        // Looking for a 0 with no explicit end: the string counts as padded with zeros.
        None if !bit && !end_given => Reply::Integer((((last >> 3) + 1) * 8) as i64),
        None => Reply::Integer(-1),
    }
}

/// The first bit position in `[first, last]` of `s` whose value is `bit`; whole bytes that
/// cannot hold it are skipped.
fn find_bit(s: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    let skip = if bit { 0x00 } else { 0xff };
    let has = |p: u64| (s[(p >> 3) as usize] & (0x80 >> (p & 7)) != 0) == bit;
    let mut p = first;
    while p <= last {
        if p & 7 == 0 && p + 7 <= last {
            let start = (p >> 3) as usize;
            let end = ((last + 1) >> 3) as usize;
            match s[start..end].iter().position(|&b| b != skip) {
                Some(i) => p = ((start + i) as u64) << 3,
                None => p = (end as u64) << 3,
            }
            if p > last {
                break;
            }
        }
        if has(p) {
            return Some(p);
        }
        p += 1;
    }
    None
}
