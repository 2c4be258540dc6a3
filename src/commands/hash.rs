//! Hash commands, with Redis 7.0's options, replies and error strings:
//! HSET HSETNX HMSET HGET HMGET HGETALL HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HINCRBY
//! HINCRBYFLOAT HRANDFIELD HSCAN.
//!
//! Each handler follows the order of checks of its counterpart in Redis's `t_hash.c`.

use super::collection::{read, write};
use super::string::ld::Ld;
use super::table::{CommandSpec, Flags};
use super::{args, errors, Ctx};
use crate::glob::{self, Case};
use crate::store::parse_i64_strict;
use crate::store::types::{Hash, HashLimits};
use bytes::Bytes;
use ferrocache_protocol::Reply;
use rand::Rng;
use std::borrow::Cow;

const RW_FAST: Flags = Flags::WRITE.or(Flags::DENYOOM).or(Flags::FAST);
const RO_FAST: Flags = Flags::READONLY.or(Flags::FAST);

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, hset)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Creates or modifies the value of a field in a hash", "key field value [field value ...]")
        .acl(&["write", "hash", "fast"]),
    CommandSpec::new("hmset", -4, hset)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Sets the values of multiple fields", "key field value [field value ...]")
        .acl(&["write", "hash", "fast"]),
    CommandSpec::new("hsetnx", 4, hsetnx)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc(
            "hash",
            "2.0.0",
            "Sets the value of a field in a hash only when the field doesn't exist",
            "key field value",
        )
        .acl(&["write", "hash", "fast"]),
    CommandSpec::new("hget", 3, hget)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Returns the value of a field in a hash", "key field")
        .acl(&["read", "hash", "fast"]),
    CommandSpec::new("hmget", -3, hmget)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Returns the values of all fields in a hash", "key field [field ...]")
        .acl(&["read", "hash", "fast"]),
    CommandSpec::new("hgetall", 2, hgetall)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Returns all fields and values in a hash", "key")
        .acl(&["read", "hash", "slow"]),
    CommandSpec::new("hkeys", 2, hkeys)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Returns all fields in a hash", "key")
        .acl(&["read", "hash", "slow"]),
    CommandSpec::new("hvals", 2, hvals)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Returns all values in a hash", "key")
        .acl(&["read", "hash", "slow"]),
    CommandSpec::new("hdel", -3, hdel)
        .flags(Flags::WRITE.or(Flags::FAST))
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Deletes one or more fields and their values from a hash", "key field [field ...]")
        .acl(&["write", "hash", "fast"]),
    CommandSpec::new("hlen", 2, hlen)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Returns the number of fields in a hash", "key")
        .acl(&["read", "hash", "fast"]),
    CommandSpec::new("hstrlen", 3, hstrlen)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("hash", "3.2.0", "Returns the length of the value of a field", "key field")
        .acl(&["read", "hash", "fast"]),
    CommandSpec::new("hexists", 3, hexists)
        .flags(RO_FAST)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Determines whether a field exists in a hash", "key field")
        .acl(&["read", "hash", "fast"]),
    CommandSpec::new("hincrby", 4, hincrby)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("hash", "2.0.0", "Increments the integer value of a field in a hash by a number", "key field increment")
        .acl(&["write", "hash", "fast"]),
    CommandSpec::new("hincrbyfloat", 4, hincrbyfloat)
        .flags(RW_FAST)
        .keys(1, 1, 1)
        .doc("hash", "2.6.0", "Increments the floating point value of a field by a number", "key field increment")
        .acl(&["write", "hash", "fast"]),
    CommandSpec::new("hrandfield", -2, hrandfield)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("hash", "6.2.0", "Returns one or more random fields from a hash", "key [count [WITHVALUES]]")
        .acl(&["read", "hash", "slow"]),
    CommandSpec::new("hscan", -3, hscan)
        .flags(Flags::READONLY)
        .keys(1, 1, 1)
        .doc("hash", "2.8.0", "Iterates over fields and values of a hash", "key cursor [MATCH pattern] [COUNT count]")
        .acl(&["read", "hash", "slow"]),
];

// ---------------------------------------------------------------------------------------
// Helpers shared with the set commands

/// Most elements a negative-count HRANDFIELD / SRANDMEMBER (repeats allowed) may return.
/// Redis has no bound and would build a reply of up to 2^63 elements, blocking itself for
/// good; one request here may not cost more than this many reply elements.
pub(crate) const MAX_RANDOM_REPEATS: u64 = 1 << 20;

fn limits(ctx: &Ctx) -> HashLimits {
    ctx.shared.hot.encoding.hash()
}

/// Redis's `getRangeLongFromObjectOrReply(c, o, min, max, &l, msg)`: `msg` replaces both the
/// not-an-integer and the out-of-range errors when given.
pub(crate) fn range_long(arg: &[u8], min: i64, max: i64, msg: Option<&'static str>) -> Result<i64, Reply> {
    let Some(n) = parse_i64_strict(arg) else {
        return Err(Reply::err(msg.unwrap_or(errors::NOT_INTEGER)));
    };
    if n < min || n > max {
        return Err(match msg {
            Some(m) => Reply::err(m),
            None => Reply::Error(format!("ERR value is out of range, value must between {min} and {max}").into()),
        });
    }
    Ok(n)
}

/// `SCAN`-family options after the cursor (Redis's `scanGenericCommand` on a key: no TYPE):
/// (COUNT, MATCH pattern unless it is `*`).
pub(crate) fn scan_options(args: &[Bytes]) -> Result<(usize, Option<&[u8]>), Reply> {
    let (mut count, mut pattern) = (10usize, None);
    let mut i = 0;
    while i < args.len() {
        let more = i + 1 < args.len();
        if args::is(&args[i], "count") && more {
            match args::int(&args[i + 1]) {
                Ok(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Ok(_) => return Err(Reply::err(errors::SYNTAX)),
                Err(e) => return Err(e),
            }
        } else if args::is(&args[i], "match") && more {
            pattern = (&args[i + 1][..] != b"*").then_some(&args[i + 1][..]);
        } else {
            return Err(Reply::err(errors::SYNTAX));
        }
        i += 2;
    }
    Ok((count, pattern))
}

pub(crate) fn matches(pattern: Option<&[u8]>, s: &[u8]) -> bool {
    pattern.is_none_or(|p| glob::matches(p, s, Case::Sensitive))
}

/// The reply to a SCAN step: `[cursor, [elements…]]`.
pub(crate) fn scan_reply(cursor: u64, elements: Vec<Reply>) -> Reply {
    Reply::Array(vec![Reply::bulk(cursor.to_string()), Reply::Array(elements)])
}

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

/// A hash element as a bulk reply: a packed hash's rebuilt copies move in as they are.
fn bulk_cow(b: Cow<'_, [u8]>) -> Reply {
    match b {
        Cow::Borrowed(b) => bulk(b),
        Cow::Owned(v) => Reply::Bulk(Bytes::from(v)),
    }
}

// ---------------------------------------------------------------------------------------
// Writes

/// `HSET key field value [field value ...]` (integer: fields created) and its deprecated
/// twin `HMSET` (`+OK`).
fn hset(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let hmset = args[0].len() > 1 && args[0][1].eq_ignore_ascii_case(&b'm');
    if args.len() % 2 == 1 {
        return Reply::Error(errors::arity(if hmset { "hmset" } else { "hset" }).into());
    }
    let limits = limits(ctx);
    let r = write::<Hash, _>(ctx, &args[1], true, |h| {
        h.check_lengths(args[2..].iter().map(|a| &a[..]), &limits);
        let created = args[2..].chunks(2).filter(|p| h.insert_limited(&p[0], &p[1], &limits)).count();
        (created, true)
    });
    match r {
        Err(e) => e,
        Ok(created) if !hmset => Reply::Integer(created.unwrap_or(0) as i64),
        Ok(_) => Reply::simple("OK"),
    }
}

/// `HSETNX key field value`.
fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let limits = limits(ctx);
    let r = write::<Hash, _>(ctx, &args[1], true, |h| {
        if h.contains(&args[2]) {
            return (false, false);
        }
        h.check_lengths([&args[2][..], &args[3][..]], &limits);
        h.insert_limited(&args[2], &args[3], &limits);
        (true, true)
    });
    match r {
        Err(e) => e,
        Ok(set) => Reply::Integer(set.unwrap_or(false) as i64),
    }
}

/// `HDEL key field [field ...]`: fields removed.
fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let r = write::<Hash, _>(ctx, &args[1], false, |h| {
        let mut deleted = 0;
        for f in &args[2..] {
            if h.remove(f) {
                deleted += 1;
                if h.is_empty() {
                    break;
                }
            }
        }
        (deleted, deleted > 0)
    });
    match r {
        Err(e) => e,
        Ok(n) => Reply::Integer(n.unwrap_or(0)),
    }
}

/// `HINCRBY key field increment`.
fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let incr = match args::int(&args[3]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let limits = limits(ctx);
    let r = write::<Hash, _>(ctx, &args[1], true, |h| {
        let current = match h.get(&args[2]) {
            None => 0,
            Some(v) => match parse_i64_strict(&v) {
                Some(n) => n,
                None => return (Err(Reply::err(errors::HASH_NOT_INTEGER)), false),
            },
        };
        let Some(new) = current.checked_add(incr) else { return (Err(Reply::err(errors::OVERFLOW)), false) };
        h.insert_limited(&args[2], itoa::Buffer::new().format(new).as_bytes(), &limits);
        (Ok(new), true)
    });
    match r {
        Err(e) | Ok(Some(Err(e))) => e,
        Ok(Some(Ok(n))) => Reply::Integer(n),
        Ok(None) => unreachable!("created on demand"),
    }
}

/// `HINCRBYFLOAT key field increment`, with `long double` arithmetic and formatting as
/// INCRBYFLOAT; propagated as `HSET key field <result>`.
fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(incr) = Ld::parse(&args[3]) else { return Reply::err(errors::NOT_FLOAT) };
    if !incr.is_finite() {
        return Reply::err(errors::NAN_OR_INF_VALUE);
    }
    let limits = limits(ctx);
    let r = write::<Hash, _>(ctx, &args[1], true, |h| {
        let current = match h.get(&args[2]) {
            None => Ld::from_i64(0),
            Some(v) => match Ld::parse(&v) {
                Some(v) => v,
                None => return (Err(Reply::err(errors::HASH_NOT_FLOAT)), false),
            },
        };
        let sum = current.add(incr);
        if !sum.is_finite() {
            return (Err(Reply::err(errors::NAN_OR_INFINITY)), false);
        }
        let text = sum.to_human();
        h.insert_limited(&args[2], text.as_bytes(), &limits);
        (Ok(Bytes::from(text)), true)
    });
    match r {
        Err(e) | Ok(Some(Err(e))) => e,
        Ok(Some(Ok(text))) => {
            ctx.propagate_one(&[b"HSET", &args[1], &args[2], &text]);
            Reply::Bulk(text)
        }
        Ok(None) => unreachable!("created on demand"),
    }
}

// ---------------------------------------------------------------------------------------
// Reads

/// `HGET key field`.
fn hget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Hash>(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => h.and_then(|h| h.get(&args[2])).map_or(Reply::Null, bulk_cow),
    }
}

/// `HMGET key field [field ...]`: a missing key is an empty hash.
fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Hash>(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => {
            Reply::Array(args[2..].iter().map(|f| h.and_then(|h| h.get(f)).map_or(Reply::Null, bulk_cow)).collect())
        }
    }
}

/// `HGETALL key`: a map (a flat array in RESP2).
fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Hash>(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Map(Vec::new()),
        Ok(Some(h)) => Reply::Map(h.iter().map(|(f, v)| (bulk_cow(f), bulk_cow(v))).collect()),
    }
}

/// `HKEYS key`.
fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Hash>(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => Reply::Array(h.map_or_else(Vec::new, |h| h.iter().map(|(f, _)| bulk_cow(f)).collect())),
    }
}

/// `HVALS key`.
fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Hash>(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => Reply::Array(h.map_or_else(Vec::new, |h| h.iter().map(|(_, v)| bulk_cow(v)).collect())),
    }
}

/// `HLEN key`.
fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Hash>(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => Reply::Integer(h.map_or(0, |h| h.len()) as i64),
    }
}

/// `HSTRLEN key field`: 0 for a missing field or key.
fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Hash>(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => Reply::Integer(h.and_then(|h| h.get(&args[2])).map_or(0, |v| v.len()) as i64),
    }
}

/// `HEXISTS key field`.
fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    match read::<Hash>(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => Reply::Integer(h.is_some_and(|h| h.contains(&args[2])) as i64),
    }
}

/// `HRANDFIELD key [count [WITHVALUES]]`.
///
/// Without a count: one random field (nil for a missing key). A positive count: that many
/// distinct fields (the whole hash, in its order, when it has no more); a negative one:
/// that many independent picks. WITHVALUES pairs each field with its value: flat in RESP2,
/// `[field, value]` arrays in RESP3.
fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    if args.len() == 2 {
        return match read::<Hash>(ctx, &args[1]) {
            Err(e) => e,
            Ok(None) => Reply::Null,
            Ok(Some(h)) => {
                let i = rand::thread_rng().gen_range(0..h.len());
                h.get_index(i).map_or(Reply::Null, |(f, _)| bulk_cow(f))
            }
        };
    }
    let l = match range_long(&args[2], -i64::MAX, i64::MAX, None) {
        Ok(l) => l,
        Err(e) => return e,
    };
    if args.len() > 4 || (args.len() == 4 && !args::is(&args[3], "withvalues")) {
        return Reply::err(errors::SYNTAX);
    }
    let withvalues = args.len() == 4;
    if withvalues && !(-i64::MAX / 2..=i64::MAX / 2).contains(&l) {
        return Reply::err(errors::OUT_OF_RANGE);
    }
    let resp3 = ctx.client.resp > 2;
    let h = match read::<Hash>(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(Vec::new()),
        Ok(Some(h)) => h,
    };
    let count = l.unsigned_abs();
    if count == 0 {
        return Reply::Array(Vec::new());
    }
    let mut out = Vec::new();
    let mut push = |f: &[u8], v: &[u8]| {
        if !withvalues {
            out.push(bulk(f));
        } else if resp3 {
            out.push(Reply::Array(vec![bulk(f), bulk(v)]));
        } else {
            out.push(bulk(f));
            out.push(bulk(v));
        }
    };
    let size = h.len();
    let mut rng = rand::thread_rng();
    // A small hash's i-th pair is O(i) away: pick from a list of them.
    let pairs: Option<Vec<_>> = (h.is_compact() && count > 1).then(|| h.iter().collect());
    let mut pick = |i: usize| match &pairs {
        Some(pairs) => push(&pairs[i].0, &pairs[i].1),
        None => {
            let (f, v) = h.get_index(i).expect("index below len");
            push(&f, &v)
        }
    };
    if l < 0 || count == 1 {
        if count > MAX_RANDOM_REPEATS {
            return Reply::err(errors::OUT_OF_RANGE);
        }
        for _ in 0..count {
            pick(rng.gen_range(0..size));
        }
    } else if count >= size as u64 {
        (0..size).for_each(pick);
    } else {
        rand::seq::index::sample(&mut rng, size, count as usize).into_iter().for_each(pick);
    }
    Reply::Array(out)
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]` (see `Hash::scan` for the cursor).
fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> Reply {
    let Some(cursor) = super::keyspace::parse_cursor(&args[2]) else {
        return Reply::err(errors::INVALID_CURSOR);
    };
    let h = match read::<Hash>(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return scan_reply(0, Vec::new()),
        Ok(Some(h)) => h,
    };
    let (count, pattern) = match scan_options(&args[3..]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let mut out = Vec::new();
    let next = h.scan(cursor, count, |f, v| {
        if matches(pattern, f) {
            out.push(bulk(f));
            out.push(bulk(v));
        }
    });
    scan_reply(next, out)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{bulk, err, Harness};
    use ferrocache_protocol::Reply;
    use std::collections::HashSet;

    fn int(n: i64) -> Reply {
        Reply::Integer(n)
    }

    fn strings(r: Reply) -> Vec<String> {
        match r {
            Reply::Array(items) => {
                items.into_iter().map(|i| String::from_utf8(i.bulk_bytes().expect("bulk").to_vec()).unwrap()).collect()
            }
            other => panic!("not an array: {other:?}"),
        }
    }

    fn hash_of(h: &mut Harness, key: &str, n: usize) {
        for i in 0..n {
            h.run(&["HSET", key, &format!("f{i}"), &format!("v{i}")]);
        }
    }

    #[test]
    fn hrandfield_positive_count_is_distinct_and_clamped() {
        let mut h = Harness::new();
        hash_of(&mut h, "small", 10);
        hash_of(&mut h, "big", 600);
        for key in ["small", "big"] {
            let n = if key == "small" { 10 } else { 600 };
            for count in [1, 3, 9, 10, 11, 1000] {
                let got = strings(h.run(&["HRANDFIELD", key, &count.to_string()]));
                assert_eq!(got.len(), count.min(n), "{key} {count}");
                let distinct: HashSet<_> = got.iter().collect();
                assert_eq!(distinct.len(), got.len(), "{key} {count}: repeats");
                assert!(got.iter().all(|f| f.starts_with('f')));
            }
        }
        // WITHVALUES pairs each field with its own value.
        let got = strings(h.run(&["HRANDFIELD", "big", "5", "WITHVALUES"]));
        assert_eq!(got.len(), 10);
        for pair in got.chunks(2) {
            assert_eq!(pair[0][1..], pair[1][1..]);
        }
    }

    #[test]
    fn hrandfield_negative_count_repeats_and_is_bounded() {
        let mut h = Harness::new();
        hash_of(&mut h, "h", 3);
        let got = strings(h.run(&["HRANDFIELD", "h", "-50"]));
        assert_eq!(got.len(), 50);
        let distinct: HashSet<_> = got.iter().collect();
        assert!(distinct.len() <= 3);
        assert_eq!(strings(h.run(&["HRANDFIELD", "h", "-4", "WITHVALUES"])).len(), 8);
        // Redis would try to build a 2^62-element reply; we refuse.
        assert_eq!(h.run(&["HRANDFIELD", "h", "-4611686018427387903"]), err("ERR value is out of range"));
        assert_eq!(h.run(&["HRANDFIELD", "nokey", "-5"]), Reply::Array(vec![]));
        assert!(matches!(h.run(&["HRANDFIELD", "h"]), Reply::Bulk(_)));
    }

    #[test]
    fn hrandfield_resp3_nests_pairs() {
        let mut h = Harness::new();
        hash_of(&mut h, "h", 2);
        h.client.resp = 3;
        match h.run(&["HRANDFIELD", "h", "-3", "WITHVALUES"]) {
            Reply::Array(items) => {
                assert_eq!(items.len(), 3);
                assert!(items.iter().all(|i| matches!(i, Reply::Array(p) if p.len() == 2)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hscan_walks_a_big_hash_across_growth() {
        let mut h = Harness::new();
        hash_of(&mut h, "h", 1000);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
        let mut seen = HashSet::new();
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let Reply::Array(parts) = h.run(&["HSCAN", "h", &cursor, "COUNT", "50"]) else { panic!() };
            cursor = String::from_utf8(parts[0].bulk_bytes().unwrap().to_vec()).unwrap();
            let items = strings(parts[1].clone());
            assert!(items.len() <= 100);
            for pair in items.chunks(2) {
                seen.insert(pair[0].clone());
            }
            // Grow the hash while the scan runs.
            calls += 1;
            h.run(&["HSET", "h", &format!("extra{calls}"), "x"]);
            if cursor == "0" {
                break;
            }
        }
        assert!(calls >= 20, "{calls} calls");
        for i in 0..1000 {
            assert!(seen.contains(&format!("f{i}")), "f{i} missed");
        }
    }

    #[test]
    fn hincrbyfloat_propagates_as_hset() {
        let mut h = Harness::new();
        let effects = h.capture_effects();
        assert_eq!(h.run(&["HINCRBYFLOAT", "h", "f", "0.1"]), bulk("0.1"));
        assert_eq!(h.run(&["HINCRBYFLOAT", "h", "f", "0.2"]), bulk("0.3"));
        let log = effects.take();
        assert!(log.iter().any(|l| l.ends_with("HSET h f 0.3")), "{log:?}");
        assert_eq!(h.run(&["HINCRBYFLOAT", "n", "f", "inf"]), err("ERR value is NaN or Infinity"));
        assert_eq!(h.run(&["EXISTS", "n"]), int(0));
    }

    #[test]
    fn encodings_follow_the_config() {
        let mut h = Harness::new();
        h.run(&["HSET", "h", "a", "1"]);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "h"]), bulk("listpack"));
        h.run(&["HSET", "h", "b", &"x".repeat(65)]);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "h"]), bulk("hashtable"));
        assert_eq!(h.run(&["CONFIG", "SET", "hash-max-listpack-entries", "2"]), Reply::simple("OK"));
        h.run(&["HSET", "k", "a", "1", "b", "2"]);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "k"]), bulk("listpack"));
        h.run(&["HINCRBY", "k", "c", "1"]);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "k"]), bulk("hashtable"));
        // Strings on a hash and hashes on a string: WRONGTYPE both ways.
        let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
        assert_eq!(h.run(&["GET", "k"]), wrongtype);
        h.run(&["SET", "s", "1"]);
        assert_eq!(h.run(&["HGET", "s", "a"]), wrongtype);
        assert_eq!(h.run(&["HSET", "s", "a", "1"]), wrongtype);
    }
}
